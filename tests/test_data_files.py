"""Readers of real sentiment files: the MFN / MFM h5 layout and MMSA / MultiBench pickles (restricted)."""

from __future__ import annotations

import os
import pickle
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest

from mfm.data import load_dataset
from mfm.data.readers import read_mosi_h5, read_mosi_pickle
from mfm.data.safe_pickle import restricted_load
from mfm.errors import DataError

SIZES = {"train": 7, "valid": 3, "test": 4}


def _write_h5(path: Path, array: np.ndarray) -> None:
    with h5py.File(path, "w") as handle:
        handle.create_dataset("data", data=array)


@pytest.fixture
def mfn_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, n in SIZES.items():
        features = rng.normal(size=(n, 20, 325))
        features[:, :, 300:305] += 1000.0  # acoustic block, to check the column slicing
        features[:, :, 305:] -= 1000.0  # visual block
        _write_h5(tmp_path / f"X_{split}.h5", features)
        _write_h5(tmp_path / f"y_{split}.h5", rng.uniform(-3, 3, size=(n, 1)))
    return tmp_path


def test_h5_layout_is_split_into_the_three_streams(mfn_dir: Path) -> None:
    data = load_dataset("mosi", data_dir=mfn_dir)
    assert data.modalities == ("language", "acoustic", "visual")
    assert data.shapes == {"language": (20, 300), "acoustic": (20, 5), "visual": (20, 20)}
    for split, n in SIZES.items():
        part = data.splits[split]
        assert len(part) == n and part.labels.dtype == np.float32 and part.labels.shape == (n,)
        assert abs(part.inputs["language"].mean()) < 1
        assert part.inputs["acoustic"].min() > 900 and part.inputs["visual"].max() < -900
        with h5py.File(mfn_dir / f"y_{split}.h5") as handle:
            assert np.allclose(part.labels, handle["data"][()].ravel())
        assert part.extras["index"].tolist() == list(range(n))


def test_h5_problems_name_the_file(mfn_dir: Path) -> None:
    (mfn_dir / "y_valid.h5").unlink()
    with pytest.raises(DataError, match=r"y_valid\.h5.*not found"):
        read_mosi_h5(mfn_dir)
    _write_h5(mfn_dir / "y_valid.h5", np.zeros(3))
    _write_h5(mfn_dir / "X_test.h5", np.zeros((4, 20, 324)))
    with pytest.raises(DataError, match=r"X_test\.h5.*shape \(4, 20, 324\), expected \(N, N, 325\)"):
        read_mosi_h5(mfn_dir)
    _write_h5(mfn_dir / "X_test.h5", np.zeros((4, 20, 325)))
    _write_h5(mfn_dir / "y_test.h5", np.array([0.0, 1.0, 9.0, 2.0]))
    with pytest.raises(DataError, match=r"y_test\.h5.*\[-3, 3\]"):
        read_mosi_h5(mfn_dir)
    _write_h5(mfn_dir / "y_test.h5", np.array([b"a", b"b", b"c", b"d"]))
    with pytest.raises(DataError, match=r"y_test\.h5.*numeric"):
        read_mosi_h5(mfn_dir)
    (mfn_dir / "y_test.h5").write_bytes(b"this is not hdf5")
    with pytest.raises(DataError, match=r"y_test\.h5.*HDF5"):
        read_mosi_h5(mfn_dir)


def test_h5_non_finite_values_are_refused_unless_asked_to_zero_them(mfn_dir: Path) -> None:
    features = np.zeros((7, 20, 325))
    features[2, 5, 301] = -np.inf
    features[3, 1, 0] = np.nan
    _write_h5(mfn_dir / "X_train.h5", features)
    with pytest.raises(DataError, match=r"X_train\.h5.*2 non-finite.*\(2, 5, 301\).*refused"):
        load_dataset("mosi", data_dir=mfn_dir)
    parts = read_mosi_h5(mfn_dir, nonfinite="zero")
    assert parts["train"]["replaced"] == {"data": 2}
    assert np.isfinite(parts["train"]["inputs"]["acoustic"]).all()


# --- pickles ---------------------------------------------------------------------------------------------------


def _mmsa_contents(
    rng: np.random.Generator, *, label_key: str = "regression_labels", valid_key: str = "valid"
):
    contents = {}
    for split, n in SIZES.items():
        contents[valid_key if split == "valid" else split] = {
            "text": rng.normal(size=(n, 50, 300)).astype(np.float32),
            "audio": rng.normal(size=(n, 50, 5)).astype(np.float32),
            "vision": rng.normal(size=(n, 50, 20)).astype(np.float32),
            label_key: rng.uniform(-3, 3, size=(n, 1, 1))
            if label_key == "labels"
            else rng.uniform(-3, 3, size=n),
            "id": np.array([f"video{i}$_$1" for i in range(n)], dtype=object),
            "raw_text": [f"words of segment {i}" for i in range(n)],
            "classification_labels": np.ones(n, dtype=np.int64),
        }
    return contents


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_mmsa_pickle_loads_with_any_protocol(tmp_path: Path, protocol: int) -> None:
    contents = _mmsa_contents(np.random.default_rng(protocol))
    path = tmp_path / "aligned_50.pkl"
    path.write_bytes(pickle.dumps(contents, protocol=protocol))
    data = load_dataset("mosi-pickle", data_dir=tmp_path)  # the folder's only .pkl
    assert data.shapes == {"language": (50, 300), "acoustic": (50, 5), "visual": (50, 20)}
    for split in SIZES:
        part = data.splits[split]
        assert np.array_equal(part.inputs["language"], contents[split]["text"])
        assert np.allclose(part.labels, contents[split]["regression_labels"])
        assert part.extras["id"].tolist() == list(contents[split]["id"])
        assert part.extras["raw_text"][0] == "words of segment 0"


def test_multibench_layout_with_labels_and_val_key(tmp_path: Path) -> None:
    contents = _mmsa_contents(np.random.default_rng(1), label_key="labels", valid_key="val")
    contents["train"]["audio"] = contents["train"]["audio"].astype(np.float64)
    path = tmp_path / "mosi_raw.pkl"
    path.write_bytes(pickle.dumps(contents, protocol=4))
    data = load_dataset("mosi-pickle", data_dir=path)
    assert data.splits["valid"].labels.shape == (3,)
    assert data.splits["train"].inputs["acoustic"].dtype == np.float32


class _Hostile:
    """Unpickling this runs a shell command (creating a sentinel file) in an unrestricted loader."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


class _Evil:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


def test_hostile_pickle_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    contents = _mmsa_contents(np.random.default_rng(2))
    contents["train"]["audio"] = _Hostile(sentinel)  # hidden deep inside an otherwise valid file
    path = tmp_path / "aligned_50.pkl"
    path.write_bytes(pickle.dumps(contents, protocol=2))
    with pytest.raises(DataError, match=r"aligned_50\.pkl.*refusing to load (posix|nt|os)\.system"):
        load_dataset("mosi-pickle", data_dir=path)
    assert not sentinel.exists()
    # the same bytes through a plain unpickler really would have run the command
    pickle.loads(path.read_bytes())
    assert sentinel.exists()


class _Plain:
    """An ordinary class instance: harmless, but a class all the same, so refused."""


@pytest.mark.parametrize(
    "payload", [_Evil(), Counter(a=1), _Plain(), np.float64], ids=["eval", "counter", "object", "type"]
)
def test_any_other_global_is_refused(tmp_path: Path, payload: object) -> None:
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"train": payload}))
    with pytest.raises(DataError, match=r"x\.pkl.*refusing to load"):
        restricted_load(path)


def test_codecs_trick_is_refused(tmp_path: Path) -> None:
    # protocol 0 pickle calling _codecs.encode with a non-text codec
    path = tmp_path / "codec.pkl"
    path.write_bytes(b"c_codecs\nencode\n(Vdata\nVzlib\ntR.")
    with pytest.raises(DataError, match=r"refusing _codecs.encode"):
        restricted_load(path)


def test_pickle_problems_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "data.pkl"
    contents = _mmsa_contents(np.random.default_rng(3))
    del contents["test"]
    path.write_bytes(pickle.dumps(contents))
    with pytest.raises(DataError, match=r"data\.pkl.*no 'test' split"):
        read_mosi_pickle(path)
    contents = _mmsa_contents(np.random.default_rng(3))
    del contents["valid"]["vision"]
    path.write_bytes(pickle.dumps(contents))
    with pytest.raises(DataError, match=r"data\.pkl \[valid\].*no visual array"):
        read_mosi_pickle(path)
    contents = _mmsa_contents(np.random.default_rng(3))
    contents["train"]["text"] = contents["train"]["text"][:, :, 0]
    path.write_bytes(pickle.dumps(contents))
    with pytest.raises(DataError, match=r"data\.pkl \[train\].*language has shape \(7, 50\)"):
        read_mosi_pickle(path)
    contents = _mmsa_contents(np.random.default_rng(3))
    contents["train"]["audio"][1, 2, 3] = -np.inf
    path.write_bytes(pickle.dumps(contents))
    with pytest.raises(DataError, match=r"data\.pkl \[train\].*acoustic holds 1 non-finite.*\(1, 2, 3\)"):
        read_mosi_pickle(path)
    assert read_mosi_pickle(path, nonfinite="zero")["train"]["replaced"] == {"acoustic": 1}
    path.write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(DataError, match=r"data\.pkl"):
        read_mosi_pickle(path)
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DataError, match=r"data\.pkl.*dict of splits"):
        read_mosi_pickle(path)
    with pytest.raises(DataError, match=r"not found"):
        restricted_load(tmp_path / "absent.pkl")
    (tmp_path / "other.pkl").write_bytes(b"")
    with pytest.raises(DataError, match=r"several pickles"):
        load_dataset("mosi-pickle", data_dir=tmp_path)
    with pytest.raises(DataError, match=r"missing-folder: no such file or folder"):
        load_dataset("mosi-pickle", data_dir=tmp_path / "missing-folder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: no \.pkl file"):
        load_dataset("mosi-pickle", data_dir=tmp_path / "empty")
