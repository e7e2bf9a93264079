"""Checkpoints as plain data: save, and load without ever executing anything from the file.

Format (version 1), a `torch.save`d dict of builtins and tensors only:

    {"format": "mfm-checkpoint", "version": 1,
     "config": MFMConfig.to_dict(),          # plain builtins
     "state_dict": {name: tensor, ...},      # floating-point tensors
     "metadata": {...}}                      # builtins: dataset, split sizes, seed, command, metrics, versions, ...

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
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import Tensor

from mfm.config import MAX_PARAMETERS, MFMConfig
from mfm.errors import CheckpointError, ConfigError
from mfm.model import MFM

FORMAT = "mfm-checkpoint"
VERSION = 1
TOP_LEVEL_KEYS = frozenset({"format", "version", "config", "state_dict", "metadata"})
# A checkpoint's expanded archive may not exceed this many bytes: MAX_PARAMETERS float32 plus room for the rest.
MAX_ARCHIVE_BYTES = 4 * MAX_PARAMETERS + 64 * 2**20
MAX_ARCHIVE_ENTRIES = 100_000

Source = str | os.PathLike | bytes | bytearray | BinaryIO


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A validated checkpoint: the model (eval mode, on the requested device), its config and metadata."""

    model: MFM
    config: MFMConfig
    metadata: dict[str, Any]
    sha256: str
    source: str  # a file name, or "<bytes>"


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape a checkpoint's numbers."""
    import numpy

    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "numpy": str(numpy.__version__),
    }


def _to_builtins(value: Any, where: str) -> Any:
    """Check (recursively) that metadata holds only JSON-like builtins, and return a plain copy."""
    if value is None or isinstance(value, bool):
        return value
    for kind in (int, float, str):  # plain types, not subclasses such as torch's TorchVersion
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, (list, tuple)):
        return [_to_builtins(v, where) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise CheckpointError(f"{where} keys must be strings, got {k!r}")
            out[k] = _to_builtins(v, f"{where}.{k}")
        return out
    raise CheckpointError(
        f"{where} must hold only builtins (str, numbers, lists, dicts), got {type(value).__name__}"
    )


def stamped_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """Metadata checked to be builtins, with the creation time and library versions added unless given."""
    meta = _to_builtins(dict(metadata or {}), "metadata")
    meta.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    meta.setdefault("versions", library_versions())
    return meta


def cpu_state_dict(model: torch.nn.Module) -> dict[str, Tensor]:
    """The model's weights as contiguous CPU copies (what a checkpoint stores)."""
    return {k: v.detach().to("cpu").clone().contiguous() for k, v in model.state_dict().items()}


def checkpoint_payload(model: MFM, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The dict that `save_checkpoint` writes (weights cloned to CPU)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "state_dict": cpu_state_dict(model),
        "metadata": stamped_metadata(metadata),
    }


def save_checkpoint(path: str | os.PathLike, model: MFM, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write `model` and `metadata` as a version-1 checkpoint (`.pt`, or `.safetensors` plus a `.json` beside it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = checkpoint_payload(model, metadata)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        state = payload.pop("state_dict")
        save_file(state, str(path))
        path.with_suffix(".json").write_text(json.dumps(payload, indent=2))
    else:
        torch.save(payload, path)
    return path


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------
def _read_source(source: Source) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray)) or hasattr(source, "read"):
        data = source if isinstance(source, (bytes, bytearray)) else source.read(MAX_ARCHIVE_BYTES + 1)
        if not isinstance(data, (bytes, bytearray)):
            raise CheckpointError("the checkpoint stream must be opened in binary mode")
        name = (
            "<bytes>" if isinstance(source, (bytes, bytearray)) else str(getattr(source, "name", "<stream>"))
        )
        if len(data) > MAX_ARCHIVE_BYTES:
            raise CheckpointError(f"{name} is larger than the {MAX_ARCHIVE_BYTES / 2**20:.0f} MiB limit")
        return bytes(data), name
    path = Path(source)
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    if not path.exists():
        raise CheckpointError(f"{path} does not exist")
    size = path.stat().st_size
    if size > MAX_ARCHIVE_BYTES:
        raise CheckpointError(
            f"{path} is {size / 2**20:.0f} MiB, more than the {MAX_ARCHIVE_BYTES / 2**20:.0f} MiB limit"
        )
    return path.read_bytes(), str(path)


def _check_archive(data: bytes, name: str) -> None:
    """Refuse anything that is not a plain torch zip archive of bounded size, before torch reads it."""
    if not data:
        raise CheckpointError(f"{name} is empty")
    if not data.startswith(b"PK"):
        raise CheckpointError(
            f"{name} is not a PyTorch checkpoint (a zip archive written by torch.save); "
            "legacy pickle files and other formats are refused because loading them could run code"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            if len(entries) > MAX_ARCHIVE_ENTRIES:
                raise CheckpointError(
                    f"{name} holds {len(entries)} archive entries; refusing more than {MAX_ARCHIVE_ENTRIES}"
                )
            expanded = 0
            for entry in entries:
                if entry.compress_type != zipfile.ZIP_STORED:
                    raise CheckpointError(
                        f"{name} holds a compressed entry ({entry.filename}); torch.save never compresses, "
                        "so this file was not written by it"
                    )
                # A stored entry's bytes lie inside the file: a header that declares more is a lie, refused
                # before any reader trusts it (so nothing is sized by a declared length).
                if entry.compress_size != entry.file_size or entry.header_offset + entry.file_size > len(
                    data
                ):
                    raise CheckpointError(
                        f"{name} is a damaged archive: entry {entry.filename} declares a wrong size"
                    )
                expanded += entry.file_size
            if expanded > MAX_ARCHIVE_BYTES:
                raise CheckpointError(f"{name} would expand to {expanded / 2**20:.0f} MiB; refusing")
            # torch.save records each entry's CRC-32; torch.load does not check it, so flipped bytes inside a
            # weight would load silently. Check every entry here (sizes are bounded by the file's own length).
            damaged = archive.testzip()
            if damaged is not None:
                raise CheckpointError(f"{name} is a damaged archive: entry {damaged} fails its checksum")
    except (CheckpointError, MemoryError, RecursionError):
        raise
    except Exception as exc:
        # Damaged headers make zipfile raise BadZipFile, but also UnicodeDecodeError (a name flagged UTF-8),
        # NotImplementedError or RuntimeError (flags for patched or encrypted data), ... all are damage.
        raise CheckpointError(
            f"{name} is a damaged or truncated archive ({type(exc).__name__}: {exc})"
        ) from None


def _torch_load(data: bytes, name: str) -> Any:
    _check_archive(data, name)
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ... for hostile or broken files
        raise CheckpointError(
            f"{name} could not be read as weights-only data ({_torch_reason(exc)}). "
            "Only tensors and plain Python values are accepted; nothing in the file is executed."
        ) from None


def _torch_reason(exc: Exception) -> str:
    """The informative line of torch's load error (e.g. 'Unsupported global: GLOBAL os.system'), not its advice."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "WeightsUnpickler error" in line or "GLOBAL" in line:
            return (
                line.split("WeightsUnpickler error:")[-1].split(" was not an allowed global")[0].strip()[:300]
            )
    return (lines[-1] if lines else type(exc).__name__)[:300]


def _validate_payload(
    payload: Any, name: str, with_state_dict: bool = True
) -> tuple[MFMConfig, dict[str, Any]]:
    if not isinstance(payload, dict):
        raise CheckpointError(f"{name} holds a {type(payload).__name__}, not a checkpoint dict")
    if payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{name} is not an MFM checkpoint: 'format' is {payload.get('format')!r}, expected {FORMAT!r}"
        )
    version = payload.get("version")
    if version != VERSION:
        raise CheckpointError(f"{name} has format version {version!r}; this program reads version {VERSION}")
    expected = TOP_LEVEL_KEYS if with_state_dict else TOP_LEVEL_KEYS - {"state_dict"}
    missing, unknown = sorted(expected - set(payload)), sorted(set(payload) - expected)
    if missing or unknown:
        raise CheckpointError(f"{name}: missing keys {missing}, unexpected keys {unknown}")
    try:
        config = MFMConfig.from_dict(payload["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{name} has an invalid config: {exc}") from None
    metadata = payload["metadata"]
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{name}: metadata must be a dict, got {type(metadata).__name__}")
    return config, _to_builtins(metadata, "metadata")


def expected_shapes(config: MFMConfig) -> dict[str, tuple[int, ...]]:
    """Every state_dict entry's shape for `config`, from a model built on the meta device (allocates nothing)."""
    with torch.device("meta"):
        model = MFM(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _validate_state_dict(state: Any, config: MFMConfig, name: str) -> dict[str, Tensor]:
    shapes = expected_shapes(config)
    total = sum(int(torch.Size(s).numel()) for s in shapes.values())
    if total > MAX_PARAMETERS:
        raise CheckpointError(
            f"{name}: the config describes {total:,} values, more than the {MAX_PARAMETERS:,} limit"
        )
    return validate_state_dict(state, shapes, name)


def validate_state_dict(state: Any, shapes: Mapping[str, tuple[int, ...]], name: str) -> dict[str, Tensor]:
    """Check weights against the expected name -> shape map: same keys and shapes, float dtypes, finite values."""
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise CheckpointError(f"{name}: state_dict must be a dict of name -> tensor")
    missing, unexpected = sorted(set(shapes) - set(state)), sorted(set(state) - set(shapes))
    if missing or unexpected:
        raise CheckpointError(
            f"{name}: the weights do not match the model; missing {_listing(missing)}, unexpected {_listing(unexpected)}"
        )
    for key, shape in shapes.items():
        tensor = state[key]
        if not isinstance(tensor, Tensor):
            raise CheckpointError(f"{name}: {key} is a {type(tensor).__name__}, not a tensor")
        if tuple(tensor.shape) != shape:
            raise CheckpointError(f"{name}: {key} has shape {tuple(tensor.shape)}, the model needs {shape}")
        if key.endswith("num_batches_tracked"):
            if tensor.dtype != torch.long:
                raise CheckpointError(f"{name}: {key} must be an int64 tensor, got {tensor.dtype}")
            continue
        if not tensor.dtype.is_floating_point:
            raise CheckpointError(f"{name}: {key} has dtype {tensor.dtype}; weights must be floating point")
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"{name}: {key} holds NaN or infinite values")
        if key.startswith("standardizers.") and key.endswith(".std") and not (tensor > 1e-6).all():
            raise CheckpointError(
                f"{name}: {key} must be positive (a standard deviation), got {tensor.min():g}"
            )
    return state


def _listing(keys: list[str], limit: int = 5) -> str:
    if not keys:
        return "none"
    shown = ", ".join(keys[:limit])
    return f"{shown} (+{len(keys) - limit} more)" if len(keys) > limit else shown


def _build_model(config: MFMConfig, state: Mapping[str, Tensor], device: str | torch.device) -> MFM:
    model = MFM(config)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()


def load_checkpoint(
    source: Source, *, device: str | torch.device = "cpu", config_json: Source | None = None
) -> LoadedCheckpoint:
    """Load and validate a checkpoint from a path, bytes or a binary stream.

    `.safetensors` weights need their JSON config: beside the file (same name, `.json`) or given as `config_json`
    (a path, bytes or stream, e.g. a second upload). Raises `CheckpointError` with a message for a person.
    """
    data, name = _read_source(source)
    is_safetensors = name.endswith(".safetensors") or config_json is not None
    if is_safetensors:
        if config_json is None:
            beside = Path(name).with_suffix(".json")
            if not beside.exists():
                raise CheckpointError(f"{name} holds safetensors weights; its config {beside} is missing")
            config_json = beside
        return _load_safetensors(data, name, config_json, device)
    payload = _torch_load(data, name)
    config, metadata = _validate_payload(payload, name)
    state = _validate_state_dict(payload["state_dict"], config, name)
    return LoadedCheckpoint(
        model=_build_model(config, state, device),
        config=config,
        metadata=metadata,
        sha256=hashlib.sha256(data).hexdigest(),
        source=name,
    )


def _load_safetensors(
    data: bytes, name: str, config_json: Source, device: str | torch.device
) -> LoadedCheckpoint:
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors_bytes

    text, json_name = _read_source(config_json)
    try:
        payload = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{json_name} is not valid JSON: {exc}") from None
    config, metadata = _validate_payload(payload, json_name, with_state_dict=False)
    # safetensors' header states every tensor's dtype and shape; check them against the config before reading data.
    header = _safetensors_header(data, name)
    shapes = expected_shapes(config)
    declared = {k: tuple(v.get("shape", ())) for k, v in header.items() if k != "__metadata__"}
    missing, unexpected = sorted(set(shapes) - set(declared)), sorted(set(declared) - set(shapes))
    if missing or unexpected:
        raise CheckpointError(
            f"{name} does not match its config {json_name}; missing {_listing(missing)}, unexpected {_listing(unexpected)}"
        )
    try:
        state = load_safetensors_bytes(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{name} is not a valid safetensors file: {exc}") from None
    state = _validate_state_dict(state, config, name)
    return LoadedCheckpoint(
        model=_build_model(config, state, device),
        config=config,
        metadata=metadata,
        sha256=hashlib.sha256(data).hexdigest(),
        source=name,
    )


def _safetensors_header(data: bytes, name: str) -> dict[str, Any]:
    if len(data) < 8:
        raise CheckpointError(f"{name} is too short to be a safetensors file")
    length = int.from_bytes(data[:8], "little")
    if length > min(len(data) - 8, 100 * 2**20):
        raise CheckpointError(f"{name} is not a valid safetensors file (header length {length})")
    try:
        header = json.loads(data[8 : 8 + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{name} is not a valid safetensors file (unreadable header)") from None
    if not isinstance(header, dict) or not all(
        isinstance(v, dict) for k, v in header.items() if k != "__metadata__"
    ):
        raise CheckpointError(f"{name} is not a valid safetensors file (malformed header)")
    return header


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, the identity under which the app caches results."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
