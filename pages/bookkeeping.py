"""The app's bookkeeping, in plain Python: checkpoint sources and uploads, cache keys and bounded caches, the
demo folder and the data folder a server may read, display tables and the sentences that read their numbers.

Nothing here imports Streamlit, so all of it is tested without a browser; the pages (`pages/*.py`) call it for the
bookkeeping around the interpretations, which come from `interpret/` (methods, figures, the report) and
`mfm.eval` (scores by the independent classifiers). It holds no model or estimator code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interpret.abilities import Abilities, swap_abilities
from interpret.analysis import InformationVersions, PlantedCut, above_null
from interpret.context import recorded_data_options
from interpret.report import round_significant
from mfm.checkpoint import LoadedCheckpoint, checkpoint_bytes, load_checkpoint
from mfm.data import list_datasets
from mfm.errors import CheckpointError, MFMError
from mfm.eval.missing import missing_image_reading
from mfm.eval.swap_metrics import image_generation_metrics
from mfm.importers import (
    PRODUCER_NAMES,
    ProducerWeights,
    import_model,
    parse_config_json,
    read_producer_weights,
    recognise,
    sizes_from_config,
)
from mfm.model import MFM
from mfm.safe_load import NamedBytes

DEMO_DIR = Path(__file__).resolve().parents[1] / "assets" / "checkpoints"
"""Where the bundled demo checkpoints live (`.pt`, or `.safetensors` with a `.json` beside it)."""


SPLITS = ("test", "valid", "train")
"""Data splits the app can analyse, the default first."""


# ---------------------------------------------------------------------------------------------------------------
# Text from files, shown as text
# ---------------------------------------------------------------------------------------------------------------
MARKDOWN_ACTIVE = frozenset("\\`*_{}[]()<>#+-.!|~$:&=^\"'")
"""Characters Markdown, Streamlit's own directives (``:red[…]``, ``:material/icon:``, emoji shortcodes, ``$``
maths) or HTML could act on: `plain` escapes each of them."""


def plain(text: Any) -> str:
    """`text` (a file name, a metadata field, an error message quoting either) for an element that renders
    Markdown, shown literally: every active character is backslash-escaped and line breaks become spaces, so an
    image link or an icon directive in a file name is printed, never fetched or drawn. A colon becomes the
    entity ``&#58;``: Streamlit draws ``\\:material/icon\\:`` as an icon despite the escapes (measured in
    Chromium), not so the entity."""
    flat = " ".join(str(text).splitlines())
    return "".join("&#58;" if c == ":" else "\\" + c if c in MARKDOWN_ACTIVE else c for c in flat)


# ---------------------------------------------------------------------------------------------------------------
# Bounded caches and uploads
# ---------------------------------------------------------------------------------------------------------------
def _environment_bytes(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise CheckpointError(f"{name} must be a whole number of bytes, got {value!r}") from None
    if number < 0:
        raise CheckpointError(f"{name} must not be negative, got {number}")
    return number


MODEL_CACHE_BYTES = 1 << 30
"""Default bound (1 GiB; ``MFM_APP_MODEL_CACHE_BYTES``) of what the app keeps loaded for every session: models,
imported checkpoints' bytes and refusals, counted by their tensors' and byte strings' sizes."""


SESSION_UPLOAD_FILES = 4
"""Most files one session's uploader may hold before the app asks to remove some (``MFM_APP_SESSION_UPLOAD_FILES``)."""


SESSION_UPLOAD_BYTES = 200 << 20
"""Most bytes one session's uploader may hold (200 MiB; ``MFM_APP_SESSION_UPLOAD_BYTES``); one file is capped
at 100 MB by ``server.maxUploadSize``."""


def model_cache_bytes() -> int:
    """The app's model cache bound: ``MFM_APP_MODEL_CACHE_BYTES`` or `MODEL_CACHE_BYTES`."""
    return _environment_bytes("MFM_APP_MODEL_CACHE_BYTES", MODEL_CACHE_BYTES)


def resident_bytes(value: Any) -> int:
    """Bytes a cached value keeps alive: parameters and buffers of a model with its metadata and config (as JSON),
    tensors of a producer's state_dict, the bytes of an imported checkpoint, the text of a refusal."""
    if isinstance(value, LoadedCheckpoint):
        tensors = list(value.model.parameters()) + list(value.model.buffers())
        text = json.dumps(value.metadata, default=str) + json.dumps(value.config.to_dict(), default=str)
        return sum(t.numel() * t.element_size() for t in tensors) + len(text.encode())
    if isinstance(value, ProducerUpload):
        return sum(t.numel() * t.element_size() for t in value.weights.state.values())
    if isinstance(value, ImportedCheckpoint):
        return resident_bytes(value.checkpoint) + len(value.data)
    return len(str(value).encode())


class BoundedCache:
    """A least-recently-used map bounded by the total `size(value)` of what it holds, not by a count; shared by
    every session, so it is thread-safe. A value larger than the bound is returned but not kept. Values evicted
    here live on only as long as a session still holds them."""

    def __init__(self, max_bytes: int, size: Callable[[Any], int] = resident_bytes):
        import threading
        from collections import OrderedDict

        self.max_bytes = max_bytes
        self._size = size
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._items.values())

    def __contains__(self, key: Any) -> bool:
        with self._lock:
            return key in self._items

    def get(self, key: Any, create: Callable[[], Any]) -> Any:
        """The value for `key`, made by `create()` (outside the lock: other sessions keep working) when absent."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = create()
        size = self._size(value)
        with self._lock:
            if key in self._items:  # another session made it meanwhile: keep one
                self._items.move_to_end(key)
                return self._items[key][0]
            if size <= self.max_bytes:
                self._items[key] = (value, size)
                total = sum(s for _, s in self._items.values())
                while total > self.max_bytes:
                    _, (_, evicted) = self._items.popitem(last=False)
                    total -= evicted
        return value


def session_upload_problem(sizes: Sequence[int]) -> str | None:
    """Why a session's uploader holds too much (file count or total bytes), or None; the limits come from the
    environment (see `SESSION_UPLOAD_FILES`, `SESSION_UPLOAD_BYTES`)."""
    most_files = _environment_bytes("MFM_APP_SESSION_UPLOAD_FILES", SESSION_UPLOAD_FILES)
    most_bytes = _environment_bytes("MFM_APP_SESSION_UPLOAD_BYTES", SESSION_UPLOAD_BYTES)
    if len(sizes) > most_files:
        return (
            f"the uploader holds {len(sizes)} files; this app takes at most {most_files} per session. Remove the "
            "earlier ones (×) and upload again."
        )
    if sum(sizes) > most_bytes:

        def size(n: int) -> str:
            return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n:,} bytes"

        return (
            f"the uploader holds {size(sum(sizes))}; this app takes at most {size(most_bytes)} per session. Remove "
            "the earlier files (×) and upload again."
        )
    return None


# ---------------------------------------------------------------------------------------------------------------
# Checkpoint sources
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckpointSource:
    """Where a checkpoint comes from: a demo file or an upload, with the key under which the app caches it.

    `key` is the SHA-256 of the weights file, followed for safetensors by the first 16 hex digits of its JSON
    config's SHA-256 (the same weights under another config are another model). `weights` is a path (demo) or the
    uploaded bytes; `config` the uploaded JSON config of safetensors weights, or None. `producer_config` is a
    JSON file uploaded beside torch weights (`.pt`/`.pth`/`.bin`): used only when the weights turn out to be a
    producer's bare state_dict (the producer's config), as (name, bytes).
    """

    name: str
    key: str
    sha256: str
    weights: str | bytes
    config: bytes | None = None
    uploaded: bool = False
    producer_config: tuple[str, bytes] | None = None

    @property
    def torch_weights(self) -> bool:
        """Whether the weights are a torch file (a checkpoint, or maybe a producer's state_dict), not safetensors."""
        return self.config is None and not self.name.lower().endswith(".safetensors")

    def weights_source(self) -> str | NamedBytes:
        """The weights as mfm's loaders take them: the path, or the uploaded bytes with their name and SHA-256
        (hashed once, in `upload_source`)."""
        if isinstance(self.weights, str):
            return self.weights
        return NamedBytes(self.weights, self.name, self.sha256)

    def config_source(self) -> NamedBytes | None:
        """The uploaded JSON config with its name, or None (a demo's config is read from beside the file)."""
        if self.config is None:
            return None
        return NamedBytes(self.config, str(Path(self.name).with_suffix(".json")))


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def demo_checkpoints(directory: str | os.PathLike | None = None) -> list[Path]:
    """The demo checkpoint files, sorted by name: every `.pt`, and `.safetensors` with a `.json` beside it.

    The folder is `directory`, else the environment variable `MFM_DEMO_DIR`, else `assets/checkpoints/`.
    """
    folder = Path(directory or os.environ.get("MFM_DEMO_DIR") or DEMO_DIR)
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if p.is_file()]
    chosen = [p for p in files if p.suffix == ".pt"]
    chosen += [p for p in files if p.suffix == ".safetensors" and p.with_suffix(".json").is_file()]
    return sorted(chosen, key=lambda p: p.name)


def demo_source(path: str | os.PathLike, sha256: str) -> CheckpointSource:
    """A demo checkpoint as a source (its config, for safetensors, is the `.json` beside it)."""
    path = Path(path)
    key = sha256
    if path.suffix == ".safetensors":
        key += ":" + sha256_bytes(path.with_suffix(".json").read_bytes())[:16]
    return CheckpointSource(name=path.name, key=key, sha256=sha256, weights=str(path))


TORCH_SUFFIXES = (".pt", ".pth", ".bin")
"""Torch files: MFM checkpoints (`.pt`), or the state_dicts the authors' code and MMSA save (`.pth`, `.bin`)."""


UPLOAD_TYPES = ("pt", "pth", "bin", "safetensors", "json")
"""File types the app's uploader accepts."""


def is_weights_name(name: str) -> bool:
    """Whether a file name is that of weights (torch or safetensors), not of a JSON config."""
    return Path(name).suffix.lower() in (*TORCH_SUFFIXES, ".safetensors")


def active_uploads(
    files: Sequence[tuple[str, str]], seen: Collection[str], active: Collection[str]
) -> list[str]:
    """The ids of the uploaded files that make the current upload, so that a new upload replaces the earlier one.

    Streamlit's uploader keeps every file until the user removes it. `files` are the uploader's (file id, name)
    now, `seen` the ids it held on the previous run and `active` the ids chosen then. When new files include
    weights, they alone are the upload (with any JSON that came with them); a JSON added later joins the current
    upload; with nothing new, the current upload stays. When no weights would be left (the user removed them), all
    files are taken, so that the usual messages explain what is there.
    """
    new = [(i, n) for i, n in files if i not in seen]
    if any(is_weights_name(n) for _, n in new):
        return [i for i, _ in new]
    chosen = [i for i, _ in files if i in active] + [i for i, _ in new]
    names = dict(files)
    if not any(is_weights_name(names[i]) for i in chosen):
        return [i for i, _ in files]
    return chosen


def upload_source(files: Sequence[tuple[str, bytes]]) -> CheckpointSource | None:
    """Pick the checkpoint among uploaded files (name, bytes): one torch file (`.pt`, `.pth`, `.bin`, with at most
    one `.json`: a producer's config, should the file be a producer's state_dict), or one `.safetensors` with one
    `.json`.

    Returns None when nothing is uploaded; raises CheckpointError with a message for a person when the files do
    not make one checkpoint. The bytes are not parsed here: `mfm.checkpoint.load_checkpoint` does that, as data.
    """
    if not files:
        return None
    by_kind: dict[str, list[tuple[str, bytes]]] = {}
    for name, data in files:
        by_kind.setdefault(Path(name).suffix.lower(), []).append((name, data))
    unknown = sorted(set(by_kind) - {*TORCH_SUFFIXES, ".safetensors", ".json"})
    if unknown:
        raise CheckpointError(
            f"unsupported file type(s) {unknown}: upload a .pt checkpoint, .safetensors + .json, or a "
            "state_dict (.pt, .pth, .bin) saved by the authors' code or MMSA with its config .json"
        )
    torch_files = [f for suffix in TORCH_SUFFIXES for f in by_kind.get(suffix, [])]
    weights = torch_files + by_kind.get(".safetensors", [])
    configs = by_kind.get(".json", [])
    if not weights:
        raise CheckpointError(
            "a .json config alone is not a checkpoint: upload the weights (.safetensors, or a producer's "
            ".pth / .bin / .pt state_dict) together with it"
        )
    if len(weights) > 1:
        names = ", ".join(name for name, _ in weights)
        raise CheckpointError(f"upload one checkpoint at a time (got {names}); remove the others")
    name, data = weights[0]
    if Path(name).suffix.lower() in TORCH_SUFFIXES:
        if len(configs) > 1:
            names = ", ".join(n for n, _ in configs)
            raise CheckpointError(f"upload at most one .json config with {name} (got {names})")
        sha = sha256_bytes(data)
        return CheckpointSource(
            name=name,
            key=sha,
            sha256=sha,
            weights=data,
            uploaded=True,
            producer_config=configs[0] if configs else None,
        )
    if len(configs) != 1:
        raise CheckpointError(
            f"{name} holds safetensors weights and needs its JSON config: upload exactly one .json with it "
            f"(got {len(configs)})"
        )
    config = configs[0][1]
    sha = sha256_bytes(data)
    return CheckpointSource(
        name=name,
        key=f"{sha}:{sha256_bytes(config)[:16]}",
        sha256=sha,
        weights=data,
        config=config,
        uploaded=True,
    )


# ---------------------------------------------------------------------------------------------------------------
# Opening a source: a checkpoint, or a producer's state_dict to import
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProducerUpload:
    """Torch weights that are not an MFM checkpoint but a bare state_dict in the layout of a known producer (the
    authors' code or MMSA), read weights-only and waiting for the config (or T) and data set to import them."""

    name: str
    producer: str  # "official" or "mmsa" (mfm.importers.PRODUCERS)
    weights: ProducerWeights

    @property
    def producer_name(self) -> str:
        """The producer in words, e.g. "MMSA (thuiar/MMSA)"."""
        return PRODUCER_NAMES[self.producer]


def open_source(source: CheckpointSource) -> LoadedCheckpoint | ProducerUpload:
    """The validated checkpoint of `source`, or, when its torch weights are a producer's bare state_dict, that
    state_dict recognised (to be imported with `import_upload`).

    Everything goes through mfm's loaders, which read weights only and never fall back to unpickling code:
    `mfm.checkpoint.load_checkpoint` first; only when it refuses torch weights, `mfm.importers.read_producer_weights`
    (the same weights-only read, which also admits torch's legacy format, what the authors' code wrote). Raises
    CheckpointError with the loader's message (for a whole pickled module: the one-line command that re-saves it as
    a state_dict), or saying that the keys match no known producer.
    """
    try:
        return load_checkpoint(source.weights_source(), config_json=source.config_source())
    except CheckpointError as exc:
        if not source.torch_weights:
            raise
        refusal = exc
    try:
        read = read_producer_weights(source.weights_source())
    except CheckpointError:
        raise refusal from None  # not a state_dict either: the loader's own message says what it is
    producer = recognise(read.state)
    if producer is not None:
        return ProducerUpload(source.name, "mmsa" if read.prefixed else producer, read)
    if "format" in read.state:  # an MFM checkpoint the loader refused for a reason of its own
        raise refusal
    shown = ", ".join(list(read.state)[:3]) + (", ..." if len(read.state) > 3 else "")
    raise CheckpointError(
        f"{source.name} is neither an MFM checkpoint nor an MFM state_dict of a known producer (the authors' "
        f"code, pliang279/factorized, or MMSA): its keys ({shown}) are not those of either layout"
    ) from None


def split_command(message: str) -> tuple[str, str | None]:
    """(text, command): a loader message whose last lines hold a shell command to copy (`python ...`), split so
    the command can be shown on its own; (message, None) when it holds none."""
    lines = message.splitlines()
    for i, line in enumerate(lines):
        if i and line.strip().startswith("python "):
            return "\n".join(lines[:i]).strip(), "\n".join(x.strip() for x in lines[i:])
    return message, None


SEQUENCE_MODALITIES = ("language", "acoustic", "visual")


def import_datasets() -> list[str]:
    """The data sets an imported MFM can read: those with the producers' three sequence modalities."""
    return [spec.name for spec in list_datasets() if tuple(spec.modalities) == SEQUENCE_MODALITIES]


def default_import_dataset(producer: str) -> str:
    """The data set a producer's MFM most likely reads: MMSA's pickles, or the MFN h5 files of the authors' code."""
    return "mosi-pickle" if producer == "mmsa" else "mosi"


def generated_data_version(dataset: str) -> int | None:
    """The generator version of a generated data set that an imported model can read (sentiment), else None."""
    if dataset == "sentiment":
        from mfm.data.sentiment import GENERATOR_VERSION

        return GENERATOR_VERSION
    return None


def producer_config_steps(producer: str, config: tuple[str, bytes] | None) -> int | None:
    """T as the producer's config states it (MMSA: `seq_lens`; the official configs do not), or None.

    Raises ConfigError when the file is not JSON or not that producer's config.
    """
    if config is None:
        return None
    return sizes_from_config(producer, parse_config_json(NamedBytes(config[1], config[0]))).steps


@dataclass(frozen=True)
class ImportedCheckpoint:
    """A producer's state_dict imported in memory: the version-2 checkpoint's bytes (for download), that checkpoint
    read back by `mfm.checkpoint.load_checkpoint` (what the pages use), and what the import did."""

    checkpoint: LoadedCheckpoint
    data: bytes
    file_name: str  # the converted checkpoint's name, e.g. mfm-mosi_mfm.pt
    source_name: str  # the uploaded state_dict's name
    producer: str
    command: str  # the equivalent `python -m mfm import` command
    dropped: list[str]

    @property
    def producer_name(self) -> str:
        """The producer in words."""
        return PRODUCER_NAMES[self.producer]


def import_upload(
    upload: ProducerUpload,
    *,
    config: tuple[str, bytes] | None,
    steps: int | None,
    dataset: str,
    generated_version: int | None = None,
    nonfinite: str = "refuse",
) -> ImportedCheckpoint:
    """Import `upload` with `mfm.importers.import_model` (the function behind `python -m mfm import`), in memory.

    `config` is the producer's config file (name, bytes) or None (then every size is inferred from the weights'
    shapes and `steps` is needed); `steps` overrides the config's T. `dataset` is recorded in the metadata as the
    data the model reads, with `nonfinite` as its data option; `generated_version` is recorded as the generator
    version of generated data only when the user states that the model was trained on it (the data's version check
    refuses generated data otherwise). Nothing is written to disk: the checkpoint is built as bytes and read back
    through the ordinary loader, so the pages see exactly what the download holds. Raises MFMError saying what is
    wrong (a missing, unexpected or mis-shaped key, a config that does not fit, no T).
    """
    parsed = parse_config_json(NamedBytes(config[1], config[0])) if config is not None else None
    result = import_model(upload.producer, upload.weights, parsed, steps=steps, dataset=dataset)
    file_name = Path(upload.name).stem + "_mfm.pt"
    command = ["python", "-m", "mfm", "import", "--from", upload.producer, upload.name]
    command += ["--config", config[0]] if config is not None else []
    command += ["--steps", str(steps)] if steps is not None else []
    command += ["--dataset", dataset] + (["--nonfinite", nonfinite] if nonfinite != "refuse" else [])
    command += ["--data-generator-version", str(generated_version)] if generated_version is not None else []
    command += ["--out", file_name]
    metadata = dict(result.metadata)
    metadata["data_options"] = {"nonfinite": nonfinite, "align": "none"}
    metadata["command"] = shlex.join(command)
    if generated_version is not None:
        metadata["data_generator_version"] = int(generated_version)
    data = checkpoint_bytes(result.model, metadata, result.objective)
    return ImportedCheckpoint(
        checkpoint=load_checkpoint(NamedBytes(data, file_name)),
        data=data,
        file_name=file_name,
        source_name=upload.name,
        producer=upload.producer,
        command=metadata["command"],
        dropped=list(result.dropped),
    )


def dataset_needs_folder(checkpoint: LoadedCheckpoint) -> bool:
    """Whether the data set the checkpoint names reads real files from a folder (not generated offline)."""
    known = {spec.name: spec for spec in list_datasets()}
    spec = known.get(checkpoint.metadata.get("dataset"))
    return bool(spec and spec.needs_data_dir)


LOCAL_ADDRESSES = frozenset({"127.0.0.1", "localhost", "::1"})
"""Server addresses that only this machine can reach."""


def data_root() -> Path | None:
    """The folder every data path typed into the app must lie in (``MFM_DATA_ROOT``), resolved; None if unset."""
    root = os.environ.get("MFM_DATA_ROOT")
    return Path(root).resolve() if root else None


def allowed_data_dir(path: str, *, server_address: str, root: Path | None) -> str:
    """`path` (typed in the app, or a checkpoint's recorded folder the user confirmed) resolved, if the app may
    open it; otherwise a DataError saying why.

    With a data root, the path (relative ones taken inside the root) must resolve, symbolic links followed, to the
    root or a path below it. Without one, paths are allowed only when the server listens on this machine alone
    (`LOCAL_ADDRESSES`): served beyond localhost, no typed path is opened until ``MFM_DATA_ROOT`` names a root.
    """
    from mfm.errors import DataError

    if "\x00" in path:
        raise DataError("a folder name cannot hold a NUL character")
    if root is not None:
        resolved = (root / path).resolve() if not Path(path).is_absolute() else Path(path).resolve()
        if resolved != root and root not in resolved.parents:
            raise DataError(f"{path!r} lies outside the data root this app reads from (MFM_DATA_ROOT)")
        return str(resolved)
    if server_address not in LOCAL_ADDRESSES:
        raise DataError(
            f"this app is served on {server_address or 'every address'}, beyond this machine: it opens no typed "
            "folder until the server names a data root (MFM_DATA_ROOT) to confine them to"
        )
    return str(Path(path).expanduser().resolve())


@dataclass(frozen=True)
class DataKey:
    """The identity of the data a checkpoint is analysed on (`data_key`): two checkpoints of one data set share
    the data; a different folder for real data, or another treatment of NaN / inf, is a different cache entry."""

    dataset: str
    seed: int
    data_dir: str | None  # the folder read, as the user gave or confirmed it; None: none
    shapes: tuple[tuple[str, tuple[int, ...]], ...]  # (modality, shape) of each modality
    generator_version: str  # so the data's version check runs for each recorded version
    nonfinite: str  # "refuse" or "zero"


def data_key(checkpoint: LoadedCheckpoint, data_dir: str | None, nonfinite: str | None = None) -> DataKey:
    """The identity of the data `checkpoint` is analysed on, read from `data_dir` (the folder to read, as the user
    gave or confirmed it: the folder the metadata records is not used here; see `interpret.context.dataset_for`).
    `nonfinite` ("refuse" or "zero") overrides what the checkpoint records (its "data_options"; by default
    "refuse")."""
    meta = checkpoint.metadata
    return DataKey(
        dataset=str(meta.get("dataset")),
        seed=int(meta.get("data_seed", 0) or 0),
        data_dir=data_dir or None,
        shapes=tuple((m.name, tuple(m.shape)) for m in checkpoint.config.modalities),
        generator_version=str(meta.get("data_generator_version")),
        nonfinite=nonfinite or recorded_data_options(meta)["nonfinite"],
    )


# ---------------------------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------------------------
def describe_label(value: float | int, task: str) -> str:
    """A label for display: a class id, or a sentiment score with sign."""
    if task == "classification":
        return f"class {int(value)}"
    return f"sentiment {float(value):+.2f}"


def describe_prediction(prediction: np.ndarray, task: str) -> str:
    """One sample's prediction for display: the predicted class with its probability, or the sentiment score."""
    prediction = np.asarray(prediction, dtype=np.float64)
    if task == "classification":
        probabilities = softmax(prediction)
        best = int(probabilities.argmax())
        return f"class {best} (p = {probabilities[best]:.2f})"
    return f"sentiment {float(prediction.reshape(-1)[0]):+.2f}"


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, computed stably."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------------------------
# Tables for the pages
# ---------------------------------------------------------------------------------------------------------------
def modality_rows(checkpoint: LoadedCheckpoint) -> list[dict[str, Any]]:
    """One row per modality: kind, shape, code and factor sizes, widths, its decoder (an image decoder's upsampling
    and extra convolutions), reconstruction weight λ_i (when the checkpoint records its objective)."""
    objective = checkpoint.objective
    return [
        {
            "modality": m.name,
            "kind": m.kind,
            "shape": " x ".join(str(s) for s in m.shape),
            "code z_i": m.code_dim,
            "factor F_i": m.factor_dim,
            "hidden": m.hidden_dim,
            "encoder width": m.encoder_width,
            "decoder": m.decoder_name,
            "λ_i (recon weight)": None if objective is None else objective.recon_weight(m.name),
        }
        for m in checkpoint.config.modalities
    ]


def metric_rows(metadata: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The metrics stored in a checkpoint's metadata as rows: split, modalities used, then one column per metric."""
    rows = []
    metrics = metadata.get("metrics")
    if not isinstance(metrics, dict):
        return rows
    for split, value in metrics.items():
        if not isinstance(value, dict):
            continue
        # "valid" holds one metrics dict; "test" holds {"all": {...}, "without_<m>": {...}}.
        entries = value.items() if all(isinstance(v, dict) for v in value.values()) else [("all", value)]
        for subset, numbers in entries:
            if isinstance(numbers, dict):
                row = {"split": split, "modalities": subset.replace("_", " ")}
                row.update({k: v for k, v in numbers.items() if isinstance(v, (int, float))})
                rows.append(row)
    return rows


def history_series(metadata: Mapping[str, Any]) -> dict[str, list[float]]:
    """Per-epoch curves from the metadata's training history: "epoch", "train <term>" and "valid <metric>"."""
    history = metadata.get("history")
    if not isinstance(history, list) or not history:
        return {}
    series: dict[str, list[float]] = {"epoch": []}
    for record in history:
        if not isinstance(record, dict):
            continue
        series["epoch"].append(record.get("epoch", len(series["epoch"]) + 1))
        for part in ("train", "valid"):
            for name, value in (record.get(part) or {}).items():
                series.setdefault(f"{part} {name}", []).append(float(value))
    return series


def information_rows(info: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per modality of `information_by_modality` output: estimates, intervals, null and the ratio."""
    rows = []
    for name, item in info.items():
        rows.append(
            {
                "modality": name,
                "I(F_y; X̂_i)": round(item.shared.value, 4),
                "I(F_y; X̂_i) interval": f"[{item.shared.low:.3f}, {item.shared.high:.3f}]",
                "null (95%) F_y": round(item.shared.null_high, 4),
                "I(F_i; X̂_i)": round(item.modality.value, 4),
                "I(F_i; X̂_i) interval": f"[{item.modality.low:.3f}, {item.modality.high:.3f}]",
                "null (95%) F_i": round(item.modality.null_high, 4),
                "r_i": round_significant(item.ratio),
                "r_i interval": f"[{item.ratio_low:.3g}, {item.ratio_high:.3g}]",
                "r_i floor": item.floor_note or "none",
                "above null": f"F_y {'yes' if item.shared.significant else 'no'}, "
                f"F_i {'yes' if item.modality.significant else 'no'}",
            }
        )
    return rows


def what_if_rows(summary: Mapping[str, Mapping[str, Any]], task: str) -> list[dict[str, Any]]:
    """One row per dropped modality of `missing_modality_summary` or `zero_fill_summary` output; the column names
    say which method gave the numbers ("inferred" by the surrogate, or "zero-filled")."""
    headline = "accuracy" if task == "classification" else "mae"
    rows = []
    for name, entry in summary.items():
        zero_fill = entry.get("method") == "zero_fill"
        without = "zero-filled" if zero_fill else "without"
        row = {
            "zero-filled" if zero_fill else "dropped": name,
            f"{headline} (all)": entry["metrics_full"].get(headline),
            f"{headline} ({without})": entry["metrics_without"].get(headline),
            "prediction change": entry["prediction_change"],
            "recon MSE with X_m": entry["reconstruction_mse_full"],
            "recon MSE from zeros" if zero_fill else "recon MSE inferred": entry[
                "reconstruction_mse_zero_fill" if zero_fill else "reconstruction_mse_surrogate"
            ],
            "recon MSE of the mean": entry.get("reconstruction_mse_mean"),
            "z_y MSE": entry["shared_code_mse"],
        }
        if "class_changed" in entry:
            row["class changed"] = entry["class_changed"]
        rows.append(row)
    return rows


def generation_abilities(model: MFM, dataset: Any, classifier_dir: str | None = None) -> Abilities:
    """The model's measured label-swap fidelity and style preservation on its data set (test split), as
    `python -m mfm evaluate` measures them, or why they cannot be measured for it."""

    config = model.config
    if config.task != "classification" or config.kind != "image":
        return swap_abilities(
            None,
            "they need an independent classifier of the generated modality, which exists for the digit images "
            f"only; this is a {config.kind} {config.task} model. What a label swap does can be judged by eye "
            "from the lines below",
        )
    try:
        swaps = image_generation_metrics(model, dataset, classifier_dir)
    except MFMError as exc:
        return swap_abilities(None, str(exc))
    return swap_abilities(swaps, "no independent classifier in assets/classifiers reads these modalities")


MISSING_READ_WARNING = 0.8
"""Below this share of generated-without-it images read as their sample's label, the Missing modality page warns."""


def missing_image_abilities(model: MFM, dataset: Any, max_samples: int = 500, seed: int = 0) -> Abilities:
    """Whether an image generated without its own input shows its sample's label, judged by the independent
    classifiers (assets/classifiers) on `max_samples` test samples (`mfm.eval.missing.missing_image_reading`): per
    modality, the share read right when generated without it (surrogate inference, or zero-filling for a model
    without it), with it, and of the real images; a warning below `MISSING_READ_WARNING`. Sequence and regression
    models: not measured, and why."""
    config = model.config
    if config.task != "classification" or config.kind != "image":
        return Abilities(
            [],
            [],
            "Whether a generated missing modality shows its label is not measured: it needs an independent "
            "classifier of the generated modality, which exists for the digit images only.",
        )
    measured, samples = missing_image_reading(model, dataset, max_samples, seed)
    if not measured:
        return Abilities(
            [],
            [],
            "Whether a generated missing modality shows its label is not measured: no independent classifier in "
            "assets/classifiers reads these modalities.",
        )
    without = "without it" if config.surrogate else "from its zero-filled input"
    rows = [
        {
            "measure": f"generated {without}: read as its label",
            **{m: f"{v['without']:.1%}" for m, v in measured.items()},
        },
        {
            "measure": "generated with it: read as its label",
            **{m: f"{v['with']:.1%}" for m, v in measured.items()},
        },
        {
            "measure": "real images read right (the ceiling)",
            **{m: f"{v['real']:.1%}" for m, v in measured.items()},
        },
    ]
    warnings = [
        f"{name}: only {v['without']:.0%} of the images generated {without} are read as their sample's label by an "
        f"independent classifier (real images: {v['real']:.0%}): what this page shows for a missing {name} often "
        "does not carry its label."
        for name, v in measured.items()
        if v["without"] < MISSING_READ_WARNING
    ]
    note = (
        f"Measured on {samples} test samples (seed {seed}) with the independent classifiers trained on real "
        "images only (assets/classifiers); "
        + (
            "surrogate inference (paper Eq. 5)."
            if config.surrogate
            else "zero-filling (this model has no surrogate)."
        )
    )
    return Abilities(rows, warnings, note)


MISSING_WARNING = 0.9
"""A modality generated without its input whose MSE reaches this share of the samples'-mean MSE carries almost
nothing of its sample: the Missing modality page warns."""


def missing_warnings(summary: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Warnings where a missing modality's generated X̂_m is no better than the samples' mean X_m (from
    `missing_modality_summary` or `zero_fill_summary`)."""
    warnings = []
    for name, entry in summary.items():
        zero_fill = entry.get("method") == "zero_fill"
        generated = entry["reconstruction_mse_zero_fill" if zero_fill else "reconstruction_mse_surrogate"]
        mean = entry.get("reconstruction_mse_mean")
        if mean is not None and mean > 0 and generated >= MISSING_WARNING * mean:
            how = "from the zero-filled input" if zero_fill else "without it"
            warnings.append(
                f"{name}: X̂_{name} generated {how} is not much closer to the real {name} than the samples' mean "
                f"is (MSE {generated:.3g}, {generated / mean:.0%} of {mean:.3g}): it does not reproduce the "
                "sample's own appearance. Whether it still shows the sample's label is another question (for "
                "the digit images, the classifier check below answers it)."
            )
    return warnings


def pretty_json(value: Any) -> str:
    """JSON text of builtins, indented, for the Model page's expanders."""
    return json.dumps(value, indent=2, sort_keys=False, default=str)


def planted_cut_rows(versions: InformationVersions, cut: PlantedCut) -> list[dict[str, Any]]:
    """Two rows, the model and its cut copy, for the cut modality: the exact raw F_y gradient flow (mean over samples
    and steps), both versions of I(F_y; X̂) with their nulls (column names as in `COMPARISON_LEGEND`)."""
    name = cut.modality
    rows = []
    for label, flow, observed, intervened in (
        ("this model", cut.model_shared_flow, versions.observational[name], versions.interventional[name]),
        (f"cut copy: {name} decoder blind to F_y", cut.shared_flow, cut.observational, cut.interventional),
    ):
        rows.append(
            {
                "model": label,
                "exact F_y flow": flow,
                "obs. I(F_y; X̂)": round(observed.shared.value, 4),
                "obs. null": round(observed.shared.null_high, 4),
                "obs. above null": _yes_no(above_null(observed.shared)),
                "int. I(F_y; X̂)": round(intervened.shared.value, 4),
                "int. null": round(intervened.shared.null_high, 4),
                "int. above null": _yes_no(above_null(intervened.shared)),
            }
        )
    return rows


def planted_cut_reading(cut: PlantedCut) -> str:
    """What the cut copy's numbers say, in words that follow them."""
    name, o, i = cut.modality, cut.observational.shared, cut.interventional.shared
    flow = (
        "its exact F_y gradient flow is 0"
        if cut.shared_flow_max == 0.0
        else f"its exact F_y gradient flow is {cut.shared_flow_max:.3g} at most (it should be 0)"
    )
    text = f"The copy's {name} decoder cannot see F_y: {flow} on {cut.flow_samples} samples. "
    i_above, o_above = above_null(i), above_null(o)
    if i_above is None:
        return (
            text
            + "Without a null (0 shuffled-pairs rounds) the estimates cannot be compared with independence."
        )
    if i_above:
        text += (
            f"Its interventional I(F_y; X̂) = {i.value:.3f} still exceeds its null ({i.null_high:.3f}). For a "
            "decoder that cannot use F_y the estimate is itself a draw from the null, so this happens by chance in "
            "about 5 % of seeds, more often with few shuffled-pairs rounds: try another seed or more rounds. "
        )
    else:
        text += (
            f"Its interventional I(F_y; X̂) = {i.value:.3f} lies within its null ({i.null_high:.3f}), as a measure "
            "of what the decoder uses must show. "
        )
    if o_above:
        text += (
            f"The paper's observational value is {o.value:.3f}, above its null ({o.null_high:.3f}): it measures "
            f"dependence, which F_y keeps with X̂_{name} through F_{name}, not use."
        )
    else:
        text += f"The paper's observational value is {o.value:.3f}, within its null ({o.null_high:.3f}) here."
    return text


def _yes_no(value: bool | None) -> str:
    return "n/a" if value is None else "yes" if value else "no"
