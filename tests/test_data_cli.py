"""The `data` sub-command and the dataset containers' contract."""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import h5py
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

    def load(name, *, data_dir=None, seed=0, progress=None, **options):
        return (
            small[name](seed)
            if name in small
            else real(name, data_dir=data_dir, seed=seed, progress=progress, **options)
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


def test_keep_splits_empties_the_others_without_holding_their_memory() -> None:
    def split(n: int) -> Split:
        return Split(
            inputs={"a": np.ones((n, 2, 4), np.float32)},
            labels=np.arange(n, dtype=np.int64) % 3,
            extras={"words": np.array([["w", "x"]] * n), "mask/a": np.ones((n, 2), bool)},
        )

    data = MultimodalDataset(
        "toy", "classification", 3, ("a",), {"a": (2, 4)}, {"train": split(5), "valid": split(2), "test": split(3)},
        {"seed": 0},
    )  # fmt: skip
    kept = data.keep_splits(["test"])
    assert kept.splits["test"] is data.splits["test"]
    assert len(data.splits["train"]) == 5 and kept.info == data.info  # the original is unchanged
    for name in ("train", "valid"):
        empty, full = kept.splits[name], data.splits[name]
        assert len(empty) == 0
        for got, was in ((empty.labels, full.labels), *((empty.inputs[k], v) for k, v in full.inputs.items()),
                         *((empty.extras[k], v) for k, v in full.extras.items())):  # fmt: skip
            assert got.shape == (0, *was.shape[1:]) and got.dtype == was.dtype
            assert got.base is None and not np.shares_memory(got, was)  # not a view keeping the buffer alive
    assert kept.summary()["splits"]["train"]["samples"] == 0
    with pytest.raises(DataError, match=r"unknown split\(s\) \['tests'\]"):
        data.keep_splits(["tests"])


# --- real MOSI files through the CLI -----------------------------------------------------------------------------

SIZES = {"train": 3, "valid": 2, "test": 2}


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> list:
    """Record every data set the CLI loads (through the real load_dataset), to check values the JSON omits."""
    seen = []
    real = data_cli.load_dataset

    def spy(*args, **kwargs):
        seen.append(real(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(data_cli, "load_dataset", spy)
    return seen


def _describe(capsys: pytest.CaptureFixture, *argv: str) -> dict:
    assert _run(*argv, "--json") == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _mfn_dir(root: Path, features: int) -> Path:
    """MFN h5 files whose every feature holds its column index (so the modality split can be read off)."""
    root.mkdir()
    for split, n in SIZES.items():
        with h5py.File(root / f"X_{split}.h5", "w") as handle:
            handle.create_dataset(
                "data", data=np.broadcast_to(np.arange(features, dtype=np.float64), (n, 20, features))
            )
        with h5py.File(root / f"y_{split}.h5", "w") as handle:
            handle.create_dataset("data", data=np.linspace(-3, 3, n)[:, None])
    return root


@pytest.mark.parametrize(
    ("features", "acoustic", "visual"), [(325, (300, 305), (305, 325)), (377, (300, 334), (334, 377))]
)
def test_mfn_h5_layouts(tmp_path: Path, capsys, loaded: list, features: int, acoustic, visual) -> None:
    root = _mfn_dir(tmp_path / "mfn", features)
    summary = _describe(capsys, "mosi", "--data-dir", str(root))
    assert summary["shapes"] == {
        "language": [20, 300],
        "acoustic": [20, acoustic[1] - acoustic[0]],
        "visual": [20, visual[1] - visual[0]],
    }
    assert summary["info"]["layout"] == features and summary["info"]["align"] == "none"
    assert {k: v["samples"] for k, v in summary["splits"].items()} == SIZES
    inputs = loaded[-1].splits["valid"].inputs
    assert inputs["acoustic"][1, 7].tolist() == list(range(*acoustic))
    assert inputs["visual"][0, 19].tolist() == list(range(*visual))


def test_other_feature_counts_are_refused_naming_both_layouts(tmp_path: Path, capsys) -> None:
    root = _mfn_dir(tmp_path / "mfn", 374)
    assert _run("mosi", "--data-dir", str(root)) == 1
    err = capsys.readouterr().err
    assert "X_train.h5" in err and "(3, 20, 374)" in err
    assert "325 = [300 language | 5 acoustic | 20 visual]" in err
    assert "377 = [300 language | 34 acoustic | 43 visual]" in err


def _ramp(n: int, steps: int, dim: int) -> np.ndarray:
    """Frame t of sample i holds 1000 * i + t in every feature."""
    values = 1000.0 * np.arange(n)[:, None] + np.arange(steps)[None, :]
    return np.repeat(values[:, :, None], dim, axis=2).astype(np.float32)


def _write_pickle(path: Path, lengths: tuple[int, int, int], dims: tuple[int, int, int] = (8, 5, 20)) -> dict:
    """An MMSA-style pickle: {split: {text, audio, vision, regression_labels, id, ...}} of plain numpy arrays."""
    rng = np.random.default_rng(0)
    contents = {}
    for split, n in SIZES.items():
        contents[split] = {
            "text": rng.normal(size=(n, lengths[0], dims[0])).astype(np.float32),
            "audio": _ramp(n, lengths[1], dims[1]),
            "vision": _ramp(n, lengths[2], dims[2]),
            "regression_labels": rng.uniform(-3, 3, size=n).astype(np.float32),
            "classification_labels": np.ones(n, dtype=np.int64),
            "id": np.array([f"vid{i}$_$1" for i in range(n)], dtype=object),
            "raw_text": [f"segment {i}" for i in range(n)],
        }
    with path.open("wb") as handle:
        pickle.dump(contents, handle, protocol=4)
    return contents


def test_mmsa_aligned_pickle(tmp_path: Path, capsys, loaded: list) -> None:
    contents = _write_pickle(tmp_path / "aligned_50.pkl", (50, 50, 50))
    summary = _describe(capsys, "mosi-pickle", "--data-dir", str(tmp_path))
    assert summary["shapes"] == {"language": [50, 8], "acoustic": [50, 5], "visual": [50, 20]}
    assert summary["info"]["original_lengths"] == {"language": 50, "acoustic": 50, "visual": 50}
    assert summary["splits"]["train"]["extras"] == {"index": [], "id": [], "raw_text": []}
    assert np.array_equal(loaded[-1].splits["test"].inputs["language"], contents["test"]["text"])
    # pooling aligned data changes nothing
    pooled = _describe(capsys, "mosi-pickle", "--data-dir", str(tmp_path), "--align", "avg_pool")
    assert pooled["shapes"] == summary["shapes"] and pooled["info"]["align"] == "avg_pool"
    assert np.array_equal(loaded[-1].splits["test"].inputs["acoustic"], contents["test"]["audio"])


def test_mmsa_unaligned_pickle_with_and_without_avg_pool(tmp_path: Path, capsys, loaded: list) -> None:
    path = tmp_path / "unaligned_50.pkl"
    contents = _write_pickle(path, (50, 500, 375))
    summary = _describe(capsys, "mosi-pickle", "--data-dir", str(path))
    assert summary["shapes"] == {"language": [50, 8], "acoustic": [500, 5], "visual": [375, 20]}
    assert summary["info"]["align"] == "none"
    assert np.array_equal(loaded[-1].splits["train"].inputs["visual"], contents["train"]["vision"])

    summary = _describe(capsys, "mosi-pickle", "--data-dir", str(path), "--align", "avg_pool")
    assert summary["shapes"] == {"language": [50, 8], "acoustic": [50, 5], "visual": [50, 20]}
    assert summary["info"]["align"] == "avg_pool"
    assert summary["info"]["original_lengths"] == {"language": 50, "acoustic": 500, "visual": 375}
    train = loaded[-1].splits["train"].inputs
    assert np.array_equal(train["language"], contents["train"]["text"])  # text is never pooled
    # audio 500 -> 50: windows of 10 frames, mean of 10j..10j+9 = 10j + 4.5
    assert np.array_equal(train["acoustic"][2, :, 3], 2000 + 10 * np.arange(50) + 4.5)
    # vision 375 -> 50: 375 % 50 = 25, so 25 copies of frame 374 are appended and windows hold 8 frames:
    # steps 0-45 average 8j..8j+7 (= 8j + 3.5); step 46 averages 368..374 and one copy of 374; 47-49 are all copies
    expected = np.concatenate([8 * np.arange(46) + 3.5, [(sum(range(368, 375)) + 374) / 8], [374.0] * 3])
    assert np.allclose(train["visual"][0, :, 0], expected) and np.allclose(
        train["visual"][1, :, 19], 1000 + expected
    )

    assert _run("mosi-pickle", "--data-dir", str(path), "--align", "avg_pool") == 0  # the text description
    out = capsys.readouterr().out
    assert "acoustic  per-sample shape (50, 5)" in out and "align: avg_pool" in out and "acoustic 500" in out


def test_minus_inf_audio_is_refused_by_default_and_zeroed_on_request(
    tmp_path: Path, capsys, loaded: list
) -> None:
    path = tmp_path / "aligned_50.pkl"
    contents = _write_pickle(path, (6, 6, 6), dims=(4, 3, 2))
    contents["train"]["audio"][0, 2, 1] = -np.inf
    contents["train"]["audio"][2, 5, 0] = -np.inf
    contents["test"]["audio"][1, 0, 2] = -np.inf
    path.write_bytes(pickle.dumps(contents, protocol=4))

    assert _run("mosi-pickle", "--data-dir", str(path), "--json") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "aligned_50.pkl [train]: acoustic holds 2 non-finite value(s) (2 -inf)" in captured.err
    assert (
        "(0, 2, 1)" in captured.err
        and "--nonfinite zero" in captured.err
        and "replaces them by 0" in captured.err
    )

    summary = _describe(capsys, "mosi-pickle", "--data-dir", str(path), "--nonfinite", "zero")
    assert summary["info"]["nonfinite"] == "zero"
    assert summary["info"]["replaced_nonfinite"] == {
        "train": {"acoustic": 2},
        "valid": {},
        "test": {"acoustic": 1},
    }
    train, test = loaded[-1].splits["train"].inputs["acoustic"], loaded[-1].splits["test"].inputs["acoustic"]
    assert train[0, 2, 1] == 0 and train[2, 5, 0] == 0 and test[1, 0, 2] == 0
    assert np.isfinite(train).all() and train[0, 2, 0] == 2.0  # the neighbours are untouched


def test_add_data_options_on_any_parser() -> None:
    parser = data_cli.add_data_options(argparse.ArgumentParser())
    assert data_cli.data_options(parser.parse_args([])) == {"nonfinite": "refuse", "align": "none"}
    args = parser.parse_args(["--nonfinite", "zero", "--align", "avg_pool"])
    assert data_cli.data_options(args) == {"nonfinite": "zero", "align": "avg_pool"}
    with pytest.raises(SystemExit):
        parser.parse_args(["--align", "ctc"])
    assert "replaces them by 0" in parser.format_help()


def test_options_on_data_sets_they_do_not_apply_to(capsys) -> None:
    assert _run("digits", "--align", "avg_pool") == 1
    assert "applies to the real sequence data sets" in capsys.readouterr().err


def test_python_dash_m_mfm_data(tmp_path: Path) -> None:
    """The real entry point: `python -m mfm data mosi-pickle --data-dir F --json --align avg_pool`."""
    path = tmp_path / "unaligned_50.pkl"
    _write_pickle(path, (4, 8, 6), dims=(3, 2, 2))
    command = [sys.executable, "-m", "mfm", "data", "mosi-pickle", "--data-dir", str(path), "--json"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [*command, "--align", "avg_pool"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["shapes"] == {"language": [4, 3], "acoustic": [4, 2], "visual": [4, 2]}
    done = subprocess.run(
        [*command, "--nonfinite", "drop"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 2 and "--nonfinite" in done.stderr
