"""Missing-modality what-if: drop one modality and compare what MFM infers without it to what it infers with it.

Two methods, always named as such (`WhatIf.method`, the summaries' "method", `METHODS`):

- **surrogate inference** (paper Eq. 5, `missing_modality`, `missing_modality_summary`): for models trained with
  surrogate networks (``config.surrogate``);
- **zero-filling** (`zero_fill_missing_modality`, `zero_fill_summary`): X_m replaced by zeros and the unchanged
  model run on it. It is *not* the paper's method; it is what can be done with a model that has no surrogate
  network, such as every MFM imported from the authors' code or MMSA. The zeros are in the model's input units
  (a model with input standardisation standardises them like any input).

Surrogate inference: when modality m is missing, MFM does not guess the raw X_m: its surrogate network Φ_m (paper Eq. 5) infers the
codes (ẑ_y, ẑ_m) from the observed modalities, and the unchanged factor maps, decoders and label head run on them.
So the what-if shows, side by side, for the same samples:

- the surrogate-inferred codes ẑ_y, ẑ_m and factors F̂_y, F̂_m beside the full-data z_y, z_m, F_y, F_m;
- the reconstruction of the missing modality X̂_m = G_m([F̂_y ; F̂_m]) beside the real X_m and the full-data X̂_m;
- the prediction D(F̂_y) beside the full-data prediction D(F_y);

and per-sample errors: code MSE (ẑ vs z), reconstruction MSE of X̂_m against the real X_m (for both the surrogate
and the full-data reconstruction, so the cost of losing m is measured against what the model achieves with it),
and the prediction change.

Zero-filling gives the same fields, with "inferred" meaning "computed from the zero-filled input" (its codes z_y,
z_m come from the encoders reading zeros for X_m).

Neither pass without X_m ever reads X_m. X_m is read only by the full-data pass that gives the comparison; leave it out
of the inputs and the what-if still runs, with the comparison fields set to None.

Every function runs in eval mode under ``torch.no_grad()`` and restores each submodule's train/eval flag
(:func:`mfm.modes.inference`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mfm.errors import MFMError
from mfm.inference import ArrayLike, Outputs, batches, check_batch_size, device_of, predict
from mfm.metrics import task_metrics
from mfm.model import MFM, MFMOutput
from mfm.modes import inference
from mfm.progress import Progress

SURROGATE = "surrogate"
ZERO_FILL = "zero_fill"
METHODS = {
    SURROGATE: "surrogate inference (paper Eq. 5)",
    ZERO_FILL: "zero-filling: X_m replaced by zeros, the unchanged model run on it (not the paper's surrogate "
    "inference)",
}
"""The ways of dropping a modality, by the name recorded in `WhatIf.method` and the summaries, with their labels."""


@dataclass(frozen=True)
class WhatIf:
    """Modality `missing` dropped, for N samples: the outputs without X_m beside the full-data ones.

    `method` says how X_m was dropped (a key of `METHODS`): "surrogate" (paper Eq. 5) or "zero_fill" (X_m replaced
    by zeros; then "inferred" below means computed from the zero-filled input). `inferred` is the pass without
    X_m; with surrogate inference ``inferred.shared_code`` is ẑ_y,
    ``inferred.modality_codes[missing]`` is ẑ_m, ``inferred.reconstructions[missing]`` is X̂_m generated without
    X_m. `full`, `target` (the real X_m) and every error are None when X_m was not given.
    Errors are per sample (N,): mean squared differences over all of a sample's entries.
    `prediction_change` is ŷ_without - ŷ_full for regression and, for classification, the total-variation
    distance 0.5 · Σ_k |p_without,k - p_full,k| between the two softmax distributions (0: same, 1: disjoint);
    `class_changed` (classification only) says whether the predicted class differs.
    """

    missing: str
    inferred: Outputs
    full: Outputs | None
    target: np.ndarray | None  # X_m (N, *shape_m)
    shared_code_error: np.ndarray | None  # MSE(ẑ_y, z_y) (N,)
    modality_code_error: np.ndarray | None  # MSE(ẑ_m, z_m) (N,)
    reconstruction_error: np.ndarray | None  # MSE(X̂_m without X_m, X_m) (N,)
    full_reconstruction_error: np.ndarray | None  # MSE(X̂_m with X_m, X_m) (N,)
    prediction_change: np.ndarray | None  # (N,)
    class_changed: np.ndarray | None  # (N,) bool, classification only
    method: str = SURROGATE

    def __len__(self) -> int:
        return self.inferred.shared_code.shape[0]

    @property
    def reconstruction(self) -> np.ndarray:
        """X̂_m generated without X_m: (N, *shape_m)."""
        return self.inferred.reconstructions[self.missing]


# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------
def _check_method(model: MFM, method: str, missing: str | None = None) -> None:
    """The method is known and the model can drop `missing` (None: any modality) by it (`MFM.check_missing`)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    model.check_missing(missing, surrogate=method == SURROGATE)


def _per_sample_mse(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).pow(2).flatten(1).mean(dim=1)  # (B, ...) -> (B,)


def _batched_inputs(model: MFM, inputs: Mapping[str, ArrayLike]) -> tuple[dict[str, ArrayLike], int]:
    """Inputs of the model's modalities with a batch axis (one sample gets a batch of 1), and N."""
    given = {m.name: (m, inputs[m.name]) for m in model.config.modalities if m.name in inputs}
    if not given:
        raise MFMError(f"no input for any modality of this model {list(model.modality_names)}")
    single = {name: np.ndim(x) == len(m.shape) for name, (m, x) in given.items()}
    if len(set(single.values())) != 1:
        raise MFMError("pass every modality as one sample or every modality as a batch, not a mix")
    out = {name: (x[None] if single[name] else x) for name, (_, x) in given.items()}
    sizes = {name: len(x) for name, x in out.items()}
    if len(set(sizes.values())) != 1 or 0 in sizes.values():
        raise MFMError(f"every modality needs the same, non-zero number of samples, got {sizes}")
    return out, next(iter(sizes.values()))


@dataclass
class _BatchResult:
    """One batch of a what-if, as tensors: both passes, the real X_m and the per-sample errors (B,)."""

    inferred: MFMOutput
    full: MFMOutput | None
    target: Tensor | None
    errors: dict[str, Tensor]


def _compare(
    model: MFM, missing: str, inferred: MFMOutput, full: MFMOutput, target: Tensor
) -> dict[str, Tensor]:
    """Per-sample errors (B,) of a pass without X_m against the full-data pass of the same batch."""
    errors = {
        "shared_code_error": _per_sample_mse(inferred.shared_code, full.shared_code),
        "modality_code_error": _per_sample_mse(
            inferred.modality_codes[missing], full.modality_codes[missing]
        ),
        "reconstruction_error": _per_sample_mse(inferred.reconstructions[missing], target),
        "full_reconstruction_error": _per_sample_mse(full.reconstructions[missing], target),
    }
    if model.config.task == "classification":
        p_without = torch.softmax(inferred.prediction, dim=-1)  # (B, K)
        p_full = torch.softmax(full.prediction, dim=-1)  # (B, K)
        errors["prediction_change"] = 0.5 * (p_without - p_full).abs().sum(dim=-1)  # total variation (B,)
        errors["class_changed"] = inferred.prediction.argmax(-1) != full.prediction.argmax(-1)  # (B,)
    else:
        errors["prediction_change"] = inferred.prediction - full.prediction  # (B,)
    return errors


def _without(
    model: MFM, observed: Mapping[str, Tensor], missing: str, method: str, size: int, device: torch.device
) -> MFMOutput:
    """The pass without X_m (`size` samples): surrogate inference, or the unchanged model on the observed inputs
    and zeros in place of X_m. Neither reads X_m."""
    if method == SURROGATE:
        return model(observed, missing=missing)  # reads the observed modalities only
    zeros = torch.zeros((size, *model.config.modality(missing).shape), device=device)  # (B, *shape_m)
    return model({**observed, missing: zeros})


def _what_if_batches(
    model: MFM,
    batched: Mapping[str, ArrayLike],
    missing: str,
    batch_size: int,
    method: str = SURROGATE,
) -> Iterator[_BatchResult]:
    """Both passes batch by batch; the caller holds `inference(model)`. X_m goes to the full-data pass only."""
    device = device_of(model)
    for batch in batches(model, batched, batch_size):
        observed = {n: x for n, x in batch.items() if n != missing}
        size = len(next(iter(batch.values())))
        inferred = _without(model, observed, missing, method, size, device)
        if missing not in batch:
            yield _BatchResult(inferred, None, None, {})
            continue
        full = model(batch)
        yield _BatchResult(
            inferred, full, batch[missing], _compare(model, missing, inferred, full, batch[missing])
        )


# ---------------------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------------------
def missing_modality(
    model: MFM, inputs: Mapping[str, ArrayLike], missing: str, batch_size: int = 256
) -> WhatIf:
    """What MFM infers for these samples when `missing` is dropped (surrogate inference, paper Eq. 5), beside what
    it infers with it.

    Args:
        model: an MFM built with surrogate inference (``config.surrogate``).
        inputs: modality name -> one sample (*shape) or a batch (N, *shape), numpy or torch. Every observed
            modality is required; ``inputs[missing]`` is optional and is read only for the comparison (the
            surrogate pass never reads it). One sample comes back as a batch of N = 1.
        missing: the modality to drop.
        batch_size: samples per forward pass.

    Returns:
        A :class:`WhatIf` with ``method == "surrogate"``. Raises MFMError for an unknown modality, a model without
        surrogate inference (use :func:`zero_fill_missing_modality`), or inputs that do not fit the model.
    """
    return _what_if(model, inputs, missing, batch_size, SURROGATE)


def zero_fill_missing_modality(
    model: MFM, inputs: Mapping[str, ArrayLike], missing: str, batch_size: int = 256
) -> WhatIf:
    """What the model gives for these samples when X_`missing` is replaced by zeros, beside what it gives with the
    real X_m. This is zero-filling, not the paper's surrogate inference: it works for any MFM (imported ones have
    no surrogate network) and says how the unchanged model reacts to a blank modality.

    Arguments as :func:`missing_modality` (``inputs[missing]`` is read only for the comparison; the zero-filled
    pass never reads it). Returns a :class:`WhatIf` with ``method == "zero_fill"``.
    """
    return _what_if(model, inputs, missing, batch_size, ZERO_FILL)


def _what_if(
    model: MFM, inputs: Mapping[str, ArrayLike], missing: str, batch_size: int, method: str
) -> WhatIf:
    _check_method(model, method, missing)
    check_batch_size(batch_size)
    batched, _ = _batched_inputs(model, inputs)
    has_target = missing in batched
    inferred: list[Outputs] = []
    full: list[Outputs] = []
    targets: list[np.ndarray] = []
    errors: dict[str, list[np.ndarray]] = {}
    with inference(model):
        for part in _what_if_batches(model, batched, missing, batch_size, method):
            inferred.append(Outputs.from_model(part.inferred))
            if part.full is not None and part.target is not None:
                full.append(Outputs.from_model(part.full))
                targets.append(part.target.cpu().numpy())
            for name, value in part.errors.items():
                errors.setdefault(name, []).append(value.cpu().numpy())
    joined = {name: np.concatenate(values) for name, values in errors.items()}
    return WhatIf(
        missing=missing,
        inferred=Outputs.concatenate(inferred),
        full=Outputs.concatenate(full) if has_target else None,
        target=np.concatenate(targets) if has_target else None,
        shared_code_error=joined.get("shared_code_error"),
        modality_code_error=joined.get("modality_code_error"),
        reconstruction_error=joined.get("reconstruction_error"),
        full_reconstruction_error=joined.get("full_reconstruction_error"),
        prediction_change=joined.get("prediction_change"),
        class_changed=joined.get("class_changed"),
        method=method,
    )


def missing_modality_summary(
    model: MFM,
    inputs: Mapping[str, ArrayLike],
    labels: np.ndarray,
    batch_size: int = 256,
    *,
    progress: Progress | None = None,
) -> dict[str, dict[str, Any]]:
    """Over a split, for each modality m dropped in turn and inferred by surrogate inference: what losing m costs.

    Per modality m (keys are modality names), plain builtins:
    - ``method``: "surrogate";
    - ``shared_code_mse``, ``modality_code_mse``: mean MSE(ẑ_y, z_y) and MSE(ẑ_m, z_m);
    - ``reconstruction_mse_surrogate``: mean MSE of X̂_m generated without X_m against X_m;
    - ``reconstruction_mse_full``: the same for the full-data X̂_m, the baseline;
    - ``reconstruction_mse_mean``: the MSE of the samples' own mean X_m (each element's variance over them,
      averaged): a generated X̂_m at or above it carries nothing specific to its sample;
    - ``prediction_change``: mean total-variation distance between the class distributions (classification) or
      mean |ŷ_without - ŷ_full| (regression); ``class_changed``: share of samples whose predicted class changes
      (classification only);
    - ``metrics_full`` and ``metrics_without``: :func:`mfm.metrics.task_metrics` of :func:`mfm.inference.predict`
      with all modalities and without m: the same numbers as ``mfm.train.evaluate_model`` ("all" and
      "without_<m>"), so the app and the command line agree.

    Args:
        model: an MFM with surrogate inference (for one without, see :func:`zero_fill_summary`).
        inputs: modality name -> (N, *shape) for every modality.
        labels: (N,) class indices or regression targets.
        batch_size: samples per forward pass.
        progress: optional ``progress(done, total, stage)``; one step per modality, stage = its name.
    """
    return _summary(model, inputs, labels, batch_size, SURROGATE, progress)


def zero_fill_summary(
    model: MFM,
    inputs: Mapping[str, ArrayLike],
    labels: np.ndarray,
    batch_size: int = 256,
    *,
    progress: Progress | None = None,
) -> dict[str, dict[str, Any]]:
    """Over a split, for each modality m in turn replaced by zeros (zero-filling, not the paper's surrogate
    inference): how the unchanged model's codes, reconstruction of m and prediction move.

    The same entries as :func:`missing_modality_summary`, with ``method`` "zero_fill" and
    ``reconstruction_mse_zero_fill`` (X̂_m generated from the zero-filled input, against the real X_m) in place of
    ``reconstruction_mse_surrogate``; ``shared_code_mse`` and ``modality_code_mse`` compare the codes of the
    zero-filled input with the full-data ones; ``metrics_without`` are the task metrics of the zero-filled
    predictions. Works for any MFM, with or without surrogate networks.
    """
    return _summary(model, inputs, labels, batch_size, ZERO_FILL, progress)


def _summary(
    model: MFM,
    inputs: Mapping[str, ArrayLike],
    labels: np.ndarray,
    batch_size: int,
    method: str,
    progress: Progress | None,
) -> dict[str, dict[str, Any]]:
    _check_method(model, method)
    check_batch_size(batch_size)
    absent = [n for n in model.modality_names if n not in inputs]
    if absent:
        raise MFMError(f"the summary compares with full data: inputs lack modalities {absent}")
    batched, n_samples = _batched_inputs(model, inputs)
    task = model.config.task
    names = model.modality_names
    recon_key = "reconstruction_mse_surrogate" if method == SURROGATE else "reconstruction_mse_zero_fill"
    summary: dict[str, dict[str, Any]] = {}
    with inference(model):
        metrics_full = task_metrics(task, predict(model, batched, batch_size=batch_size), labels)
        for done, missing in enumerate(names, start=1):
            # Sums over samples, batch by batch: a split's reconstructions need not fit in memory at once.
            sums: dict[str, float] = {}
            predictions: list[np.ndarray] = []
            for part in _what_if_batches(model, batched, missing, batch_size, method):
                predictions.append(part.inferred.prediction.float().cpu().numpy())
                for name, value in part.errors.items():
                    value = value.double().abs() if name == "prediction_change" else value.double()
                    sums[name] = sums.get(name, 0.0) + float(value.sum())
            entry: dict[str, Any] = {
                "method": method,
                "shared_code_mse": sums["shared_code_error"] / n_samples,
                "modality_code_mse": sums["modality_code_error"] / n_samples,
                recon_key: sums["reconstruction_error"] / n_samples,
                "reconstruction_mse_full": sums["full_reconstruction_error"] / n_samples,
                "reconstruction_mse_mean": float(
                    np.asarray(inputs[missing], dtype=np.float64).var(axis=0).mean()
                ),
                "prediction_change": sums["prediction_change"] / n_samples,
            }
            if "class_changed" in sums:
                entry["class_changed"] = sums["class_changed"] / n_samples
            entry["metrics_full"] = dict(metrics_full)
            if method == SURROGATE:  # through predict, as evaluate_model does, so both give the same numbers
                without = predict(model, batched, missing=missing, batch_size=batch_size)
            else:
                without = np.concatenate(predictions)
            entry["metrics_without"] = task_metrics(task, without, labels)
            summary[missing] = entry
            if progress is not None:
                progress(done, len(names), missing)
    return summary
