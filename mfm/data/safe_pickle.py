"""A restricted unpickler for data files: it admits numpy arrays, numbers, strings and plain containers only.

Unpickling can run arbitrary code: a pickle names functions and classes (`GLOBAL` / `STACK_GLOBAL` opcodes)
that the loader imports and calls. This loader resolves only the handful of names that numpy arrays, numpy
dtypes and numpy scalars need, plus `set`, `frozenset`, `complex`, `collections.OrderedDict` and the latin-1
byte decoding of protocol-2 pickles. Any other name (`os.system`, `builtins.eval`, a class) is refused with a
DataError before it is called.
"""

from __future__ import annotations

import codecs
import collections
import importlib
import io
import pickle
import re
import stat
from pathlib import Path

import numpy as np

from mfm.errors import DataError
from mfm.safe_parse import ParseLimitError, scan_pickle

_NUMPY_CORE_NAMES = {
    ("multiarray", "_reconstruct"),  # ndarray.__reduce__
    ("multiarray", "scalar"),  # numpy scalar __reduce__
    ("numeric", "_frombuffer"),  # protocol-5 ndarray
}
_BYTE_ENCODINGS = {"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1", "ascii", "utf-8", "utf8"}


def _encode_bytes(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """Stand-in for `_codecs.encode`, which protocol-2 pickles use for bytes; only plain text codecs."""
    if not isinstance(text, str) or encoding.lower() not in _BYTE_ENCODINGS:
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, encoding, errors)


_QUALIFIED_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose `find_class` admits only numpy array machinery and builtin containers."""

    def find_class(self, module: str, name: str) -> object:
        """Resolve an allowed global, or raise UnpicklingError naming the refused one."""
        if module in (
            "numpy.core.multiarray",
            "numpy._core.multiarray",
            "numpy.core.numeric",
            "numpy._core.numeric",
        ):
            short = module.rsplit(".", 1)[1]
            if (short, name) in _NUMPY_CORE_NAMES:
                for candidate in (f"numpy._core.{short}", f"numpy.core.{short}"):
                    try:
                        return getattr(importlib.import_module(candidate), name)
                    except (ImportError, AttributeError):
                        continue
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module in ("builtins", "__builtin__") and name in ("set", "frozenset", "complex"):
            return {"set": set, "frozenset": frozenset, "complex": complex}[name]
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "_codecs" and name == "encode":
            return _encode_bytes
        # Name the refused global only when it looks like one: a file that is not a pickle at all would
        # otherwise have its first line echoed back (data files are read from the server's disk).
        qualified = f"{module}.{name}"
        shown = qualified if _QUALIFIED_NAME.fullmatch(qualified) and len(qualified) <= 80 else "a global"
        raise pickle.UnpicklingError(
            f"refusing to load {shown}: only numpy arrays and plain data are allowed"
        )

    def persistent_load(self, pid: object) -> object:
        """Refuse persistent ids: plain data files have none."""
        raise pickle.UnpicklingError("refusing a persistent id: only numpy arrays and plain data are allowed")


def restricted_load(path: str | Path) -> object:
    """Load the pickle at `path` with `RestrictedUnpickler`; any refusal or corruption raises DataError.

    Python 2 pickles (str written as bytes) are read with encoding="latin1", as numpy recommends.
    """
    path = Path(path)
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block the reader for ever
            raise DataError(f"{path}: not a regular file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read the file ({error.strerror or error})") from None
    try:
        scan_pickle(data, str(path))  # bounded work before anything is built (mfm.safe_parse)
    except ParseLimitError as error:
        raise DataError(str(error)) from None
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as error:
        raise DataError(f"{path}: {error}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError) as error:
        raise DataError(
            f"{path}: not a readable pickle of plain data ({type(error).__name__}: {error})"
        ) from None
