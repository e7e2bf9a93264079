"""Independent digit classifiers: small CNNs that score generated images, trained apart from any MFM.

A label swap (decode G_m([F_y of class c ; F_m of a sample of another class])) succeeds when the generated image
shows digit c. Asking the MFM's own head would be circular, so each image modality gets its own classifier,
trained on the real images of the training split only, and shipped in `assets/classifiers/<modality>.pt`.

File format (version 1), a `torch.save`d dict of builtins and tensors only, loaded with `weights_only=True`
through the same archive checks as MFM checkpoints (`mfm.safe_load`):

    {"format": "mfm-digit-classifier", "version": 1,
     "shape": [C, H, W], "num_classes": K,
     "state_dict": {name: tensor, ...},
     "metadata": {...}}          # builtins: command, seed, wall time, accuracies, library versions, ...

`python -m mfm train-classifier --dataset digits --modality mnist --epochs 20 --seed 0 --out FILE` trains one
(with random shifts and random Gaussian blur as augmentation, so that it reads a smooth generated digit by its shape;
`--max-blur 0` turns the blur off; the sub-command is `mfm.eval.cli`).
"""

from __future__ import annotations

import copy
import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mfm.augment import random_blur, random_shift
from mfm.checkpoint import cpu_state_dict, stamped_metadata
from mfm.errors import CheckpointError, MFMError
from mfm.files import atomic_writer
from mfm.inference import ArrayLike, batches
from mfm.modes import inference
from mfm.progress import Progress
from mfm.safe_load import Source, read_source, to_builtins, torch_load, validate_state_dict

FORMAT = "mfm-digit-classifier"
VERSION = 1
TOP_LEVEL_KEYS = frozenset({"format", "version", "shape", "num_classes", "state_dict", "metadata"})
WIDTH = 32  # channels of the first conv block; the second has 2 * WIDTH
HIDDEN = 128  # units of the MLP head
MAX_CHANNELS, MIN_SIDE, MAX_SIDE, MAX_CLASSES = 4, 8, 256, 1000
# sigmas (pixels) at which train-classifier reports accuracy on blurred test images
BLUR_CHECKS = (1.0, 1.5, 2.0)


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    # Two 3x3 convolutions (BatchNorm, ReLU), then 2x2 max pooling: (B, in, H, W) -> (B, out, H/2, W/2).
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


class DigitClassifier(nn.Module):
    """A small CNN: two conv blocks (32, 64 channels) -> 4x4 average pool -> MLP (128) -> class logits.

    `shape` is one sample's (C, H, W); about 200k parameters (0.8 MB) whatever the image size, because the
    features are pooled to 4x4 before the head.
    """

    def __init__(self, shape: tuple[int, int, int], num_classes: int = 10) -> None:
        super().__init__()
        _check_architecture(shape, num_classes, "DigitClassifier")
        self.shape = tuple(int(s) for s in shape)
        self.num_classes = int(num_classes)
        self.features = nn.Sequential(_conv_block(self.shape[0], WIDTH), _conv_block(WIDTH, 2 * WIDTH))
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(2 * WIDTH * 16, HIDDEN),
            nn.ReLU(),
            nn.Dropout(0.3),
            nn.Linear(HIDDEN, self.num_classes),
        )

    def forward(self, images: Tensor) -> Tensor:
        """(B, C, H, W) images in [0, 1] -> (B, num_classes) logits."""
        return self.head(self.pool(self.features(images)))  # (B, 64, 4, 4) before the head


def _check_architecture(shape: Any, num_classes: Any, where: str) -> None:
    """Types and bounds of (shape, num_classes); raises ValueError (the loader turns it into CheckpointError)."""
    if (
        not isinstance(shape, (list, tuple))
        or len(shape) != 3
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in shape)
    ):
        raise ValueError(f"{where}: shape must be three integers (C, H, W), got {shape!r}")
    channels, height, width = shape
    if not 1 <= channels <= MAX_CHANNELS or not all(MIN_SIDE <= s <= MAX_SIDE for s in (height, width)):
        raise ValueError(
            f"{where}: shape {tuple(shape)} is out of range (1..{MAX_CHANNELS} channels, "
            f"sides {MIN_SIDE}..{MAX_SIDE})"
        )
    if (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, int)
        or not 2 <= num_classes <= MAX_CLASSES
    ):
        raise ValueError(f"{where}: num_classes must be an integer in 2..{MAX_CLASSES}, got {num_classes!r}")


# ---------------------------------------------------------------------------------------------------------------
# Prediction
# ---------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def classify(model: nn.Module, images: ArrayLike, batch_size: int = 256) -> np.ndarray:
    """Predicted classes (N,) int64 of images (N, C, H, W), in eval mode; the model's modes are restored after.

    `model` is any module mapping (B, C, H, W) to (B, K) logits, usually a `DigitClassifier`.
    """
    if len(images.shape) != 4:
        raise MFMError(f"classify: expected images of shape (N, C, H, W), got {tuple(images.shape)}")
    expected = getattr(model, "shape", None)
    if expected is not None and tuple(images.shape[1:]) != tuple(expected):
        raise MFMError(
            f"classify: the classifier reads {tuple(expected)} images, got {tuple(images.shape[1:])}"
        )
    if images.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    with inference(model):
        predicted = [
            model(batch["images"]).argmax(dim=1).cpu()  # (B,)
            for batch in batches(model, {"images": images}, batch_size)
        ]
    return torch.cat(predicted).numpy().astype(np.int64)


def accuracy(model: nn.Module, images: ArrayLike, labels: np.ndarray, batch_size: int = 256) -> float:
    """Fraction of `images` (N, C, H, W) that `model` assigns to `labels` (N,)."""
    labels = np.asarray(labels)
    if labels.shape != (images.shape[0],):
        raise MFMError(f"accuracy: labels {labels.shape} do not match {images.shape[0]} images")
    return float(np.mean(classify(model, images, batch_size) == labels)) if len(labels) else float("nan")


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------
def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    valid_images: np.ndarray,
    valid_labels: np.ndarray,
    *,
    epochs: int,
    seed: int,
    num_classes: int = 10,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    weight_decay: float = 1e-4,
    max_shift: int = 2,
    max_blur: float = 0.0,
    progress: Progress | None = None,
) -> tuple[DigitClassifier, dict[str, Any]]:
    """Train a `DigitClassifier` on images (N, C, H, W) in [0, 1] and int labels (N,); keep the best valid epoch.

    AdamW with a cosine learning-rate decay over all steps, cross-entropy, and as augmentation random shifts of up
    to `max_shift` pixels and random Gaussian blur of sigma up to `max_blur` pixels (`random_blur`). Deterministic
    on CPU for a seed: initialisation and dropout draw from a forked global RNG seeded with `seed` (the caller's
    RNG state is left as it was), shuffling from one generator, shifts and blur from another. `max_blur` defaults
    to 0 here so that older calls reproduce; `python -m mfm train-classifier` defaults to 2. `progress(done, total,
    stage)` is called after every step.

    Returns the model (eval mode, CPU) and metrics: train/valid accuracy of the kept epoch, its number, and the
    per-epoch history (mean loss, valid accuracy, seconds).
    """
    if epochs < 1 or batch_size < 2:
        raise ValueError("epochs must be >= 1 and batch_size >= 2")
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))  # (N, C, H, W)
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64))  # (N,)
    if x.ndim != 4 or y.shape != (x.shape[0],) or x.shape[0] < 2:
        raise MFMError(
            f"train_classifier: need images (N >= 2, C, H, W) and labels (N,), got {x.shape}, {y.shape}"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitClassifier(tuple(x.shape[1:]), num_classes)
        optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
        steps_per_epoch = -(-len(y) // batch_size)
        total = steps_per_epoch * epochs
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=total)
        shuffle = torch.Generator().manual_seed(seed)
        augment = torch.Generator().manual_seed(seed + 1)
        best_state, best_epoch, best_valid = None, 0, -1.0
        history: list[dict[str, float]] = []
        step = 0
        for epoch in range(1, epochs + 1):
            started = time.perf_counter()
            model.train()
            order = torch.randperm(len(y), generator=shuffle)
            loss_sum, batches = 0.0, 0
            for start in range(0, len(y), batch_size):
                index = order[start : start + batch_size]
                if len(index) < 2:  # BatchNorm needs two samples
                    continue
                batch = random_blur(random_shift(x[index], max_shift, augment), max_blur, augment)
                logits = model(batch)  # (B, K)
                loss = F.cross_entropy(logits, y[index])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
                loss_sum, batches, step = loss_sum + float(loss.detach()), batches + 1, step + 1
                if progress is not None:
                    progress(step, total, f"epoch {epoch}/{epochs}")
            valid = accuracy(model, valid_images, valid_labels)
            history.append(
                {
                    "epoch": epoch,
                    "loss": round(loss_sum / max(1, batches), 5),
                    "valid_accuracy": valid,
                    "seconds": round(time.perf_counter() - started, 2),
                }
            )
            if valid > best_valid:  # the earliest of equally good epochs
                best_state, best_epoch, best_valid = copy.deepcopy(model.state_dict()), epoch, valid
    assert best_state is not None  # at least one epoch ran
    model.load_state_dict(best_state)
    model.eval()
    metrics = {
        "train_accuracy": accuracy(model, x, y.numpy()),
        "valid_accuracy": best_valid,
        "best_epoch": best_epoch,
        "history": history,
    }
    return model, metrics


# ---------------------------------------------------------------------------------------------------------------
# Saving and loading
# ---------------------------------------------------------------------------------------------------------------
def classifier_payload(model: DigitClassifier, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The dict `save_classifier` writes: format tag, version, architecture, weights (CPU copies), metadata."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "shape": list(model.shape),
        "num_classes": model.num_classes,
        "state_dict": cpu_state_dict(model),
        "metadata": stamped_metadata(metadata),
    }


def save_classifier(
    path: str | os.PathLike, model: DigitClassifier, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write `model` and `metadata` (builtins only) as a version-1 classifier file; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as file:
        torch.save(classifier_payload(model, metadata), file)
    return path


def expected_classifier_shapes(shape: tuple[int, int, int], num_classes: int) -> dict[str, tuple[int, ...]]:
    """Every state_dict entry's shape, from a `DigitClassifier` built on the meta device (allocates nothing)."""
    with torch.device("meta"):
        model = DigitClassifier(shape, num_classes)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _validate_classifier_payload(payload: Any, name: str) -> tuple[tuple[int, int, int], int, dict[str, Any]]:
    if not isinstance(payload, dict):
        raise CheckpointError(f"{name} holds a {type(payload).__name__}, not a classifier dict")
    if payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{name} is not a digit classifier: 'format' is {payload.get('format')!r}, expected {FORMAT!r}"
        )
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"{name} has format version {payload.get('version')!r}; this program reads version {VERSION}"
        )
    missing, unknown = sorted(TOP_LEVEL_KEYS - set(payload)), sorted(set(payload) - TOP_LEVEL_KEYS)
    if missing or unknown:
        raise CheckpointError(f"{name}: missing keys {missing}, unexpected keys {unknown}")
    try:
        _check_architecture(payload["shape"], payload["num_classes"], name)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    if not isinstance(payload["metadata"], dict):
        raise CheckpointError(f"{name}: metadata must be a dict, got {type(payload['metadata']).__name__}")
    shape = tuple(payload["shape"])
    return shape, payload["num_classes"], to_builtins(payload["metadata"], "metadata")


def _validate_classifier_state(
    state: Any, shape: tuple[int, int, int], num_classes: int, name: str
) -> dict[str, Tensor]:
    return validate_state_dict(state, expected_classifier_shapes(shape, num_classes), name)


def load_classifier(
    source: Source, *, device: str | torch.device = "cpu"
) -> tuple[DigitClassifier, dict[str, Any]]:
    """Load and validate a classifier file (a path, bytes or a binary stream) -> (model in eval mode, metadata).

    Checks, before the model is allocated: a plain torch zip archive of bounded size; `weights_only=True`
    unpickling (nothing in the file is executed); the format tag, version and exact keys; the architecture's
    bounds; every weight's name, shape, dtype and finiteness against a model built on the meta device. The
    metadata gains "sha256" (of the file's bytes) and "source". Every failure raises `CheckpointError`.
    """
    data, name = read_source(source)
    payload = torch_load(data, name)
    shape, num_classes, metadata = _validate_classifier_payload(payload, name)
    state = _validate_classifier_state(payload["state_dict"], shape, num_classes, name)
    model = DigitClassifier(shape, num_classes)
    model.load_state_dict(state, strict=True)
    metadata["sha256"] = hashlib.sha256(data).hexdigest()
    metadata["source"] = name
    return model.to(device).eval(), metadata


# The independent classifiers shipped with the project (trained by `python -m mfm train-classifier`).
SHIPPED_CLASSIFIERS = Path(__file__).resolve().parents[2] / "assets" / "classifiers"


def load_classifiers(
    modalities: Sequence[str], directory: str | Path | None = None
) -> dict[str, DigitClassifier]:
    """The classifier `<directory>/<modality>.pt` of every modality that has one (default: the shipped ones)."""
    folder = Path(directory) if directory is not None else SHIPPED_CLASSIFIERS
    return {m: load_classifier(folder / f"{m}.pt")[0] for m in modalities if (folder / f"{m}.pt").is_file()}
