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
from mfm.data.align import align_inputs, avg_pool_to_length
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
    with pytest.raises(
        DataError, match=r"X_test\.h5.*shape \(4, 20, 324\).*325 = \[300 language \| 5 acoustic"
    ):
        read_mosi_h5(mfn_dir)
    _write_h5(mfn_dir / "X_test.h5", np.zeros((4, 20, 377)))  # a valid layout, but not the one of X_train
    with pytest.raises(DataError, match=r"X_test\.h5: 377 features per step, but X_train\.h5 has 325"):
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
    with pytest.raises(DataError, match=r"first at index \(2, 5, 301\) \(in the acoustic columns 300-304\)"):
        load_dataset("mosi", data_dir=mfn_dir)
    parts = read_mosi_h5(mfn_dir, nonfinite="zero")
    assert parts["train"]["replaced"] == {"data": 2}
    assert np.isfinite(parts["train"]["inputs"]["acoustic"]).all()
    assert (
        parts["train"]["inputs"]["acoustic"][2, 5, 1] == 0
        and parts["train"]["inputs"]["language"][3, 1, 0] == 0
    )
    data = load_dataset("mosi", data_dir=mfn_dir, nonfinite="zero")
    assert data.info["nonfinite"] == "zero"
    assert data.info["replaced_nonfinite"] == {"train": {"data": 2}, "valid": {}, "test": {}}


def test_non_finite_labels_are_refused_under_either_policy(mfn_dir: Path) -> None:
    _write_h5(mfn_dir / "y_valid.h5", np.array([0.5, np.nan, 1.0]))
    for policy in ("refuse", "zero"):
        with pytest.raises(DataError, match=r"y_valid\.h5: data holds 1 non-finite label.*never replaced"):
            load_dataset("mosi", data_dir=mfn_dir, nonfinite=policy)


def test_h5_full_feature_layout_377(tmp_path: Path) -> None:
    """MFN's loader with feature_selection=0: [300 GloVe | 34 COVAREP | 43 FACET]."""
    for split, n in SIZES.items():
        column = np.broadcast_to(np.arange(377, dtype=np.float64), (n, 20, 377))
        _write_h5(tmp_path / f"X_{split}.h5", column)
        _write_h5(tmp_path / f"y_{split}.h5", np.zeros(n))
    data = load_dataset("mosi", data_dir=tmp_path)
    assert data.shapes == {"language": (20, 300), "acoustic": (20, 34), "visual": (20, 43)}
    assert data.info["layout"] == 377 and "34-d COVAREP" in data.info["features"]
    test = data.splits["test"].inputs
    assert test["language"][0, 0].tolist() == list(range(300))
    assert test["acoustic"][0, 0].tolist() == list(range(300, 334))
    assert test["visual"][0, 0].tolist() == list(range(334, 377))


def test_options_are_validated_for_every_data_set() -> None:
    with pytest.raises(DataError, match=r"nonfinite must be 'refuse' or 'zero', got 'drop'"):
        load_dataset("sentiment", nonfinite="drop")
    with pytest.raises(DataError, match=r"align must be one of 'none', 'avg_pool', got 'ctc'"):
        load_dataset("mosi", data_dir=".", align="ctc")
    with pytest.raises(DataError, match=r"align='avg_pool' applies to .*mosi, mosi-pickle.*not to 'digits'"):
        load_dataset("digits", align="avg_pool")


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
    with pytest.raises(DataError, match=r"--nonfinite zero.*replaces them by 0"):
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
    with pytest.raises(DataError, match=r"2 pickles in this folder"):
        load_dataset("mosi-pickle", data_dir=tmp_path)
    with pytest.raises(DataError, match=r"missing-folder: no such file or folder"):
        load_dataset("mosi-pickle", data_dir=tmp_path / "missing-folder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: no \.pkl file"):
        load_dataset("mosi-pickle", data_dir=tmp_path / "empty")


# --- alignment ---------------------------------------------------------------------------------------------------


def _ramp(n: int, steps: int, dim: int) -> np.ndarray:
    """Frame t of sample i holds 100 * i + t in every feature."""
    values = 100.0 * np.arange(n)[:, None] + np.arange(steps)[None, :]
    return np.repeat(values[:, :, None], dim, axis=2).astype(np.float32)


def test_avg_pool_by_whole_windows() -> None:
    pooled = avg_pool_to_length(_ramp(2, 6, 3), 3)  # pairs: (0+1)/2, (2+3)/2, (4+5)/2
    assert pooled.shape == (2, 3, 3) and pooled.dtype == np.float32
    assert pooled[0, :, 0].tolist() == [0.5, 2.5, 4.5]
    assert pooled[1, :, 2].tolist() == [100.5, 102.5, 104.5]


def test_avg_pool_pads_with_the_last_frame_when_the_length_is_not_a_multiple() -> None:
    # 7 -> 3: 7 % 3 = 1, so 2 copies of frame 6 are appended and windows hold 7 // 3 + 1 = 3 frames:
    # (0+1+2)/3, (3+4+5)/3, (6+6+6)/3
    assert avg_pool_to_length(_ramp(1, 7, 1), 3)[0, :, 0].tolist() == [1.0, 4.0, 6.0]
    # 8 -> 3: one copy of frame 7: (0+1+2)/3, (3+4+5)/3, (6+7+7)/3
    assert np.allclose(avg_pool_to_length(_ramp(1, 8, 1), 3)[0, :, 0], [1.0, 4.0, 20 / 3])
    # shorter than the target: windows of one frame, extended by repeating the last one
    assert avg_pool_to_length(_ramp(1, 3, 1), 5)[0, :, 0].tolist() == [0.0, 1.0, 2.0, 2.0, 2.0]
    same = _ramp(1, 4, 2)
    assert avg_pool_to_length(same, 4) is same
    with pytest.raises(DataError, match=r"length 0"):
        avg_pool_to_length(np.zeros((1, 0, 2), np.float32), 3)


def test_align_inputs_pools_to_the_language_length_and_leaves_language_alone() -> None:
    inputs = {"language": _ramp(2, 4, 3), "acoustic": _ramp(2, 8, 2), "visual": _ramp(2, 4, 1)}
    assert align_inputs(inputs, "none") == inputs
    aligned = align_inputs(inputs, "avg_pool")
    assert aligned["language"] is inputs["language"] and aligned["visual"] is inputs["visual"]
    assert aligned["acoustic"][1, :, 0].tolist() == [100.5, 102.5, 104.5, 106.5]


def _unaligned_contents(rng: np.random.Generator) -> dict:
    contents = _mmsa_contents(rng)
    for split, n in SIZES.items():
        part = contents[split]
        part["text"] = rng.normal(size=(n, 5, 8)).astype(np.float32)
        part["audio"] = _ramp(n, 10, 2)  # 10 -> 5: pairs
        part["vision"] = _ramp(n, 7, 3)  # 7 -> 5: 2 frames each after 3 copies of frame 6
        part["audio_lengths"] = np.full(n, 10)
        part["vision_lengths"] = np.full(n, 7)
    return contents


def test_unaligned_pickle_loads_as_is_or_pooled(tmp_path: Path) -> None:
    contents = _unaligned_contents(np.random.default_rng(4))
    contents["train"]["audio"][0, 1, 0] = -np.inf  # zeroed before pooling
    path = tmp_path / "unaligned_50.pkl"
    path.write_bytes(pickle.dumps(contents, protocol=4))
    data = load_dataset("mosi-pickle", data_dir=path, nonfinite="zero")
    assert data.shapes == {"language": (5, 8), "acoustic": (10, 2), "visual": (7, 3)}
    assert data.info["align"] == "none"
    assert data.info["original_lengths"] == {"language": 5, "acoustic": 10, "visual": 7}
    pooled = load_dataset("mosi-pickle", data_dir=path, nonfinite="zero", align="avg_pool")
    assert pooled.shapes == {"language": (5, 8), "acoustic": (5, 2), "visual": (5, 3)}
    assert pooled.info["align"] == "avg_pool" and "acoustic 10 -> 5" in pooled.info["align_detail"]
    assert pooled.info["original_lengths"] == {"language": 5, "acoustic": 10, "visual": 7}
    assert pooled.info["replaced_nonfinite"]["train"] == {"acoustic": 1}
    train = pooled.splits["train"].inputs
    assert np.array_equal(train["language"], contents["train"]["text"])
    assert train["acoustic"][0, :, 0].tolist() == [0.0, 2.5, 4.5, 6.5, 8.5]  # (0 + -inf->0) / 2 first
    assert train["acoustic"][1, :, 1].tolist() == [100.5, 102.5, 104.5, 106.5, 108.5]
    assert pooled.splits["test"].inputs["visual"][2, :, 0].tolist() == [200.5, 202.5, 204.5, 206.0, 206.0]


def test_the_generated_data_cache_evicts_the_least_recently_used_files(tmp_path, monkeypatch) -> None:
    import os

    from mfm.data.cache import load_arrays, save_arrays

    monkeypatch.setenv("MFM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("MFM_CACHE_MAX_BYTES", str(3 * 8_500))  # room for three of the files below
    block = {"x": np.zeros(1000)}  # about 8.2 kB as .npz
    for i in range(3):
        save_arrays(f"seed{i}.npz", block)
        os.utime(tmp_path / f"seed{i}.npz", (1000 + i, 1000 + i))  # distinct ages: seed0 oldest
    assert load_arrays("seed0.npz") is not None  # reading seed0 makes it the most recently used
    save_arrays("seed3.npz", block)  # over the bound: the least recently used (seed1) goes
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["seed0.npz", "seed2.npz", "seed3.npz"]
    monkeypatch.setenv("MFM_CACHE_MAX_BYTES", "1")
    save_arrays("seed4.npz", block)  # the file just written stays even when it alone is over the bound
    assert [p.name for p in tmp_path.glob("*.npz")] == ["seed4.npz"]
