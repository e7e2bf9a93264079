"""Safe loading of torch files, shared by every file format of the project (MFM checkpoints, the digit
classifiers) and the importers of other programs' weights. A file is data: nothing in it is ever executed.

- :func:`read_source` reads a path, bytes or binary stream, refusing anything over the size limit;
- :func:`torch_load` checks that the bytes are a plain (uncompressed) torch zip archive of bounded expanded size
  with intact checksums, scans its pickle's opcodes (:mod:`mfm.safe_parse`), then unpickles with
  ``torch.load(weights_only=True)``, never an unsafe fallback; :func:`read_weights` also reads torch's legacy
  (pre-1.6) format, what the authors' code wrote, through the same weights-only unpickler;
- :func:`to_builtins` checks that a file's metadata holds only JSON-like builtins and copies it;
- :func:`validate_state_dict` checks weights against the expected name -> shape map (dense CPU tensors of their own
  storage, float dtypes, finite values) before any model is built from them.

Every failure raises :class:`mfm.errors.CheckpointError` with a message for a person.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import Tensor

from mfm.config import MAX_PARAMETERS
from mfm.errors import CheckpointError
from mfm.safe_parse import ParseLimitError, scan_pickle

# A file's expanded archive may not exceed this many bytes: MAX_PARAMETERS float32 plus room for the rest.
MAX_ARCHIVE_BYTES = 4 * MAX_PARAMETERS + 64 * 2**20
MAX_ARCHIVE_ENTRIES = 100_000


@dataclass(frozen=True)
class NamedBytes:
    """A file's bytes already in memory (an upload), with its name for messages and, when the caller has computed
    it, its SHA-256 (so the bytes are hashed once)."""

    data: bytes
    name: str
    sha256: str | None = None


Source = str | os.PathLike | bytes | bytearray | BinaryIO | NamedBytes
"""What every loader reads: a path, bytes with or without their name, or a binary stream."""


def source_sha256(source: Source, data: bytes) -> str:
    """The hex SHA-256 of `data`, as read from `source`: the one a `NamedBytes` carries, else computed."""
    if isinstance(source, NamedBytes) and source.sha256 is not None:
        return source.sha256
    return hashlib.sha256(data).hexdigest()


def to_builtins(value: Any, where: str) -> Any:
    """Check (recursively) that metadata holds only JSON-like builtins, and return a plain copy."""
    if value is None or isinstance(value, bool):
        return value
    for kind in (int, float, str):  # plain types, not subclasses such as torch's TorchVersion
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, (list, tuple)):
        return [to_builtins(v, where) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise CheckpointError(f"{where} keys must be strings, got {k!r}")
            out[k] = to_builtins(v, f"{where}.{k}")
        return out
    raise CheckpointError(
        f"{where} must hold only builtins (str, numbers, lists, dicts), got {type(value).__name__}"
    )


def read_source(source: Source) -> tuple[bytes, str]:
    """(bytes, name) of a path, bytes or binary stream, refusing anything over the size limit."""
    if isinstance(source, NamedBytes):
        if len(source.data) > MAX_ARCHIVE_BYTES:
            raise CheckpointError(
                f"{source.name} is larger than the {MAX_ARCHIVE_BYTES / 2**20:.0f} MiB limit"
            )
        return bytes(source.data), source.name
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


def check_archive(data: bytes, name: str) -> None:
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


def torch_load(data: bytes, name: str) -> Any:
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
    check_archive(data, name)
    return _weights_only_load(data, name)


def read_weights(data: bytes, name: str) -> Any:
    """A weights-only read of a torch file in the zip format (checked as `load_checkpoint` checks it) or the
    legacy format, for the state_dicts other programs save. Nothing in the file is executed."""
    if data.startswith(LEGACY_MAGIC):
        if len(data) > MAX_ARCHIVE_BYTES:
            raise CheckpointError(f"{name} is larger than the {MAX_ARCHIVE_BYTES / 2**20:.0f} MiB limit")
        _scan_legacy(data, name)
        return _weights_only_load(data, name)
    return torch_load(data, name)


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
    # (rebuilding a string runs no code; to_builtins then makes it a plain str). Added to torch's allowlist
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


FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def validate_state_dict(state: Any, shapes: Mapping[str, tuple[int, ...]], name: str) -> dict[str, Tensor]:
    """Check weights against the expected name -> shape map: same keys and shapes, float dtypes, finite values."""
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise CheckpointError(f"{name}: state_dict must be a dict of name -> tensor")
    missing, unexpected = sorted(set(shapes) - set(state)), sorted(set(state) - set(shapes))
    if missing or unexpected:
        raise CheckpointError(
            f"{name}: the weights do not match the model; missing {listing(missing)}, unexpected {listing(unexpected)}"
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


def listing(keys: list[str], limit: int = 5) -> str:
    if not keys:
        return "none"
    shown = ", ".join(keys[:limit])
    return f"{shown} (+{len(keys) - limit} more)" if len(keys) > limit else shown
