"""The `data` sub-command and the dataset containers' contract."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

import mfm.data.cli as data_cli
from mfm.data import MultimodalDataset, Split, list_datasets
from mfm.data.digits import make_digit_pairs
from mfm.data.sentiment import make_sentiment
from mfm.errors import DataError


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="mfm")
    subparsers = parser.add_subparsers(dest="command", required=True)
    data_cli.add_data_parser(subparsers)
    args = parser.parse_args(["data", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mfm-cache")


@pytest.fixture
def small_loaders(monkeypatch: pytest.MonkeyPatch, shared_cache: Path) -> None:
    """Make `data NAME` load small versions of the generated data sets (the CLI wiring is what is tested)."""
    monkeypatch.setenv("MFM_CACHE_DIR", str(shared_cache))
    small = {
        "digits": lambda seed: make_digit_pairs(seed, n_per_class=4, use_cache=False),
        "sentiment": lambda seed: make_sentiment(seed, sizes=(40, 10, 10)),
    }
    real = data_cli.load_dataset

    def load(name, *, data_dir=None, seed=0, progress=None):
        return (
            small[name](seed)
            if name in small
            else real(name, data_dir=data_dir, seed=seed, progress=progress)
        )

    monkeypatch.setattr(data_cli, "load_dataset", load)


def test_listing(capsys: pytest.CaptureFixture) -> None:
    assert _run() == 0
    out = capsys.readouterr().out
    for spec in list_datasets():
        assert spec.name in out
    assert _run("--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["digits", "digits-real", "sentiment", "mosi", "mosi-pickle"]
    assert {r["name"]: r["needs_data_dir"] for r in rows}["mosi"] is True


def test_json_description(small_loaders: None, capsys: pytest.CaptureFixture) -> None:
    assert _run("sentiment", "--json", "--seed", "3") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["modalities"] == ["language", "acoustic", "visual"]
    assert summary["shapes"]["language"] == [20, 300]
    assert summary["label"]["kind"] == "regression"
    assert {k: v["samples"] for k, v in summary["splits"].items()} == {"train": 40, "valid": 10, "test": 10}
    assert summary["info"]["seed"] == 3
    assert _run("digits", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["label"] == {"kind": "class id", "dtype": "int64", "num_classes": 10}
    assert summary["shapes"] == {"svhn": [3, 32, 32], "mnist": [1, 28, 28]}


@pytest.mark.parametrize("name", ["digits", "sentiment"])
def test_preview_writes_a_png(small_loaders: None, tmp_path: Path, name: str, capsys) -> None:
    from PIL import Image

    target = tmp_path / f"{name}.png"
    assert _run(name, "--preview", str(target)) == 0
    with Image.open(target) as image:
        assert image.format == "PNG" and image.width > 300 and image.height > 100
    assert name in capsys.readouterr().out


def test_errors_are_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _run("mosi") == 1
    assert "--data-dir" in capsys.readouterr().err
    assert _run("mosi", "--data-dir", str(tmp_path)) == 1
    assert "X_train.h5" in capsys.readouterr().err
    assert _run("nonsense") == 1
    assert "unknown data set" in capsys.readouterr().err


def test_split_and_dataset_check_their_contract() -> None:
    inputs = {"a": np.zeros((3, 2, 4), np.float32)}
    split = Split(inputs=inputs, labels=np.zeros(3, np.float32), extras={"words": np.array(["x", "y", "z"])})
    assert len(split) == 3 and len(split.select(np.array([0, 2]))) == 2
    with pytest.raises(DataError, match=r"float32"):
        Split(inputs={"a": np.zeros((3, 2, 4))}, labels=np.zeros(3, np.float32))
    with pytest.raises(DataError, match=r"N=3"):
        Split(inputs={"a": np.zeros((4, 2, 4), np.float32)}, labels=np.zeros(3, np.float32))
    with pytest.raises(DataError, match=r"extra 'm'"):
        Split(inputs=inputs, labels=np.zeros(3, np.float32), extras={"m": np.zeros(2)})
    with pytest.raises(DataError, match=r"int64 class ids or float32"):
        Split(inputs=inputs, labels=np.zeros(3, np.int32))
    splits = {name: split for name in ("train", "valid", "test")}
    MultimodalDataset("toy", "regression", None, ("a",), {"a": (2, 4)}, splits, {"seed": 0})
    with pytest.raises(DataError, match=r"per-sample shape"):
        MultimodalDataset("toy", "regression", None, ("a",), {"a": (2, 5)}, splits, {})
    with pytest.raises(DataError, match=r"splits must be exactly"):
        MultimodalDataset("toy", "regression", None, ("a",), {"a": (2, 4)}, {"train": split}, {})
    with pytest.raises(DataError, match=r"num_classes"):
        MultimodalDataset("toy", "classification", None, ("a",), {"a": (2, 4)}, splits, {})
    with pytest.raises(DataError, match=r"builtins"):
        MultimodalDataset("toy", "regression", None, ("a",), {"a": (2, 4)}, splits, {"x": np.zeros(2)})
