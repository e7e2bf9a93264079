"""CMU-MOSI from the files real users have, as a `MultimodalDataset` with modalities language, acoustic, visual.

- "mosi": the MFN / MFM layout, X_{train,valid,test}.h5 (dataset "data", N x T x 325 or N x T x 377, see
  `mfm.data.readers.read_mosi_h5`) and y_{split}.h5. The modality shapes follow the file's layout.
- "mosi-pickle": an MMSA / MultiBench pickle, read with a restricted unpickler that runs no code; aligned
  (every modality T = 50) or unaligned (T differs per modality).

Both take two explicit policies: `nonfinite` ("refuse" or "zero", see `mfm.data.readers`) and `align` ("none"
or "avg_pool": MMSA's average pooling of every modality to the language length, see `mfm.data.align`). What
was done is recorded in the data set's info: "nonfinite", "replaced_nonfinite" (split -> array -> count),
"align", "original_lengths" (modality -> T in the file) and, when pooled, "align_detail".

Labels are float32 sentiment in [-3, 3]. No planted truth exists for real data, so the extras hold only
"index" (the row in the split's file) and, for pickles, "id" and "raw_text" when the file has them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mfm.data.align import ALIGN_REFERENCE, align_inputs, check_align
from mfm.data.readers import (
    MOSI_LAYOUT_FEATURES,
    SEQUENCE_MODALITIES,
    check_nonfinite,
    find_pickle,
    read_mosi_h5,
    read_mosi_pickle,
)
from mfm.data.types import SPLIT_NAMES, MultimodalDataset, Split
from mfm.errors import DataError
from mfm.progress import Progress


def _align(parts: dict[str, dict], align: str, info: dict) -> None:
    """Align every split's inputs in place and record the mode and the lengths in `info`."""
    original = {m: int(parts["train"]["inputs"][m].shape[1]) for m in SEQUENCE_MODALITIES}
    info["align"] = align
    info["original_lengths"] = original
    if align == "none":
        return
    for split in SPLIT_NAMES:
        parts[split]["inputs"] = align_inputs(parts[split]["inputs"], align)
    target = original[ALIGN_REFERENCE]
    pooled = [f"{m} {t} -> {target}" for m, t in original.items() if m != ALIGN_REFERENCE and t != target]
    info["align_detail"] = (
        f"MMSA's AlignSubNet 'avg_pool': every modality average-pooled to the {ALIGN_REFERENCE} length {target} "
        "(windows of ceil(T / L) frames after padding the end with copies of the last frame); "
        + ("; ".join(pooled) if pooled else "all lengths already equal, nothing pooled")
    )


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
    data_dir: str | Path,
    *,
    nonfinite: str = "refuse",
    align: str = "none",
    progress: Progress | None = None,
) -> MultimodalDataset:
    """Build "mosi" from the MFN / MFM h5 files in `data_dir` (see `mfm.data.readers.read_mosi_h5`).

    The three modalities of an MFN file share one T, so align="avg_pool" changes nothing there (it is recorded).
    """
    check_nonfinite(nonfinite)
    check_align(align)
    if progress is not None:
        progress(0, 1, "reading MOSI h5 files")
    parts = read_mosi_h5(data_dir, nonfinite=nonfinite)
    if progress is not None:
        progress(1, 1, "reading MOSI h5 files")
    layout = parts["train"]["layout"]
    info = {
        "description": "CMU-MOSI, word-aligned, in the MFN / MFM h5 layout",
        "source": [f for split in SPLIT_NAMES for f in parts[split]["files"]],
        "layout": layout,
        "features": MOSI_LAYOUT_FEATURES[layout],
        "nonfinite": nonfinite,
    }
    _align(parts, align, info)
    return _build("mosi", parts, info)


def load_mosi_pickle(
    data_dir: str | Path,
    *,
    nonfinite: str = "refuse",
    align: str = "none",
    progress: Progress | None = None,
) -> MultimodalDataset:
    """Build "mosi-pickle" from an MMSA / MultiBench pickle (`data_dir` is the file or a folder with one .pkl)."""
    check_nonfinite(nonfinite)
    check_align(align)
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
    _align(parts, align, info)
    return _build("mosi-pickle", parts, info)
