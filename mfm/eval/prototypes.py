"""Label prototypes: the mean shared factor F_y of each class (or, for regression, of each rounded label).

The paper's style x label grids and the label swaps decode a style with "the label factor of class c"; its value is
the class's mean F_y over a split. :func:`class_prototypes` computes it for class labels (every class must have a
sample); :func:`label_prototypes` groups any task's labels first (:func:`label_groups`: the classes, or the
sentiment integers -3..3) and keeps the groups present, with their names, through the same computation.
"""

from __future__ import annotations

import numpy as np

SENTIMENT_RANGE = (-3, 3)
"""The sentiment scale of MOSI-style regression labels; prototypes group labels by their rounded value in it."""


def class_prototypes(shared_factors: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """The mean F_y of each class: factors (N, fy) and integer labels (N,) -> prototypes (num_classes, fy).

    Raises ValueError if a class has no sample (its prototype is undefined) or a label is out of range.
    """
    factors = np.asarray(shared_factors, dtype=np.float64)
    labels = np.asarray(labels)
    if factors.ndim != 2 or factors.shape[0] == 0:
        raise ValueError(f"shared_factors must be (N, shared_factor_dim), got shape {factors.shape}")
    if labels.shape != (factors.shape[0],):
        raise ValueError(f"labels must be ({factors.shape[0]},) to match shared_factors, got {labels.shape}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    as_int = labels.astype(np.int64)
    if not np.array_equal(as_int, labels) or (as_int < 0).any() or (as_int >= num_classes).any():
        raise ValueError(f"labels must be integers in 0..{num_classes - 1}")
    counts = np.bincount(as_int, minlength=num_classes)  # (K,)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise ValueError(f"no sample of class(es) {empty.tolist()}: their prototype is undefined")
    sums = np.zeros((num_classes, factors.shape[1]))
    np.add.at(sums, as_int, factors)  # (K, fy)
    return (sums / counts[:, None]).astype(np.float32)


def label_groups(labels: np.ndarray, task: str, num_classes: int) -> tuple[np.ndarray, list[str]]:
    """Integer groups (N,) and their names, for building one label prototype per group.

    Classification: the classes themselves. Regression (sentiment in [-3, 3]): the seven integers -3..3 (labels
    rounded and clipped, the acc7 convention), as groups 0..6 named "-3" .. "+3".
    """
    labels = np.asarray(labels)
    if task == "classification":
        return labels.astype(np.int64), [str(c) for c in range(num_classes)]
    low, high = SENTIMENT_RANGE
    groups = np.clip(np.rint(labels.astype(np.float64)), low, high).astype(np.int64) - low
    return groups, [f"{v:+d}" if v else "0" for v in range(low, high + 1)]


def label_prototypes(
    shared: np.ndarray, labels: np.ndarray, task: str, num_classes: int
) -> tuple[np.ndarray, list[str]]:
    """The mean label factor F_y of every label group present in the split: (L, fy) and the L names.

    Groups without a sample are left out (their mean is undefined), so L can be smaller than the group count.
    """
    groups, names = label_groups(labels, task, num_classes)
    present = [g for g in range(len(names)) if np.any(groups == g)]
    if not present:
        raise ValueError("the split has no labelled sample")
    renumbered = np.searchsorted(present, groups)  # group g -> its place among the present ones
    keep = np.isin(groups, present)  # a class id outside 0..num_classes-1 belongs to no group
    prototypes = class_prototypes(np.asarray(shared)[keep], renumbered[keep], len(present))  # (L, fy)
    return prototypes, [names[g] for g in present]
