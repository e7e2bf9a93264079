"""What every page shares: the sidebar (checkpoint choice, upload, import of a producer's state_dict, data folder,
non-finite values), the current selection, progress.

The loaded model is cached once per process (one `BoundedCache`, bounded by bytes), keyed by the checkpoint's
SHA-256 (for an import: by the state_dict's and config's SHA-256 and the import choices), and is shared by every
session: nothing here or in the pages may change it (no `model.train()`, no gradients kept); the `interpret/`
functions run it in eval mode and restore whatever they touch. A session's uploader may hold a bounded number of
files and bytes (`pages.bookkeeping.session_upload_problem`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import streamlit as st

from interpret.abilities import Abilities
from interpret.context import dataset_for, recorded_data_options
from interpret.gradients import GradientSettings
from interpret.information import InformationSettings
from interpret.report import ReportSettings
from mfm import isolation
from mfm.checkpoint import LoadedCheckpoint, file_sha256
from mfm.data import MultimodalDataset
from mfm.errors import MFMError
from mfm.isolation import WorkerLimitError, preflight
from mfm.model import MFM
from mfm.progress import Progress
from mfm.threads import ThreadPolicy, apply_thread_policy, available_cores
from pages.bookkeeping import (
    SPLITS,
    UPLOAD_TYPES,
    BoundedCache,
    CheckpointSource,
    DataKey,
    ImportedCheckpoint,
    ProducerUpload,
    active_uploads,
    allowed_data_dir,
    data_key,
    data_root,
    dataset_needs_folder,
    default_import_dataset,
    demo_checkpoints,
    demo_source,
    generated_data_version,
    import_datasets,
    import_upload,
    model_cache_bytes,
    open_source,
    plain,
    producer_config_steps,
    session_upload_problem,
    sha256_bytes,
    split_command,
    upload_source,
)

STATE_KEY = "mfm_selection"
isolation.preload("pages.bookkeeping", "interpret.context")  # what the worker's checks run


@dataclass(frozen=True)
class Selection:
    """What the pages work on: the checkpoint's source, the checkpoint, its data (or why the data could not be
    loaded) and the chosen split. `identity` is its one cache identity: a page's cached result depends on the
    selection through it alone (`cached`)."""

    source: CheckpointSource
    checkpoint: LoadedCheckpoint
    dataset: MultimodalDataset | None
    data_key: DataKey
    data_error: str | None
    split: str
    imported: ImportedCheckpoint | None = None  # set when imported from a producer's state_dict

    @property
    def identity(self) -> tuple:
        """The checkpoint's cache key and file name (a report records the name), the data's identity, the split."""
        return (self.key, self.name, astuple(self.data_key), self.split)

    @property
    def name(self) -> str:
        """The checkpoint's file name (the converted file's, for an import)."""
        return self.imported.file_name if self.imported else self.source.name

    @property
    def key(self) -> str:
        """The checkpoint's cache key: the source's (SHA-256 of the weights, + the config's for safetensors), or
        the converted checkpoint's SHA-256 for an import."""
        return self.checkpoint.sha256 if self.imported else self.source.key

    @property
    def uploaded(self) -> bool:
        return self.source.uploaded

    @property
    def path(self) -> str | None:
        """A demo's file, relative to the app's folder when inside it; None for uploads."""
        return None if self.source.uploaded else _relative(str(self.source.weights))

    def on_split(self, split: str) -> Selection:
        """The same checkpoint and data on another split (for results measured on one split whatever is chosen)."""
        return replace(self, split=split)

    @property
    def model(self) -> MFM:
        """The shared, eval-mode model (never train it)."""
        return self.checkpoint.model

    @property
    def kind(self) -> str:
        """'image', 'sequence' or 'mixed'."""
        return self.checkpoint.config.kind


# ---------------------------------------------------------------------------------------------------------------
# Caching the pages' results
# ---------------------------------------------------------------------------------------------------------------
CACHE_HASH_FUNCS = {
    Selection: lambda selection: selection.identity,
    InformationSettings: astuple,
    GradientSettings: astuple,
    ReportSettings: astuple,
}
"""How the pages' cached functions hash their arguments: a selection by its identity, a settings value by its
fields (frozen dataclasses of plain values)."""


def cached(**options: Any) -> Callable:
    """`st.cache_data` for a page's result, with `CACHE_HASH_FUNCS`: a cached function takes the `Selection` and
    its settings values as arguments, and its result is cached per selection identity and settings."""
    return st.cache_data(**{"show_spinner": False, **options}, hash_funcs=CACHE_HASH_FUNCS)


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


@st.cache_resource(show_spinner=False)
def start_up() -> ThreadPolicy:
    """Once per server process: the thread policy (`mfm.threads`; `MFM_THREADS` overrides the core count).

    A forward-mode warm-up here (one tiny jvp, about a second) was tried and dropped: with it, a later upload
    check stopped by its CPU-time limit was reported as killed rather than by its limit (tests/test_isolation.py
    after the app tests), for a reason not yet found; the first gradient figure still pays it."""
    try:
        policy = apply_thread_policy()
    except ValueError as error:  # a bad MFM_THREADS: say so on the page, run with the default
        st.warning(f"{error}; using every usable core")
        policy = apply_thread_policy(available_cores())
    return policy


@st.cache_resource(show_spinner=False)
def shared_cache() -> BoundedCache:
    """The one cache of loaded models, imports and refusals for every session, bounded by bytes
    (`pages.bookkeeping.MODEL_CACHE_BYTES`, `MFM_APP_MODEL_CACHE_BYTES`)."""
    return BoundedCache(model_cache_bytes())


def _cached(key: tuple, create: Callable[[], Any], spinner: str) -> Any:
    """`shared_cache().get(key, create)`, with a spinner while `create` runs."""
    cache = shared_cache()
    if key in cache:
        return cache.get(key, create)
    with st.spinner(spinner):
        return cache.get(key, create)


def load_model(key: str, _source: CheckpointSource) -> LoadedCheckpoint | ProducerUpload | str:
    """The validated checkpoint for `key`, a producer's state_dict to import, or the loader's message when it is
    refused (refusals are cached too, except a worker's limit hit: the same file may pass on a quieter machine).

    Uploaded bytes go first to a limited worker process (`mfm.isolation.preflight`), then to mfm's loaders
    (`pages.bookkeeping.open_source`), which read weights as data and never unpickle code. One model per key
    is shared by every session. The upload's name is part of the key: messages and the import box quote it.
    """

    def create() -> LoadedCheckpoint | ProducerUpload | str:
        try:
            if _source.uploaded:
                preflight(_source.name, open_source, _source)
            return open_source(_source)
        except WorkerLimitError:
            raise  # not cached
        except MFMError as exc:
            return str(exc)

    try:
        return _cached(
            ("checkpoint", key, _source.name), create, "Loading the checkpoint (weights only, validated)…"
        )
    except WorkerLimitError as exc:
        return str(exc)


def import_model_cached(key: tuple, _upload: ProducerUpload, _choices: dict) -> ImportedCheckpoint | str:
    """`pages.bookkeeping.import_upload` for one state_dict and one set of choices (or its message), checked
    first in a limited worker process."""

    def create() -> ImportedCheckpoint | str:
        try:
            preflight(_upload.name, partial(import_upload, _upload, **_choices))
            return import_upload(_upload, **_choices)
        except WorkerLimitError:
            raise  # not cached
        except MFMError as exc:
            return str(exc)

    try:
        return _cached(("import", key), create, "Importing the model (in memory)…")
    except WorkerLimitError as exc:
        return str(exc)


@st.cache_resource(show_spinner=False, max_entries=4, hash_funcs={DataKey: astuple})
def load_data(key: DataKey, _checkpoint: LoadedCheckpoint) -> MultimodalDataset:
    """The data set named in the checkpoint, checked against its modalities (shared by checkpoints of one data key)."""
    name, data_dir = key.dataset, key.data_dir
    options = {"data_dir": data_dir, "nonfinite": key.nonfinite, "recorded_dir": False}
    if data_dir is not None:  # files the user named: read first in a limited worker process
        with st.spinner(f"Checking the files of {plain(name)} in a separate process…"):
            preflight(f"data folder {data_dir}", partial(dataset_for, _checkpoint, **options))
    with progress_bar(f"Loading data set {plain(name)}") as update:
        return dataset_for(_checkpoint, progress=update, **options)


# ---------------------------------------------------------------------------------------------------------------
# Sidebar
# ---------------------------------------------------------------------------------------------------------------
NONFINITE = {
    "recorded": "as the checkpoint records",
    "refuse": "refuse (stop with a message)",
    "zero": "replace by 0 (as MMSA's loader does)",
}


def _demo_choice() -> CheckpointSource | None:
    demos = demo_checkpoints()
    if not demos:
        st.sidebar.info("No demo checkpoint in `assets/checkpoints/`: upload one below.")
        return None
    names = [p.name for p in demos]
    uploading = bool(st.session_state.get("upload"))  # the uploader's files, from the previous run
    choice = st.sidebar.selectbox(
        "Demo checkpoint (not used while an upload is loaded)" if uploading else "Demo checkpoint",
        names,
        key="demo_checkpoint",
        disabled=uploading,
        help="Remove the upload (×) to use a demo again; a refused upload falls back to this demo.",
    )
    path = demos[names.index(choice)]
    stat = path.stat()
    return demo_source(path, demo_sha256(str(path), stat.st_mtime_ns, stat.st_size))


def _upload_choice() -> tuple[CheckpointSource | None, str | None]:
    files = st.sidebar.file_uploader(
        "…or upload your own",
        type=list(UPLOAD_TYPES),
        accept_multiple_files=True,
        key="upload",
        help="A `.pt` checkpoint written by `python -m mfm train`, `.safetensors` weights together with their "
        "`.json` config, or an MFM state_dict saved by the authors' code or MMSA (`.pth`, `.bin`, `.pt`) with "
        "its config `.json`: it is imported in memory. Files are read as weights only; nothing in them is "
        "executed. A new upload replaces the earlier one.",
    )
    files = list(files or [])
    problem = session_upload_problem([f.size for f in files])
    if problem:
        return None, problem
    # The uploader keeps earlier files: the newest weights (with the files that came with them) are the upload.
    listed = [(f.file_id, f.name) for f in files]
    chosen = active_uploads(
        listed, st.session_state.get("upload_seen", ()), st.session_state.get("upload_active", ())
    )
    st.session_state["upload_seen"] = [i for i, _ in listed]
    st.session_state["upload_active"] = chosen
    used = [f for f in files if f.file_id in chosen]
    ignored = [f.name for f in files if f.file_id not in chosen]
    if ignored:
        st.sidebar.caption(
            f"The newest upload replaces the earlier one: {plain(', '.join(ignored))} is not used (remove it "
            "with ×)."
        )
    try:
        return upload_source([(f.name, f.getvalue()) for f in used]), None
    except MFMError as exc:
        return None, str(exc)


def _refused(message: str, demo: CheckpointSource | None) -> None:
    """An upload's refusal, in the sidebar and on the page; a command in the message is shown to copy."""
    text, command = split_command(message)
    st.sidebar.error(f"Upload refused: {plain(text)}")
    if command:
        st.sidebar.code(command, language="bash", wrap_lines=True)
    st.error(f"Upload refused: {plain(text)}" + (" — showing the demo checkpoint instead." if demo else ""))
    if command:
        st.code(command, language="bash", wrap_lines=True)


def _import_controls(
    box: Any, upload: ProducerUpload, source: CheckpointSource, nonfinite: str
) -> ImportedCheckpoint | str:
    """Ask for what the import needs (config or T, data set), import in memory, offer the converted checkpoint."""
    box.info(
        f"**{plain(upload.name)}** is a bare state_dict of **{upload.producer_name}**, not an MFM checkpoint"
        + (" (keys behind MMSA's `Model.` prefix)" if upload.weights.prefixed else "")
        + ". It is imported in memory, as `python -m mfm import` does."
    )
    config = source.producer_config
    try:
        config_steps = producer_config_steps(upload.producer, config)
    except MFMError as exc:
        return f"{config[0] if config else 'the config'}: {exc}"
    if config is None:
        box.caption(
            "Upload its config `.json` with it (the authors' code: the list of six dicts `[config, NN1Config, "
            "NN2Config, gamma1Config, gamma2Config, outConfig]`; MMSA: its argument dict), or give T below: every "
            "other size is then inferred from the weights' shapes."
        )
    else:
        box.caption(f"Config: {plain(config[0])}" + (f" (T = {config_steps})" if config_steps else ""))
    steps = None
    if config_steps is None:
        steps = int(
            box.number_input(
                "Sequence length T (the config does not say)" if config else "Sequence length T",
                min_value=1,
                max_value=10_000,
                step=1,
                key=default("import_steps", 50 if upload.producer == "mmsa" else 20),
                help="Steps per sequence the model reads: 20 for the MFN MOSI files, 50 for MMSA's aligned_50.pkl.",
            )
        )
    datasets = import_datasets()
    dataset = box.selectbox(
        "Data set it reads",
        datasets,
        key=default_choice("import_dataset", datasets, default_import_dataset(upload.producer)),
        help="Recorded in the converted checkpoint; the interpretations run on it. `mosi`: the MFN h5 files; "
        "`mosi-pickle`: an MMSA / MultiBench pickle (name its folder or file below); `sentiment`: this program's "
        "generated data.",
    )
    version = generated_data_version(dataset)
    generated = None
    if version is not None:
        stated = box.checkbox(
            f"It was trained on this program's generated `{dataset}` data (generator version {version})",
            key=default("import_generated", False),
            help="Recorded as the checkpoint's data generator version. Without it the generated data is refused: "
            "a model is not interpreted against a planted truth it may never have seen.",
        )
        generated = version if stated else None
    choices = {
        "config": config,
        "steps": steps,
        "dataset": dataset,
        "generated_version": generated,
        "nonfinite": nonfinite,
    }
    key = (
        source.key, upload.name, sha256_bytes(config[1]) if config else None, steps, dataset, generated, nonfinite
    )  # fmt: skip
    result = import_model_cached(key, _upload=upload, _choices=choices)
    if isinstance(result, str):
        return result
    box.success(
        f"Imported as {plain(result.file_name)} (format version 2)"
        + (
            f"; {len(result.dropped)} unused weights dropped (MFN's own output head; see the Model page)"
            if result.dropped
            else ""
        )
        + "."
    )
    box.download_button(
        "Download the converted checkpoint",
        result.data,
        result.file_name,
        "application/octet-stream",
        key="import_download",
        on_click="ignore",
        icon=":material/download:",
        help=f"The same file as {plain(result.command)}.",
    )
    return result


def _nonfinite_choice() -> str | None:
    choice = st.sidebar.selectbox(
        "Non-finite values (NaN, ±inf) in real data",
        list(NONFINITE),
        format_func=NONFINITE.get,
        key=default_choice("nonfinite", list(NONFINITE), "recorded"),
        help="Real MOSI pickles hold -inf in the audio features. *Refuse* stops with a message naming the file "
        "and count; *replace by 0* zeroes them, as MMSA's own loader does. The generated data sets hold none.",
    )
    return None if choice == "recorded" else choice


def sidebar() -> Selection | None:
    """Draw the sidebar (choose, upload or import, data folder, non-finite values, split; the current name and
    SHA-256) and load the choice.

    Returns the selection (also kept in Session State for the pages) or None when no checkpoint is usable.
    A refused upload shows the loader's message and the app falls back to the chosen demo checkpoint.
    """
    st.sidebar.header("Checkpoint")
    demo = _demo_choice()
    upload, upload_error = _upload_choice()
    import_box = st.sidebar.container()  # filled below, once the data options are known
    data_dir = st.sidebar.text_input(
        "Data folder (real MNIST / SVHN / MOSI only)",
        key="data_dir",
        help="The offline data sets load by themselves. For a checkpoint trained on real files, give the folder "
        "on the machine running this app that holds them (for `mosi-pickle`: the .pkl file or its folder).",
    ).strip()
    nonfinite = _nonfinite_choice()
    split = st.sidebar.selectbox("Data split", SPLITS, key="split")

    loaded: LoadedCheckpoint | None = None
    source: CheckpointSource | None = None
    imported: ImportedCheckpoint | None = None
    if upload is not None:
        result = _load(upload)
        if isinstance(result, ProducerUpload):
            result = _import_controls(import_box, result, upload, nonfinite or "refuse")
            if isinstance(result, ImportedCheckpoint):
                imported, result = result, result.checkpoint
            else:
                result = f"{upload.name} could not be imported: {result}"
        if isinstance(result, str):
            upload_error = result
        else:
            loaded, source = result, upload
            if upload.producer_config is not None and imported is None:
                st.sidebar.caption(
                    f"{plain(upload.producer_config[0])} is not used: {plain(upload.name)} is a complete MFM "
                    "checkpoint."
                )
    if upload_error:
        _refused(upload_error, demo)
    if loaded is None and demo is not None:
        result = _load(demo)
        if isinstance(result, (str, ProducerUpload)):
            message = (
                result if isinstance(result, str) else "it is a producer's state_dict: upload it instead"
            )
            st.sidebar.error(f"Demo checkpoint {plain(demo.name)} could not be loaded: {plain(message)}")
        else:
            loaded, source = result, demo
    if loaded is None or source is None:
        st.session_state[STATE_KEY] = None
        return None
    dataset, data_error = None, None
    key = data_key(loaded, None, nonfinite)
    try:
        folder = _data_folder(loaded, data_dir)
        key = data_key(loaded, folder, nonfinite)
        dataset = load_data(key, _checkpoint=loaded)
    except MFMError as exc:
        data_error = str(exc)
    except OSError as exc:  # an unreadable folder given by the user
        data_error = f"the data folder could not be read: {exc}"
    selection = Selection(
        source=source,
        checkpoint=loaded,
        dataset=dataset,
        data_key=key,
        data_error=data_error,
        split=split,
        imported=imported,
    )
    _identity(selection)
    st.session_state[STATE_KEY] = selection
    return selection


def _data_folder(checkpoint: LoadedCheckpoint, typed: str) -> str | None:
    """The data folder to read: the typed one, or the one the checkpoint records once the user confirms it; each
    checked against the data-root rule (`pages.bookkeeping.allowed_data_dir`). None: no folder."""
    address = str(st.get_option("server.address") or "")
    if typed:
        return allowed_data_dir(typed, server_address=address, root=data_root())
    recorded = checkpoint.metadata.get("data_dir")
    if not isinstance(recorded, str) or not recorded or not dataset_needs_folder(checkpoint):
        return None
    confirmed = st.sidebar.checkbox(
        f"Read the data folder the checkpoint records: {plain(recorded)}",
        key=f"confirm_data_dir_{checkpoint.sha256[:16]}",
        help="A checkpoint's metadata may name any path on this machine: the app opens it only when you say so "
        "(or type a folder above).",
    )
    return allowed_data_dir(recorded, server_address=address, root=data_root()) if confirmed else None


def _load(source: CheckpointSource) -> LoadedCheckpoint | ProducerUpload | str:
    return load_model(source.key, _source=source)


def _relative(path: str) -> str:
    """`path` relative to the app's folder when it lies inside it (for commands to copy), else as it is."""
    try:
        return str(Path(path).resolve().relative_to(app_root()))
    except ValueError:
        return path


def _identity(selection: Selection) -> None:
    """The current checkpoint's name, SHA-256, kind and data, always visible in the sidebar."""
    config = selection.checkpoint.config
    imported = selection.imported
    st.sidebar.divider()
    if imported:
        origin = f", imported from {plain(imported.source_name)} · {imported.producer_name}"
    else:
        origin = " (uploaded)" if selection.uploaded else ""
    st.sidebar.markdown(f"**Current:** {plain(selection.name)}{origin}")
    st.sidebar.code(selection.checkpoint.sha256, language=None, wrap_lines=True)
    meta = selection.checkpoint.metadata
    options = recorded_data_options(meta)
    nonfinite = selection.data_key.nonfinite
    st.sidebar.caption(
        f"{config.kind} model · {len(config.modalities)} modalities ({', '.join(config.modality_names)}) · "
        f"{config.task} · data set {plain(meta.get('dataset', '?'))} · non-finite values: {plain(nonfinite)}"
        + (" (recorded)" if nonfinite == options["nonfinite"] else "")
        + (
            f" · SHA-256 of {plain(imported.source_name)}: {plain(meta['imported_from']['sha256'][:16])}…"
            if imported
            else ""
        )
    )
    if selection.data_error:
        st.sidebar.warning(f"Data not loaded: {plain(selection.data_error)}")


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
        st.error(
            f"This page needs the checkpoint's data, which could not be loaded: {plain(selection.data_error)}"
        )
        st.caption(
            "Offline data sets (`digits`, `sentiment`) load by themselves. For `digits-real`, `mosi` or "
            "`mosi-pickle`, enter the folder holding the files in the sidebar's *Data folder* box."
        )
        st.stop()
    return selection.dataset


def show_abilities(measured: Abilities, heading: str, *, note_when_unmeasured: bool = True) -> None:
    """A model's measured abilities (`interpret.abilities.Abilities`): the table and how it was measured in an
    expander, open when there are warnings; then each warning. Unmeasured: the reason as a caption, if asked."""
    if measured.rows:
        with st.expander(
            heading + (f" · {len(measured.warnings)} warning(s)" if measured.warnings else ""),
            expanded=bool(measured.warnings),
        ):
            # every row in view: the style measures run past the ten rows a table shows by default
            st.dataframe(measured.rows, hide_index=True, width="stretch", height="content")
            st.caption(measured.note)
    elif note_when_unmeasured:
        st.caption(f"{heading}: {measured.note}")
    for warning in measured.warnings:
        st.warning(warning, icon=":material/warning:")


def page_title(title: str, selection: Selection) -> None:
    """The page heading with the checkpoint it describes."""
    st.title(title)
    st.caption(
        f"{plain(selection.name)} · SHA-256 `{selection.checkpoint.sha256[:16]}…` · split `{selection.split}`"
    )


def app_root() -> Path:
    """The folder holding `app.py`."""
    return Path(__file__).resolve().parents[1]
