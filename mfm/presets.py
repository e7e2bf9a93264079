"""Model configurations for the project's data sets, so `python -m mfm train --dataset NAME` needs no config file.

Sequence models follow the official code's CMU-MOSI setting (REFERENCE.md section 1): MFN hidden sizes
language/acoustic/visual = 88/64/48, memory 64; codes z_y/z_l/z_a/z_v = 32/32/8/80; factors f_y/f_l/f_a/f_v =
16/88/8/8; λ_mmd = 1; reconstruction weights 1.0/0.01/0.5. One departure: the encoders read standardised inputs
(`standardize_inputs`, training-split statistics kept in the checkpoint), since raw features of very different
scales (word vectors against COVAREP audio) saturate LSTM gates; decoders are still scored on the raw features. Image models are this project's own design: small
convolutional encoders and decoders, sized so that a model trains on two CPU cores in minutes and its checkpoint
stays well under 10 MB.
"""

from __future__ import annotations

from typing import Any

from mfm.config import MFMConfig, ModalityConfig

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
    modalities: tuple[str, ...],
    shapes: dict[str, tuple[int, ...]],
    task: str,
    num_classes: int | None,
    *,
    surrogate: bool = True,
    **overrides: Any,
) -> MFMConfig:
    """A default `MFMConfig` for data with these modalities and per-sample shapes (T, D) or (C, H, W)."""
    mods = tuple(
        modality_config(n, "sequence" if len(shapes[n]) == 2 else "image", shapes[n]) for n in modalities
    )
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
