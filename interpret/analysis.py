"""The interpretations run on a model and a data split: gather (model + data) then measure (pure functions).

- `collect`: one eval-mode pass over a split (`mfm.inference.run`), keeping every factor, reconstruction and
  prediction.
- `information_by_modality`: the paper's information-based interpretation, I(F_y; X̂_i), I(F_i; X̂_i) and r_i
  per modality, with intervals and the shuffled-pairs null (interpret.information does the math); with
  `intervention="shuffle_shared"` the same measured on X̂_i decoded from F_y permuted across samples, so that F_y
  is independent of F_i: what the decoder *uses*, where the paper's observational version measures dependence.
- `factor_dependence`: I(F_y; F_i) per modality, which is why the two versions can differ.
- `cut_shared_factor`: a copy of the model whose decoder for one modality cannot see F_y (a planted control).
- `gradient_flow_by_modality`: the paper's gradient-based interpretation for every modality.
- `faithfulness`: the checks against planted truth (does r_i rank the modalities as planted; does the F_y gradient
  flow find the planted steps), for the model and for a copy with randomised weights (Adebayo et al., 2018).
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata

from interpret.gradients import (
    GradientFlow,
    GradientSettings,
    captum_time_profile,
    gradient_flow,
    shared_gradient_flow,
)
from interpret.information import (
    InformationSettings,
    MIEstimate,
    ModalityInformation,
    Streamed,
    estimate_mi,
    modality_information,
    reduce_dimensions,
)
from mfm.inference import FACTORS, Outputs, batches, numpy, run, sample_indices, take
from mfm.model import MFM
from mfm.modes import inference
from mfm.progress import Progress, stage

COLLECTED = ("shared_factor", "modality_factors", "reconstructions", "prediction")
"""What the interpretations read of a pass over a split (`mfm.inference.run(..., keep=COLLECTED)`)."""


def collect(model: MFM, inputs: Mapping[str, np.ndarray], *, batch_size: int = 256) -> Outputs:
    """Every factor, reconstruction and prediction of `inputs`, from one eval-mode pass (`mfm.inference.run`)."""
    return run(model, inputs, keep=COLLECTED, batch_size=batch_size)


SHUFFLED = "F_y/shuffled"
INTERVENTIONS = ("none", "shuffle_shared")
"""`intervention=` of `information_by_modality`: "none" is the paper's observational measure; "shuffle_shared"
decodes each X̂_i from [F_y of another sample ; F_i], so F_y and F_i are independent by construction."""


def shuffled_shared_decoding(
    model: MFM, collected: Outputs, seed: int, *, batch_size: int = 256
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(F_y permuted across samples, {X̂_i decoded from [permuted F_y ; F_i]}): the intervention that makes F_y
    independent of F_i while keeping both marginals, so that any information X̂_i then holds about F_y went
    through the decoder. The permutation is seeded (the same for every modality)."""
    shuffled = shuffled_shared(collected.shared_factor, seed)  # (N, fy)
    decoded: dict[str, list[np.ndarray]] = {m: [] for m in model.modality_names}
    factors = {
        SHUFFLED: shuffled,
        **collected.modality_factors,
    }  # SHUFFLED is no modality name (not an identifier)
    with inference(model):
        for batch in batches(model, factors, batch_size):
            for m in model.modality_names:
                decoded[m].append(numpy(model.decode_modality(m, batch[SHUFFLED], batch[m])))
    return shuffled, {m: np.concatenate(parts) for m, parts in decoded.items()}


def shuffled_shared(shared_factor: np.ndarray, seed: int) -> np.ndarray:
    """F_y (N, fy) with its rows in a seeded random order: the intervention's F_y (`shuffled_shared_decoding`)."""
    order = np.random.default_rng(np.random.SeedSequence([seed, 3])).permutation(len(shared_factor))
    return shared_factor[order]


STREAM_BYTES = 32 * 2**20
"""Above this many bytes of float32 reconstructions (every modality of the analysed samples; a MOSI segment's are
20 x 325 x 4 = 26 kB, so about 1,300 segments), the information reduces each X̂_i batch by batch
(`interpret.information.streamed_principal_components`) instead of with scikit-learn's PCA, which works on float64
copies of the whole X̂_i (about 1.15 GB of peak RSS at 5,000 MOSI segments, `benchmarks/bench_scale.py`). Below it
(the app's 1,000 and the report's 600 samples) nothing changes; the two reductions give the same estimates."""

HOLD_BYTES = 256 * 2**20
"""Above this many bytes of float32 reconstructions (about 10,000 MOSI segments) they are not even held: only the
factors are kept, and each X̂_i is decoded anew, 256 rows at a time, for every pass of its streamed reduction (17
passes), so memory no longer grows with the split."""

_SHARED = "F_y/shared"  # the shared factor's name among the arrays `batches` splits (no modality's: not an identifier)


def decoded_stream(
    model: MFM, modality: str, shared_factor: np.ndarray, modality_factor: np.ndarray
) -> Streamed:
    """X̂_i = G_i([F_y ; F_i]) of every row of the factors, decoded anew on each pass, 256 rows at a time."""

    def passes() -> Iterator[np.ndarray]:
        with inference(model):
            factors = {_SHARED: shared_factor, modality: modality_factor}
            for batch in batches(model, factors, 256):
                yield numpy(model.decode_modality(modality, batch[_SHARED], batch[modality]))

    return Streamed(len(shared_factor), passes)


def held_stream(rows: np.ndarray) -> Streamed:
    """Held samples (N, ...) handed out 256 rows at a time, for a reduction that makes no copy of them all."""
    return Streamed(len(rows), lambda: (rows[start : start + 256] for start in range(0, len(rows), 256)))


def information_by_modality(
    model: MFM,
    inputs: Mapping[str, np.ndarray],
    settings: InformationSettings = InformationSettings(),
    *,
    intervention: str = "none",
    collected: Outputs | None = None,
    progress: Progress | None = None,
) -> dict[str, ModalityInformation]:
    """I(F_y; X̂_i), I(F_i; X̂_i) and r_i for every modality on (a seeded subsample of) a split.

    `intervention="none"`: the paper's measure on the model's own X̂_i = G_i([F_y ; F_i]); it is high whenever
    F_y predicts X̂_i, also through F_i when the two factors are dependent (see `factor_dependence`).
    `intervention="shuffle_shared"`: the same estimates on X̂_i decoded from F_y permuted across samples
    (`shuffled_shared_decoding`), against that permuted F_y: F_y is then independent of F_i, so I(F_y; X̂_i)
    measures what the decoder takes from F_y. `collected`: a `collect` of exactly these samples, to reuse.
    """
    if intervention not in INTERVENTIONS:
        raise ValueError(f"unknown intervention {intervention!r}; choose one of {', '.join(INTERVENTIONS)}")
    collected = _collected(model, inputs, settings, collected)
    names = model.modality_names
    shared, reconstructions = collected.shared_factor, collected.reconstructions
    if reconstructions is None:  # too many to hold (`HOLD_BYTES`): decoded anew on each pass of the reduction
        if intervention == "shuffle_shared":
            shared = shuffled_shared(shared, settings.seed)
        reconstructions = {m: decoded_stream(model, m, shared, collected.modality_factors[m]) for m in names}
    else:
        if intervention == "shuffle_shared":
            shared, reconstructions = shuffled_shared_decoding(model, collected, settings.seed)
        if reconstruction_bytes(model, len(shared)) > STREAM_BYTES:  # held, but reduced a batch at a time
            reconstructions = {m: held_stream(x) for m, x in reconstructions.items()}
    return {
        name: modality_information(
            shared,
            collected.modality_factors[name],
            reconstructions[name],
            n_components=settings.n_components,
            progress=stage(progress, i, 1, len(names), f"{name}: "),
            **settings.estimate_options(),
        )
        for i, name in enumerate(names)
    }


def _collected(
    model: MFM, inputs: Mapping[str, np.ndarray], settings: InformationSettings, collected: Outputs | None
) -> Outputs:
    """`collected`, or a `collect` of the seeded subsample of `inputs` that `settings` names; without the
    reconstructions when they would take more than `HOLD_BYTES` (`information_by_modality` then decodes them
    anew for each pass of their reduction)."""
    if collected is not None:
        return collected
    index = sample_indices(len(next(iter(inputs.values()))), settings.max_samples, settings.seed)
    if reconstruction_bytes(model, len(index)) <= HOLD_BYTES:
        return collect(model, take(inputs, index))
    return run(model, take(inputs, index), keep=("shared_factor", "modality_factors", "prediction"))


def _subsample_factors(
    model: MFM, inputs: Mapping[str, np.ndarray], max_samples: int | None, seed: int
) -> Outputs:
    """F_y and every F_i (no reconstructions) of the seeded subsample of `inputs` (`sample_indices`)."""
    index = sample_indices(len(next(iter(inputs.values()))), max_samples, seed)
    return run(model, take(inputs, index), keep=FACTORS)


def reconstruction_bytes(model: MFM, n: int) -> int:
    """Bytes of float32 reconstructions of every modality for n samples."""
    return 4 * n * sum(math.prod(model.config.modality(m).shape) for m in model.modality_names)


def factor_dependence(
    model: MFM,
    inputs: Mapping[str, np.ndarray],
    settings: InformationSettings = InformationSettings(),
    *,
    collected: Outputs | None = None,
    progress: Progress | None = None,
) -> dict[str, MIEstimate]:
    """I(F_y; F_i) per modality, under the same estimator and reduction as `information_by_modality`.

    F_y and F_i are both computed from the inputs, so they are dependent; when they are, the paper's I(F_y; X̂_i)
    stays high even for a decoder that ignores F_y (it reaches X̂_i through F_i), which is why the interventional
    version exists.
    """
    if collected is None:  # the factors alone: the reconstructions are not read here
        collected = _subsample_factors(model, inputs, settings.max_samples, settings.seed)
    f_y = reduce_dimensions(collected.shared_factor, settings.n_components, settings.seed)
    names = model.modality_names
    return {
        name: estimate_mi(
            f_y,
            reduce_dimensions(collected.modality_factors[name], settings.n_components, settings.seed),
            progress=stage(progress, i, 1, len(names), f"{name}: dependence "),
            **settings.estimate_options(),
        )
        for i, name in enumerate(names)
    }


def cut_shared_factor(model: MFM, modality: str) -> MFM:
    """A copy of `model` whose decoder for `modality` cannot see F_y: the weights by which its first layer reads
    F_y are zeroed (the LSTM cell's input weights for a sequence; the input projection for an image, and the ink
    head of a composite one: `factor_weights`).

    A planted control for the interpretations: on the copy, the exact F_y gradient flow of `modality` is 0 and its
    interventional I(F_y; X̂) lies within the null, whatever the data; a measure that still reports use of F_y
    there measures something else. (For a sequence decoder the zeroed columns also carry the hidden state back
    in at later steps, so the copy generates differently; what matters is that F_y has no path to X̂.)
    """
    clone = copy.deepcopy(model).eval()
    with torch.no_grad():
        for weight in clone.decoders[modality].factor_weights():
            weight[:, : clone.config.shared_factor_dim] = 0.0
    return clone


def gradient_flow_by_modality(
    model: MFM,
    inputs: Mapping[str, np.ndarray],
    *,
    max_samples: int | None = 256,
    seed: int = 0,
    scale: str = "std",
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, GradientFlow]:
    """The exact gradient flow of every modality (or of those in `names`) at the factors of (a seeded subsample
    of) a split.

    `scale="std"` (default): per one-standard-deviation change of each factor dimension, the spread taken over
    these samples; `scale="raw"`: the paper's unweighted norms (see `interpret.gradients`). A modality's flow does
    not depend on which others are computed with it."""
    return _by_modality(
        gradient_flow, model, inputs, max_samples=max_samples, seed=seed, scale=scale, names=names,
        progress=progress,
    )  # fmt: skip


def shared_flow_by_modality(
    model: MFM, inputs: Mapping[str, np.ndarray], **options: Any
) -> dict[str, np.ndarray]:
    """`gradient_flow_by_modality(...)[m].shared` for every modality m, for its keyword `options`, differentiating
    F_y's directions only."""
    return _by_modality(shared_gradient_flow, model, inputs, **options)


def gradient_flows(
    model: MFM,
    inputs: Mapping[str, np.ndarray],
    settings: GradientSettings = GradientSettings(),
    progress: Progress | None = None,
    *,
    names: Sequence[str] | None = None,
) -> tuple[np.ndarray, dict[str, GradientFlow]]:
    """The gradient flow `settings` asks for, of every modality it applies to (among `names`, default all), at
    the factors of the seeded subsample of `inputs` it names: (the subsample's row indices into `inputs`,
    {modality: GradientFlow}).

    The exact flow (`gradient_flow_by_modality`) covers every modality; a Captum method (`captum_profiles`) the
    sequence modalities, at `settings.scale` for Saliency and at scale "input" for the input-scaled methods. A
    modality's numbers do not depend on `names`, so a page can draw one modality's figure before computing the
    next (`names=()` gives the rows alone)."""
    index = sample_indices(len(next(iter(inputs.values()))), settings.max_samples, settings.seed)
    names = model.modality_names if names is None else tuple(names)
    if settings.method != "exact":
        names = tuple(n for n in names if model.config.modality(n).kind == "sequence")
    if not names:
        return index, {}
    subset = take(inputs, index)
    if settings.method == "exact":
        return index, gradient_flow_by_modality(
            model, subset, max_samples=None, scale=settings.scale, names=names, progress=progress
        )
    return index, captum_profiles(
        model,
        subset,
        method=settings.method,
        scale="raw" if settings.input_scaled else settings.scale,  # an input-scaled method ignores it
        n_steps=settings.n_steps,
        names=names,
        progress=progress,
    )


def _by_modality(
    flow: Callable,
    model: MFM,
    inputs: Mapping[str, np.ndarray],
    *,
    max_samples: int | None = 256,
    seed: int = 0,
    scale: str = "std",
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
    **flow_options: Any,
) -> dict:
    """`flow(model, m, F_y, F_m, scale=..., **flow_options)` for every modality m of `names` (default: all) at the
    factors of a seeded subsample of `inputs`."""
    collected = _subsample_factors(model, inputs, max_samples, seed)
    names = model.modality_names if names is None else tuple(names)
    return {
        name: flow(
            model,
            name,
            collected.shared_factor,
            collected.modality_factors[name],
            scale=scale,
            progress=stage(progress, i, 1, len(names)),
            **flow_options,
        )
        for i, name in enumerate(names)
    }


def planted_step_auroc(scores: np.ndarray, mask: np.ndarray) -> float:
    """How well per-step scores find the planted steps: the mean over segments of the per-segment AUROC.

    scores, mask: (N, T). Segments whose mask is all True or all False are skipped (AUROC undefined); NaN when
    none is left. Per segment rather than pooled, so that segments of larger overall sensitivity do not dominate.
    """
    scores, mask = np.asarray(scores, dtype=np.float64), np.asarray(mask, dtype=bool)
    if scores.shape != mask.shape or scores.ndim != 2:
        raise ValueError(f"scores and mask must both be (N, T), got {scores.shape} and {mask.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite to rank the planted steps")
    positives = mask.sum(axis=1)  # (N,)
    usable = (positives > 0) & (positives < mask.shape[1])
    if not usable.any():
        return float("nan")
    # AUROC = the Mann-Whitney U of the planted steps' scores over the others (ties count half), from average
    # ranks: what roc_auc_score computes, for every segment at once.
    ranks = rankdata(scores[usable], axis=1)  # (N', T)
    n_pos, n_neg = positives[usable], mask.shape[1] - positives[usable]
    u = (ranks * mask[usable]).sum(axis=1) - n_pos * (n_pos + 1) / 2
    return float(np.mean(u / (n_pos * n_neg)))


def randomized_copy(model: MFM, seed: int = 0) -> MFM:
    """A copy of `model` with every weight re-initialised (the model-randomisation sanity check), in eval mode."""
    clone = copy.deepcopy(model)
    torch.manual_seed(seed)
    for module in clone.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return clone.eval()


def ranking_margin(ratios: Mapping[str, float], expected_order: list[str]) -> float:
    """The smallest log-ratio gap between consecutive modalities in `expected_order` (positive: ranked as planted)."""
    logs = [np.log(max(ratios[m], 1e-12)) for m in expected_order]
    return float(min(a - b for a, b in itertools.pairwise(logs)))


def faithfulness(
    model: MFM,
    inputs: Mapping[str, np.ndarray],
    extras: Mapping[str, np.ndarray],
    expected_order: list[str] | None,
    settings: InformationSettings = InformationSettings(max_samples=600),
    progress: Progress | None = None,
) -> dict:
    """Checks of both interpretations against the data's planted truth, for the model and a randomised copy.

    Both run on the seeded subsample `settings` names; the information with `settings` but no subsample or null
    rounds (r_i is the ratio of the estimates on all samples, which those rounds do not change), the F_y gradient
    flow at scale "std". Returns {"trained": {...}, "randomized": {...}}, each with "ratios" (r_i), "ranking_margin" (min log-ratio gap
    along `expected_order`; > 0 means ranked as planted) and "auroc" (F_y gradient flow vs "mask/<m>" per
    modality that has planted steps).
    """
    seed = settings.seed
    index = sample_indices(len(next(iter(inputs.values()))), settings.max_samples, seed)
    subset = take(inputs, index)
    masks = {m: np.asarray(extras[f"mask/{m}"])[index] for m in model.modality_names if f"mask/{m}" in extras}
    out = {}
    names = {"trained": "the trained model", "randomized": "a randomised copy"}
    # Four parts: information, then gradients, of each model, each named honestly.
    for number, (label, candidate) in enumerate(
        (("trained", model), ("randomized", randomized_copy(model, seed)))
    ):
        info = information_by_modality(
            candidate,
            subset,
            replace(settings, max_samples=None, n_bootstrap=0, n_null=0),  # r_i only
            progress=stage(progress, 2 * number, 1, 4, f"{names[label]}, information: "),
        )
        ratios = {m: float(v.ratio) for m, v in info.items()}
        # The AUROC reads the F_y flow only: F_i's directions are not differentiated.
        flows = shared_flow_by_modality(
            candidate,
            subset,
            max_samples=None,
            seed=seed,
            progress=stage(progress, 2 * number + 1, 1, 4, f"{names[label]}, gradients: "),
        )
        out[label] = {
            "ratios": ratios,
            "ranking_margin": ranking_margin(ratios, expected_order) if expected_order else None,
            "auroc": {m: planted_step_auroc(flows[m], mask) for m, mask in masks.items() if mask.any()},
        }
    if progress is not None:
        progress(4000, 4000, "done")
    return out


# ---------------------------------------------------------------------------------------------------------------
# Compositions: both versions of the information on one set of samples, the planted cut, Captum profiles
# ---------------------------------------------------------------------------------------------------------------
INFORMATION_READINGS = {
    "observational": (
        "Observational (the paper's): I(F_y; X̂_i) on the model's own X̂_i measures how much X̂_i depends on F_y; it "
        "is high whenever F_y predicts X̂_i, also through F_i when the two factors are dependent, so it does not "
        "show that the decoder uses F_y, nor how much the modality matters for the prediction."
    ),
    "interventional": (
        "Interventional: X̂_i decoded from F_y shuffled across samples, so that F_y is independent of F_i; "
        "I(F_y; X̂_i) then measures what the decoder takes from F_y, not how much the modality matters for the "
        "prediction."
    ),
    "dependence": (
        "I(F_y; F_i): how dependent the label factor and the modality's own factor are on these samples; where it "
        "is high, the observational I(F_y; X̂_i) can be high even for a decoder that ignores F_y."
    ),
}
"""One-line readings of each number, shared by the Information page and the report: what it measures, what not."""


@dataclass(frozen=True)
class InformationVersions:
    """Both versions of the information-based interpretation on one set of samples, and why they can differ."""

    observational: dict[str, ModalityInformation]  # the paper's: on the model's own X̂_i = G_i([F_y ; F_i])
    interventional: dict[str, ModalityInformation]  # on X̂_i decoded from F_y shuffled across samples
    dependence: dict[str, MIEstimate]  # I(F_y; F_i) per modality (empty when not computed)
    n_samples: int


def information_versions(
    model: MFM,
    inputs: Mapping[str, np.ndarray],
    settings: InformationSettings = InformationSettings(),
    *,
    dependence: bool = True,
    collected: Outputs | None = None,
    progress: Progress | None = None,
) -> InformationVersions:
    """The observational and the interventional `information_by_modality`, and `factor_dependence`, all from one
    `collect` of the same seeded subsample (or of `collected`, which must be a `collect` of exactly these samples).

    The observational numbers equal `information_by_modality(model, inputs, settings)`.
    """
    collected = _collected(model, inputs, settings, collected)
    # Progress in units of estimates: two terms per modality for each version, one for the dependence.
    total = 4 + int(dependence)
    observational = information_by_modality(
        model, inputs, settings, collected=collected, progress=stage(progress, 0, 2, total, "observational: ")
    )
    interventional = information_by_modality(
        model, inputs, settings, intervention="shuffle_shared", collected=collected,
        progress=stage(progress, 2, 2, total, "interventional: "),
    )  # fmt: skip
    dependent = (
        factor_dependence(
            model,
            inputs,
            settings,
            collected=collected,
            progress=stage(progress, 4, 1, total, "dependence: "),
        )
        if dependence
        else {}
    )
    return InformationVersions(observational, interventional, dependent, len(collected.shared_factor))


def above_null(estimate: MIEstimate) -> bool | None:
    """Whether an estimate exceeds its null's upper quantile; None when there is no null (n_null = 0)."""
    return None if not math.isfinite(estimate.null_high) else bool(estimate.value > estimate.null_high)


def _ranks(ratios: Mapping[str, float]) -> dict[str, int]:
    """1-based rank of every modality by r_i, largest first (ties keep the modalities' order)."""
    order = sorted(ratios, key=lambda m: -ratios[m] if math.isfinite(ratios[m]) else math.inf)
    return {m: i + 1 for i, m in enumerate(order)}


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def information_disagreements(versions: InformationVersions) -> dict[str, str]:
    """A sentence for every modality on which the two versions disagree, keyed by modality (agreeing ones absent).

    They disagree on a modality when I(F_y; X̂_i) is above its null under one version and within it under the other,
    or when r_i ranks the modality differently among the modalities under the two versions.
    """
    observed, intervened = versions.observational, versions.interventional
    ranks_observed = _ranks({m: v.ratio for m, v in observed.items()})
    ranks_intervened = _ranks({m: v.ratio for m, v in intervened.items()})
    notes = {}
    for name in observed:
        o, i = observed[name].shared, intervened[name].shared
        o_above, i_above = above_null(o), above_null(i)
        parts = []
        if o_above and i_above is False:
            dependence = versions.dependence.get(name)
            through = (
                f", through F_{name} (I(F_y; F_{name}) = {dependence.value:.3f}, above its null)"
                if dependence is not None and above_null(dependence)
                else ""
            )
            parts.append(
                f"the observational I(F_y; X̂) = {o.value:.3f} is above its null ({o.null_high:.3f}) but the "
                f"interventional {i.value:.3f} is within its null ({i.null_high:.3f}): X̂_{name} depends on F_y"
                f"{through}, yet its decoder takes no detectable information from F_y"
            )
        elif i_above and o_above is False:
            parts.append(
                f"the interventional I(F_y; X̂) = {i.value:.3f} is above its null ({i.null_high:.3f}) but the "
                f"observational {o.value:.3f} is within its null ({o.null_high:.3f}): the decoder reads F_y, yet "
                f"on the model's own samples X̂_{name} shows no detectable dependence on it"
            )
        if ranks_observed[name] != ranks_intervened[name]:
            count = len(observed)
            parts.append(
                f"r_{name} ranks {_ordinal(ranks_observed[name])} of {count} under the observational version and "
                f"{_ordinal(ranks_intervened[name])} under the interventional one"
            )
        if parts:
            notes[name] = "The two versions disagree: " + "; ".join(parts) + "."
    return notes


@dataclass(frozen=True)
class PlantedCut:
    """The planted-cut control of one modality: a copy of the model whose decoder for `modality` cannot see F_y
    (`interpret.analysis.cut_shared_factor`), measured on the same samples as the model.

    On the copy the exact F_y gradient flow of `modality` is 0 by construction, so its interventional
    I(F_y; X̂) must lie within its null; its observational one need not (it measures dependence).
    """

    modality: str
    observational: ModalityInformation  # the copy's, the paper's version
    interventional: ModalityInformation  # the copy's
    shared_flow: (
        float  # the copy's exact F_y flow of `modality`, mean over samples and steps (0 by construction)
    )
    shared_flow_max: float  # ... and its largest value
    model_shared_flow: float  # the model's exact F_y flow at the same factors, mean over samples and steps
    flow_samples: int
    n_samples: int


def planted_cut(
    model: MFM,
    inputs: Mapping[str, np.ndarray],
    modality: str,
    settings: InformationSettings = InformationSettings(),
    *,
    flow_samples: int = 64,
    progress: Progress | None = None,
) -> PlantedCut:
    """Both versions of the information, and the exact raw F_y gradient flow, for `modality` on a copy of `model`
    whose decoder for it cannot see F_y, on the seeded subsample `information_versions` takes with these settings.

    The flow is computed at the first `flow_samples` of those samples, for the copy and for the model (the copy's
    encoders are the model's, so both see the same factors). The factors' dependence is not recomputed: the copy
    has the model's encoders, so I(F_y; F_i) is the model's.
    """
    if modality not in model.modality_names:
        raise ValueError(f"unknown modality {modality!r}; the model has {', '.join(model.modality_names)}")
    cut = cut_shared_factor(model, modality)
    collected = _collected(cut, inputs, settings, None)
    versions = information_versions(
        cut, inputs, settings, dependence=False, collected=collected, progress=progress
    )
    shared = collected.shared_factor[:flow_samples]  # (F, fy)
    own = collected.modality_factors[modality][:flow_samples]  # (F, fi)
    on_cut = gradient_flow(cut, modality, shared, own, scale="raw")
    on_model = gradient_flow(model, modality, shared, own, scale="raw")
    return PlantedCut(
        modality=modality,
        observational=versions.observational[modality],
        interventional=versions.interventional[modality],
        shared_flow=float(on_cut.shared.mean()),
        shared_flow_max=float(on_cut.shared.max()),
        model_shared_flow=float(on_model.shared.mean()),
        flow_samples=len(shared),
        n_samples=versions.n_samples,
    )


# ---------------------------------------------------------------------------------------------------------------
# Gradient profiles
# ---------------------------------------------------------------------------------------------------------------
def captum_profiles(
    model: MFM,
    inputs: Mapping[str, np.ndarray],
    *,
    method: str,
    scale: str = "std",
    n_steps: int = 20,
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, GradientFlow]:
    """`interpret.gradients.captum_time_profile` for every sequence modality (of `names`, default all), at the
    factors of `inputs`.

    Returns {modality: GradientFlow} like `interpret.analysis.gradient_flow_by_modality` (image modalities are
    left out: Captum's per-step profile is defined over time steps). `scale` applies to Saliency ("std": per
    one-standard-deviation change of each factor dimension over these samples; "raw"); Input x Gradient and
    Integrated Gradients are input-scaled and come back with scale "input".
    """
    return _by_modality(
        captum_time_profile,
        model,
        inputs,
        max_samples=None,
        scale=scale,
        names=[
            m.name
            for m in model.config.modalities
            if m.kind == "sequence" and (names is None or m.name in names)
        ],
        progress=progress,
        method=method,
        n_steps=n_steps,
    )
