"""The model's configuration: one frozen dataclass, stored inside every checkpoint.

`MFMConfig` says everything needed to rebuild an MFM: which modalities it has (each a `ModalityConfig` naming its
kind, per-sample shape and code/factor sizes), the sizes of the shared (discriminative) code and factor, the fusion
encoder and the prediction task. It describes the architecture only, with every width the producers of MFMs (the
authors' code and MMSA) set on their own; the weights of the training objective are an `ObjectiveConfig`, which a
checkpoint keeps in its metadata. Both validate themselves on construction, with upper bounds on every size, so a
checkpoint that declares absurd sizes is refused before anything is allocated.

Optional widths and dropouts (`None`) fall back to a shared default, which is what version-1 checkpoints meant:
a modality's `encoder_hidden_dim` to its `hidden_dim`, its `factor_hidden_dim` to the config's, every dropout to
the config's `dropout`, and the MFN's candidate and gate widths to `mfn_attention_hidden_dim`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
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
DROPOUT_FIELDS = (
    "shared_factor_dropout",
    "head_dropout",
    "mfn_attention_dropout",
    "mfn_candidate_dropout",
    "mfn_gamma1_dropout",
    "mfn_gamma2_dropout",
)


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


UPSAMPLINGS = ("transposed", "resize")
"""An image decoder's ways of doubling its resolution (`ModalityConfig.upsampling`)."""
MAX_REFINE_LAYERS = 4
"""Most extra convolutions an image decoder may add at each resolution (`ModalityConfig.refine_layers`)."""
COMPOSITES = ("none", "ink", "two_tone")
"""How an image decoder's last layer may make colours (`ModalityConfig.composite`)."""


@dataclass(frozen=True)
class ModalityConfig:
    """One modality X_i: its kind, per-sample shape, and the sizes of its generative code z_i and factor F_i.

    `shape` is (T, D) for a sequence and (C, H, W) for an image. `hidden_dim` is this modality's width inside the
    shared encoder (its LSTM cell in the Memory Fusion Network, or its feature encoder's base width in concat
    fusion), inside the surrogate networks, and the base width of an image decoder. `encoder_hidden_dim` is the
    width of the modality encoder that gives z_i (its LSTM for a sequence, its base width for an image; default
    `hidden_dim`); the authors' code and MMSA set it to the code size z_i. `factor_hidden_dim` and
    `factor_dropout` shape the factor map z_i -> F_i (defaults: the MFMConfig's); both producers use F_i's size.
    `upsampling` (images only): how the decoder doubles its resolution, "transposed" (4 x 4 stride-2 transposed
    convolutions, the default) or "resize" (nearest-neighbour doubling, then a 3 x 3 convolution: every output
    pixel gets the same number of kernel taps, so the decoder cannot draw the checkerboard of uneven overlap;
    Odena, Dumoulin & Olah 2016). `refine_layers` (images only, default 0): 3 x 3 convolutions (BatchNorm, ReLU)
    added after each upsampling, at that resolution and width, so the decoder has more capacity where it draws
    the strokes than one layer per resolution gives it. `composite` (images only): how the decoder's last layer
    makes colours. "none" (the default): each pixel's colour from the convolutions. "ink": a layer of ink over a
    background, X̂ = α c + (1 - α) B, with the ink's coverage α (H x W) and the background B (C x H x W) from the
    convolutions and one ink colour c (C values) per image read linearly from [F_y ; F_i]. "two_tone": two
    colours per image read linearly from [F_y ; F_i], the ink's c and the background's b, and only the coverage
    from the convolutions: X̂ = α c + (1 - α) b. (true and false, which an earlier version wrote, read as "ink"
    and "none".)
    """

    name: str
    kind: ModalityKind
    shape: tuple[int, ...]
    code_dim: int
    factor_dim: int
    hidden_dim: int
    encoder_hidden_dim: int | None = None
    factor_hidden_dim: int | None = None
    factor_dropout: float | None = None
    upsampling: str = "transposed"
    refine_layers: int = 0
    composite: str = "none"

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
        for name in ("encoder_hidden_dim", "factor_hidden_dim"):
            if getattr(self, name) is not None:
                _check_int(owner, name, getattr(self, name), 1, MAX_WIDTH)
        if self.factor_dropout is not None:
            _check_float(owner, "factor_dropout", self.factor_dropout, 0.0, 0.95)
        if self.upsampling not in UPSAMPLINGS or (
            self.kind == "sequence" and self.upsampling != "transposed"
        ):
            raise ConfigError(
                f"{owner}.upsampling must be one of {', '.join(UPSAMPLINGS)} (images only), got {self.upsampling!r}"
            )
        _check_int(owner, "refine_layers", self.refine_layers, 0, MAX_REFINE_LAYERS)
        if self.kind == "sequence" and self.refine_layers:
            raise ConfigError(f"{owner}.refine_layers is for image decoders only, got {self.refine_layers}")
        if isinstance(self.composite, bool):
            object.__setattr__(self, "composite", "ink" if self.composite else "none")
        if self.composite not in COMPOSITES:
            raise ConfigError(
                f"{owner}.composite must be one of {', '.join(COMPOSITES)}, got {self.composite!r}"
            )
        if self.kind == "sequence" and self.composite != "none":
            raise ConfigError(f"{owner}.composite is for image decoders only")

    @property
    def decoder_name(self) -> str:
        """The decoder in words: "LSTM" for a sequence; an image decoder's upsampling, extra convolutions and
        output, e.g. "transposed", "resize + 1 refine" or "transposed, ink composite"."""
        if self.kind == "sequence":
            return "LSTM"
        name = self.upsampling + (f" + {self.refine_layers} refine" if self.refine_layers else "")
        return name + (f", {self.composite.replace('_', '-')} composite" if self.composite != "none" else "")

    @property
    def encoder_width(self) -> int:
        """The modality encoder's width: `encoder_hidden_dim`, or `hidden_dim` when that is not set."""
        return self.hidden_dim if self.encoder_hidden_dim is None else self.encoder_hidden_dim


@dataclass(frozen=True)
class MFMConfig:
    """The architecture of a Multimodal Factorization Model (what builds it; the objective is `ObjectiveConfig`).

    Codes: the shared discriminative code z_y (size `shared_code_dim`) and one generative code z_i per modality.
    Factors: F = ReLU(fc2(Dropout(ReLU(fc1(z))))); the shared map's hidden width is `shared_factor_hidden_dim`
    (default `factor_hidden_dim`, which is also each modality map's default). Label head:
    Ŷ = fc2(Dropout(ReLU(fc1(F_y)))) with hidden width `head_hidden_dim`.
    Fusion: "mfn" (Memory Fusion Network, sequences of equal length) or "concat" (one feature encoder per modality,
    concatenated, then a linear layer), which encodes z_y from all modalities. The MFN's memory has
    `mfn_memory_dim` units; its four inner networks (attention NN1, candidate NN2, gates Γ1, Γ2) have their own
    hidden widths and dropouts; `mfn_window` is the number of steps of cell states the attention reads (2, the
    only value the MFN defines).
    Surrogate inference (paper Eq. 5): with `surrogate=True` the model holds, for each modality m, a network that
    infers z_y and z_m from the other modalities. `style_adversaries` adds a label classifier on each z_i (used by
    the objective's style adversary term; not part of inference).
    `standardize_inputs`: every encoder (modality, fusion, surrogate) reads each feature of a sequence, or each
    channel of an image, shifted and scaled by its training-split mean and standard deviation, held in the model
    as buffers (`MFM.set_input_statistics`); decoders still generate, and are scored on, the raw inputs. The
    official code feeds raw features; with features of very different scales (COVAREP audio against word vectors)
    the large ones can saturate the LSTM gates.
    `dropout` is the default of every dropout left `None`.
    """

    modalities: tuple[ModalityConfig, ...]
    task: Task
    num_classes: int = 1
    shared_code_dim: int = 32
    shared_factor_dim: int = 16
    factor_hidden_dim: int = 64
    shared_factor_hidden_dim: int | None = None
    head_hidden_dim: int = 64
    fusion: Fusion = "mfn"
    fusion_hidden_dim: int = 128
    mfn_memory_dim: int = 64
    mfn_window: int = 2
    mfn_attention_hidden_dim: int = 64
    mfn_candidate_hidden_dim: int | None = None
    mfn_gamma1_hidden_dim: int | None = None
    mfn_gamma2_hidden_dim: int | None = None
    dropout: float = 0.1
    shared_factor_dropout: float | None = None
    head_dropout: float | None = None
    mfn_attention_dropout: float | None = None
    mfn_candidate_dropout: float | None = None
    mfn_gamma1_dropout: float | None = None
    mfn_gamma2_dropout: float | None = None
    surrogate: bool = False
    surrogate_hidden_dim: int = 64
    style_adversaries: bool = False
    standardize_inputs: bool = False

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
        for name in (
            "shared_factor_hidden_dim",
            "mfn_candidate_hidden_dim",
            "mfn_gamma1_hidden_dim",
            "mfn_gamma2_hidden_dim",
        ):
            if getattr(self, name) is not None:
                _check_int("config", name, getattr(self, name), 1, MAX_WIDTH)
        _check_int("config", "mfn_window", self.mfn_window, 1, 64)
        if self.mfn_window != 2:
            # The MFN's attention reads [c_{t-1} ; c_t]: the published model (and both producers' code) only
            # define a window of two steps; the producers' configs carry the field, so it is kept and checked.
            raise ConfigError(f"config.mfn_window must be 2 (the MFN reads two steps), got {self.mfn_window}")
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
        for name in DROPOUT_FIELDS:
            if getattr(self, name) is not None:
                _check_float("config", name, getattr(self, name), 0.0, 0.95)
        for flag in ("surrogate", "style_adversaries", "standardize_inputs"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"config.{flag} must be true or false, got {getattr(self, flag)!r}")
        if self.surrogate and len(mods) < 2:
            raise ConfigError("surrogate inference needs at least two modalities")
        if self.style_adversaries and self.task != "classification":
            raise ConfigError(
                "style_adversaries need a classification task (they predict the class from z_i)"
            )

    # -- resolved widths and dropouts (None falls back to the shared default) ---------------------------------
    def dropout_of(self, part: str) -> float:
        """The dropout of a part: "shared_factor", "head", "mfn_attention", "mfn_candidate", "mfn_gamma1",
        "mfn_gamma2", or "factor:<modality>"."""
        if part.startswith("factor:"):
            value = self.modality(part.split(":", 1)[1]).factor_dropout
        else:
            value = getattr(self, f"{part}_dropout")
        return self.dropout if value is None else value

    def factor_width(self, name: str | None = None) -> int:
        """Hidden width of a factor map: the shared one (`name` None) or modality `name`'s."""
        value = self.shared_factor_hidden_dim if name is None else self.modality(name).factor_hidden_dim
        return self.factor_hidden_dim if value is None else value

    def mfn_width(self, part: str) -> int:
        """Hidden width of one of the MFN's inner networks: "attention", "candidate", "gamma1" or "gamma2"."""
        value = getattr(self, f"mfn_{part}_hidden_dim")
        return self.mfn_attention_hidden_dim if value is None else value

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


PER_MODALITY_FIELDS = ("recon_weights", "edge_weights", "foreground_weights")
"""`ObjectiveConfig` fields that map modality names to weights."""


def two_tone_modalities(config: MFMConfig) -> tuple[str, ...]:
    """The names of the colour image modalities whose decoders draw two tones (what `tone_weight` trains)."""
    return tuple(
        m.name
        for m in config.modalities
        if m.kind == "image" and m.composite == "two_tone" and m.shape[0] > 1
    )


def grey_image_modalities(config: MFMConfig) -> tuple[str, ...]:
    """The names of the one-channel image modalities (what `thickness_weight` trains)."""
    return tuple(m.name for m in config.modalities if m.kind == "image" and m.shape[0] == 1)


@dataclass(frozen=True)
class ObjectiveConfig:
    """The weights of the training objective (mfm/losses.py); kept in a checkpoint's metadata, not in the model.

    `recon_weights`: λ_i per modality name (a name left out weighs 1). `mmd_weight`: λ_mmd on every code block.
    `surrogate_weight` and `surrogate_detach_targets`: the surrogate inference term (paper Eq. 5; the official code
    does not detach its targets; we do by default so that the surrogate learns to imitate the model rather than
    pull its codes toward what a subset of modalities can predict).
    Beyond the paper, all off by default: `style_adversary_weight` (each modality encoder learns to leave a label
    classifier on its z_i uncertain; needs a model built with `style_adversaries`), `swap_weight` (swap-cycle
    consistency), both ramped in linearly over the first `ramp_epochs` epochs; `foreground_weight` (image
    reconstruction errors weighted toward the strokes of a digit; `losses.foreground_weights`), `chroma_weight`
    (colour image errors in the colour directions weigh 1 + chroma_weight times the grey level's) and
    `colour_weight` (a colour image's digit and background colours must match its target's;
    `losses.reconstruction_losses`) and `edge_weight` (an image's edges must be as sharp as its target's;
    `losses.edge_error`); `edge_weights` and `foreground_weights` set those two per modality name (a name left
    out weighs `edge_weight` or `foreground_weight`);
    `tone_weight` (a "two_tone" decoder's two colours must be its target's digit and background colours;
    `losses.tone_error`; needs a colour image modality with such a decoder); `thickness_weight` (a grey-scale
    image's strokes must be as thick as its target's, by the area-and-perimeter width of its ink above half
    intensity after filling gaps and removing specks; `losses.thickness_error`; needs a grey-scale image
    modality; the shipped improved digits model uses it at 0.3).
    """

    recon_weights: tuple[tuple[str, float], ...] = ()
    mmd_weight: float = 1.0
    surrogate_weight: float = 1.0
    surrogate_detach_targets: bool = True
    style_adversary_weight: float = 0.0
    swap_weight: float = 0.0
    foreground_weight: float = 0.0
    chroma_weight: float = 0.0
    colour_weight: float = 0.0
    edge_weight: float = 0.0
    edge_weights: tuple[tuple[str, float], ...] = ()
    foreground_weights: tuple[tuple[str, float], ...] = ()
    tone_weight: float = 0.0
    thickness_weight: float = 0.0
    ramp_epochs: int = 0

    def __post_init__(self) -> None:
        for field in PER_MODALITY_FIELDS:
            object.__setattr__(self, field, _modality_weights(field, getattr(self, field)))
        for name in (
            "mmd_weight",
            "surrogate_weight",
            "style_adversary_weight",
            "swap_weight",
            "foreground_weight",
            "chroma_weight",
            "colour_weight",
            "edge_weight",
            "tone_weight",
            "thickness_weight",
        ):
            _check_float("objective", name, getattr(self, name), 0.0, 1e6)
        _check_int("objective", "ramp_epochs", self.ramp_epochs, 0, 10_000)
        if not isinstance(self.surrogate_detach_targets, bool):
            raise ConfigError(
                f"objective.surrogate_detach_targets must be true or false, got {self.surrogate_detach_targets!r}"
            )

    def recon_weight(self, name: str) -> float:
        """λ_i of modality `name` (1 when the objective does not name it)."""
        return dict(self.recon_weights).get(name, 1.0)

    def modality_edge_weight(self, name: str) -> float:
        """λ_e of modality `name`: its entry in `edge_weights`, else `edge_weight`."""
        return dict(self.edge_weights).get(name, self.edge_weight)

    def modality_foreground_weight(self, name: str) -> float:
        """The foreground strength of modality `name`: its entry in `foreground_weights`, else
        `foreground_weight`."""
        return dict(self.foreground_weights).get(name, self.foreground_weight)

    @property
    def uses_foreground(self) -> bool:
        """Whether any modality's reconstruction is weighted toward its foreground."""
        return self.foreground_weight > 0 or any(w > 0 for _, w in self.foreground_weights)

    @property
    def uses_edges(self) -> bool:
        """Whether any modality's reconstruction carries the edge term."""
        return self.edge_weight > 0 or any(w > 0 for _, w in self.edge_weights)

    def check_model(self, config: MFMConfig) -> None:
        """Refuse (ConfigError) an objective that the model `config` cannot train."""
        for field in PER_MODALITY_FIELDS:
            unknown = sorted(set(dict(getattr(self, field))) - set(config.modality_names))
            if unknown:
                raise ConfigError(
                    f"objective.{field} names {unknown}, which the model does not have {list(config.modality_names)}"
                )
        if self.style_adversary_weight > 0 and not config.style_adversaries:
            raise ConfigError(
                "style_adversary_weight needs a model built with style_adversaries (a classification model)"
            )
        if self.tone_weight > 0 and not two_tone_modalities(config):
            raise ConfigError(
                'tone_weight needs a colour image modality with a two-tone decoder ("composite": "two_tone")'
            )
        if self.thickness_weight > 0 and not grey_image_modalities(config):
            raise ConfigError("thickness_weight needs a grey-scale image modality (one channel)")

    def to_dict(self) -> dict[str, Any]:
        """Plain builtins, with the per-modality weights (`PER_MODALITY_FIELDS`) as name -> weight dicts."""
        out = dataclasses.asdict(self)
        for field in PER_MODALITY_FIELDS:
            out[field] = dict(getattr(self, field))
        return out

    @classmethod
    def from_dict(cls, data: Any) -> ObjectiveConfig:
        """Rebuild from `to_dict` output, refusing unknown fields."""
        return _build(cls, data, "objective")

    def replace(self, **changes: Any) -> ObjectiveConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def _modality_weights(field: str, weights: Any) -> tuple[tuple[str, float], ...]:
    """A modality name -> weight mapping (or pairs) as (name, float) pairs in the given order, each in [0, 1e6]."""
    if isinstance(weights, Mapping):
        weights = tuple(weights.items())
    if not isinstance(weights, (list, tuple)) or not all(
        isinstance(w, (list, tuple)) and len(w) == 2 and isinstance(w[0], str) for w in weights
    ):
        raise ConfigError(f"objective.{field} must map modality names to numbers")
    weights = tuple((str(n), w) for n, w in weights)
    if len({n for n, _ in weights}) != len(weights) or len(weights) > MAX_MODALITIES:
        raise ConfigError(f"objective.{field} names a modality twice or too many: {weights}")
    for name, weight in weights:
        _check_float("objective", f"{field}[{name!r}]", weight, 0.0, 1e6)
    return tuple((n, float(w)) for n, w in weights)


# Fields of a version-1 config that version 2 moved to the objective (and the per-modality λ_i).
V1_OBJECTIVE_FIELDS = (
    "mmd_weight",
    "surrogate_weight",
    "surrogate_detach_targets",
    "style_adversary_weight",
    "swap_weight",
    "foreground_weight",
    "ramp_epochs",
)


def split_v1_config(data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A version-1 config dict as (version-2 model config dict, objective dict); the model is the same.

    Version 1 kept the objective's weights in the model config and each modality's λ_i as `recon_weight`; a
    positive `style_adversary_weight` also built the style adversaries, which version 2 says with
    `style_adversaries`. Malformed input is passed through for `MFMConfig.from_dict` to refuse.
    """
    if not isinstance(data, dict):
        return data, {}
    config = dict(data)
    objective = {k: config.pop(k) for k in V1_OBJECTIVE_FIELDS if k in config}
    mods = config.get("modalities")
    if isinstance(mods, (list, tuple)) and all(isinstance(m, dict) for m in mods):
        config["modalities"] = [{k: v for k, v in m.items() if k != "recon_weight"} for m in mods]
        objective["recon_weights"] = {
            str(m.get("name")): m["recon_weight"] for m in mods if "recon_weight" in m
        }
    weight = objective.get("style_adversary_weight", 0)
    if isinstance(weight, (int, float)) and not isinstance(weight, bool):
        config["style_adversaries"] = weight > 0
    return config, objective


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


# The paper's objective with every λ_i = 1: the default wherever no objective is given.
PAPER_OBJECTIVE = ObjectiveConfig()
