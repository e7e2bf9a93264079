"""A small on-disk cache for data that is slow to build (the rendered street-view digits).

Files are plain `.npz` archives (no pickles) in the user's cache folder: `$MFM_CACHE_DIR` if set, else
`$XDG_CACHE_HOME/mfm`, else `~/.cache/mfm`. Callers put the generator's version and seed in the file name, so a
new version never reads an old file. A missing, unreadable or unwritable cache only costs time: building
falls back to computing the data again.
"""

from __future__ import annotations

import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    """Return the folder the project caches generated data in (it may not exist yet)."""
    explicit = os.environ.get("MFM_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mfm"


def load_arrays(filename: str) -> dict[str, np.ndarray] | None:
    """Read the cached arrays stored under `filename`, or return None when absent or unreadable."""
    path = cache_dir() / filename
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        warnings.warn(f"ignoring unreadable cache file {path}: {error}", RuntimeWarning, stacklevel=2)
        return None


def save_arrays(filename: str, arrays: dict[str, np.ndarray]) -> Path | None:
    """Store `arrays` under `filename` atomically (write a temporary file, then rename); None if that failed."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(handle, "wb") as stream:
                np.savez(stream, **arrays)
            os.replace(temporary, folder / filename)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    except OSError as error:
        warnings.warn(f"could not write the cache in {folder}: {error}", RuntimeWarning, stacklevel=2)
        return None
    return folder / filename
