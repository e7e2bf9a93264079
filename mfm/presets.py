"""Model configurations for the project's data sets, so `python -m mfm train --dataset NAME` needs no config file.

Sequence models follow the official code's CMU-MOSI setting (REFERENCE.md section 1): MFN hidden sizes
language/acoustic/visual = 88/64/48, memory 64; codes z_y/z_l/z_a/z_v = 32/32/8/80; factors f_y/f_l/f_a/f_v =
16/88/8/8; λ_mmd = 1; reconstruction weights 1.0/0.01/0.5. One departure: the encoders read standardised inputs
(`standardize_inputs`, training-split statistics kept in the checkpoint), since raw features of very different
scales (word vectors against COVAREP audio) can saturate LSTM gates; decoders are still scored on the raw
features. Image models are this project's own design: small convolutional encoders and decoders, sized so that a
model trains on two CPU cores in minutes and its checkpoint stays well under 10 MB.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mfm.config import (
    PER_MODALITY_FIELDS,
    V1_OBJECTIVE_FIELDS,
    MFMConfig,
    ModalityConfig,
    ObjectiveConfig,
)
from mfm.errors import ConfigError

# name -> (hidden_dim, code_dim, factor_dim, recon_weight), the official MOSI setting.
MOSI_MODALITIES = {
    "language": (88, 32, 88, 1.0),
    "acoustic": (64, 8, 8, 0.01),
    "visual": (48, 80, 8, 0.5),
}
IMAGE_DEFAULTS = {"hidden_dim": 16, "code_dim": 16, "factor_dim": 16}
OBJECTIVE_FIELDS = frozenset(f.name for f in dataclasses.fields(ObjectiveConfig)) - set(PER_MODALITY_FIELDS)
# Objective weights a modality's overrides may name: the field of ObjectiveConfig each one fills.
PER_MODALITY_WEIGHTS = {
    "recon_weight": "recon_weights",
    "edge_weight": "edge_weights",
    "foreground_weight": "foreground_weights",
}


def modality_config(name: str, kind: str, shape: tuple[int, ...]) -> ModalityConfig:
    """The default config of one modality: the official MOSI sizes for its named streams, else generic sizes."""
    if kind == "sequence":
        hidden, code, factor, _ = MOSI_MODALITIES.get(name, (64, 32, 16, 1.0))
        return ModalityConfig(name, "sequence", tuple(shape), code, factor, hidden)
    return ModalityConfig(name, "image", tuple(shape), **IMAGE_DEFAULTS)


def default_recon_weight(name: str, kind: str) -> float:
    """λ_i of a modality by default: the official MOSI weights for its named streams, else 1."""
    return MOSI_MODALITIES.get(name, (0, 0, 0, 1.0))[3] if kind == "sequence" else 1.0


def setup_for_dataset(
    names: tuple[str, ...],
    shapes: dict[str, tuple[int, ...]],
    task: str,
    num_classes: int | None,
    *,
    surrogate: bool = True,
    **overrides: Any,
) -> tuple[MFMConfig, ObjectiveConfig]:
    """A default model config and objective for data with the modalities `names` and shapes (T, D) or (C, H, W).

    `overrides` may name fields of either (`MFMConfig` or `ObjectiveConfig`); `modalities` may map modality names
    to field overrides, among them the objective weights `recon_weight` (λ_i), `edge_weight` (λ_e of that
    modality alone) and `foreground_weight` (its foreground strength alone), e.g.
    {"modalities": {"svhn": {"hidden_dim": 32}, "mnist": {"edge_weight": 1.0}}, "mmd_weight": 0.5} (what
    `python -m mfm train --config` passes).
    A positive `style_adversary_weight` builds the model with its style adversaries.
    """
    overrides = dict(overrides)
    per_modality = overrides.get("modalities", {})
    if not isinstance(per_modality, dict) or not all(isinstance(v, dict) for v in per_modality.values()):
        raise ConfigError('"modalities" overrides must map modality names to field overrides, e.g. '
                          '{"svhn": {"hidden_dim": 32}}')  # fmt: skip
    named: dict[str, dict[str, Any]] = {field: {} for field in PER_MODALITY_WEIGHTS.values()}
    model_per_modality = {}
    for n, changes in per_modality.items():
        changes = dict(changes)
        for key, field in PER_MODALITY_WEIGHTS.items():
            if key in changes:
                named[field][n] = changes.pop(key)
        model_per_modality[n] = changes
    objective_changes = {k: overrides.pop(k) for k in OBJECTIVE_FIELDS & set(overrides)}
    overrides["modalities"] = model_per_modality
    weight = objective_changes.get("style_adversary_weight", 0)
    if isinstance(weight, (int, float)) and weight > 0:
        overrides.setdefault("style_adversaries", True)
    config = config_for_dataset(names, shapes, task, num_classes, surrogate=surrogate, **overrides)
    weights = {m.name: default_recon_weight(m.name, m.kind) for m in config.modalities}
    unknown = sorted(set().union(*named.values()) - set(weights))
    if unknown:
        raise ConfigError(f"no modality {unknown} to override; the data has {list(names)}")
    weights.update(named["recon_weights"])
    objective = ObjectiveConfig(
        recon_weights=weights,
        edge_weights=named["edge_weights"],
        foreground_weights=named["foreground_weights"],
        **objective_changes,
    )
    objective.check_model(config)
    return config, objective


def config_for_dataset(
    names: tuple[str, ...],
    shapes: dict[str, tuple[int, ...]],
    task: str,
    num_classes: int | None,
    *,
    surrogate: bool = True,
    **overrides: Any,
) -> MFMConfig:
    """A default `MFMConfig` (the architecture) for data with the modalities `names` and per-sample shapes.

    `overrides` replace config fields; `modalities` may be a dict of modality name -> field overrides, e.g.
    {"modalities": {"svhn": {"hidden_dim": 32}}}. Objective weights are `setup_for_dataset`'s.
    Sequences of different lengths cannot share a Memory Fusion Network: asking for fusion "mfn" on them is
    refused, and by default they are fused by concatenation ("concat"), which `fusion_note` says in words.
    """
    objective_fields = sorted((OBJECTIVE_FIELDS | set(V1_OBJECTIVE_FIELDS)) & set(overrides))
    if objective_fields:
        raise ConfigError(
            f"{objective_fields} are objective weights, not model fields (use setup_for_dataset)"
        )
    per_modality = overrides.pop("modalities", {})
    if not isinstance(per_modality, dict) or not all(isinstance(v, dict) for v in per_modality.values()):
        raise ConfigError('"modalities" overrides must map modality names to field overrides, e.g. '
                          '{"svhn": {"hidden_dim": 32}}')  # fmt: skip
    unknown = sorted(set(per_modality) - set(names))
    if unknown:
        raise ConfigError(f"no modality {unknown} to override; the data has {list(names)}")
    mods = []
    for n in names:
        default = modality_config(n, "sequence" if len(shapes[n]) == 2 else "image", shapes[n])
        changes = per_modality.get(n, {})
        fixed = sorted({"name", "kind", "shape"} & set(changes))
        if fixed:
            raise ConfigError(f"modality {n!r}: {fixed} come from the data and cannot be overridden")
        try:
            mods.append(dataclasses.replace(default, **changes))
        except TypeError as error:  # an unknown field name
            raise ConfigError(f"modality {n!r}: {error}") from None
    mods = tuple(mods)
    sequences = all(m.kind == "sequence" for m in mods)
    all_sequences = sequences and len({m.shape[0] for m in mods}) == 1
    if sequences and not all_sequences and overrides.get("fusion") == "mfn":
        lengths = {m.name: m.shape[0] for m in mods}
        raise ConfigError(
            f"the Memory Fusion Network steps all modalities together and needs one length T; these sequences "
            f"have {lengths}: align them (e.g. --align avg_pool) or use fusion 'concat'"
        )
    base: dict[str, Any] = {
        "modalities": mods,
        "task": task,
        "num_classes": num_classes if task == "classification" else 1,
        "fusion": "mfn" if all_sequences else "concat",
        "surrogate": surrogate and len(mods) > 1,
    }
    if all_sequences:
        base.update(
            shared_code_dim=32, shared_factor_dim=16, mfn_memory_dim=64, dropout=0.1, standardize_inputs=True
        )
    else:
        base.update(shared_code_dim=16, shared_factor_dim=16, fusion_hidden_dim=64, dropout=0.1)
    base.update(overrides)
    return MFMConfig(**base)


def fusion_note(config: MFMConfig) -> str | None:
    """A sentence for a person when the fusion encoder is not the paper's MFN for sequence data, else None."""
    sequences = [m for m in config.modalities if m.kind == "sequence"]
    if config.fusion == "concat" and len(sequences) == len(config.modalities):
        lengths = ", ".join(f"{m.name} {m.shape[0]}" for m in sequences)
        return (
            f"z_y is encoded by concatenated per-modality LSTM encoders, not the Memory Fusion Network: the "
            f"sequences differ in length ({lengths}); align them (--align avg_pool) to use the MFN"
        )
    return None
