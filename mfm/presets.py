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

from mfm.config import MFMConfig, ModalityConfig
from mfm.errors import ConfigError

# name -> (hidden_dim, code_dim, factor_dim, recon_weight), the official MOSI setting.
MOSI_MODALITIES = {
    "language": (88, 32, 88, 1.0),
    "acoustic": (64, 8, 8, 0.01),
    "visual": (48, 80, 8, 0.5),
}
IMAGE_DEFAULTS = {"hidden_dim": 16, "code_dim": 16, "factor_dim": 16, "recon_weight": 1.0}


def modality_config(name: str, kind: str, shape: tuple[int, ...]) -> ModalityConfig:
    """The default config of one modality: the official MOSI sizes for its named streams, else generic sizes."""
    if kind == "sequence":
        hidden, code, factor, weight = MOSI_MODALITIES.get(name, (64, 32, 16, 1.0))
        return ModalityConfig(name, "sequence", tuple(shape), code, factor, hidden, weight)
    return ModalityConfig(name, "image", tuple(shape), **IMAGE_DEFAULTS)


def config_for_dataset(
    names: tuple[str, ...],
    shapes: dict[str, tuple[int, ...]],
    task: str,
    num_classes: int | None,
    *,
    surrogate: bool = True,
    **overrides: Any,
) -> MFMConfig:
    """A default `MFMConfig` for data with the modalities `names` and per-sample shapes (T, D) or (C, H, W).

    `overrides` replace config fields; `modalities` may be a dict of modality name -> field overrides, e.g.
    {"modalities": {"svhn": {"hidden_dim": 32}}} (what `python -m mfm train --config` passes through).
    """
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
    all_sequences = all(m.kind == "sequence" for m in mods) and len({m.shape[0] for m in mods}) == 1
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
