"""The containers every data set is returned in, and the checks that guard them.

A data set is plain numpy arrays in frozen dataclasses: `MultimodalDataset` holds three `Split`s
("train", "valid", "test"); each split maps modality names to float32 arrays whose first axis is the
sample axis, with labels and per-sample side information ("extras") aligned on that axis.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from mfm.errors import DataError

SPLIT_NAMES: tuple[str, ...] = ("train", "valid", "test")
TASKS: tuple[str, ...] = ("classification", "regression")


@dataclass(frozen=True)
class Split:
    """One split of a multimodal data set.

    inputs: modality name -> float32 array (N, ...); images are (N, C, H, W) in [0, 1], sequences (N, T, D).
    labels: (N,) int64 class ids (classification) or float32 sentiment in [-3, 3] (regression).
    extras: per-sample side information, first axis N, under the keys documented in `mfm.data`
        ("mask/<modality>", "words", "style/<modality>/<param>", "speaker", "index/<source>", ...).
    """

    inputs: dict[str, np.ndarray]
    labels: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = _check_labels(self.labels)
        for name, array in self.inputs.items():
            if not isinstance(array, np.ndarray) or array.dtype != np.float32:
                raise DataError(
                    f"split input {name!r}: expected a float32 numpy array, got {_describe(array)}"
                )
            if array.ndim < 2 or array.shape[0] != n:
                raise DataError(
                    f"split input {name!r}: shape {array.shape} does not start with N={n} samples"
                )
        for key, array in self.extras.items():
            if not isinstance(array, np.ndarray) or array.ndim < 1 or array.shape[0] != n:
                raise DataError(
                    f"split extra {key!r}: expected an array with first axis N={n}, got {_describe(array)}"
                )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def select(self, index: np.ndarray | slice) -> Split:
        """Return the samples at `index` (integer indices, a boolean mask or a slice) as a new split."""
        return Split(
            inputs={name: array[index] for name, array in self.inputs.items()},
            labels=self.labels[index],
            extras={key: array[index] for key, array in self.extras.items()},
        )

    def emptied(self) -> Split:
        """Return a split of 0 samples with this one's keys, per-sample shapes and dtypes, holding none of its memory
        (new arrays, not views: a view of 0 samples would keep the whole buffer alive)."""

        def empty(array: np.ndarray) -> np.ndarray:
            return np.empty((0, *array.shape[1:]), dtype=array.dtype)

        return Split(
            inputs={name: empty(array) for name, array in self.inputs.items()},
            labels=empty(self.labels),
            extras={key: empty(array) for key, array in self.extras.items()},
        )


@dataclass(frozen=True)
class MultimodalDataset:
    """A named multimodal data set: three splits plus what a model needs to know to consume them.

    task: "classification" (labels are int64 class ids in [0, num_classes)) or "regression" (float32).
    modalities: modality names in a fixed order; shapes: per-sample shape of each modality.
    info: builtins only (JSON-serialisable): description, source, generator version, seed, planted-truth notes.
    """

    name: str
    task: str
    num_classes: int | None
    modalities: tuple[str, ...]
    shapes: dict[str, tuple[int, ...]]
    splits: dict[str, Split]
    info: dict

    def __post_init__(self) -> None:
        where = f"data set {self.name!r}"
        if self.task not in TASKS:
            raise DataError(f"{where}: task must be one of {TASKS}, got {self.task!r}")
        if (self.task == "classification") != (self.num_classes is not None):
            raise DataError(f"{where}: num_classes must be set for classification and None for regression")
        if set(self.splits) != set(SPLIT_NAMES):
            raise DataError(f"{where}: splits must be exactly {SPLIT_NAMES}, got {tuple(self.splits)}")
        if set(self.shapes) != set(self.modalities):
            raise DataError(
                f"{where}: shapes are given for {tuple(self.shapes)} but modalities are {self.modalities}"
            )
        for split_name, split in self.splits.items():
            if tuple(split.inputs) != self.modalities:
                raise DataError(
                    f"{where}, split {split_name!r}: modalities {tuple(split.inputs)} differ from {self.modalities}"
                )
            for modality, array in split.inputs.items():
                if tuple(array.shape[1:]) != tuple(self.shapes[modality]):
                    raise DataError(
                        f"{where}, split {split_name!r}: {modality} has per-sample shape {array.shape[1:]}, "
                        f"expected {tuple(self.shapes[modality])}"
                    )
            if self.task == "classification":
                if split.labels.dtype != np.int64:
                    raise DataError(f"{where}, split {split_name!r}: class labels must be int64")
                if len(split) and (split.labels.min() < 0 or split.labels.max() >= self.num_classes):
                    raise DataError(f"{where}, split {split_name!r}: labels outside [0, {self.num_classes})")
            elif split.labels.dtype != np.float32:
                raise DataError(f"{where}, split {split_name!r}: regression labels must be float32")
        try:
            json.dumps(self.info)
        except (TypeError, ValueError) as error:
            raise DataError(f"{where}: info must hold builtins only ({error})") from None

    def keep_splits(self, names: Iterable[str]) -> MultimodalDataset:
        """Return this data set with only the splits `names` (the others emptied: 0 samples, same shapes and dtypes).

        For a consumer that reads some splits only (the report reads one, and the training split for image style
        grids): once the full data set is dropped, the other splits' memory is freed. Raises DataError for an
        unknown split name.
        """
        names = set(names)
        unknown = names - set(SPLIT_NAMES)
        if unknown:
            raise DataError(f"unknown split(s) {sorted(unknown)}; the splits are {SPLIT_NAMES}")
        splits = {n: split if n in names else split.emptied() for n, split in self.splits.items()}
        return replace(self, splits=splits)

    def summary(self) -> dict:
        """Describe the data set with builtins only: splits, sample counts, modalities, shapes and label kind."""
        splits = {}
        for split_name in SPLIT_NAMES:
            split = self.splits[split_name]
            labels = split.labels
            entry: dict = {"samples": len(split)}
            if self.task == "classification":
                counts = np.bincount(labels, minlength=self.num_classes) if len(split) else []
                entry["label_counts"] = [int(c) for c in counts]
            elif len(split):
                entry["label_mean"] = round(float(labels.mean()), 4)
                entry["label_std"] = round(float(labels.std()), 4)
            entry["extras"] = {key: list(array.shape[1:]) for key, array in split.extras.items()}
            splits[split_name] = entry
        if self.task == "classification":
            label = {"kind": "class id", "dtype": "int64", "num_classes": self.num_classes}
        else:
            label = {"kind": "regression", "dtype": "float32", "range": [-3.0, 3.0]}
        return {
            "name": self.name,
            "task": self.task,
            "modalities": list(self.modalities),
            "shapes": {m: list(self.shapes[m]) for m in self.modalities},
            "label": label,
            "splits": splits,
            "info": self.info,
        }


@dataclass(frozen=True)
class DatasetSpec:
    """A catalogue entry: what `load_dataset(name)` returns and whether it needs files from `data_dir`."""

    name: str
    description: str
    needs_data_dir: bool
    task: str
    modalities: tuple[str, ...]


def _check_labels(labels: object) -> int:
    if not isinstance(labels, np.ndarray) or labels.ndim != 1:
        raise DataError(f"split labels: expected a 1-d numpy array (N,), got {_describe(labels)}")
    if labels.dtype not in (np.int64, np.float32):
        raise DataError(f"split labels: expected int64 class ids or float32 values, got dtype {labels.dtype}")
    return int(labels.shape[0])


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return type(value).__name__


def require_finite(array: np.ndarray, source: str, what: str) -> None:
    """Raise DataError if `array` holds NaN or inf: this project refuses non-finite values rather than guess.

    source names the file (or generator), what names the array inside it; the message gives the count and the
    index of the first bad value.
    """
    if array.dtype.kind not in "fc":
        return
    finite = np.isfinite(array)
    if finite.all():
        return
    bad = int(array.size - np.count_nonzero(finite))
    first = tuple(int(i) for i in np.argwhere(~finite)[0])
    raise DataError(
        f"{source}: {what} holds {bad} non-finite value(s) (NaN or inf), the first at index {first}; "
        "non-finite values are refused, replace them (for example with 0) before loading"
    )


def require_shape(array: np.ndarray, expected: tuple[int | None, ...], source: str, what: str) -> None:
    """Raise DataError unless `array.shape` matches `expected` (None matches any length on that axis)."""
    shape = tuple(array.shape)
    if len(shape) != len(expected) or any(
        e is not None and e != s for e, s in zip(expected, shape, strict=False)
    ):
        pattern = "(" + ", ".join("N" if e is None else str(e) for e in expected) + ")"
        raise DataError(f"{source}: {what} has shape {shape}, expected {pattern}")


def require_numeric(array: np.ndarray, source: str, what: str) -> None:
    """Raise DataError unless `array` has a real numeric dtype (bool, integer or floating point)."""
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "buif":
        raise DataError(f"{source}: {what} must be a numeric array, got {_describe(array)}")
