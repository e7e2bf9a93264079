"""Checkpoints as plain data: save, and load without ever executing anything from the file.

Format (version 2), a `torch.save`d dict of builtins and tensors only:

    {"format": "mfm-checkpoint", "version": 2,
     "config": MFMConfig.to_dict(),          # plain builtins: the architecture
     "state_dict": {name: tensor, ...},      # floating-point tensors
     "metadata": {...}}                      # builtins: "objective" (ObjectiveConfig.to_dict()), dataset, split
                                             # sizes, seed, command, metrics, versions, provenance of imports, ...

Version 1 (the first demos) kept the objective's weights inside "config"; it still loads, read as version 2 by
`mfm.config.split_v1_config` (same model, same weights, the weights of its objective moved to the metadata).

or safetensors weights (`model.safetensors`) with a JSON file beside it (`model.json`) holding the same dict minus
"state_dict".

Loading checks, in order and before the model is allocated: the file is a plain (uncompressed) torch zip archive of
bounded expanded size; `torch.load(weights_only=True)` (never an unsafe fallback) gives a dict with exactly the keys
above; the format tag and version; the config (types and upper bounds on every size); the state_dict's keys and
shapes against a model built on the "meta" device (no memory); the total parameter count; dtypes; finiteness.
Only then is the real model built, loaded strictly and put in eval mode. Every failure raises `CheckpointError`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mfm.config import MAX_PARAMETERS, MFMConfig, ObjectiveConfig, split_v1_config
from mfm.errors import CheckpointError, ConfigError
from mfm.files import atomic_writer
from mfm.model import MFM
from mfm.safe_load import (
    Source,
    listing,
    read_source,
    source_sha256,
    to_builtins,
    torch_load,
    validate_state_dict,
)
from mfm.safe_parse import MAX_JSON_BYTES, ParseLimitError, load_json, walk

FORMAT = "mfm-checkpoint"
VERSION = 2
READABLE_VERSIONS = (1, 2)
TOP_LEVEL_KEYS = frozenset({"format", "version", "config", "state_dict", "metadata"})
MAX_METADATA_NODES = 100_000  # values in a checkpoint's metadata or config (the demos' hold about 2,000)


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A validated checkpoint: the model (eval mode, on the requested device), its config and metadata.

    `version` is the file's format version (1 or 2); `objective` the training objective its metadata records
    (None when it records none, e.g. an import whose producer's weights were not given).
    """

    model: MFM
    config: MFMConfig
    metadata: dict[str, Any]
    sha256: str
    source: str  # a file name, or "<bytes>"
    version: int = VERSION

    @property
    def objective(self) -> ObjectiveConfig | None:
        """The objective the model was trained with, from metadata["objective"] (validated at load)."""
        data = self.metadata.get("objective")
        return None if data is None else ObjectiveConfig.from_dict(data)


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape a checkpoint's numbers."""
    import numpy

    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "numpy": str(numpy.__version__),
    }


def stamped_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """Metadata checked to be builtins, with the creation time and library versions added unless given."""
    meta = to_builtins(dict(metadata or {}), "metadata")
    meta.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    meta.setdefault("versions", library_versions())
    return meta


def cpu_state_dict(model: torch.nn.Module) -> dict[str, Tensor]:
    """The model's weights as contiguous CPU copies (what a checkpoint stores)."""
    return {k: v.detach().to("cpu").clone().contiguous() for k, v in model.state_dict().items()}


def checkpoint_payload(
    model: MFM, metadata: Mapping[str, Any] | None = None, objective: ObjectiveConfig | None = None
) -> dict[str, Any]:
    """The dict that `save_checkpoint` writes (weights cloned to CPU); `objective` goes to metadata["objective"]."""
    metadata = dict(metadata or {})
    if objective is not None:
        objective.check_model(model.config)
        metadata["objective"] = objective.to_dict()
    return {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "state_dict": cpu_state_dict(model),
        "metadata": stamped_metadata(metadata),
    }


def save_checkpoint(
    path: str | os.PathLike,
    model: MFM,
    metadata: Mapping[str, Any] | None = None,
    objective: ObjectiveConfig | None = None,
) -> Path:
    """Write `model`, `metadata` and the training `objective` as a version-2 checkpoint (`.pt`, or `.safetensors`
    plus a `.json` beside it)."""
    path = Path(path)
    payload = checkpoint_payload(model, metadata, objective)
    if path.suffix == ".safetensors":
        from safetensors.torch import save

        # Both files are written in full to temporary names first; the two renames follow each other, so an
        # interruption leaves the previous pair (or, between the renames, a pair the loader refuses as mismatched).
        weights = save(payload.pop("state_dict"))
        with atomic_writer(path.with_suffix(".json")) as config, atomic_writer(path) as file:
            file.write(weights)
            config.write(json.dumps(payload, indent=2).encode("utf-8"))
    else:
        with atomic_writer(path) as file:
            torch.save(payload, file)
    return path


def checkpoint_bytes(
    model: MFM, metadata: Mapping[str, Any] | None = None, objective: ObjectiveConfig | None = None
) -> bytes:
    """The bytes `save_checkpoint` writes to a `.pt` file, built in memory (what the app offers as a download)."""
    buffer = io.BytesIO()
    torch.save(checkpoint_payload(model, metadata, objective), buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------
def _validate_payload(
    payload: Any, name: str, with_state_dict: bool = True
) -> tuple[MFMConfig, dict[str, Any], int]:
    """(config, metadata, format version) of a checkpoint dict; version 1 is read as version 2."""
    if not isinstance(payload, dict):
        raise CheckpointError(f"{name} holds a {type(payload).__name__}, not a checkpoint dict")
    if payload.get("format") != FORMAT:
        from mfm.importers import import_advice

        advice = import_advice(payload, name)
        if advice:
            raise CheckpointError(advice)
        raise CheckpointError(
            f"{name} is not an MFM checkpoint: 'format' is {payload.get('format')!r}, expected {FORMAT!r}"
        )
    version = payload.get("version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{name} has format version {version!r}; this program reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    expected = TOP_LEVEL_KEYS if with_state_dict else TOP_LEVEL_KEYS - {"state_dict"}
    missing, unknown = sorted(expected - set(payload)), sorted(map(repr, set(payload) - expected))
    if missing or unknown:
        raise CheckpointError(f"{name}: missing keys {listing(missing)}, unexpected keys {listing(unknown)}")
    metadata = payload["metadata"]
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{name}: metadata must be a dict, got {type(metadata).__name__}")
    try:  # bounded before the recursive copy below: shared references cannot make it expand without end
        walk(metadata, f"{name}: metadata", max_nodes=MAX_METADATA_NODES)
        walk(payload["config"], f"{name}: config", max_nodes=MAX_METADATA_NODES)
    except ParseLimitError as error:
        raise CheckpointError(str(error)) from None
    metadata = to_builtins(metadata, "metadata")
    _check_known_metadata(metadata, name)
    config_data = payload["config"]
    if version == 1:
        config_data, objective = split_v1_config(config_data)
        metadata.setdefault("objective", objective)
    try:
        config = MFMConfig.from_dict(config_data)
    except ConfigError as exc:
        raise CheckpointError(f"{name} has an invalid config: {exc}") from None
    if metadata.get("objective") is not None:
        try:
            ObjectiveConfig.from_dict(metadata["objective"]).check_model(config)
        except ConfigError as exc:
            raise CheckpointError(f"{name} has an invalid objective in its metadata: {exc}") from None
    return config, metadata, version


# The metadata fields this program reads, and the types they must have (absent is always allowed).
KNOWN_METADATA = {
    "dataset": (str, type(None)),
    "data_dir": (str, type(None)),
    "data_seed": (int,),
    "limit": (int, type(None)),
    "metrics": (dict,),
    "data_options": (dict,),
    "split_sizes": (dict,),
    "imported_from": (dict,),
    "objective": (dict, type(None)),
    "command": (str,),
    "history": (list,),
}


def _check_known_metadata(metadata: dict[str, Any], name: str) -> None:
    """Refuse metadata whose fields this program reads have the wrong type (a list where a name belongs, a seed
    that is not a whole number), so that nothing downstream fails on them later with a traceback."""
    for key, kinds in KNOWN_METADATA.items():
        if key in metadata and (isinstance(metadata[key], bool) or not isinstance(metadata[key], kinds)):
            expected = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise CheckpointError(
                f"{name}: metadata {key!r} must be {expected}, got {type(metadata[key]).__name__}"
            )
    if metadata.get("data_seed", 0) < 0:
        raise CheckpointError(f"{name}: metadata 'data_seed' must not be negative")
    version = metadata.get("data_generator_version")
    if version is not None and (isinstance(version, bool) or not str(version).isdigit()):
        raise CheckpointError(
            f"{name}: metadata 'data_generator_version' must be a whole number, got {version!r}"
        )
    options = metadata.get("data_options", {})
    if not all(isinstance(v, str) for v in options.values()):
        raise CheckpointError(f"{name}: metadata 'data_options' must map names to strings")


def expected_shapes(config: MFMConfig) -> dict[str, tuple[int, ...]]:
    """Every state_dict entry's shape for `config`, from a model built on the meta device (allocates nothing)."""
    with torch.device("meta"):
        model = MFM(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


DEFAULT_MAX_PARAMETERS = 20_000_000
"""Largest model a checkpoint may describe by default (values in its state_dict): MFMs are far smaller (the demos
0.7-2.1 million, MMSA's MOSEI setting 5.8 million). `MFM_MAX_PARAMETERS` (environment) or `max_parameters=`
changes it, up to `mfm.config.MAX_PARAMETERS`."""


def max_parameters(value: int | None = None) -> int:
    """The parameter cap in force: `value`, else $MFM_MAX_PARAMETERS, else DEFAULT_MAX_PARAMETERS."""
    if value is None:
        text = os.environ.get("MFM_MAX_PARAMETERS", "").strip()
        if not text:
            return DEFAULT_MAX_PARAMETERS
        if not text.isdigit():
            raise CheckpointError(f"MFM_MAX_PARAMETERS must be a whole number, got {text!r}")
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PARAMETERS:
        raise CheckpointError(f"the parameter cap must be between 1 and {MAX_PARAMETERS:,}, got {value!r}")
    return value


def check_parameter_count(config: MFMConfig, name: str, cap: int | None = None) -> dict[str, tuple[int, ...]]:
    """The expected shapes of `config`'s weights, refused (before anything is allocated) above the cap."""
    shapes = expected_shapes(config)
    total = sum(int(torch.Size(s).numel()) for s in shapes.values())
    limit = max_parameters(cap)
    if total > limit:
        raise CheckpointError(
            f"{name}: the config describes {total:,} values, more than the {limit:,} limit "
            "(set MFM_MAX_PARAMETERS to allow larger models)"
        )
    return shapes


def _validate_state_dict(
    state: Any, config: MFMConfig, name: str, cap: int | None = None
) -> dict[str, Tensor]:
    return validate_state_dict(state, check_parameter_count(config, name, cap), name)


def _loaded(
    config: MFMConfig,
    state: Mapping[str, Tensor],
    metadata: dict[str, Any],
    sha256: str,
    name: str,
    version: int,
    device: str | torch.device,
) -> LoadedCheckpoint:
    """The one ending of every format: the model built from validated weights, strictly, in eval mode."""
    model = MFM(config)
    model.load_state_dict(state, strict=True)
    return LoadedCheckpoint(
        model=model.to(device).eval(),
        config=config,
        metadata=metadata,
        sha256=sha256,
        source=name,
        version=version,
    )


def load_checkpoint(
    source: Source,
    *,
    device: str | torch.device = "cpu",
    config_json: Source | None = None,
    max_parameters: int | None = None,
) -> LoadedCheckpoint:
    """Load and validate a checkpoint from a path, bytes or a binary stream.

    `.safetensors` weights need their JSON config: beside the file (same name, `.json`) or given as `config_json`
    (a path, bytes or stream, e.g. a second upload). `max_parameters` caps the model's size (default
    $MFM_MAX_PARAMETERS or 20 million). Raises `CheckpointError` with a message for a person.
    """
    data, name = read_source(source)
    is_safetensors = name.endswith(".safetensors") or config_json is not None
    if is_safetensors:
        if config_json is None:
            beside = Path(name).with_suffix(".json")
            if not beside.exists():
                raise CheckpointError(f"{name} holds safetensors weights; its config {beside} is missing")
            config_json = beside
        return _load_safetensors(data, name, source_sha256(source, data), config_json, device, max_parameters)
    payload = torch_load(data, name)
    config, metadata, version = _validate_payload(payload, name)
    state = _validate_state_dict(payload["state_dict"], config, name, max_parameters)
    return _loaded(config, state, metadata, source_sha256(source, data), name, version, device)


def _load_safetensors(
    data: bytes, name: str, sha256: str, config_json: Source, device: str | torch.device, cap: int | None
) -> LoadedCheckpoint:
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors_bytes

    text, json_name = read_source(config_json)
    try:
        payload = load_json(text, json_name)
    except ParseLimitError as exc:
        raise CheckpointError(str(exc)) from None
    config, metadata, version = _validate_payload(payload, json_name, with_state_dict=False)
    # safetensors' header states every tensor's dtype and shape; check them against the config before reading data.
    header = _safetensors_header(data, name)
    shapes = check_parameter_count(config, name, cap)
    declared = {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        shape = entry.get("shape", ())
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in shape
        ):
            raise CheckpointError(
                f"{name} is not a valid safetensors file (tensor {key[:80]!r} has no shape list)"
            )
        declared[key] = tuple(shape)
    missing, unexpected = sorted(set(shapes) - set(declared)), sorted(set(declared) - set(shapes))
    if missing or unexpected:
        raise CheckpointError(
            f"{name} does not match its config {json_name}; missing {listing(missing)}, unexpected {listing(unexpected)}"
        )
    try:
        state = load_safetensors_bytes(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{name} is not a valid safetensors file: {exc}") from None
    state = validate_state_dict(state, shapes, name)
    return _loaded(config, state, metadata, sha256, name, version, device)


def _safetensors_header(data: bytes, name: str) -> dict[str, Any]:
    if len(data) < 8:
        raise CheckpointError(f"{name} is too short to be a safetensors file")
    length = int.from_bytes(data[:8], "little")
    if length > min(len(data) - 8, MAX_JSON_BYTES):
        raise CheckpointError(f"{name} is not a valid safetensors file (header length {length})")
    try:
        header = load_json(data[8 : 8 + length], f"{name} (safetensors header)")
    except ParseLimitError as exc:
        raise CheckpointError(f"{name} is not a valid safetensors file: {exc}") from None
    if not isinstance(header, dict) or not all(
        isinstance(v, dict) for k, v in header.items() if k != "__metadata__"
    ):
        raise CheckpointError(f"{name} is not a valid safetensors file (malformed header)")
    return header


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, the identity under which the app caches results."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
