"""A small on-disk cache for data that is slow to build (the rendered street-view digits).

Files are plain `.npz` archives (no pickles) in the user's cache folder: `$MFM_CACHE_DIR` if set, else
`$XDG_CACHE_HOME/mfm`, else `~/.cache/mfm`. Callers put the generator's version and seed in the file name, so a
new version never reads an old file. A missing, unreadable or unwritable cache only costs time: building
falls back to computing the data again.

The cache is bounded: after each write, the least recently used `.npz` files are removed until the folder's
`.npz` files take at most `$MFM_CACHE_MAX_BYTES` (default 512 MiB; a street-view digit set is about 16 MB), so
requests for many seeds cannot fill the disk. Reading a file marks it as used.
"""

from __future__ import annotations

import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

DEFAULT_MAX_BYTES = 512 * 2**20


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
            arrays = {key: archive[key] for key in archive.files}
        os.utime(path)  # most recently used: the last to be evicted
        return arrays
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
    evict(folder, keep=folder / filename)
    return folder / filename


def max_cache_bytes() -> int:
    """The cache's size bound: $MFM_CACHE_MAX_BYTES when it is a whole number, else DEFAULT_MAX_BYTES."""
    text = os.environ.get("MFM_CACHE_MAX_BYTES", "").strip()
    return int(text) if text.isdigit() else DEFAULT_MAX_BYTES


def evict(folder: Path, keep: Path | None = None, limit: int | None = None) -> list[Path]:
    """Remove the least recently used `.npz` files of `folder` until they total at most `limit` bytes (never
    `keep`, the file just written). Returns what was removed; a file that cannot be removed is skipped."""
    limit = max_cache_bytes() if limit is None else limit
    try:
        files = [(p.stat().st_mtime, p.stat().st_size, p) for p in folder.glob("*.npz") if p.is_file()]
    except OSError:
        return []
    total = sum(size for _, size, _ in files)
    removed = []
    for _, size, path in sorted(files):  # oldest first
        if total <= limit:
            break
        if keep is not None and path == keep:
            continue
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        removed.append(path)
    return removed
