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
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import Tensor

from mfm.config import MAX_PARAMETERS, MFMConfig, ObjectiveConfig, split_v1_config
from mfm.errors import CheckpointError, ConfigError
from mfm.files import atomic_writer
from mfm.model import MFM
from mfm.safe_parse import MAX_JSON_BYTES, ParseLimitError, load_json, scan_pickle, walk

FORMAT = "mfm-checkpoint"
VERSION = 2
READABLE_VERSIONS = (1, 2)
TOP_LEVEL_KEYS = frozenset({"format", "version", "config", "state_dict", "metadata"})
# A checkpoint's expanded archive may not exceed this many bytes: MAX_PARAMETERS float32 plus room for the rest.
MAX_ARCHIVE_BYTES = 4 * MAX_PARAMETERS + 64 * 2**20
MAX_ARCHIVE_ENTRIES = 100_000
MAX_METADATA_NODES = 100_000  # values in a checkpoint's metadata or config (the demos' hold about 2,000)

Source = str | os.PathLike | bytes | bytearray | BinaryIO


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


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------
def read_source(source: Source) -> tuple[bytes, str]:
    """(bytes, name) of a path, bytes or binary stream, refusing anything over the size limit."""
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
            # The pickle that torch will unpickle: its opcode stream is scanned first (mfm.safe_parse).
            pickles = [e for e in entries if e.filename.endswith("/data.pkl")]
            if len(pickles) != 1:
                raise CheckpointError(
                    f"{name} is not a torch archive: it holds {len(pickles)} data.pkl entries"
                )
            try:
                scan_pickle(archive.read(pickles[0]), name)
            except ParseLimitError as error:
                raise CheckpointError(str(error)) from None
    except (CheckpointError, MemoryError, RecursionError):
        raise
    except Exception as exc:
        # Damaged headers make zipfile raise BadZipFile, but also UnicodeDecodeError (a name flagged UTF-8),
        # NotImplementedError or RuntimeError (flags for patched or encrypted data), ... all are damage.
        raise CheckpointError(
            f"{name} is a damaged or truncated archive ({type(exc).__name__}: {exc})"
        ) from None


# torch.save's legacy (non-zip) format, what PyTorch before 1.6 wrote (the authors' code ran on 0.4), begins with
# the pickled magic number 0x1950a86a20f9469cfc6c under pickle protocol 2.
LEGACY_MAGIC = bytes.fromhex("80028a0a6cfc9c46f9206aa85019")


def _torch_load(data: bytes, name: str) -> Any:
    if data.startswith(LEGACY_MAGIC):
        # torch.save's pre-1.6 format, what the authors' code wrote: never an MFM checkpoint. Read weights-only
        # (nothing is executed) to say what it is.
        from mfm.importers import import_advice

        _scan_legacy(data, name)
        advice = import_advice(_weights_only_load(data, name), name)
        raise CheckpointError(
            advice
            or f"{name} is not a PyTorch checkpoint of this program: it is in torch's legacy (pre-1.6) format, "
            "which MFM checkpoints never use"
        )
    _check_archive(data, name)
    return _weights_only_load(data, name)


def read_weights(data: bytes, name: str) -> Any:
    """A weights-only read of a torch file in the zip format (checked as `load_checkpoint` checks it) or the
    legacy format, for the state_dicts other programs save. Nothing in the file is executed."""
    if data.startswith(LEGACY_MAGIC):
        if len(data) > MAX_ARCHIVE_BYTES:
            raise CheckpointError(f"{name} is larger than the {MAX_ARCHIVE_BYTES / 2**20:.0f} MiB limit")
        _scan_legacy(data, name)
        return _weights_only_load(data, name)
    return _torch_load(data, name)


def _scan_legacy(data: bytes, name: str) -> None:
    """Scan the five pickles a legacy torch file begins with (magic number, protocol, system info, the object,
    the storage keys); the raw storage bytes that follow are not pickles."""
    try:
        scan_pickle(data, name, pickles=5)
    except ParseLimitError as error:
        raise CheckpointError(str(error)) from None


# Types people put in metadata that weights-only loading refuses, and the plain value to write instead.
PLAIN_VALUE_ADVICE = {
    "numpy._core.multiarray.scalar": "a numpy number: write float(x) or int(x)",
    "numpy.core.multiarray.scalar": "a numpy number: write float(x) or int(x)",
    "numpy._core.multiarray._reconstruct": "a numpy array: write x.tolist() (or store a tensor)",
    "numpy.core.multiarray._reconstruct": "a numpy array: write x.tolist() (or store a tensor)",
    "numpy.dtype": "a numpy dtype: write str(x)",
    "pathlib.PosixPath": "a path: write str(path)",
    "pathlib.WindowsPath": "a path: write str(path)",
    "pathlib.Path": "a path: write str(path)",
    "datetime.datetime": "a datetime: write x.isoformat()",
    "datetime.date": "a date: write x.isoformat()",
    "decimal.Decimal": "a Decimal: write float(x) or str(x)",
}


def _weights_only_load(data: bytes, name: str) -> Any:
    from torch.torch_version import TorchVersion

    # torch.__version__ is a TorchVersion, a str subclass people naturally write into metadata: admit it
    # (rebuilding a string runs no code; _to_builtins then makes it a plain str). Added to torch's allowlist
    # rather than through its safe_globals context, whose exit would race with loads in other app threads.
    torch.serialization.add_safe_globals([TorchVersion])
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ... for hostile or broken files
        reason = _torch_reason(exc)
        found = re.search(r"GLOBAL ([A-Za-z_][\w.]*)", reason)
        advice = PLAIN_VALUE_ADVICE.get(found.group(1)) if found else None
        if advice:
            raise CheckpointError(
                f"{name} holds a {found.group(1)} ({advice}): checkpoints hold only tensors and plain Python "
                "values (str, int, float, bool, None, lists, dicts), so that loading runs no code"
            ) from None
        module = _pickled_class(reason)
        if module is not None:
            raise CheckpointError(pickled_module_advice(name, module)) from None
        raise CheckpointError(
            f"{name} could not be read as weights-only data ({reason}). "
            "Only tensors and plain Python values (str, int, float, bool, None, lists, dicts) are accepted; "
            "nothing in the file is executed."
        ) from None


def _pickled_class(reason: str) -> str | None:
    """The class a weights-only load refused, when it looks like a pickled model (not torch's own or a builtin)."""
    found = re.search(r"GLOBAL ([A-Za-z_][\w.]*)\.(\w+)", reason)
    if found is None:
        return None
    module, cls = found.groups()
    if module.split(".")[0] in {"torch", "builtins", "collections", "numpy", "os", "posix", "nt", "subprocess",
                                "sys", "eval", "exec", "shutil", "socket", "pty", "runpy", "importlib", "pathlib",
                                "datetime", "decimal", "fractions", "uuid", "enum", "re", "functools", "typing",
                                "copyreg", "operator", "codecs", "io", "pickle", "types"}:  # fmt: skip
        return None
    if not (cls[:1].isupper() or module in ("__main__", "mfm_model")):
        return None  # a function, not a model class
    return f"{module}.{cls}"


def pickled_module_advice(name: str, qualified: str) -> str:
    """What to tell a person whose file is a whole pickled model (`torch.save(model)`), not its weights."""
    module = qualified.rsplit(".", 1)[0]
    short = Path(name).name
    out = Path(short).stem + "_state_dict.pt"
    if module.startswith("MMSA"):
        where = "in the Python environment where MMSA is installed"
        load = f"torch.load('{short}', weights_only=False)"
        prelude = "import torch"
    else:
        where = "in the folder of the code that trained it (for the authors' code: the one with mfm_model.py)"
        load = (
            f"torch.load('{short}')"
            if module in ("__main__", "mfm_model")
            else f"torch.load('{short}', weights_only=False)"
        )
        prelude = (
            "from mfm_model import *; import torch"
            if module in ("__main__", "mfm_model")
            else f"import torch, {module}"
        )
    return (
        f"{name} is a whole pickled model ({qualified}), not a state_dict: loading it would run that code, so "
        f"it is refused. Re-save its weights {where}, then import the new file:\n"
        f"  python -c \"{prelude}; torch.save({load}.state_dict(), '{out}')\""
    )


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
        raise CheckpointError(
            f"{name}: missing keys {_listing(missing)}, unexpected keys {_listing(unknown)}"
        )
    metadata = payload["metadata"]
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{name}: metadata must be a dict, got {type(metadata).__name__}")
    try:  # bounded before the recursive copy below: shared references cannot make it expand without end
        walk(metadata, f"{name}: metadata", max_nodes=MAX_METADATA_NODES)
        walk(payload["config"], f"{name}: config", max_nodes=MAX_METADATA_NODES)
    except ParseLimitError as error:
        raise CheckpointError(str(error)) from None
    metadata = _to_builtins(metadata, "metadata")
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

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


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
        _check_dense(tensor, key, name)
        if key.endswith("num_batches_tracked"):
            if tensor.dtype != torch.long:
                raise CheckpointError(f"{name}: {key} must be an int64 tensor, got {tensor.dtype}")
            continue
        if tensor.dtype not in FLOAT_DTYPES:
            raise CheckpointError(
                f"{name}: {key} has dtype {tensor.dtype}; weights must be floating point (float16, bfloat16, float32 or float64)"
            )
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"{name}: {key} holds NaN or infinite values")
        if key.startswith("standardizers.") and key.endswith(".std") and not (tensor > 1e-6).all():
            raise CheckpointError(
                f"{name}: {key} must be positive (a standard deviation), got {tensor.min():g}"
            )
    return state


def _check_dense(tensor: Tensor, key: str, name: str) -> None:
    """A weight must be what it claims: a dense CPU tensor whose own storage holds exactly its values.

    Checked before any value is read: a zero-stride or overlapping view can declare a huge shape over a few bytes
    (and would be expanded to its full size when copied into the model), a view into a larger storage carries
    bytes nobody asked for, and meta, sparse or quantised tensors are not weights.
    """
    if tensor.layout != torch.strided or tensor.is_quantized or tensor.device.type != "cpu":
        raise CheckpointError(f"{name}: {key} is not a dense CPU tensor ({tensor.layout}, {tensor.device})")
    if not tensor.is_contiguous() or tensor.storage_offset() != 0:
        raise CheckpointError(
            f"{name}: {key} is a strided view (strides {tensor.stride()}), not a contiguous tensor of its own; "
            "save contiguous copies: {k: v.contiguous().clone() for k, v in state_dict.items()}"
        )
    if tensor.untyped_storage().nbytes() != tensor.numel() * tensor.element_size():
        raise CheckpointError(
            f"{name}: {key} shares or overruns its storage ({tensor.untyped_storage().nbytes()} bytes for "
            f"{tensor.numel()} values); save contiguous copies of each weight"
        )


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
        return _load_safetensors(data, name, config_json, device, max_parameters)
    payload = _torch_load(data, name)
    config, metadata, version = _validate_payload(payload, name)
    state = _validate_state_dict(payload["state_dict"], config, name, max_parameters)
    return LoadedCheckpoint(
        model=_build_model(config, state, device),
        config=config,
        metadata=metadata,
        sha256=hashlib.sha256(data).hexdigest(),
        source=name,
        version=version,
    )


def _load_safetensors(
    data: bytes, name: str, config_json: Source, device: str | torch.device, cap: int | None
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
            f"{name} does not match its config {json_name}; missing {_listing(missing)}, unexpected {_listing(unexpected)}"
        )
    try:
        state = load_safetensors_bytes(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{name} is not a valid safetensors file: {exc}") from None
    state = validate_state_dict(state, shapes, name)
    return LoadedCheckpoint(
        model=_build_model(config, state, device),
        config=config,
        metadata=metadata,
        sha256=hashlib.sha256(data).hexdigest(),
        source=name,
        version=version,
    )


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
