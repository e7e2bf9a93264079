"""The one inference step: an MFM run over many samples, batch by batch, in eval mode without gradients, as numpy.

- :func:`run` gives the :class:`Outputs` of a whole split (the numpy side of :class:`mfm.model.MFMOutput`),
  optionally with one modality missing (surrogate inference, paper Eq. 5), keeping only the fields asked for;
  :func:`predict` is its prediction alone.
- :func:`batches` is the loop itself, for work that reduces batch by batch (the what-if summaries) or runs a part
  of the model (one encoder, the decoders): named arrays in, float32 tensors on the model's device out.
- :func:`as_tensor` and :func:`device_of` are the conversions every caller shares.

The caller of :func:`batches` holds :func:`mfm.modes.inference`; :func:`run` holds it itself. Each submodule's
train/eval flag is restored afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from mfm.memory import release_free_memory
from mfm.model import MFM, MFMOutput
from mfm.modes import inference

ArrayLike = np.ndarray | Tensor

FIELDS = (
    "shared_code",
    "modality_codes",
    "shared_factor",
    "modality_factors",
    "reconstructions",
    "prediction",
)
"""What :func:`run` can keep, by the names of :class:`mfm.model.MFMOutput`."""
FACTORS = ("shared_factor", "modality_factors")


@dataclass(frozen=True)
class Outputs:
    """The outputs of N samples as numpy float32 arrays, by the names of :class:`mfm.model.MFMOutput`.

    A field :func:`run` was not asked to keep is None. `missing` names the modality whose codes the surrogate
    network inferred (F_y and that modality's code then come from the other modalities alone), or is None.
    """

    shared_code: np.ndarray | None = None  # z_y (N, shared_code_dim)
    modality_codes: dict[str, np.ndarray] | None = None  # z_i (N, code_dim_i)
    shared_factor: np.ndarray | None = None  # F_y (N, shared_factor_dim)
    modality_factors: dict[str, np.ndarray] | None = None  # F_i (N, factor_dim_i)
    reconstructions: dict[str, np.ndarray] | None = None  # X̂_i (N, *shape_i)
    prediction: np.ndarray | None = None  # logits (N, num_classes) or predictions (N,)
    missing: str | None = None

    def __len__(self) -> int:
        for name in FIELDS:
            value = getattr(self, name)
            if value is not None:
                return len(value) if not isinstance(value, dict) else len(next(iter(value.values())))
        return 0

    @classmethod
    def from_model(cls, out: MFMOutput, keep: Iterable[str] = FIELDS) -> Outputs:
        """The kept fields of one forward pass, taken off the graph."""
        fields = _numpy_fields({name: getattr(out, name) for name in keep})
        return cls(**fields, missing=out.missing[0] if out.missing else None)

    @classmethod
    def concatenate(cls, parts: Sequence[Outputs]) -> Outputs:
        """Batches of the same pass joined along the samples."""
        fields = {}
        for name in FIELDS:
            values = [getattr(p, name) for p in parts]
            if values[0] is None:
                continue
            fields[name] = (
                {k: np.concatenate([v[k] for v in values]) for k in values[0]}
                if isinstance(values[0], dict)
                else np.concatenate(values)
            )
        return cls(**fields, missing=parts[0].missing)


def device_of(module: nn.Module) -> torch.device:
    """The device of a module's parameters (the model's device; the CPU for a module without parameters)."""
    first = next(iter(module.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


def as_tensor(x: ArrayLike, device: torch.device) -> Tensor:
    """A float32 tensor on `device` (numpy arrays and tensors alike; tensors are not copied when already there)."""
    if isinstance(x, Tensor):
        return x.detach().to(device=device, dtype=torch.float32)
    return torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)


def numpy(x: Tensor) -> np.ndarray:
    """A tensor taken off the graph as a C-ordered float32 numpy array, whatever the tensor's memory format."""
    return x.detach().float().cpu().contiguous().numpy()


def sample_indices(n: int, max_samples: int | None, seed: int) -> np.ndarray:
    """A sorted, seeded choice of at most `max_samples` of n indices (all of them when n is small enough)."""
    if max_samples is None or n <= max_samples:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_samples, replace=False))


def take(inputs: Mapping[str, ArrayLike], index: np.ndarray) -> dict[str, ArrayLike]:
    """The rows `index` of every modality: the arrays themselves when `index` is every row in order (what
    `sample_indices` gives when no subsample is needed), so a whole split is not copied; else a copy.

    An array read lazily from a file (an `h5py.Dataset`: anything with a shape that is not a numpy array or a
    tensor) stays lazy when every row is taken, so `batches` streams it from disk a batch at a time; a subsample
    of it is read into memory (`sample_indices` gives sorted rows, which h5py asks for)."""
    index = np.asarray(index)
    in_order = index.ndim == 1 and bool(np.array_equal(index, np.arange(len(index))))  # 0, 1, ..., len - 1
    arrays = {name: x if _lazy(x) else np.asarray(x) for name, x in inputs.items()}
    return {
        name: x if in_order and len(x) == len(index) else np.asarray(x[index]) for name, x in arrays.items()
    }


def _lazy(x: object) -> bool:
    """Whether `x` is an array-like read on demand (h5py.Dataset), not one held in memory."""
    return not isinstance(x, (np.ndarray, Tensor)) and hasattr(x, "shape") and hasattr(x, "__getitem__")


def _numpy_fields(values: Mapping[str, Tensor | Mapping[str, Tensor]]) -> dict:
    return {
        name: {k: numpy(v) for k, v in value.items()} if isinstance(value, Mapping) else numpy(value)
        for name, value in values.items()
    }


def check_count(name: str, value: object, *, allow_none: bool = False) -> None:
    """Raise ValueError unless `value` is a positive integer (or None, where `allow_none` lets None mean "all")."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}"
        )


def check_batch_size(batch_size: int) -> None:
    """Raise ValueError unless `batch_size` is a positive integer."""
    check_count("batch_size", batch_size)


def num_samples(inputs: Mapping[str, ArrayLike]) -> int:
    """N, the common length of the named arrays; ValueError for none, different lengths or no sample."""
    if not inputs:
        raise ValueError("inputs must hold at least one modality")
    sizes = {name: len(x) for name, x in inputs.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"every modality must have the same number of samples, got {sizes}")
    n_samples = next(iter(sizes.values()))
    if n_samples == 0:
        raise ValueError("inputs hold no samples")
    return n_samples


def batches(
    model: nn.Module, inputs: Mapping[str, ArrayLike], batch_size: int = 256
) -> Iterator[dict[str, Tensor]]:
    """Consecutive batches of `batch_size` rows of every named array, as float32 tensors on the model's device.

    The names are the caller's (modalities, or factors to decode); the caller holds `mfm.modes.inference(model)`.
    """
    check_batch_size(batch_size)
    n = num_samples(inputs)
    device = device_of(model)
    for start in range(0, n, batch_size):
        yield {name: as_tensor(x[start : start + batch_size], device) for name, x in inputs.items()}
        release_free_memory()  # what the last batch's work freed goes back to the system (mfm.memory)


def run(
    model: MFM,
    inputs: Mapping[str, ArrayLike],
    *,
    missing: str | None = None,
    keep: Iterable[str] = FIELDS,
    batch_size: int = 256,
) -> Outputs:
    """The model's outputs for every sample of `inputs`, in eval mode, keeping the fields named in `keep`.

    Args:
        model: the MFM.
        inputs: modality name -> (N, *shape) array or tensor, one entry per modality of the model. With
            `missing=m`, modality m may be absent and is never read.
        missing: infer this modality's codes with its surrogate network (paper Eq. 5). Raises MFMError for an
            unknown modality or a model without surrogate inference.
        keep: names from :data:`FIELDS`; only what is kept is computed past the factors (no decoding when
            "reconstructions" is not kept, no head when "prediction" is not).
        batch_size: samples per forward pass.

    Returns:
        :class:`Outputs` with the kept fields (the others None): the same numbers as ``model(batch, missing)``.
    """
    keep = tuple(keep)
    unknown = [name for name in keep if name not in FIELDS]
    if unknown:
        raise ValueError(f"unknown output(s) {unknown}; choose from {list(FIELDS)}")
    if missing is not None:
        model.check_missing(missing)
    observed = {n: x for n, x in inputs.items() if n != missing}
    parts = []
    with inference(model):
        for batch in batches(model, observed, batch_size):
            shared_code, codes = model.encode(batch, missing)
            shared_factor, factors = model.factors(shared_code, codes)
            values = {
                "shared_code": shared_code,
                "modality_codes": codes,
                "shared_factor": shared_factor,
                "modality_factors": factors,
            }
            if "reconstructions" in keep:
                values["reconstructions"] = model.decode(shared_factor, factors)
            if "prediction" in keep:
                values["prediction"] = model.predict(shared_factor)
            parts.append(Outputs(**_numpy_fields({name: values[name] for name in keep}), missing=missing))
    return Outputs.concatenate(parts)


def predict(
    model: MFM, inputs: Mapping[str, ArrayLike], *, missing: str | None = None, batch_size: int = 256
) -> np.ndarray:
    """The model's predictions for every sample (logits (N, K) or predictions (N,)): :func:`run`'s, alone."""
    return run(model, inputs, missing=missing, keep=("prediction",), batch_size=batch_size).prediction
