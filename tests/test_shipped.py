"""The shipped demo checkpoints and classifiers: valid, and their recorded figures re-measured.

Evaluation is deterministic on CPU, so the test split's metrics must reproduce the numbers stored at training time
to 1e-6 (float summation order is the only tolerance needed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mfm.checkpoint import load_checkpoint
from mfm.classifiers import SHIPPED_CLASSIFIERS, accuracy, load_classifier
from mfm.cli import main
from mfm.data import load_dataset
from mfm.train import evaluate_model

CHECKPOINTS = sorted((Path(__file__).resolve().parents[1] / "assets" / "checkpoints").glob("*.pt"))


def test_demo_checkpoints_are_shipped():
    names = {p.name for p in CHECKPOINTS}
    assert {"sentiment_mfm.pt", "digits_mfm_paper.pt"} <= names
    assert all(p.stat().st_size < 10 * 2**20 for p in CHECKPOINTS)


@pytest.mark.parametrize("path", CHECKPOINTS, ids=lambda p: p.name)
def test_shipped_checkpoint_reproduces_its_recorded_test_metrics(path, data_cache):
    assert main(["check", str(path)]) == 0
    loaded = load_checkpoint(path)
    meta = loaded.metadata
    assert meta["command"].startswith("python -m mfm train") and meta["wall_seconds"] > 0
    data = load_dataset(meta["dataset"], seed=meta["data_seed"])
    test = data.splits["test"]
    assert meta["split_sizes"]["test"] == len(test.labels)
    results = evaluate_model(loaded.model, test.inputs, test.labels)
    recorded = meta["metrics"]["test"]
    assert set(results) == set(recorded)
    for subset, metrics in recorded.items():
        for name, value in metrics.items():
            assert results[subset][name] == pytest.approx(value, abs=1e-6), (subset, name)


@pytest.mark.parametrize("modality", ["svhn", "mnist"])
def test_shipped_classifiers_reproduce_their_test_accuracy(modality, data_cache):
    model, meta = load_classifier(SHIPPED_CLASSIFIERS / f"{modality}.pt")
    test = load_dataset("digits").splits["test"]
    measured = accuracy(model, test.inputs[modality], test.labels)
    assert measured == pytest.approx(meta["metrics"]["test_accuracy"], abs=1e-6)
    assert measured >= 0.97
