"""What every page shares: the sidebar (checkpoint choice, upload, data folder), the current selection, progress.

The loaded model is cached once per process with `st.cache_resource`, keyed by the checkpoint's SHA-256, and is
shared by every session: nothing here or in the pages may change it (no `model.train()`, no gradients kept); the
`interpret/` functions run it in eval mode and restore whatever they touch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from interpret.app_support import (
    SPLITS,
    CheckpointSource,
    data_key,
    demo_checkpoints,
    demo_source,
    upload_source,
)
from interpret.context import dataset_for
from mfm.checkpoint import LoadedCheckpoint, file_sha256, load_checkpoint
from mfm.data import MultimodalDataset
from mfm.errors import MFMError
from mfm.model import MFM

STATE_KEY = "mfm_selection"
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Selection:
    """The checkpoint the pages work on, its data (or why the data could not be loaded) and the chosen split."""

    name: str
    key: str  # cache key of the checkpoint (SHA-256 of the weights, + config hash for safetensors)
    checkpoint: LoadedCheckpoint
    dataset: MultimodalDataset | None
    data_key: tuple
    data_error: str | None
    split: str
    uploaded: bool
    path: str | None  # a demo's file, relative to the app's folder when inside it; None for uploads

    @property
    def model(self) -> MFM:
        """The shared, eval-mode model (never train it)."""
        return self.checkpoint.model

    @property
    def kind(self) -> str:
        """'image', 'sequence' or 'mixed'."""
        return self.checkpoint.config.kind


# ---------------------------------------------------------------------------------------------------------------
# Progress and widget defaults
# ---------------------------------------------------------------------------------------------------------------
@contextmanager
def progress_bar(text: str) -> Iterator[Progress]:
    """A `progress(done, total, stage)` callback drawing an `st.progress` bar, removed when the block ends.

    Meant to be used inside cached functions: the bar is created there, so Streamlit can replay (and at once
    remove) it when the result comes from the cache. Updates are limited to whole percents.
    """
    bar = st.progress(0.0, text=text)
    last = [-1]

    def update(done: int, total: int, stage: str) -> None:
        fraction = min(max(done / total, 0.0), 1.0) if total else 0.0
        percent = int(100 * fraction)
        if percent != last[0]:
            last[0] = percent
            bar.progress(fraction, text=f"{text}: {stage}" if stage else text)

    try:
        yield update
    finally:
        bar.empty()


def default(key: str, value: Any, low: Any = None, high: Any = None) -> str:
    """Give widget `key` a default through Session State (so tests can preset it) and return the key.

    With bounds, a value kept from another checkpoint (say, a sample index past the end of a smaller split) is
    clamped into [low, high] before the widget is drawn.
    """
    st.session_state.setdefault(key, value)
    current_value = st.session_state[key]
    if low is not None and current_value < low:
        st.session_state[key] = low
    elif high is not None and current_value > high:
        st.session_state[key] = high
    return key


def default_choice(key: str, options: list, value: Any) -> str:
    """Like `default`, for a choice among `options`: a kept value that is not (or no longer) an option is reset.

    `value` may be a tuple of options (a range select slider).
    """
    kept = st.session_state.get(key, value)
    members = kept if isinstance(kept, tuple) else (kept,)
    if not all(member in options for member in members):
        kept = value
    st.session_state[key] = kept
    return key


def forget_invalid(key: str, options: list) -> str:
    """Drop a kept value of widget `key` that is no longer among `options` (e.g. after a checkpoint change).

    For widgets that need their `value` argument (a range select slider learns that it is a range from it), where
    a Session State default would clash with that argument.
    """
    kept = st.session_state.get(key)
    members = kept if isinstance(kept, (tuple, list)) else (kept,)
    if kept is not None and not all(member in options for member in members):
        del st.session_state[key]
    return key


# ---------------------------------------------------------------------------------------------------------------
# Cached loading
# ---------------------------------------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=64)
def demo_sha256(path: str, mtime_ns: int, size: int) -> str:
    """SHA-256 of a demo checkpoint file, recomputed only when the file changes."""
    del mtime_ns, size  # part of the cache key only
    return file_sha256(path)


@st.cache_resource(show_spinner="Loading the checkpoint (weights only, validated)…", max_entries=8)
def load_model(key: str, _source: CheckpointSource) -> LoadedCheckpoint | str:
    """The validated checkpoint for `key`, or the loader's message when it is refused (refusals are cached too).

    Uploaded bytes go only to `mfm.checkpoint.load_checkpoint`, which reads weights as data and never unpickles
    code. One model per key is shared by every session.
    """
    try:
        return load_checkpoint(_source.weights_stream(), config_json=_source.config_stream())
    except MFMError as exc:
        return str(exc)


@st.cache_resource(show_spinner=False, max_entries=4)
def load_data(key: tuple, _checkpoint: LoadedCheckpoint) -> MultimodalDataset:
    """The data set named in the checkpoint, checked against its modalities (shared by checkpoints of one data key)."""
    name, _, data_dir, _, _ = key
    with progress_bar(f"Loading data set {name!r}") as update:
        return dataset_for(_checkpoint, data_dir=data_dir, progress=update)


# ---------------------------------------------------------------------------------------------------------------
# Sidebar
# ---------------------------------------------------------------------------------------------------------------
def _demo_choice() -> CheckpointSource | None:
    demos = demo_checkpoints()
    if not demos:
        st.sidebar.info("No demo checkpoint in `assets/checkpoints/`: upload one below.")
        return None
    names = [p.name for p in demos]
    choice = st.sidebar.selectbox("Demo checkpoint", names, key="demo_checkpoint")
    path = demos[names.index(choice)]
    stat = path.stat()
    return demo_source(path, demo_sha256(str(path), stat.st_mtime_ns, stat.st_size))


def _upload_choice() -> tuple[CheckpointSource | None, str | None]:
    files = st.sidebar.file_uploader(
        "…or upload your own",
        type=["pt", "safetensors", "json"],
        accept_multiple_files=True,
        key="upload",
        help="A `.pt` checkpoint written by `python -m mfm train`, or `.safetensors` weights together with their "
        "`.json` config. Files are read as weights only; nothing in them is executed.",
    )
    try:
        return upload_source([(f.name, f.getvalue()) for f in files or []]), None
    except MFMError as exc:
        return None, str(exc)


def _load(source: CheckpointSource) -> LoadedCheckpoint | str:
    return load_model(source.key, _source=source)


def sidebar() -> Selection | None:
    """Draw the sidebar (choose, upload, data folder, split; the current name and SHA-256) and load the choice.

    Returns the selection (also kept in Session State for the pages) or None when no checkpoint is usable.
    A refused upload shows the loader's message and the app falls back to the chosen demo checkpoint.
    """
    st.sidebar.header("Checkpoint")
    demo = _demo_choice()
    upload, upload_error = _upload_choice()
    loaded: LoadedCheckpoint | None = None
    source: CheckpointSource | None = None
    if upload is not None:
        result = _load(upload)
        if isinstance(result, str):
            upload_error = result
        else:
            loaded, source = result, upload
    if upload_error:
        message = f"Upload refused: {upload_error}"
        st.sidebar.error(message)
        st.error(message + (" — showing the demo checkpoint instead." if demo else ""))
    if loaded is None and demo is not None:
        result = _load(demo)
        if isinstance(result, str):
            st.sidebar.error(f"Demo checkpoint {demo.name} could not be loaded: {result}")
        else:
            loaded, source = result, demo
    data_dir = st.sidebar.text_input(
        "Data folder (real MNIST / SVHN / MOSI only)",
        key="data_dir",
        help="The offline data sets load by themselves. For a checkpoint trained on real files, give the folder "
        "on the machine running this app that holds them.",
    ).strip()
    split = st.sidebar.selectbox("Data split", SPLITS, key="split")
    if loaded is None or source is None:
        st.session_state[STATE_KEY] = None
        return None
    key = data_key(loaded, data_dir or None)
    dataset, data_error = None, None
    try:
        dataset = load_data(key, _checkpoint=loaded)
    except MFMError as exc:
        data_error = str(exc)
    except OSError as exc:  # an unreadable folder given by the user
        data_error = f"the data folder could not be read: {exc}"
    selection = Selection(
        name=source.name,
        key=source.key,
        checkpoint=loaded,
        dataset=dataset,
        data_key=key,
        data_error=data_error,
        split=split,
        uploaded=source.uploaded,
        path=None if source.uploaded else _relative(str(source.weights)),
    )
    _identity(selection)
    st.session_state[STATE_KEY] = selection
    return selection


def _relative(path: str) -> str:
    """`path` relative to the app's folder when it lies inside it (for commands to copy), else as it is."""
    try:
        return str(Path(path).resolve().relative_to(app_root()))
    except ValueError:
        return path


def _identity(selection: Selection) -> None:
    """The current checkpoint's name, SHA-256, kind and data, always visible in the sidebar."""
    config = selection.checkpoint.config
    st.sidebar.divider()
    st.sidebar.markdown(f"**Current:** `{selection.name}`" + (" (uploaded)" if selection.uploaded else ""))
    st.sidebar.code(selection.checkpoint.sha256, language=None, wrap_lines=True)
    dataset = selection.checkpoint.metadata.get("dataset", "?")
    st.sidebar.caption(
        f"{config.kind} model · {len(config.modalities)} modalities ({', '.join(config.modality_names)}) · "
        f"{config.task} · data set `{dataset}`"
    )
    if selection.data_error:
        st.sidebar.warning(f"Data not loaded: {selection.data_error}")


# ---------------------------------------------------------------------------------------------------------------
# For the pages
# ---------------------------------------------------------------------------------------------------------------
def current() -> Selection:
    """The selection made in the sidebar; stops the page with a hint when there is none."""
    if STATE_KEY not in st.session_state:
        # A fresh session whose first request named this page: Streamlit runs a page of the pages/ folder on its
        # own (skipping app.py) until some run of app.py has called st.navigation. Start from the app instead.
        st.switch_page("app.py")
    selection = st.session_state.get(STATE_KEY)
    if selection is None:
        st.info(
            "No checkpoint is loaded. Choose a demo checkpoint or upload one (`.pt`, or `.safetensors` with its "
            "`.json`) in the sidebar. Train one with `python -m mfm train --dataset sentiment --out my.pt`."
        )
        st.stop()
    return selection


def require_data(selection: Selection) -> MultimodalDataset:
    """The selection's data set; stops the page with the data error (what is expected where) when it is missing."""
    if selection.dataset is None:
        st.error(f"This page needs the checkpoint's data, which could not be loaded: {selection.data_error}")
        st.caption(
            "Offline data sets (`digits`, `sentiment`) load by themselves. For `digits-real`, `mosi` or "
            "`mosi-pickle`, enter the folder holding the files in the sidebar's *Data folder* box."
        )
        st.stop()
    return selection.dataset


def page_title(title: str, selection: Selection) -> None:
    """The page heading with the checkpoint it describes."""
    st.title(title)
    st.caption(
        f"`{selection.name}` · SHA-256 `{selection.checkpoint.sha256[:16]}…` · split `{selection.split}`"
    )


def app_root() -> Path:
    """The folder holding `app.py`."""
    return Path(__file__).resolve().parents[1]
