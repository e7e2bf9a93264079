"""Independent digit classifiers: training is deterministic, files round-trip, and bad files are refused safely."""

from __future__ import annotations

import argparse
import io
import os
import pickle

import numpy as np
import pytest
import torch

from mfm.errors import CheckpointError, MFMError
from mfm.eval.classifiers import (
    FORMAT,
    DigitClassifier,
    accuracy,
    classifier_payload,
    classify,
    expected_classifier_shapes,
    load_classifier,
    save_classifier,
    train_classifier,
)
from mfm.eval.cli import add_classifier_parser

MNIST_SHAPE = (1, 28, 28)
SVHN_SHAPE = (3, 32, 32)


def toy_digits(n: int = 24, shape: tuple[int, int, int] = MNIST_SHAPE, seed: int = 0):
    """Images whose class is a bright column at x = 2 + 2 * label (easy to learn), labels cycling 0..9."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.int64) % 10
    images = 0.1 * rng.random((n, *shape), dtype=np.float32)
    for i, label in enumerate(labels):
        images[i, :, 4:-4, 2 + 2 * label] = 1.0
    return images, labels


def make_classifier(shape=MNIST_SHAPE, seed: int = 0) -> DigitClassifier:
    torch.manual_seed(seed)
    return DigitClassifier(shape).eval()


def to_bytes(payload) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------------------
# Model and prediction
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [MNIST_SHAPE, SVHN_SHAPE])
def test_logits_and_classify_shapes(shape):
    model = make_classifier(shape)
    images, labels = toy_digits(7, shape)
    assert model(torch.as_tensor(images)).shape == (7, 10)
    predicted = classify(model, images, batch_size=3)
    assert predicted.shape == (7,) and predicted.dtype == np.int64
    assert ((predicted >= 0) & (predicted < 10)).all()
    # Same answers from a tensor and in any batch size; under 1 MB of float32 weights.
    assert np.array_equal(predicted, classify(model, torch.as_tensor(images), batch_size=256))
    assert sum(p.numel() for p in model.parameters()) * 4 < 2**20
    assert 0.0 <= accuracy(model, images, labels) <= 1.0


def test_classify_restores_modes_and_refuses_wrong_shapes():
    model = make_classifier()
    model.train()
    model.head.eval()  # deliberately half in eval mode
    classify(model, toy_digits(4)[0])
    assert model.training and model.features.training and not model.head.training
    with pytest.raises(MFMError, match=r"reads \(1, 28, 28\) images"):
        classify(model, np.zeros((2, 3, 32, 32), dtype=np.float32))
    with pytest.raises(MFMError, match=r"\(N, C, H, W\)"):
        classify(model, np.zeros((2, 28, 28), dtype=np.float32))


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------
def test_training_is_deterministic_and_learns_a_planted_column():
    images, labels = toy_digits(40)
    valid_images, valid_labels = toy_digits(20, seed=1)
    state = torch.random.get_rng_state()
    settings = dict(epochs=4, seed=3, batch_size=10, learning_rate=5e-3, max_shift=0)
    a, metrics = train_classifier(images, labels, valid_images, valid_labels, **settings)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is left alone
    b, _ = train_classifier(images, labels, valid_images, valid_labels, **settings)
    assert all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    assert not a.training
    assert set(metrics) == {"train_accuracy", "valid_accuracy", "best_epoch", "history"}
    assert len(metrics["history"]) == 4 and 1 <= metrics["best_epoch"] <= 4
    assert metrics["valid_accuracy"] == max(h["valid_accuracy"] for h in metrics["history"])
    assert metrics["valid_accuracy"] == accuracy(a, valid_images, valid_labels)
    assert metrics["valid_accuracy"] > 0.5  # chance is 0.1


# ---------------------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------------------
def test_save_load_round_trip(tmp_path):
    model = make_classifier(SVHN_SHAPE)
    path = save_classifier(tmp_path / "c.pt", model, {"modality": "svhn", "metrics": {"test_accuracy": 0.9}})
    assert torch.load(path, weights_only=True)["format"] == FORMAT == "mfm-digit-classifier"
    loaded, meta = load_classifier(path)
    assert not loaded.training and loaded.shape == SVHN_SHAPE and loaded.num_classes == 10
    x = torch.as_tensor(toy_digits(5, SVHN_SHAPE)[0])
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert meta["modality"] == "svhn" and meta["metrics"]["test_accuracy"] == 0.9
    assert meta["versions"]["torch"] == torch.__version__ and len(meta["sha256"]) == 64
    # The same bytes through the bytes and stream entry points.
    assert load_classifier(path.read_bytes())[1]["sha256"] == meta["sha256"]
    assert load_classifier(io.BytesIO(path.read_bytes()))[1]["sha256"] == meta["sha256"]


def test_expected_shapes_come_from_the_meta_device():
    shapes = expected_classifier_shapes(MNIST_SHAPE, 10)
    assert shapes == {k: tuple(v.shape) for k, v in make_classifier().state_dict().items()}


def test_wrong_format_version_keys_and_architecture_are_refused():
    good = classifier_payload(make_classifier())
    for change, message in [
        ({"format": "mfm-checkpoint"}, "not a digit classifier"),
        ({"version": 2}, "format version 2"),
        ({"extra": 1}, "unexpected keys"),
        ({"shape": [1, 28]}, "three integers"),
        ({"shape": [1, 10**9, 10**9]}, "out of range"),
        ({"num_classes": True}, "num_classes"),
        ({"metadata": [1]}, "metadata must be a dict"),
    ]:
        with pytest.raises(CheckpointError, match=message):
            load_classifier(to_bytes({**good, **change}))
    with pytest.raises(CheckpointError, match="not a classifier dict"):
        load_classifier(to_bytes([1, 2]))


def test_wrong_weights_are_refused():
    good = classifier_payload(make_classifier())
    state = dict(good["state_dict"])
    key = "head.5.weight"
    cases = [
        ({**state, key: torch.zeros(3, 128)}, r"head\.5\.weight has shape \(3, 128\)"),
        ({k: v for k, v in state.items() if k != key}, "missing head.5.weight"),
        ({**state, "extra.weight": torch.zeros(1)}, "unexpected extra.weight"),
        ({**state, key: torch.full((10, 128), float("nan"))}, "NaN or infinite"),
        ({**state, key: torch.zeros(10, 128, dtype=torch.int32)}, "floating point"),
    ]
    for bad, message in cases:
        with pytest.raises(CheckpointError, match=message):
            load_classifier(to_bytes({**good, "state_dict": bad}))
    # An MNIST classifier's weights under an SVHN shape: the first convolution differs.
    with pytest.raises(CheckpointError, match=r"features\.0\.0\.weight has shape"):
        load_classifier(to_bytes({**good, "shape": list(SVHN_SHAPE)}))


class Payload:
    """Unpickling this would create a file: the loader must never do so."""

    def __init__(self, sentinel: str) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def test_code_execution_payloads_are_refused_and_run_nothing(tmp_path):
    sentinel = tmp_path / "pwned"
    payload = classifier_payload(make_classifier())
    payload["metadata"] = {"note": Payload(str(sentinel))}
    with pytest.raises(CheckpointError, match="weights-only"):
        load_classifier(to_bytes(payload))
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_classifier(pickle.dumps(Payload(str(sentinel))))
    assert not sentinel.exists()
    with pytest.raises(CheckpointError, match="does not exist"):
        load_classifier(tmp_path / "nothing.pt")


def test_metadata_must_be_builtins(tmp_path):
    with pytest.raises(CheckpointError, match="builtins"):
        save_classifier(tmp_path / "c.pt", make_classifier(), {"array": np.zeros(2)})


# ---------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------
def test_train_classifier_parser():
    parser = argparse.ArgumentParser(prog="python -m mfm")
    add_classifier_parser(parser.add_subparsers(dest="command"))
    argv = ["train-classifier", "--modality", "mnist", "--epochs", "3", "--seed", "1", "--out", "c.pt"]
    args = parser.parse_args(argv)
    assert (args.dataset, args.modality, args.epochs, args.seed, args.out) == (
        "digits",
        "mnist",
        3,
        1,
        "c.pt",
    )
    assert callable(args.func)
    with pytest.raises(SystemExit):
        parser.parse_args(["train-classifier", "--out", "c.pt"])  # --modality is required
