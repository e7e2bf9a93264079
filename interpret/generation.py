"""Generation from chosen factors: style x label grids, cross-modal swaps, interpolation and factor traversal.

MFM generates each modality from two factors, X̂_i = G_i([F_y ; F_i]): the shared discriminative factor F_y
(the "label" factor, which also drives the prediction Ŷ = D(F_y)) and the modality's own generative factor F_i
(its "style"). Showing what each factor controls means decoding chosen combinations: the paper fixes the label
factor and varies the style, and the reverse (its SVHN + MNIST figure). This module does that for any modality
kind: images decode to (C, H, W) and sequences to (T, D), so every function here is kind-agnostic.

Gather, then decode:
- :func:`mfm.inference.run` gathers F_y, every F_i and the prediction for a whole split (numpy, eval mode);
  :func:`encode_modality_factor` gets F_i from X_i alone (the inference of Z_{a_i} factorizes, so it is the same
  F_i the full model computes); :func:`mfm.eval.prototypes.class_prototypes` averages F_y per class.
- :func:`style_label_grid`, :func:`cross_modal_grid`, :func:`interpolate_labels` and :func:`traverse_factor`
  decode chosen combinations, each in one batched decoder call.

Every function that runs the model puts it in eval mode (dropout off, BatchNorm on its running statistics, so a
decoded sample does not depend on the rest of its batch) under ``torch.no_grad()``, and restores each submodule's
train/eval flag afterwards; ``requires_grad`` of the parameters is never touched. Outputs are numpy float32.

Factor values. Every factor is a ReLU output (F = ReLU(fc2(Dropout(ReLU(fc1(z)))))), so F >= 0, and a dimension
can be exactly 0 for many samples (or all of them: a "dead" unit). A traversal should stay where the decoder has
seen data: :func:`factor_range` gives the observed range of one dimension over a split (its min..max, or chosen
quantiles to ignore outliers). Values outside it are extrapolation; negative values are never produced by the
encoder at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from mfm.data import Split
from mfm.data.style import delta_e_2000, estimate_colors, srgb_to_lab
from mfm.eval.prototypes import label_prototypes
from mfm.inference import (
    FACTORS,
    ArrayLike,
    Outputs,
    as_tensor,
    batches,
    check_batch_size,
    check_count,
    device_of,
    numpy,
    run,
)
from mfm.model import MFM
from mfm.modes import inference


@dataclass(frozen=True)
class GenerationSettings:
    """Which samples give the style columns of the report's style x label grids (and of its CLI, `--styles`).

    `styles` columns, drawn without replacement from the split with `seed`; the rows are the class prototypes of
    the train split. (The Style & label page chooses its columns with a slider instead: a run of consecutive
    samples from the one it names.)
    """

    styles: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        check_count("styles", self.styles)

    def style_rows(self, n_samples: int) -> np.ndarray:
        """The split's rows that give the style columns: `styles` of `n_samples` (all of them when fewer)."""
        size = min(self.styles, n_samples)
        return np.random.default_rng(self.seed).choice(n_samples, size=size, replace=False)


# ---------------------------------------------------------------------------------------------------------------
# Running the model without side effects
# ---------------------------------------------------------------------------------------------------------------
def _rows(x: ArrayLike, width: int, name: str) -> ArrayLike:
    """`x` as (rows, width); one 1-D vector counts as one row. Raises ValueError naming `name` otherwise."""
    if not isinstance(x, Tensor):
        x = np.asarray(x)
    shape = tuple(x.shape) if isinstance(x, Tensor) else np.shape(x)
    if len(shape) == 1:
        x = x.reshape(1, -1)
        shape = (1, *shape)
    if len(shape) != 2 or shape[1] != width or shape[0] == 0:
        raise ValueError(f"{name} must be (rows, {width}) with at least one row, got shape {tuple(shape)}")
    return x


def _vector(x: ArrayLike, width: int, name: str) -> ArrayLike:
    if not isinstance(x, Tensor):
        x = np.asarray(x)
    shape = tuple(x.shape) if isinstance(x, Tensor) else np.shape(x)
    if shape != (width,):
        raise ValueError(f"{name} must be a vector of {width} values, got shape {tuple(shape)}")
    return x


def _factor_dims(model: MFM, modality: str) -> tuple[int, int]:
    """(shared_factor_dim, factor_dim of `modality`); an unknown name raises ConfigError (an MFMError)."""
    return model.config.shared_factor_dim, model.config.modality(modality).factor_dim


# ---------------------------------------------------------------------------------------------------------------
# Gathering factors
# ---------------------------------------------------------------------------------------------------------------
def encode_modality_factor(model: MFM, modality: str, x: ArrayLike, batch_size: int = 256) -> np.ndarray:
    """F_i of samples of one modality, read from X_i alone: (N, *shape) -> (N, factor_dim).

    Inference factorizes as Q(Z_y | X_1:M) · Π_i Q(Z_{a_i} | X_i), so this is exactly the F_i of a full forward
    pass; no other modality is needed (a style can come from an unpaired sample).
    """
    check_batch_size(batch_size)
    config = model.config.modality(modality)  # ConfigError (an MFMError) for an unknown name
    shape = tuple(x.shape) if isinstance(x, Tensor) else np.shape(x)
    if tuple(shape[1:]) != config.shape or shape[0] == 0:
        raise ValueError(f"{modality} samples must be (N, *{config.shape}), got shape {tuple(shape)}")
    factors = []
    with inference(model):
        for batch in batches(model, {modality: x}, batch_size):
            code = model.encode_modality(modality, batch[modality])
            factors.append(numpy(model.modality_factor_maps[modality](code)))  # (B, factor_dim)
    return np.concatenate(factors)


def factor_range(
    factors: np.ndarray, dim: int, quantiles: tuple[float, float] = (0.0, 1.0)
) -> tuple[float, float]:
    """The observed range (low, high) of one factor dimension over a split, the default span of a traversal.

    `quantiles` (0, 1) gives min..max; e.g. (0.01, 0.99) ignores outliers. Factors are ReLU outputs, so low >= 0
    for factors from the model; a dead dimension (always 0) gives (0.0, 0.0): traversing it shows what the decoder
    does with values it never sees.
    """
    factors = np.asarray(factors, dtype=np.float64)
    if factors.ndim != 2 or factors.shape[0] == 0:
        raise ValueError(f"factors must be (N, d) with N >= 1, got shape {factors.shape}")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 0 <= dim < factors.shape[1]:
        raise ValueError(f"dim must be an integer in 0..{factors.shape[1] - 1}, got {dim!r}")
    q_low, q_high = quantiles
    if not 0.0 <= q_low <= q_high <= 1.0:
        raise ValueError(f"quantiles must satisfy 0 <= low <= high <= 1, got {quantiles}")
    low, high = np.quantile(factors[:, dim], [q_low, q_high])
    return float(low), float(high)


# ---------------------------------------------------------------------------------------------------------------
# Decoding chosen factors
# ---------------------------------------------------------------------------------------------------------------
def _decode(model: MFM, modality: str, shared: Tensor, style: Tensor) -> np.ndarray:
    """One decoder call G_i([F_y ; F_i]) for (B, fy) and (B, fi): (B, *shape) numpy, in eval mode."""
    with inference(model):
        return numpy(model.decode_modality(modality, shared, style))


def style_label_grid(
    model: MFM, modality: str, style_factors: ArrayLike, label_factors: ArrayLike
) -> np.ndarray:
    """Every label factor with every style factor, decoded by one modality's decoder in one batched call.

    Args:
        model: the MFM.
        modality: the modality to generate.
        style_factors: (S, factor_dim) F_i of that modality (one 1-D vector counts as S = 1).
        label_factors: (L, shared_factor_dim) F_y, from samples or :func:`class_prototypes`.

    Returns:
        (L, S, *shape): ``grid[l, s] = G_i([label_factors[l] ; style_factors[s]])``; a row holds one label in
        every style, a column one style with every label.
    """
    shared_dim, style_dim = _factor_dims(model, modality)
    device = device_of(model)
    style = as_tensor(_rows(style_factors, style_dim, "style_factors"), device)  # (S, fi)
    label = as_tensor(_rows(label_factors, shared_dim, "label_factors"), device)  # (L, fy)
    n_labels, n_styles = label.shape[0], style.shape[0]
    shared = label[:, None, :].expand(n_labels, n_styles, shared_dim).reshape(-1, shared_dim)  # (L·S, fy)
    styles = style[None, :, :].expand(n_labels, n_styles, style_dim).reshape(-1, style_dim)  # (L·S, fi)
    images = _decode(model, modality, shared, styles)  # (L·S, *shape)
    return images.reshape(n_labels, n_styles, *images.shape[1:])


def cross_modal_grid(
    model: MFM,
    modality: str,
    style_inputs: ArrayLike,
    label_inputs: Mapping[str, ArrayLike],
    *,
    label_source: Literal["others", "all"] = "others",
    batch_size: int = 256,
) -> np.ndarray:
    """Generate `modality` with the style of its own samples and the label factor of samples of other modalities.

    In MFM the label factor F_y is not a property of one modality: Q(Z_y | X_1:M) reads all modalities jointly.
    So "the style of a street-view sample with the label of an MNIST sample" has two honest readings:

    - ``label_source="others"`` (default): F_y inferred from the *other* modalities alone, by the surrogate network
      of the generated modality (paper Eq. 5: `modality` is treated as missing). With two modalities this is
      "the label of that MNIST image by itself": the street-view decoder draws the MNIST digit in the street-view
      sample's style. ``label_inputs[modality]`` is never read, so the label samples need no partner in the
      generated modality. Needs a model with surrogate inference (MFMError otherwise). With more than two
      modalities, F_y comes from all of them but `modality`.
    - ``label_source="all"``: F_y of the complete tuples in `label_inputs` (every modality, including the
      generated one): a swap of label factors between samples, as in :func:`style_label_grid`.

    The style F_i comes from X_i alone (:func:`encode_modality_factor`), exactly as in a full forward pass.

    Args:
        model: the MFM.
        modality: the modality to generate (and whose samples give the style).
        style_inputs: (S, *shape) samples of `modality`.
        label_inputs: modality name -> (L, *shape) samples giving the label factor (see `label_source`).
        label_source: ``"others"`` or ``"all"``.
        batch_size: samples per encoder pass.

    Returns:
        (L, S, *shape), ``grid[l, s]`` = `modality` decoded from F_y of label sample l and F_i of style sample s.
    """
    model.config.modality(modality)  # ConfigError (an MFMError) for an unknown name
    if label_source == "others":
        others = {n: x for n, x in label_inputs.items() if n != modality}
        labels = run(
            model, others, missing=modality, keep=FACTORS, batch_size=batch_size
        ).shared_factor  # (L, fy)
    elif label_source == "all":
        labels = run(model, label_inputs, keep=FACTORS, batch_size=batch_size).shared_factor  # (L, fy)
    else:
        raise ValueError(f"label_source must be 'others' or 'all', got {label_source!r}")
    styles = encode_modality_factor(model, modality, style_inputs, batch_size)  # (S, fi)
    return style_label_grid(model, modality, styles, labels)


def interpolation_weights(steps: int) -> np.ndarray:
    """The weights t_k = k / (steps - 1), k = 0..steps-1, of :func:`interpolate_labels` (steps >= 2)."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    return np.linspace(0.0, 1.0, int(steps), dtype=np.float32)


def interpolate_labels(
    model: MFM,
    modality: str,
    style_factor: ArrayLike,
    start: ArrayLike,
    end: ArrayLike,
    steps: int,
) -> np.ndarray:
    """Decode a straight line between two label factors with one style: (steps, *shape).

    Step k decodes F_y = (1 - t_k) · start + t_k · end with t_k = k / (steps - 1) (see
    :func:`interpolation_weights`), so the first and last steps are exactly the decodes of `start` and `end`.
    Both ends being non-negative, every point on the line is a valid (non-negative) factor.

    Args:
        model: the MFM.
        modality: the modality to generate.
        style_factor: (factor_dim,) F_i, held fixed.
        start, end: (shared_factor_dim,) F_y at the two ends (e.g. two class prototypes).
        steps: number of points, >= 2.
    """
    shared_dim, style_dim = _factor_dims(model, modality)
    device = device_of(model)
    t = torch.as_tensor(interpolation_weights(steps), device=device)[:, None]  # (steps, 1)
    start_t = as_tensor(_vector(start, shared_dim, "start"), device)  # (fy,)
    end_t = as_tensor(_vector(end, shared_dim, "end"), device)  # (fy,)
    # Written as (1 - t) a + t b (not torch.lerp) so that t = 0 and t = 1 give a and b bit for bit.
    shared = (1 - t) * start_t + t * end_t  # (steps, fy)
    style = as_tensor(_vector(style_factor, style_dim, "style_factor"), device)  # (fi,)
    return _decode(model, modality, shared, style.expand(shared.shape[0], style_dim))


def traverse_factor(
    model: MFM,
    modality: str,
    shared: ArrayLike,
    style: ArrayLike,
    which: Literal["shared", "modality"],
    dim: int,
    values: Sequence[float] | ArrayLike,
) -> np.ndarray:
    """Vary one dimension of one factor, everything else fixed, and decode: (len(values), *shape).

    Row k decodes G_i([F_y ; F_i]) with dimension `dim` of F_y (``which="shared"``) or of F_i
    (``which="modality"``) set to ``values[k]``. Factors are non-negative ReLU outputs; take `values` inside the
    observed range of that dimension (:func:`factor_range`), e.g. ``np.linspace(*factor_range(F, dim), 9)``.

    Args:
        model: the MFM.
        modality: the modality to generate.
        shared: (shared_factor_dim,) F_y.
        style: (factor_dim,) F_i of `modality`.
        which: ``"shared"`` (F_y) or ``"modality"`` (F_i).
        dim: index of the dimension to vary.
        values: 1-D values for that dimension.
    """
    shared_dim, style_dim = _factor_dims(model, modality)
    if which not in ("shared", "modality"):
        raise ValueError(f"which must be 'shared' or 'modality', got {which!r}")
    width = shared_dim if which == "shared" else style_dim
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 0 <= dim < width:
        raise ValueError(f"dim must be an integer in 0..{width - 1} for the {which} factor, got {dim!r}")
    device = device_of(model)
    values_t = as_tensor(values if isinstance(values, Tensor) else np.asarray(values), device)
    if values_t.ndim != 1 or values_t.shape[0] == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {tuple(values_t.shape)}")
    n = values_t.shape[0]
    shared_t = (
        as_tensor(_vector(shared, shared_dim, "shared"), device).expand(n, shared_dim).clone()
    )  # (n, fy)
    style_t = as_tensor(_vector(style, style_dim, "style"), device).expand(n, style_dim).clone()  # (n, fi)
    (shared_t if which == "shared" else style_t)[:, dim] = values_t
    return _decode(model, modality, shared_t, style_t)


# ---------------------------------------------------------------------------------------------------------------
# Which dimensions to traverse, and how far
# ---------------------------------------------------------------------------------------------------------------
TRAVERSAL_SPREAD = 2.0
"""A traversal spans the dimension's mean ± this many standard deviations (clipped to the observed range)."""


@dataclass(frozen=True)
class TraversalSpan:
    """Where one factor dimension is traversed: ``values`` from ``low`` to ``high``, the dimension's ``mean`` and
    standard deviation ``sd`` over the split; ``sigmas`` is each value's distance from the mean in sd (0 for a
    constant dimension)."""

    dim: int
    mean: float
    sd: float
    low: float
    high: float
    values: np.ndarray  # (count,)

    @property
    def sigmas(self) -> np.ndarray:
        return (self.values - self.mean) / self.sd if self.sd > 0 else np.zeros_like(self.values)


def traversal_span(
    factors: np.ndarray, dim: int, count: int = 9, spread: float = TRAVERSAL_SPREAD
) -> TraversalSpan:
    """`count` evenly spaced values of dimension `dim`, mean ± `spread` standard deviations over the split,
    clipped to the observed min..max (the decoder has seen nothing outside it; factors are ReLU outputs, so a
    span reaching below 0 stops at the observed minimum). A constant (dead) dimension gives one repeated value."""
    low_seen, high_seen = factor_range(factors, dim)
    if count < 2 or spread <= 0:
        raise ValueError(f"count must be >= 2 and spread > 0, got {count} and {spread}")
    column = np.asarray(factors, dtype=np.float64)[:, dim]
    mean, sd = float(column.mean()), float(column.std())
    low, high = max(low_seen, mean - spread * sd), min(high_seen, mean + spread * sd)
    return TraversalSpan(dim, mean, sd, low, high, np.linspace(low, high, count))


def factor_effects(
    model: MFM,
    modality: str,
    shared: ArrayLike,
    style: ArrayLike,
    which: Literal["shared", "modality"],
    factors: np.ndarray,
    spread: float = TRAVERSAL_SPREAD,
) -> np.ndarray:
    """How much each dimension of F_y (``which="shared"``) or F_i moves the generated `modality`, at one point.

    For dimension d, the output is decoded with d at the two ends of its :func:`traversal_span` (every other
    dimension at `shared` / `style`) and the effect is the root-mean-square difference of the two outputs, in the
    modality's own units. All dimensions go through one batched decoder call. A dead dimension has effect 0.

    Args:
        factors: (N, width) values of that factor over the split (the spans come from it).

    Returns:
        (width,) effects; ``np.argsort(-effects)`` is the order in which to offer the dimensions.
    """
    shared_dim, style_dim = _factor_dims(model, modality)
    if which not in ("shared", "modality"):
        raise ValueError(f"which must be 'shared' or 'modality', got {which!r}")
    width = shared_dim if which == "shared" else style_dim
    factors = np.asarray(factors, dtype=np.float64)
    if factors.ndim != 2 or factors.shape[1] != width:
        raise ValueError(f"factors must be (N, {width}) values of the {which} factor, got {factors.shape}")
    ends = np.array([[s.low, s.high] for s in (traversal_span(factors, d, 2, spread) for d in range(width))])
    device = device_of(model)
    shared_t = as_tensor(_vector(shared, shared_dim, "shared"), device).expand(2 * width, shared_dim).clone()
    style_t = as_tensor(_vector(style, style_dim, "style"), device).expand(2 * width, style_dim).clone()
    moved = shared_t if which == "shared" else style_t  # rows 2d, 2d + 1: dimension d at its low and high end
    rows = torch.arange(2 * width, device=device)
    moved[rows, rows // 2] = as_tensor(ends.reshape(-1), device)
    out = _decode(model, modality, shared_t, style_t).reshape(width, 2, -1).astype(np.float64)
    return np.sqrt(np.mean((out[:, 1] - out[:, 0]) ** 2, axis=1))


# ---------------------------------------------------------------------------------------------------------------
# Did colour survive? Measured colours of a style x label grid's columns
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnColours:
    """The colours measured (`mfm.data.style.estimate_colors`) on a colour grid's style sources and its columns.

    source_fg, source_bg (S, 3) sRGB: measured on each column's real style source. generated_fg, generated_bg
    (S, 3): the mean over the column's rows (labels) of what is measured on each generated image. delta_e_fg,
    delta_e_bg (S,): the mean over the rows of the CIEDE2000 difference between a generated image's colour and
    its source's (about 1 is just noticeable, above 10 another colour).
    """

    source_fg: np.ndarray
    source_bg: np.ndarray
    generated_fg: np.ndarray
    generated_bg: np.ndarray
    delta_e_fg: np.ndarray
    delta_e_bg: np.ndarray


def column_colours(real: np.ndarray, generated: np.ndarray) -> ColumnColours:
    """Measure the foreground and background colours of each style column of a grid.

    real (S, 3, H, W): the style sources; generated (L, S, 3, H, W): `style_label_grid` output (rows = labels).
    Raises ValueError for other shapes (e.g. grey-scale or sequence modalities, which have no colours).
    """
    real, generated = np.asarray(real), np.asarray(generated)
    if real.ndim != 4 or real.shape[1] != 3 or generated.shape[1:] != real.shape or generated.ndim != 5:
        raise ValueError(
            f"column_colours: need style sources (S, 3, H, W) and a grid (L, S, 3, H, W), got {real.shape} and "
            f"{generated.shape}"
        )
    rows, columns = generated.shape[:2]
    source_fg, source_bg = estimate_colors(real)  # (S, 3) each
    cell_fg, cell_bg = estimate_colors(generated.reshape(rows * columns, *real.shape[1:]))
    cell_fg, cell_bg = cell_fg.reshape(rows, columns, 3), cell_bg.reshape(rows, columns, 3)
    return ColumnColours(
        source_fg=source_fg,
        source_bg=source_bg,
        generated_fg=cell_fg.mean(0),
        generated_bg=cell_bg.mean(0),
        delta_e_fg=delta_e_2000(srgb_to_lab(cell_fg), srgb_to_lab(source_fg)[None]).mean(0),
        delta_e_bg=delta_e_2000(srgb_to_lab(cell_bg), srgb_to_lab(source_bg)[None]).mean(0),
    )


# ---------------------------------------------------------------------------------------------------------------
# Style x label grids
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GridFactors:
    """What the Style & label page decodes from: the split's factors and one label prototype per label group."""

    factors: Outputs  # F_y, every F_i and the predictions of the split
    prototypes: np.ndarray  # (L, fy)
    label_names: list[str]


def grid_factors(model: MFM, split: Split) -> GridFactors:
    """Encode a split once (F_y, every F_i) and average F_y per label group, for the Style & label page."""
    config = model.config
    factors = run(model, split.inputs, keep=(*FACTORS, "prediction"))
    prototypes, names = label_prototypes(factors.shared_factor, split.labels, config.task, config.num_classes)
    return GridFactors(factors, prototypes, names)
