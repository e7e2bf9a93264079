"""Evaluation metrics as pure numpy functions (classification and the CMU-MOSI regression conventions)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy and macro F1 from logits (N, K) and integer labels (N,)."""
    predicted = np.asarray(logits).argmax(axis=1)
    labels = np.asarray(labels).astype(np.int64)
    return {
        "accuracy": float((predicted == labels).mean()),
        "macro_f1": float(f1_score(labels, predicted, average="macro", zero_division=0)),
    }


def regression_metrics(predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The CMU-MOSI metrics of sentiment predictions in [-3, 3].

    - mae, pearson_r;
    - acc2 / f1: positive means y >= 0 (the official MFN/MFM code's convention), weighted F1;
    - acc2_nonzero / f1_nonzero: the later convention, segments with y == 0 left out, positive means y > 0;
    - acc7: both rounded and clipped to the seven integers in [-3, 3].
    """
    p = np.asarray(predictions, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    if p.shape != y.shape or p.size == 0:
        raise ValueError(
            f"predictions and labels must be non-empty and of the same length, got {p.size} and {y.size}"
        )
    out = {"mae": float(np.abs(p - y).mean())}
    out["pearson_r"] = float(np.corrcoef(p, y)[0, 1]) if p.std() > 0 and y.std() > 0 else 0.0
    out["acc2"] = float(((p >= 0) == (y >= 0)).mean())
    out["f1"] = float(f1_score(y >= 0, p >= 0, average="weighted", zero_division=0))
    nonzero = y != 0
    if nonzero.any():
        out["acc2_nonzero"] = float(((p[nonzero] > 0) == (y[nonzero] > 0)).mean())
        out["f1_nonzero"] = float(
            f1_score(y[nonzero] > 0, p[nonzero] > 0, average="weighted", zero_division=0)
        )
    out["acc7"] = float((np.clip(np.round(p), -3, 3) == np.clip(np.round(y), -3, 3)).mean())
    return out


# The metric that picks the best epoch, and whether larger is better.
SELECTION_METRIC = {"classification": ("accuracy", True), "regression": ("mae", False)}


def task_metrics(task: str, outputs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """`classification_metrics` or `regression_metrics` by task name."""
    if task == "classification":
        return classification_metrics(outputs, labels)
    return regression_metrics(outputs, labels)
