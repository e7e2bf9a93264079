"""Preview images of a data set: a grid of image pairs, or one sequence segment with its planted mask.

Uses Pillow for image grids and matplotlib's object-oriented API with the Agg canvas for sequence plots (no
pyplot, so no global backend state is touched).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mfm.data.types import MultimodalDataset
from mfm.errors import DataError


def write_preview(
    dataset: MultimodalDataset, path: str | Path, *, split: str = "test", count: int = 24, index: int = 0
) -> Path:
    """Write a PNG preview of `dataset` to `path` and return the path.

    Image data sets: a grid of `count` samples from `split` (one row per modality, the label under each column).
    Sequence data sets: segment `index` of `split`, one heatmap per modality with its planted steps marked.
    """
    if split not in dataset.splits:
        raise DataError(f"preview: no split {split!r} in data set {dataset.name!r}")
    if len(dataset.splits[split]) == 0:
        raise DataError(f"preview: split {split!r} of data set {dataset.name!r} is empty")
    path = Path(path)
    if all(len(shape) == 3 for shape in dataset.shapes.values()):
        image = _image_grid(dataset, split, count)
        try:
            image.save(path, format="PNG")
        except OSError as error:
            raise DataError(f"{path}: cannot write the preview ({error.strerror or error})") from None
        return path
    figure = _sequence_figure(dataset, split, index)
    try:
        figure.savefig(path, format="png", dpi=110)
    except OSError as error:
        raise DataError(f"{path}: cannot write the preview ({error.strerror or error})") from None
    return path


def _image_grid(dataset: MultimodalDataset, split: str, count: int):
    from PIL import Image, ImageDraw

    data = dataset.splits[split]
    count = max(1, min(count, len(data)))
    cell, label_height, columns = 64, 14, min(count, 12)
    block_height = cell * len(dataset.modalities) + label_height
    blocks = -(-count // columns)
    grid = Image.new("RGB", (columns * cell, blocks * block_height), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for i in range(count):
        left, top = (i % columns) * cell, (i // columns) * block_height
        for row, modality in enumerate(dataset.modalities):
            pixels = np.clip(data.inputs[modality][i], 0.0, 1.0)  # (C, H, W)
            pixels = np.repeat(pixels, 3, axis=0) if pixels.shape[0] == 1 else pixels[:3]
            tile = Image.fromarray((pixels.transpose(1, 2, 0) * 255).round().astype(np.uint8))
            grid.paste(tile.resize((cell, cell), Image.NEAREST), (left, top + row * cell))
        draw.text(
            (left + 3, top + cell * len(dataset.modalities) + 1), f"y={int(data.labels[i])}", fill=(0, 0, 0)
        )
    return grid


def _sequence_figure(dataset: MultimodalDataset, split: str, index: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = dataset.splits[split]
    if not 0 <= index < len(data):
        raise DataError(f"preview: segment index {index} is outside split {split!r} (0..{len(data) - 1})")
    modalities = dataset.modalities
    words = data.extras.get("words")
    figure = Figure(figsize=(11, 2.2 * len(modalities) + 1.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(modalities), 1, sharex=True)
    axes = np.atleast_1d(axes)
    steps = None
    for axis, modality in zip(axes, modalities, strict=True):
        stream = data.inputs[modality][index]  # (T, D)
        steps = stream.shape[0]
        # z-score each feature over the split so the heatmap shows what differs in this segment
        reference = data.inputs[modality].reshape(-1, stream.shape[1])
        scaled = (stream - reference.mean(0)) / (reference.std(0) + 1e-8)
        image = axis.imshow(
            scaled.T, aspect="auto", cmap="coolwarm", vmin=-3, vmax=3, interpolation="nearest"
        )
        axis.set_ylabel(f"{modality}\n({stream.shape[1]}-d)")
        mask = data.extras.get(f"mask/{modality}")
        if mask is not None:
            for t in np.flatnonzero(mask[index]):
                axis.axvspan(t - 0.5, t + 0.5, fill=False, edgecolor="black", linewidth=2.0)
            label = "planted label-bearing steps boxed" if mask[index].any() else "no planted label content"
            axis.set_title(f"{modality}: {label}", fontsize=9, loc="left")
    figure.colorbar(image, ax=axes, shrink=0.6, label="z-score")
    last = axes[-1]
    last.set_xlabel("step")
    if steps is not None:
        last.set_xticks(range(steps))
        if words is not None:
            last.set_xticklabels(words[index], rotation=60, ha="right", fontsize=8)
    title = f"{dataset.name} / {split} segment {index}: label {float(data.labels[index]):+.2f}"
    if "speaker" in data.extras:
        title += f", speaker {int(data.extras['speaker'][index])}"
    if "speaker_type" in data.extras:
        title += f" (type {int(data.extras['speaker_type'][index])})"
    figure.suptitle(title)
    return figure
