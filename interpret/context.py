"""A loaded checkpoint together with the data it was trained on: what the app and the report both start from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mfm.checkpoint import LoadedCheckpoint, Source, load_checkpoint
from mfm.data import MultimodalDataset, check_data_version, list_datasets, load_dataset
from mfm.errors import DataError
from mfm.progress import Progress


@dataclass(frozen=True)
class Context:
    """A validated checkpoint and the data set named in its metadata (checked to match the model)."""

    checkpoint: LoadedCheckpoint
    dataset: MultimodalDataset

    @property
    def model(self):
        """The checkpoint's model (eval mode)."""
        return self.checkpoint.model

    def keep_splits(self, names: Iterable[str]) -> Context:
        """This context with only the data splits `names` (the others emptied; `MultimodalDataset.keep_splits`)."""
        return Context(self.checkpoint, self.dataset.keep_splits(names))


def dataset_for(
    checkpoint: LoadedCheckpoint,
    *,
    data_dir: str | None = None,
    nonfinite: str | None = None,
    align: str | None = None,
    progress: Progress | None = None,
    recorded_dir: bool = True,
) -> MultimodalDataset:
    """Load the data set named in the checkpoint's metadata and check it matches the model's modalities and shapes
    (and, for generated data, the generator version it was trained on).

    Without `data_dir`, the folder the metadata records is read when `recorded_dir` (the command line, whose user
    chose the checkpoint); the app passes False, so a stranger's checkpoint never makes the server open a path the
    user has not confirmed.

    `nonfinite` and `align` (see `load_dataset`) default to what the checkpoint recorded ("data_options"), else
    "refuse" and "none".

    Raises DataError saying what is expected where: which data set, whether it needs a folder, what shapes.
    """
    meta = checkpoint.metadata
    name = meta.get("dataset")
    known = {spec.name: spec for spec in list_datasets()}
    if name not in known:
        raise DataError(
            f"the checkpoint was trained on data set {name!r}, which this program does not know; "
            f"known data sets: {sorted(known)}"
        )
    directory = data_dir or (meta.get("data_dir") if recorded_dir else None)
    if known[name].needs_data_dir and not directory:
        raise DataError(
            f"data set {name!r} reads real files: name the folder that holds them ({known[name].description})"
        )
    options = recorded_data_options(meta)
    options.update({k: v for k, v in (("nonfinite", nonfinite), ("align", align)) if v is not None})
    dataset = load_dataset(
        name, data_dir=directory, seed=int(meta.get("data_seed", 0)), progress=progress, **options
    )
    check_data_version(meta, dataset)
    config = checkpoint.config
    for m in config.modalities:
        if m.name not in dataset.shapes:
            raise DataError(
                f"data set {name!r} has no modality {m.name!r}; it has {list(dataset.modalities)}"
            )
        if tuple(dataset.shapes[m.name]) != tuple(m.shape):
            raise DataError(
                f"data set {name!r} gives {m.name!r} samples of shape {tuple(dataset.shapes[m.name])}, "
                f"the model expects {tuple(m.shape)}"
            )
    return dataset


def recorded_data_options(metadata: dict) -> dict[str, str]:
    """The data-loading options a checkpoint recorded (`python -m mfm train` / `import`), with the defaults."""
    recorded = metadata.get("data_options")
    recorded = recorded if isinstance(recorded, dict) else {}
    return {
        key: recorded[key] if isinstance(recorded.get(key), str) else default
        for key, default in (("nonfinite", "refuse"), ("align", "none"))
    }


def open_checkpoint(
    source: Source,
    *,
    config_json: Source | None = None,
    data_dir: str | None = None,
    nonfinite: str | None = None,
    align: str | None = None,
    progress: Progress | None = None,
) -> Context:
    """Load a checkpoint (weights only, validated) and its data set."""
    checkpoint = load_checkpoint(source, config_json=config_json)
    dataset = dataset_for(checkpoint, data_dir=data_dir, nonfinite=nonfinite, align=align, progress=progress)
    return Context(checkpoint, dataset)
