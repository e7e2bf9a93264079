"""`python -m mfm`: help, train -> check -> evaluate on a tiny run, exit statuses, and training determinism."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import torch

from mfm.cli import main
from mfm.data import load_dataset
from mfm.presets import config_for_dataset
from mfm.train import TrainConfig, train_model


def test_help_lists_the_commands():
    result = subprocess.run(
        [sys.executable, "-m", "mfm", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("train", "evaluate", "check", "data"):
        assert command in result.stdout


def test_check_and_evaluate_a_trained_checkpoint(sentiment_checkpoint, capsys, tmp_path):
    assert main(["check", str(sentiment_checkpoint)]) == 0
    out = capsys.readouterr().out
    assert "valid MFM checkpoint" in out and "sha256" in out and "language" in out
    assert main(["evaluate", str(sentiment_checkpoint), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    stored = torch.load(sentiment_checkpoint, weights_only=True)["metadata"]
    # The CLI's evaluation reproduces the test metrics stored at training time, exactly.
    assert report["metrics"] == stored["metrics"]["test"]
    assert set(report["metrics"]) == {"all", "without_language", "without_acoustic", "without_visual"}
    assert stored["command"].startswith("python -m mfm train --dataset sentiment")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["check", str(bad)]) == 1
    assert "INVALID" in capsys.readouterr().out
    assert main(["evaluate", str(bad)]) == 2
    assert "error:" in capsys.readouterr().err


def test_training_is_deterministic_for_a_seed(data_cache):
    data = load_dataset("sentiment")
    config = config_for_dataset(data.modalities, data.shapes, data.task, data.num_classes)
    train, valid = data.splits["train"], data.splits["valid"]
    cut = lambda s, n: ({k: v[:n] for k, v in s.inputs.items()}, s.labels[:n])  # noqa: E731

    def run(seed):
        result = train_model(
            config, *cut(train, 48), *cut(valid, 16), TrainConfig(epochs=1, batch_size=16, seed=seed)
        )
        return result.model.state_dict()

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert np.isfinite(sum(float(v.float().sum()) for v in a.values()))


def test_training_under_torchrun(tmp_path, data_cache):
    """Two processes on one machine (gloo): each takes half of every batch, rank 0 writes the checkpoint."""
    out = tmp_path / "ddp.pt"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "-m",
        "mfm",
        "train",
        "--dataset",
        "sentiment",
        "--epochs",
        "1",
        "--limit",
        "32",
        "--batch-size",
        "16",
        "--out",
        str(out),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert main(["check", str(out)]) == 0
