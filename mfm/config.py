"""The model's configuration: one frozen dataclass, stored inside every checkpoint.

`MFMConfig` says everything needed to rebuild an MFM: which modalities it has (each a `ModalityConfig` naming its
kind, per-sample shape and code/factor sizes), the sizes of the shared (discriminative) code and factor, the fusion
encoder, the prediction task and the weights of the objective. It validates itself on construction, with upper
bounds on every size, so a checkpoint that declares absurd sizes is refused before anything is allocated.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any, Literal

from mfm.errors import ConfigError

ModalityKind = Literal["sequence", "image"]
Task = Literal["classification", "regression"]
Fusion = Literal["mfn", "concat"]

# Upper bounds on what a config may declare. They are far above any sensible MFM yet small enough that a hostile
# config cannot make the loader allocate gigabytes: the checkpoint loader also caps the total parameter count.
MAX_MODALITIES = 8
MAX_WIDTH = 4096  # any code, factor, hidden or feature size
MAX_STEPS = 4096  # sequence length T
MAX_IMAGE_SIDE = 256
MAX_CHANNELS = 4
MAX_CLASSES = 10_000
MAX_PARAMETERS = 200_000_000


def _check_int(owner: str, name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{owner}.{name} must be an integer, got {type(value).__name__} {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{owner}.{name} must be between {low} and {high}, got {value}")


def _check_float(owner: str, name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{owner}.{name} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{owner}.{name} must be between {low} and {high}, got {value}")


@dataclass(frozen=True)
class ModalityConfig:
    """One modality X_i: its kind, per-sample shape, and the sizes of its generative code z_i and factor F_i.

    `shape` is (T, D) for a sequence and (C, H, W) for an image. `hidden_dim` is the LSTM size of the sequence
    encoder (and of this modality's LSTM inside the Memory Fusion Network) or the base width of the convolutional
    encoder. `recon_weight` is λ_i, the weight of this modality's reconstruction error in the objective.
    """

    name: str
    kind: ModalityKind
    shape: tuple[int, ...]
    code_dim: int
    factor_dim: int
    hidden_dim: int
    recon_weight: float = 1.0

    def __post_init__(self) -> None:
        owner = f"modality {self.name!r}"
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ConfigError(f"a modality name must be a Python identifier, got {self.name!r}")
        if self.kind not in ("sequence", "image"):
            raise ConfigError(f"{owner}.kind must be 'sequence' or 'image', got {self.kind!r}")
        shape = tuple(self.shape) if isinstance(self.shape, (list, tuple)) else self.shape
        object.__setattr__(self, "shape", shape)
        if not isinstance(shape, tuple):
            raise ConfigError(f"{owner}.shape must be a list of integers, got {self.shape!r}")
        if self.kind == "sequence":
            if len(shape) != 2:
                raise ConfigError(f"{owner}: a sequence's shape is (T, D), got {shape}")
            _check_int(owner, "shape[0] (steps T)", shape[0], 1, MAX_STEPS)
            _check_int(owner, "shape[1] (features D)", shape[1], 1, MAX_WIDTH)
        else:
            if len(shape) != 3:
                raise ConfigError(f"{owner}: an image's shape is (C, H, W), got {shape}")
            _check_int(owner, "shape[0] (channels)", shape[0], 1, MAX_CHANNELS)
            _check_int(owner, "shape[1] (height)", shape[1], 8, MAX_IMAGE_SIDE)
            _check_int(owner, "shape[2] (width)", shape[2], 8, MAX_IMAGE_SIDE)
        for name in ("code_dim", "factor_dim", "hidden_dim"):
            _check_int(owner, name, getattr(self, name), 1, MAX_WIDTH)
        _check_float(owner, "recon_weight", self.recon_weight, 0.0, 1e6)

    @property
    def steps(self) -> int:
        """Number of time steps T of a sequence modality."""
        if self.kind != "sequence":
            raise ConfigError(f"modality {self.name!r} is an image and has no time steps")
        return self.shape[0]


@dataclass(frozen=True)
class MFMConfig:
    """Everything that defines a Multimodal Factorization Model.

    Codes: the shared discriminative code z_y (size `shared_code_dim`) and one generative code z_i per modality.
    Factors: F = ReLU(fc2(Dropout(ReLU(fc1(z))))) with hidden width `factor_hidden_dim`.
    Fusion: "mfn" (Memory Fusion Network, sequences of equal length) or "concat" (one feature encoder per modality,
    concatenated, then a linear layer), which encodes z_y from all modalities.
    Objective weights: `mmd_weight` (λ_mmd on every code block) and each modality's `recon_weight`.
    Surrogate inference (paper Eq. 5): with `surrogate=True` the model holds, for each modality m, a network that
    infers z_y and z_m from the other modalities, trained jointly with weight `surrogate_weight`.
    Extra terms beyond the paper, off by default: `style_adversary_weight` (a label classifier on each z_i, which
    each modality encoder learns to leave uncertain, so the style codes carry no label), `swap_weight` (swap-cycle
    consistency: decode with F_y of another sample, read the images back with the model held fixed, ask for that
    sample's label and the original style code), both ramped in linearly over the first `ramp_epochs` epochs;
    `foreground_weight` (image reconstruction errors weighted toward pixels far from the image's mean colour, so
    that the strokes of a digit count, not just its background; `losses.foreground_weights`).
    `standardize_inputs`: every encoder (modality, fusion, surrogate) reads each feature of a sequence, or each
    channel of an image, shifted and scaled by its training-split mean and standard deviation, held in the model
    as buffers (`MFM.set_input_statistics`); decoders still generate, and are scored on, the raw inputs. The
    official code feeds raw features; with features of very different scales (COVAREP audio against word vectors)
    the large ones can saturate the LSTM gates.
    `surrogate_detach_targets` stops gradients into the full-data codes the surrogate imitates (the official code
    does not; we do by default so that the surrogate learns to imitate the model rather than pull its codes toward
    what a subset of modalities can predict).
    """

    modalities: tuple[ModalityConfig, ...]
    task: Task
    num_classes: int = 1
    shared_code_dim: int = 32
    shared_factor_dim: int = 16
    factor_hidden_dim: int = 64
    head_hidden_dim: int = 64
    fusion: Fusion = "mfn"
    fusion_hidden_dim: int = 128
    mfn_memory_dim: int = 64
    mfn_attention_hidden_dim: int = 64
    dropout: float = 0.1
    mmd_weight: float = 1.0
    surrogate: bool = False
    surrogate_hidden_dim: int = 64
    surrogate_weight: float = 1.0
    surrogate_detach_targets: bool = True
    standardize_inputs: bool = False
    # Beyond the paper (all off by default; see mfm/losses.py for what each adds and why):
    style_adversary_weight: float = 0.0
    swap_weight: float = 0.0
    foreground_weight: float = 0.0
    ramp_epochs: int = 0

    def __post_init__(self) -> None:
        mods = self.modalities
        if isinstance(mods, list):
            mods = tuple(mods)
            object.__setattr__(self, "modalities", mods)
        if not isinstance(mods, tuple) or not 1 <= len(mods) <= MAX_MODALITIES:
            raise ConfigError(f"a model needs between 1 and {MAX_MODALITIES} modalities, got {mods!r}")
        if not all(isinstance(m, ModalityConfig) for m in mods):
            raise ConfigError("every entry of MFMConfig.modalities must be a ModalityConfig")
        names = [m.name for m in mods]
        if len(set(names)) != len(names):
            raise ConfigError(f"modality names must be unique, got {names}")
        if self.task not in ("classification", "regression"):
            raise ConfigError(f"task must be 'classification' or 'regression', got {self.task!r}")
        _check_int("config", "num_classes", self.num_classes, 1, MAX_CLASSES)
        if self.task == "classification" and self.num_classes < 2:
            raise ConfigError(f"a classification model needs num_classes >= 2, got {self.num_classes}")
        if self.task == "regression" and self.num_classes != 1:
            raise ConfigError(
                f"a regression model predicts one number: num_classes must be 1, got {self.num_classes}"
            )
        for name in (
            "shared_code_dim",
            "shared_factor_dim",
            "factor_hidden_dim",
            "head_hidden_dim",
            "fusion_hidden_dim",
            "mfn_memory_dim",
            "mfn_attention_hidden_dim",
            "surrogate_hidden_dim",
        ):
            _check_int("config", name, getattr(self, name), 1, MAX_WIDTH)
        if self.fusion not in ("mfn", "concat"):
            raise ConfigError(f"fusion must be 'mfn' or 'concat', got {self.fusion!r}")
        if self.fusion == "mfn":
            if any(m.kind != "sequence" for m in mods):
                raise ConfigError(
                    "the Memory Fusion Network ('mfn') fuses sequences only; use fusion='concat'"
                )
            if len({m.shape[0] for m in mods}) != 1:
                raise ConfigError("the Memory Fusion Network needs every sequence to have the same length T")
        _check_float("config", "dropout", self.dropout, 0.0, 0.95)
        _check_float("config", "mmd_weight", self.mmd_weight, 0.0, 1e6)
        _check_float("config", "surrogate_weight", self.surrogate_weight, 0.0, 1e6)
        _check_float("config", "style_adversary_weight", self.style_adversary_weight, 0.0, 1e6)
        _check_float("config", "swap_weight", self.swap_weight, 0.0, 1e6)
        _check_float("config", "foreground_weight", self.foreground_weight, 0.0, 1e6)
        _check_int("config", "ramp_epochs", self.ramp_epochs, 0, 10_000)
        if self.style_adversary_weight > 0 and self.task != "classification":
            raise ConfigError(
                "style_adversary_weight needs a classification task (it predicts the class from z_i)"
            )
        for flag in ("surrogate", "surrogate_detach_targets", "standardize_inputs"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"config.{flag} must be true or false, got {getattr(self, flag)!r}")
        if self.surrogate and len(mods) < 2:
            raise ConfigError("surrogate inference needs at least two modalities")

    # -- convenience -------------------------------------------------------------------------------------------
    @property
    def modality_names(self) -> tuple[str, ...]:
        """Modality names in the model's fixed order."""
        return tuple(m.name for m in self.modalities)

    def modality(self, name: str) -> ModalityConfig:
        """The config of modality `name`; raises ConfigError naming the known modalities otherwise."""
        for m in self.modalities:
            if m.name == name:
                return m
        raise ConfigError(f"unknown modality {name!r}; this model has {list(self.modality_names)}")

    @property
    def kind(self) -> str:
        """'image' when every modality is an image, 'sequence' when every one is a sequence, else 'mixed'."""
        kinds = {m.kind for m in self.modalities}
        return kinds.pop() if len(kinds) == 1 else "mixed"

    # -- (de)serialisation: plain builtins only, so a checkpoint never needs to unpickle a class ---------------
    def to_dict(self) -> dict[str, Any]:
        """The config as plain builtins (dicts, lists, str, int, float, bool), for checkpoints and JSON."""
        out = dataclasses.asdict(self)
        out["modalities"] = [{**m, "shape": list(m["shape"])} for m in out["modalities"]]
        return out

    @classmethod
    def from_dict(cls, data: Any) -> MFMConfig:
        """Rebuild a config from `to_dict` output, refusing unknown or missing fields with a clear message."""
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a dict, got {type(data).__name__}")
        data = dict(data)
        mods = data.pop("modalities", None)
        if not isinstance(mods, (list, tuple)):
            raise ConfigError("config.modalities must be a list of modality configs")
        if len(mods) > MAX_MODALITIES:
            raise ConfigError(f"a model needs between 1 and {MAX_MODALITIES} modalities, got {len(mods)}")
        modalities = tuple(_build(ModalityConfig, m, f"config.modalities[{i}]") for i, m in enumerate(mods))
        return _build(cls, {**data, "modalities": modalities}, "config")

    def replace(self, **changes: Any) -> MFMConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a dict, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    required = {
        f.name
        for f in fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    unknown = sorted(set(data) - known)
    missing = sorted(required - set(data))
    if unknown:
        raise ConfigError(f"{where} has unknown fields {unknown}")
    if missing:
        raise ConfigError(f"{where} is missing required fields {missing}")
    try:
        return cls(**data)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # e.g. an unhashable value where a string was expected
        raise ConfigError(f"{where} is invalid: {exc}") from None
