"""`python -m mfm`: help, train -> check -> evaluate on a tiny run, exit statuses, and training determinism."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
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


def test_check_names_each_image_decoder_and_the_per_modality_weights(tmp_path, capsys):
    import dataclasses

    from conftest import tiny_image_config

    from mfm.checkpoint import save_checkpoint
    from mfm.config import ObjectiveConfig
    from mfm.model import MFM

    base = tiny_image_config()
    svhn, mnist = base.modalities
    config = base.replace(
        modalities=(
            dataclasses.replace(svhn, composite="two_tone"),
            dataclasses.replace(mnist, upsampling="resize", refine_layers=1),
        )
    )
    objective = ObjectiveConfig(
        edge_weights={"mnist": 1.0},
        foreground_weight=4.0,
        foreground_weights={"mnist": 0.0},
        tone_weight=0.5,
        thickness_weight=0.3,
    )
    path = save_checkpoint(tmp_path / "m.pt", MFM(config), {}, objective)
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert (
        "edge weight 0 (mnist 1)" in out
        and "foreground weight 4 (mnist 0)" in out
        and "tone weight 0.5" in out
        and "thickness weight 0.3" in out
    )
    assert (
        "hidden 4, decoder transposed, two-tone composite, λ 1" in out
        and "hidden 4, decoder resize + 1 refine, λ 1" in out
    )


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


def test_shift_augmentation_is_seeded_and_recorded(tmp_path, data_cache):
    """`--max-shift` trains on shifted images (a different model), deterministically, and is recorded."""
    from conftest import random_batch, tiny_image_config

    config = tiny_image_config()
    inputs, labels = random_batch(config, batch=12, seed=2)
    arrays, y = {n: x.numpy() for n, x in inputs.items()}, labels.numpy()

    def run(shift):
        settings = TrainConfig(epochs=1, batch_size=6, seed=0, max_shift=shift)
        return train_model(config, arrays, y, arrays, y, settings).model.state_dict()

    a, b, plain = run(2), run(2), run(0)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], plain[k]) for k in a)
    with pytest.raises(ValueError, match="max_shift"):
        TrainConfig(max_shift=-1)
    out = tmp_path / "d.pt"
    args = ["train", "--dataset", "digits", "--epochs", "1", "--limit", "24", "--batch-size", "8"]
    assert main([*args, "--max-shift", "1", "--threads", "1", "--out", str(out)]) == 0
    stored = torch.load(out, weights_only=True)["metadata"]
    assert stored["train_config"]["max_shift"] == 1 and "--max-shift 1" in stored["command"]


def test_training_keeps_the_epoch_its_selection_metric_names():
    """`selection` picks the kept epoch from what `extra_metrics` adds, either way round, and names a bad metric;
    KEEP_LAST keeps the last epoch."""
    from conftest import random_batch, tiny_image_config

    from mfm.train import KEEP_LAST

    config = tiny_image_config()
    inputs, labels = random_batch(config, batch=12, seed=2)
    arrays, y = {n: x.numpy() for n, x in inputs.items()}, labels.numpy()
    scores, states = [0.2, 0.9, 0.4], []

    def planted(model, metrics):
        assert not model.training and "accuracy" in metrics  # eval mode, after the task's metrics
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"planted": scores[len(states) - 1]}

    def train(selection):
        states.clear()
        settings = TrainConfig(epochs=3, batch_size=6, seed=0)
        return train_model(config, arrays, y, arrays, y, settings, extra_metrics=planted, selection=selection)

    best = train(("planted", True))
    assert best.best_epoch == 2 and best.best_valid["planted"] == 0.9
    assert [r.valid["planted"] for r in best.history] == scores
    assert all(torch.equal(v, states[1][k]) for k, v in best.model.state_dict().items())  # epoch 2's weights
    assert train(("planted", False)).best_epoch == 1
    scores[:] = [float("nan"), 0.3, 0.5]  # a NaN is worse than any number, even first
    assert train(("planted", True)).best_epoch == 3
    assert train(("planted", False)).best_epoch == 2
    with pytest.raises(ValueError, match=r"selection metric 'nope' is not among .*'planted'"):
        train(("nope", True))
    scores[:] = [0.9, 0.2, 0.1]  # --select last keeps the last epoch whatever validation reads
    last = train(KEEP_LAST)
    assert last.best_epoch == 3 and last.best_valid["planted"] == 0.1
    assert all(torch.equal(v, states[2][k]) for k, v in last.model.state_dict().items())  # epoch 3's weights


def test_the_moving_average_of_the_weights_is_what_validation_reads_and_training_keeps():
    """With ema_decay d and one step an epoch: epoch 1 validates the weights after step 1 (the average starts
    there), epoch 2 validates d W1 + (1 - d) W2; training's own trajectory is unchanged; the kept epoch's average is
    what is returned."""
    from conftest import random_batch, tiny_image_config

    config = tiny_image_config()
    inputs, labels = random_batch(config, batch=12, seed=2)
    arrays, y = {n: x.numpy() for n, x in inputs.items()}, labels.numpy()

    def train(decay, first_best):
        seen = []

        def snapshot(model, metrics):
            seen.append({k: v.clone() for k, v in model.state_dict().items()})
            return {"planted": [1.0, 0.0][len(seen) - 1] if first_best else float(len(seen))}

        settings = TrainConfig(epochs=2, batch_size=12, seed=0, ema_decay=decay)  # one step an epoch
        result = train_model(
            config, arrays, y, arrays, y, settings, extra_metrics=snapshot, selection=("planted", True)
        )
        return seen, result

    (w1, w2), plain = train(0.0, first_best=False)
    assert plain.best_epoch == 2 and all(torch.equal(plain.model.state_dict()[k], v) for k, v in w2.items())
    (e1, e2), averaged = train(0.75, first_best=False)
    floats = [k for k, v in w1.items() if v.is_floating_point()]
    assert any(not torch.equal(w1[k], w2[k]) for k in floats)
    for k in floats:
        assert torch.equal(e1[k], w1[k])
        torch.testing.assert_close(e2[k], 0.75 * w1[k] + 0.25 * w2[k])
    assert all(torch.equal(averaged.model.state_dict()[k], e2[k]) for k in floats)  # epoch 2 kept
    counts = [k for k in w2 if k.endswith("num_batches_tracked")]
    assert counts and all(torch.equal(e2[k], w2[k]) for k in counts)  # step counts copied, not averaged
    _, first = train(0.75, first_best=True)
    assert first.best_epoch == 1 and all(torch.equal(first.model.state_dict()[k], w1[k]) for k in floats)
    with pytest.raises(ValueError, match=r"ema_decay \(--ema\) must be in \[0, 1\)"):
        TrainConfig(ema_decay=1.0)


def test_cosine_learning_rate_schedule():
    """--lr-schedule cosine: step s of S runs at lr (1 + cos(π s / S)) / 2, from the full rate toward 0; constant
    keeps lr; each optimiser step reads the rate of its own step, and S counts only the steps taken (a last batch
    too small to train on is skipped)."""
    import math

    from conftest import random_batch, tiny_image_config

    from mfm.train import learning_rate_factor

    assert learning_rate_factor("cosine", 0, 8) == 1.0 and learning_rate_factor(
        "cosine", 4, 8
    ) == pytest.approx(0.5)
    assert learning_rate_factor("cosine", 8, 8) == pytest.approx(0.0, abs=1e-12)
    config = tiny_image_config()
    inputs, labels = random_batch(config, batch=13, seed=2)  # batches of 4, 4, 4 and 1, which is skipped
    arrays, y = {n: x.numpy() for n, x in inputs.items()}, labels.numpy()

    def rates(schedule):
        seen = []
        original = torch.optim.Adam.step

        def step(self, *args, **kwargs):
            seen.append(self.param_groups[0]["lr"])
            return original(self, *args, **kwargs)

        torch.optim.Adam.step = step
        try:
            settings = TrainConfig(epochs=2, batch_size=4, seed=0, learning_rate=0.01, lr_schedule=schedule)
            train_model(config, arrays, y, arrays, y, settings)  # 3 steps an epoch, 6 in all
        finally:
            torch.optim.Adam.step = original
        return seen

    assert rates("cosine") == pytest.approx([0.005 * (1 + math.cos(math.pi * s / 6)) for s in range(6)])
    assert rates("constant") == [0.01] * 6
    with pytest.raises(ValueError, match="lr_schedule must be one of constant, cosine"):
        TrainConfig(lr_schedule="linear")


def test_select_swaps_on_the_command_line(tmp_path, capsys, data_cache):
    out = tmp_path / "d.pt"
    args = [
        "train",
        "--dataset",
        "digits",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--threads",
        "1",
        "--out",
        str(out),
    ]
    assert main([*args, "--limit", "60", "--select", "swaps", "--ema", "0.9", "--lr-schedule", "cosine"]) == 0
    stored = torch.load(out, weights_only=True)["metadata"]
    assert stored["selection"] == "swaps" and "--select swaps" in stored["command"]
    assert stored["train_config"]["ema_decay"] == 0.9 and stored["train_config"]["lr_schedule"] == "cosine"
    history = [h["valid"] for h in stored["history"]]
    assert {"label_swap/svhn", "label_swap_sample/mnist", "swap_score"} <= set(history[0])
    score = [h["swap_score"] for h in history]
    assert stored["best_epoch"] == 1 + score.index(max(score))
    assert main([*args, "--limit", "24", "--epochs", "3", "--select", "last"]) == 0
    stored = torch.load(out, weights_only=True)["metadata"]
    assert stored["selection"] == "last" and stored["best_epoch"] == 3 and len(stored["history"]) == 3
    capsys.readouterr()
    # Refused before any training: a regression model, and a validation split without every class.
    sentiment = ["train", "--dataset", "sentiment", "--epochs", "1", "--out", str(tmp_path / "s.pt")]
    assert main([*sentiment, "--select", "swaps"]) == 2
    assert "needs an image classification model" in capsys.readouterr().err
    out.unlink()
    assert main([*args, "--limit", "5", "--select", "swaps"]) == 2
    assert "needs every class in the validation split" in capsys.readouterr().err
    assert main([*args, "--limit", "60", "--classifiers", str(tmp_path)]) == 2
    assert "--classifiers is read only with --select swaps" in capsys.readouterr().err
    assert not out.exists()  # neither trained nor wrote anything


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
