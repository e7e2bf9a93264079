"""CMU-MOSI from the files real users have, as a `MultimodalDataset` with modalities language, acoustic, visual.

- "mosi": the MFN / MFM layout, X_{train,valid,test}.h5 (dataset "data", N x 20 x 325) and y_{split}.h5.
- "mosi-pickle": an MMSA / MultiBench pickle, read with a restricted unpickler that runs no code.

Labels are float32 sentiment in [-3, 3]. No planted truth exists for real data, so the extras hold only
"index" (the row in the split's file) and, for pickles, "id" and "raw_text" when the file has them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from mfm.data.readers import SEQUENCE_MODALITIES, find_pickle, read_mosi_h5, read_mosi_pickle
from mfm.data.types import SPLIT_NAMES, MultimodalDataset, Split
from mfm.errors import DataError

Progress = Callable[[int, int, str], None]


def _build(name: str, parts: dict[str, dict], info: dict) -> MultimodalDataset:
    splits = {}
    for split in SPLIT_NAMES:
        part = parts[split]
        extras = {"index": np.arange(part["labels"].shape[0], dtype=np.int64)}
        extras.update(part.get("extras", {}))
        splits[split] = Split(inputs=part["inputs"], labels=part["labels"], extras=extras)
    shapes = {m: tuple(splits["train"].inputs[m].shape[1:]) for m in SEQUENCE_MODALITIES}
    info = dict(info)
    info["replaced_nonfinite"] = {split: parts[split]["replaced"] for split in SPLIT_NAMES}
    return MultimodalDataset(name, "regression", None, SEQUENCE_MODALITIES, shapes, splits, info)


def load_mosi_h5(
    data_dir: str | Path, *, nonfinite: str = "refuse", progress: Progress | None = None
) -> MultimodalDataset:
    """Build "mosi" from the MFN / MFM h5 files in `data_dir` (see `mfm.data.readers.read_mosi_h5`)."""
    if progress is not None:
        progress(0, 1, "reading MOSI h5 files")
    parts = read_mosi_h5(data_dir, nonfinite=nonfinite)
    if progress is not None:
        progress(1, 1, "reading MOSI h5 files")
    info = {
        "description": "CMU-MOSI, word-aligned, in the MFN / MFM h5 layout",
        "source": [f for split in SPLIT_NAMES for f in parts[split]["files"]],
        "features": "language 300-d GloVe, acoustic 5-d COVAREP, visual 20-d FACET",
        "nonfinite": nonfinite,
    }
    return _build("mosi", parts, info)


def load_mosi_pickle(
    data_dir: str | Path, *, nonfinite: str = "refuse", progress: Progress | None = None
) -> MultimodalDataset:
    """Build "mosi-pickle" from an MMSA / MultiBench pickle (`data_dir` is the file or a folder with one .pkl)."""
    path = find_pickle(data_dir)
    if progress is not None:
        progress(0, 1, f"reading {path.name}")
    parts = read_mosi_pickle(path, nonfinite=nonfinite)
    if progress is not None:
        progress(1, 1, f"reading {path.name}")
    for modality in SEQUENCE_MODALITIES:
        shapes = {split: parts[split]["inputs"][modality].shape[1:] for split in SPLIT_NAMES}
        if len(set(shapes.values())) > 1:
            raise DataError(f"{path}: {modality} has different per-sample shapes across splits: {shapes}")
    info = {
        "description": "a sentiment data set from an MMSA / MultiBench pickle (read without running code)",
        "source": str(path),
        "nonfinite": nonfinite,
    }
    return _build("mosi-pickle", parts, info)
