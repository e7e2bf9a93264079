"""Readers for the real data files users have: MNIST idx, SVHN .mat, and CMU-MOSI (MFN h5, MMSA pickle).

Every reader checks what it reads and raises `mfm.errors.DataError` naming the file and the problem: a missing
file, a wrong shape or dtype, labels out of range, or non-finite values. Non-finite values (NaN, inf) in the
sequence features are refused by default (`nonfinite="refuse"`, `--nonfinite refuse`); the sequence readers can
replace them by 0 instead (`nonfinite="zero"`, `--nonfinite zero`: what MMSA's and MultiBench's own loaders do
with the -inf in MOSI's audio features), and then count them per array. Non-finite labels are refused under
either policy: a label replaced by 0 would be an invented neutral sentiment.
"""

from __future__ import annotations

import math
import stat
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mfm.data.types import require_finite, require_numeric, require_shape
from mfm.errors import DataError

NONFINITE_POLICIES: tuple[str, ...] = ("refuse", "zero")
# The two feature layouts MFN's loader writes into X_{split}.h5 (see `read_mosi_h5`): feature count -> columns.
MOSI_LAYOUTS: dict[int, dict[str, tuple[int, int]]] = {
    325: {"language": (0, 300), "acoustic": (300, 305), "visual": (305, 325)},
    377: {"language": (0, 300), "acoustic": (300, 334), "visual": (334, 377)},
}
MOSI_LAYOUT_FEATURES = {
    325: "language 300-d GloVe, acoustic 5-d COVAREP and visual 20-d FACET (MFN's feature selection)",
    377: "language 300-d GloVe, acoustic 34-d COVAREP (its columns 1-34) and visual 43-d FACET "
    "(MFN's loader with feature_selection=0: no feature selection)",
}
MOSI_FEATURES = MOSI_LAYOUTS[325]
SEQUENCE_MODALITIES: tuple[str, ...] = ("language", "acoustic", "visual")
# MMSA and MultiBench keys for each modality, in order of preference.
PICKLE_KEYS = {
    "language": ("text", "language", "glove"),
    "acoustic": ("audio", "acoustic", "covarep"),
    "visual": ("vision", "visual", "facet"),
}
PICKLE_LABEL_KEYS = ("regression_labels", "labels", "label")
PICKLE_SPLIT_KEYS = {"train": ("train",), "valid": ("valid", "val", "dev", "validation"), "test": ("test",)}

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# Bounds on what a data file may make the readers allocate, checked before (or while) reading: far above the real
# files (MNIST's training images are 47 MB, SVHN's test_32x32.mat 79 MB expanded, MOSI's X_train.h5 33 MB, a
# MOSEI-sized training split in the 377-feature layout 470 MiB as float32), and low enough that a small hostile
# file cannot exhaust memory.
MAX_IDX_BYTES = 256 * 2**20
MAX_SVHN_IMAGES = 200_000  # train 73,257, test 26,032
MAX_ARRAY_BYTES = 2 * 2**30  # one h5 dataset as float32
MAX_EXPANSION = 1000  # declared bytes per stored byte beyond which an h5 dataset is refused (above 64 MiB)


def require_regular_file(path: Path) -> None:
    """Refuse (DataError) anything that is not a regular file: a FIFO or device would block or never end."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read the file ({error.strerror or error})") from None
    if not stat.S_ISREG(mode):
        raise DataError(f"{path}: not a regular file")


def _open_bytes(
    path: Path, limit: int = MAX_IDX_BYTES, declared_size: Callable[[bytes], int | None] | None = None
) -> bytes | bytearray:
    """The file's bytes, decompressed when it is gzip (by magic number, whatever its name), at most `limit` bytes.

    gzip is inflated in bounded steps. `declared_size(prefix)` may read the size the data announces from its first
    bytes (e.g. an idx header); the data is then refused at once when it announces more than `limit`, and never
    inflated beyond what it announced, so a small bomb costs no memory.
    """
    require_regular_file(path)
    try:
        with path.open("rb") as file:
            raw = file.read(limit + 1)
    except OSError as error:
        raise DataError(f"{path}: cannot read the file ({error.strerror or error})") from None
    if raw[:2] != b"\x1f\x8b":
        if len(raw) > limit:
            raise DataError(f"{path}: larger than the {limit // 2**20} MiB this reader accepts")
        return raw
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing
    out, pending, bound = bytearray(), raw, limit
    try:
        while pending and len(out) <= bound and not inflate.eof:
            out += inflate.decompress(pending, min(2**22, bound + 1 - len(out)))
            pending = inflate.unconsumed_tail
            if declared_size is not None and bound == limit and len(out) >= 64:
                announced = declared_size(bytes(out[:64]))
                if announced is not None:
                    if announced > limit:
                        raise DataError(
                            f"{path}: announces {announced / 2**20:.0f} MiB of data, more than the "
                            f"{limit // 2**20} MiB this reader accepts; refusing"
                        )
                    bound = announced
    except zlib.error as error:
        raise DataError(f"{path}: corrupt gzip data ({error})") from None
    if len(out) > bound:
        raise DataError(
            f"{path}: expands to more than the {bound // 2**20} MiB this reader accepts; refusing"
        )
    if not inflate.eof and len(out) < bound:
        raise DataError(f"{path}: truncated gzip data")
    return out


def _idx_size(prefix: bytes) -> int | None:
    """The total size an idx file's header announces (header + data), or None if the prefix is not one."""
    if len(prefix) < 4 or prefix[0] != 0 or prefix[1] != 0 or prefix[2] not in _IDX_DTYPES:
        return None
    ndim = prefix[3]
    if ndim == 0 or len(prefix) < 4 + 4 * ndim:
        return None
    shape = struct.unpack(f">{ndim}I", prefix[4 : 4 + 4 * ndim])
    return 4 + 4 * ndim + math.prod(shape) * np.dtype(_IDX_DTYPES[prefix[2]]).itemsize


def read_idx(path: str | Path) -> np.ndarray:
    """Read an idx file (the MNIST format, optionally gzipped) into a native-endian numpy array."""
    path = Path(path)
    data = _open_bytes(path, declared_size=_idx_size)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an idx file (its first bytes are not an idx magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"{path}: truncated idx header ({len(data)} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(
            f"{path}: idx header announces shape {shape} ({expected} bytes of data) but the file holds "
            f"{len(data) - header} bytes of data"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def read_mnist_idx(images_path: str | Path, labels_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an MNIST image / label pair of idx files: images (N, 28, 28) uint8 and labels (N,) int64 in 0-9."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8:
        raise DataError(f"{images_path}: MNIST images must be unsigned bytes, got {images.dtype}")
    require_shape(images, (None, 28, 28), str(images_path), "the image array")
    if labels.dtype != np.uint8:
        raise DataError(f"{labels_path}: MNIST labels must be unsigned bytes, got {labels.dtype}")
    require_shape(labels, (None,), str(labels_path), "the label array")
    if len(labels) != len(images):
        raise DataError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}")
    if len(labels) and labels.max() > 9:
        raise DataError(f"{labels_path}: labels must be digits 0-9, found {int(labels.max())}")
    return images, labels.astype(np.int64)


def find_mnist_files(data_dir: str | Path) -> dict[str, tuple[Path, Path]]:
    """Locate MNIST's train and t10k idx files (optionally .gz) in data_dir, data_dir/mnist or data_dir/MNIST/raw."""
    root = Path(data_dir)
    folders = [root, root / "mnist", root / "MNIST", root / "MNIST" / "raw"]
    found = {}
    for part in ("train", "t10k"):
        pair = []
        for kind, ndim in (("images", 3), ("labels", 1)):
            names = [f"{part}-{kind}-idx{ndim}-ubyte", f"{part}-{kind}.idx{ndim}-ubyte"]
            hits = [
                f / (n + gz) for f in folders for n in names for gz in ("", ".gz") if (f / (n + gz)).is_file()
            ]
            if not hits:
                raise DataError(
                    f"{root}: no MNIST file {names[0]}[.gz] (looked in {', '.join(str(f) for f in folders)})"
                )
            pair.append(hits[0])
        found[part] = (pair[0], pair[1])
    return found


def read_svhn_mat(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an SVHN cropped-digit file (train_32x32.mat / test_32x32.mat).

    The file holds X (32, 32, 3, N) uint8 and y (N, 1) with labels 1-10, where 10 means digit 0.
    Returns images (N, 3, 32, 32) uint8 and labels (N,) int64 in 0-9.
    """
    from scipy.io import loadmat

    path = Path(path)
    require_regular_file(path)
    declared = mat_shapes(path)
    images_shape = declared.get("X")
    if images_shape is not None:  # (v7.3 files have no v5 header: loadmat says so below)
        if len(images_shape) != 4 or tuple(images_shape[:3]) != (32, 32, 3):
            raise DataError(f"{path}: X has shape {images_shape}, expected (32, 32, 3, N)")
        if images_shape[3] > MAX_SVHN_IMAGES:
            raise DataError(
                f"{path}: X declares {images_shape[3]:,} images, more than the {MAX_SVHN_IMAGES:,} accepted"
            )
        if "y" in declared and math.prod(declared["y"]) != images_shape[3]:
            raise DataError(
                f"{path}: y declares {math.prod(declared['y'])} labels for {images_shape[3]} images"
            )
    try:
        contents = loadmat(path, variable_names=["X", "y"])
    except NotImplementedError:
        raise DataError(
            f"{path}: MATLAB v7.3 files are not supported; save it in the v5 format (-v7)"
        ) from None
    except (ValueError, OSError, TypeError) as error:
        raise DataError(f"{path}: not a readable MATLAB file ({error})") from None
    for key in ("X", "y"):
        if key not in contents:
            raise DataError(f"{path}: no variable {key!r} (an SVHN file holds X and y)")
    images, labels = contents["X"], contents["y"]
    if images.dtype != np.uint8:
        raise DataError(f"{path}: X must be uint8 pixels, got {images.dtype}")
    require_shape(images, (32, 32, 3, None), str(path), "X")
    require_numeric(labels, str(path), "y")
    if labels.size != images.shape[3]:
        raise DataError(f"{path}: y holds {labels.size} labels for {images.shape[3]} images")
    labels = labels.reshape(-1).astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() > 10):
        raise DataError(
            f"{path}: labels must lie in 1-10 (10 meaning digit 0), found {labels.min()}..{labels.max()}"
        )
    labels[labels == 10] = 0
    return np.ascontiguousarray(
        images.transpose(3, 2, 0, 1)
    ), labels  # (N, 3, 32, 32): (h, w, c, n) -> (n, c, h, w)


def mat_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The declared shape of each top-level variable of a MATLAB v5 file, read from its headers only.

    A compressed variable's header is read by inflating its first few hundred bytes, never the whole stream, so
    a file can be refused for what it declares before anything of that size is allocated. Returns {} for files
    without a v5 header (v7.3 / HDF5), whose own reader refuses them.
    """
    try:
        with path.open("rb") as file:
            header = file.read(128)
            if len(header) < 128 or header[126:128] not in (b"IM", b"MI") or header.startswith(b"\x89HDF"):
                return {}
            order = "<" if header[126:128] == b"IM" else ">"
            shapes: dict[str, tuple[int, ...]] = {}
            for _ in range(64):  # an SVHN file holds X and y
                tag = file.read(8)
                if len(tag) < 8:
                    break
                kind, size = struct.unpack(order + "II", tag)
                start = file.tell()
                if kind == 15:  # miCOMPRESSED: a zlib stream holding one miMATRIX
                    head = zlib.decompressobj().decompress(file.read(min(size, 4096)), 512)
                elif kind == 14:  # miMATRIX
                    head = tag + file.read(min(size, 512))
                    head = head[: 8 + size]
                else:
                    head = b""
                if len(head) >= 8 and struct.unpack(order + "I", head[:4])[0] == 14:
                    name, shape = _matrix_header(head[8:], order)
                    if name:
                        shapes[name] = shape
                file.seek(start + size + ((-size) % 8 if kind == 14 else 0))
            return shapes
    except (OSError, zlib.error, struct.error) as error:
        raise DataError(f"{path}: not a readable MATLAB file ({error})") from None


def _matrix_header(body: bytes, order: str) -> tuple[str, tuple[int, ...]]:
    """(name, dimensions) from the start of a miMATRIX element's body: array flags, dimensions, name."""

    def element(offset: int) -> tuple[int, bytes, int]:
        first, second = struct.unpack_from(order + "II", body, offset)
        if first >> 16:  # small data element: the size in the upper half, the data in the next 4 bytes
            size = first >> 16
            return first & 0xFFFF, body[offset + 4 : offset + 4 + size], offset + 8
        data = body[offset + 8 : offset + 8 + second]
        return first, data, offset + 8 + second + ((-second) % 8)

    _, _, offset = element(0)  # array flags
    _, dims, offset = element(offset)
    shape = tuple(int(d) for d in struct.unpack(order + f"{len(dims) // 4}i", dims[: len(dims) // 4 * 4]))
    _, name, _ = element(offset)
    return name.decode("ascii", "replace"), shape


def find_svhn_files(data_dir: str | Path) -> dict[str, Path]:
    """Locate train_32x32.mat and test_32x32.mat in data_dir, data_dir/svhn or data_dir/SVHN."""
    root = Path(data_dir)
    folders = [root, root / "svhn", root / "SVHN"]
    found = {}
    for part in ("train", "test"):
        hits = [f / f"{part}_32x32.mat" for f in folders if (f / f"{part}_32x32.mat").is_file()]
        if not hits:
            raise DataError(
                f"{root}: no SVHN file {part}_32x32.mat (looked in {', '.join(str(f) for f in folders)})"
            )
        found[part] = hits[0]
    return found


def _nonfinite_breakdown(values: np.ndarray) -> str:
    """'2 -inf, 1 NaN' for the non-finite entries of `values`."""
    kinds = (
        ("NaN", int(np.isnan(values).sum())),
        ("+inf", int(np.isposinf(values).sum())),
        ("-inf", int(np.isneginf(values).sum())),
    )
    return ", ".join(f"{count} {name}" for name, count in kinds if count)


def _clean(
    array: np.ndarray,
    source: str,
    what: str,
    nonfinite: str,
    replaced: dict[str, int],
    *,
    columns: dict[str, tuple[int, int]] | None = None,
    labels: bool = False,
) -> np.ndarray:
    """Cast to float32 after the non-finite policy: refuse (DataError) or replace by 0 (counted in `replaced`).

    columns (modality -> last-axis column range) lets the refusal say which modality the first bad value is in.
    Labels (labels=True) are refused under either policy.
    """
    require_numeric(array, source, what)
    if array.dtype.kind in "fc":
        bad = ~np.isfinite(array)
        count = int(np.count_nonzero(bad))
        if count:
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            where = ""
            if columns:
                for modality, (a, b) in columns.items():
                    if a <= first[-1] < b:
                        where = f" (in the {modality} columns {a}-{b - 1})"
            kinds = _nonfinite_breakdown(array[bad])
            if labels:
                raise DataError(
                    f"{source}: {what} holds {count} non-finite label(s) ({kinds}), the first at index {first}; "
                    "labels are never replaced (0 would be an invented neutral sentiment): fix the file"
                )
            if nonfinite == "refuse":
                raise DataError(
                    f"{source}: {what} holds {count} non-finite value(s) ({kinds}), the first at index "
                    f"{first}{where}; they are refused by default: --nonfinite zero (nonfinite='zero' in "
                    "load_dataset) replaces them by 0, as MMSA's own loader does with the -inf in MOSI's audio"
                )
            replaced[what] = replaced.get(what, 0) + count
            array = np.where(bad, 0, array)
    array = array.astype(np.float32)
    require_finite(array, source, f"{what} after conversion to float32")  # overflow in the cast
    return array


def check_nonfinite(nonfinite: object) -> str:
    """Return `nonfinite` if it names a policy ("refuse" or "zero"); raise DataError otherwise."""
    if not isinstance(nonfinite, str) or nonfinite not in NONFINITE_POLICIES:
        raise DataError(f"nonfinite must be 'refuse' or 'zero', got {nonfinite!r}")
    return nonfinite


def _check_sentiment(labels: np.ndarray, source: str, what: str) -> None:
    if labels.size and (labels.min() < -3.0001 or labels.max() > 3.0001):
        raise DataError(
            f"{source}: {what} lie in [{labels.min():.3g}, {labels.max():.3g}], expected sentiment in [-3, 3]"
        )


def _layout_message() -> str:
    return " or ".join(
        f"{n} = [" + " | ".join(f"{b - a} {m}" for m, (a, b) in layout.items()) + "]"
        for n, layout in MOSI_LAYOUTS.items()
    )


def read_mosi_h5(data_dir: str | Path, *, nonfinite: str = "refuse") -> dict[str, dict]:
    """Read CMU-MOSI in the MFN / MFM layout: X_{train,valid,test}.h5 and y_{split}.h5, dataset "data".

    X is (N, T, F), word-aligned and zero pre-padded; y is (N,) or (N, 1) sentiment in [-3, 3]. MFN's loader
    (pliang279/MFN, `get_data` in test_mosi.py, which concatenates [GloVe text | COVAREP | FACET] on the last
    axis) writes one of two feature layouts, and the file's feature count F says which:

    - F = 325, its default (`--feature_selection 1`): columns 0-299 language (300-d GloVe), 300-304 acoustic
      (5 COVAREP columns picked by the mask in its fs_mask.pkl), 305-324 visual (20 FACET columns, same mask).
      This is the layout of the X_*.h5 files released in pliang279/MFN data/.
    - F = 377, `feature_selection=0`: columns 0-299 language (300-d GloVe), 300-333 acoustic (34-d: COVAREP
      columns 1-34, the loader's `covarep[:, :, 1:35]`), 334-376 visual (43-d: every FACET column, its shape
      comments read "n x seq x 5/34" for COVAREP and "n x seq x 20/43" for FACET; 300 + 34 + 43 = 377).

    In both, the FACET block is divided by the training split's per-column max |value| and COVAREP is not
    scaled. Any other F is refused with a message naming both layouts, and so is a file set whose splits use
    different layouts. Returns split -> {"inputs": {modality: (N, T, D) float32}, "labels": (N,) float32,
    "replaced": {...}, "files": [...], "layout": F}.
    """

    check_nonfinite(nonfinite)
    root = Path(data_dir)
    out = {}
    for split in ("train", "valid", "test"):
        arrays = {}
        for prefix in ("X", "y"):
            path = root / f"{prefix}_{split}.h5"
            if not path.is_file():
                raise DataError(
                    f"{path}: file not found (the MFN layout has X_/y_ train, valid and test .h5 files)"
                )
        for prefix in ("y", "X"):  # labels first: their count bounds what X may declare
            path = root / f"{prefix}_{split}.h5"
            require_regular_file(path)
            rows = len(arrays["y"].reshape(-1)) if prefix == "X" else None
            arrays[prefix] = _read_h5_data(path, rows)
        x_path, y_path = root / f"X_{split}.h5", root / f"y_{split}.h5"
        features, labels = arrays["X"], arrays["y"]
        require_numeric(features, str(x_path), "data")
        if features.ndim != 3 or features.shape[2] not in MOSI_LAYOUTS:
            raise DataError(
                f"{x_path}: data has shape {features.shape}, expected (N, T, F) with F one of MFN's two layouts: "
                f"{_layout_message()} (325: MFN's feature selection, the released files; 377: its loader "
                "with feature_selection=0)"
            )
        layout = int(features.shape[2])
        if out and layout != out["train"]["layout"]:
            raise DataError(
                f"{x_path}: {layout} features per step, but X_train.h5 has {out['train']['layout']}: "
                "all three splits must use the same MFN layout"
            )
        columns = MOSI_LAYOUTS[layout]
        require_numeric(labels, str(y_path), "data")
        if labels.size != features.shape[0] or labels.ndim > 2:
            raise DataError(
                f"{y_path}: data has shape {labels.shape}, expected ({features.shape[0]},) labels"
            )
        replaced: dict[str, int] = {}
        labels = _clean(labels.reshape(-1), str(y_path), "data", nonfinite, replaced, labels=True)
        _check_sentiment(labels, str(y_path), "labels")
        features = _clean(features, str(x_path), "data", nonfinite, replaced, columns=columns)
        inputs = {m: np.ascontiguousarray(features[:, :, a:b]) for m, (a, b) in columns.items()}
        out[split] = {
            "inputs": inputs,
            "labels": labels,
            "replaced": replaced,
            "files": [str(x_path), str(y_path)],
            "layout": layout,
        }
    return out


def _read_h5_data(path: Path, rows: int | None) -> np.ndarray:
    """Dataset "data" of an h5 file, after checking what it declares: a plain dataset stored in this file (no
    external, soft or virtual links, no external raw storage: those would read other files), of bounded size,
    storing about as many bytes as it declares, and with `rows` rows when given."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            link = handle.get("data", getlink=True)
            if link is None:
                raise DataError(
                    f"{path}: no dataset 'data' (the MFN layout stores each split's array as 'data')"
                )
            if not isinstance(link, h5py.HardLink):
                raise DataError(
                    f"{path}: 'data' is a {type(link).__name__}, which would read elsewhere; refusing"
                )
            dataset = handle["data"]
            if not isinstance(dataset, h5py.Dataset):
                raise DataError(f"{path}: 'data' is not a dataset")
            if dataset.is_virtual or dataset.external:
                raise DataError(f"{path}: 'data' is stored in other files (virtual or external); refusing")
            if dataset.dtype.kind not in "biuf":
                raise DataError(f"{path}: 'data' holds {dataset.dtype}, not numeric data")
            declared = math.prod(dataset.shape) * dataset.dtype.itemsize
            if rows is not None and (not dataset.shape or dataset.shape[0] != rows):
                raise DataError(
                    f"{path}: data declares shape {dataset.shape}, but its labels hold {rows} rows"
                )
            if declared > MAX_ARRAY_BYTES:
                raise DataError(
                    f"{path}: data declares shape {dataset.shape} ({declared / 2**30:.1f} GiB), more than the "
                    f"{MAX_ARRAY_BYTES / 2**30:.0f} GiB accepted"
                )
            stored = dataset.id.get_storage_size()
            if declared > 64 * 2**20 and declared > MAX_EXPANSION * max(stored, 1):
                raise DataError(
                    f"{path}: data declares {declared / 2**20:.0f} MiB but stores {stored / 2**20:.2f} MiB; refusing"
                )
            return dataset[()]
    except DataError:
        raise
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise DataError(f"{path}: not a readable HDF5 file ({type(error).__name__})") from None


def find_pickle(data_dir: str | Path) -> Path:
    """The pickle to read: `data_dir` itself if it is a file, else the one .pkl file inside it."""
    root = Path(data_dir)
    if root.is_file():
        return root
    if not root.is_dir():
        raise DataError(f"{root}: no such file or folder")
    candidates = sorted(root.glob("*.pkl")) + sorted(root.glob("*.pickle"))
    if not candidates:
        raise DataError(
            f"{root}: no .pkl file (MMSA's aligned_50.pkl or MultiBench's mosi_raw.pkl, for example)"
        )
    if len(candidates) > 1:
        raise DataError(
            f"{root}: {len(candidates)} pickles in this folder; pass the path of the one to load as the data dir"
        )
    return candidates[0]


def _pick(mapping: dict, keys: tuple[str, ...]) -> object | None:
    for key in keys:
        if key in mapping:
            return mapping[key]
    return None


def read_mosi_pickle(path: str | Path, *, nonfinite: str = "refuse") -> dict[str, dict]:
    """Read an MMSA / MultiBench sentiment pickle with the restricted unpickler (no code runs).

    Layout: {train, valid, test} -> {text, audio, vision, regression_labels or labels, ...}, batch-first
    arrays (N, T, D). T may differ between modalities: MMSA's aligned_50.pkl has T = 50 for all three, its
    unaligned_50.pkl text 50 and audio / vision several hundred frames (see `mfm.data.align` to pool them). Per-sample strings "id" and "raw_text" are kept as extras.
    Returns split -> {"inputs": {modality: (N, T, D) float32}, "labels": (N,) float32, "extras": {...},
    "replaced": {...}}.
    """
    from mfm.data.safe_pickle import restricted_load

    check_nonfinite(nonfinite)
    path = Path(path)
    contents = restricted_load(path)
    if not isinstance(contents, dict):
        raise DataError(f"{path}: expected a dict of splits, got {type(contents).__name__}")
    out = {}
    for split, split_keys in PICKLE_SPLIT_KEYS.items():
        part = _pick(contents, split_keys)
        if not isinstance(part, dict):
            raise DataError(f"{path}: no {split!r} split (found keys {sorted(map(str, contents))})")
        source = f"{path} [{split}]"
        raw_labels = _pick(part, PICKLE_LABEL_KEYS)
        if not isinstance(raw_labels, np.ndarray):
            raise DataError(f"{source}: no label array (looked for {', '.join(PICKLE_LABEL_KEYS)})")
        replaced: dict[str, int] = {}
        labels = _clean(raw_labels, source, "labels", nonfinite, replaced, labels=True)
        n = labels.shape[0] if labels.ndim else 0
        if labels.size != n:
            raise DataError(
                f"{source}: labels have shape {raw_labels.shape}, expected (N,), (N, 1) or (N, 1, 1)"
            )
        labels = labels.reshape(-1)
        _check_sentiment(labels, source, "labels")
        inputs = {}
        for modality in SEQUENCE_MODALITIES:
            keys = PICKLE_KEYS[modality]
            array = _pick(part, keys)
            if array is None:
                raise DataError(f"{source}: no {modality} array (looked for {', '.join(keys)})")
            if not isinstance(array, np.ndarray):
                raise DataError(f"{source}: {modality} must be a numpy array, got {type(array).__name__}")
            require_shape(array, (n, None, None), source, modality)
            inputs[modality] = _clean(array, source, modality, nonfinite, replaced)
        extras = {}
        for key in ("id", "raw_text"):
            value = part.get(key)
            if (
                isinstance(value, (np.ndarray, list))
                and len(value) == n
                and all(isinstance(v, str) for v in value)
            ):
                extras[key] = np.asarray(list(value), dtype=str)
        out[split] = {"inputs": inputs, "labels": labels, "extras": extras, "replaced": replaced}
    return out
