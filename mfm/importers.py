"""Import MFMs trained by other code: the authors' (pliang279/factorized) and MMSA's (thuiar/MMSA, PyPI `mmsa`).

Both producers build the same sequence MFM from the same module names (MMSA behind its AMIO wrapper's `Model.`
prefix) and save `torch.save(model.state_dict())` files: zip archives from current PyTorch, legacy pickles from
PyTorch 0.4 (the authors' code). The mapping onto this project's `MFM` (modalities language, acoustic, visual):

| producer key                          | this project                                          |
| ------------------------------------- | ----------------------------------------------------- |
| encoder_{l,a,v}.lstm.* (LSTMCell)     | modality_encoders.<m>.lstm.*_l0 (the same LSTM, run over the sequence) |
| encoder_{l,a,v}.fc1                   | modality_encoders.<m>.proj                            |
| mfn_encoder.lstm_{l,a,v}.*            | shared_encoder.cells.<m>.*                            |
| mfn_encoder.att1_fc1 / att1_fc2       | shared_encoder.attention.0 / .3 (NN1)                 |
| mfn_encoder.att2_fc1 / att2_fc2       | shared_encoder.candidate.0 / .3 (NN2)                 |
| mfn_encoder.gamma{1,2}_fc1 / _fc2     | shared_encoder.gamma{1,2}.0 / .3                      |
| last_to_zy_fc1                        | shared_encoder.proj                                   |
| zy_to_fy_fc{1,2}, z{l,a,v}_to_f{l,a,v}_fc{1,2} | shared_factor_map.fc{1,2}, modality_factor_maps.<m>.fc{1,2} |
| decoder_{l,a,v}.lstm.* / .fc1         | decoders.<m>.cell.* / .out                            |
| fy_to_y_fc{1,2}                       | head.fc{1,2}                                          |
| mfn_encoder.out_fc{1,2}               | dropped: MFN's own output head, never used by MFM's forward |

Anything else (e.g. the official `MFM_missing` surrogate encoders `encoder_la_to_v`, ..., an LSTM over the
concatenated observed modalities, which is not this project's surrogate architecture) is refused naming the key.
Sizes come from the producer's config when given, checked against every weight's shape, or are inferred from the
shapes; only the sequence length T cannot be, so it is asked for. The result is an ordinary version-2 checkpoint
with its provenance in the metadata.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from mfm.checkpoint import check_parameter_count
from mfm.config import MFMConfig, ModalityConfig, ObjectiveConfig
from mfm.errors import CheckpointError, ConfigError
from mfm.model import MFM
from mfm.safe_load import Source, read_source, read_weights, source_sha256, validate_state_dict
from mfm.safe_parse import ParseLimitError, load_json

PRODUCERS = ("official", "mmsa")
PRODUCER_NAMES = {"official": "the authors' code (pliang279/factorized)", "mmsa": "MMSA (thuiar/MMSA)"}
SHORT = {"language": "l", "acoustic": "a", "visual": "v"}
MMSA_PREFIX = "Model."
# The MFN's own prediction head: MFM reads the MFN's last state instead, so these weights are never used.
UNUSED_PREFIXES = ("mfn_encoder.out_fc1.", "mfn_encoder.out_fc2.")
_LSTM = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
_LINEAR = ("weight", "bias")
_MFN_INNER = {"attention": "att1", "candidate": "att2", "gamma1": "gamma1", "gamma2": "gamma2"}


def key_map() -> dict[str, str]:
    """producer key -> this project's state_dict key, for every weight an imported MFM has."""
    mapping: dict[str, str] = {}
    for name, s in SHORT.items():
        for w in _LSTM:
            mapping[f"encoder_{s}.lstm.{w}"] = f"modality_encoders.{name}.lstm.{w}_l0"
            mapping[f"decoder_{s}.lstm.{w}"] = f"decoders.{name}.cell.{w}"
            mapping[f"mfn_encoder.lstm_{s}.{w}"] = f"shared_encoder.cells.{name}.{w}"
        for w in _LINEAR:
            mapping[f"encoder_{s}.fc1.{w}"] = f"modality_encoders.{name}.proj.{w}"
            mapping[f"decoder_{s}.fc1.{w}"] = f"decoders.{name}.out.{w}"
            for k in (1, 2):
                mapping[f"z{s}_to_f{s}_fc{k}.{w}"] = f"modality_factor_maps.{name}.fc{k}.{w}"
    for w in _LINEAR:
        for ours, theirs in _MFN_INNER.items():
            mapping[f"mfn_encoder.{theirs}_fc1.{w}"] = f"shared_encoder.{ours}.0.{w}"
            mapping[f"mfn_encoder.{theirs}_fc2.{w}"] = f"shared_encoder.{ours}.3.{w}"
        mapping[f"last_to_zy_fc1.{w}"] = f"shared_encoder.proj.{w}"
        for k in (1, 2):
            mapping[f"zy_to_fy_fc{k}.{w}"] = f"shared_factor_map.fc{k}.{w}"
            mapping[f"fy_to_y_fc{k}.{w}"] = f"head.fc{k}.{w}"
    return mapping


@dataclass(frozen=True)
class ProducerWeights:
    """A producer's state_dict with MMSA's `Model.` prefix removed, and what was read."""

    state: dict[str, Tensor]
    source: str
    sha256: str
    prefixed: bool  # the keys carried MMSA's "Model." prefix


def strip_prefix(state: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], bool]:
    """Remove MMSA's AMIO `Model.` prefix when every key has it."""
    if state and all(k.startswith(MMSA_PREFIX) for k in state):
        return {k[len(MMSA_PREFIX) :]: v for k, v in state.items()}, True
    return dict(state), False


def recognise(state: Mapping[str, Any]) -> str | None:
    """Which producer's layout a bare state_dict has: "mmsa" (keys behind `Model.`), "official", or None.

    Both producers use the same module names; the `Model.` prefix of MMSA's wrapper is what tells them apart.
    """
    if not isinstance(state, Mapping) or not all(isinstance(k, str) for k in state):
        return None
    keys, prefixed = strip_prefix(state)
    markers = ("last_to_zy_fc1.weight", "mfn_encoder.lstm_l.weight_ih", "fy_to_y_fc2.weight")
    if not all(m in keys for m in markers):
        return None
    return "mmsa" if prefixed else "official"


def import_advice(payload: Any, name: str) -> str | None:
    """For a file that is a producer's bare state_dict rather than a checkpoint: what it is and the command that
    converts it. None when it is not one."""
    producer = recognise(payload)
    if producer is None:
        return None
    file = name.rsplit("/", 1)[-1]
    config = "mfm-mosi.json" if producer == "mmsa" else "config.json"
    return (
        f"{name} is not an MFM checkpoint but a bare state_dict in the layout of {PRODUCER_NAMES[producer]}"
        + (" (keys behind MMSA's 'Model.' prefix)" if producer == "mmsa" else "")
        + f". Convert it: python -m mfm import --from {producer} {file} --config {config} --out imported.pt "
        "(or --steps T instead of --config to infer the sizes from the weights)"
    )


def read_producer_weights(source: Source) -> ProducerWeights:
    """Read a producer's state_dict (zip or legacy torch format, `.pt`/`.pth`/`.bin`) without running its code."""
    data, name = read_source(source)
    state = read_weights(data, name)
    if not isinstance(state, dict) or not state or not all(isinstance(k, str) for k in state):
        raise CheckpointError(f"{name} does not hold a state_dict (a dict of weight name -> tensor)")
    state, prefixed = strip_prefix(state)
    return ProducerWeights(state, name, source_sha256(source, data), prefixed)


# ---------------------------------------------------------------------------------------------------------------
# Producer configs -> sizes
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sizes:
    """Every size and dropout of a producer's MFM, in the producer's terms (modality order l, a, v)."""

    input_dims: tuple[int, int, int]
    h_dims: tuple[int, int, int]
    memsize: int
    windowsize: int
    z: dict[str, int]  # y, l, a, v
    f: dict[str, int]
    inner: dict[str, int]  # attention, candidate, gamma1, gamma2 hidden widths
    output_dim: int
    steps: int | None = None
    dropouts: dict[str, float] | None = None  # None: unknown (inferred from shapes)
    inner_dropouts: dict[str, float] | None = None
    objective: dict[str, Any] | None = None  # the producer's loss weights, when its config gives them


def _field(config: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in config:
        raise ConfigError(f"the {where} config has no {key!r}")
    return config[key]


def _triple(value: Any, key: str) -> tuple[int, int, int]:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise ConfigError(f"{key} must list three sizes (language, acoustic, visual), got {value!r}")
    return tuple(int(v) for v in value)  # type: ignore[return-value]


def _inner_config(config: Any, name: str) -> tuple[int, float]:
    if not isinstance(config, Mapping) or "shapes" not in config:
        raise ConfigError(f"{name} must be a dict with 'shapes' and 'drop', got {config!r}")
    return int(config["shapes"]), float(config.get("drop", 0.0))


def sizes_from_config(producer: str, config: Any, steps: int | None = None) -> Sizes:
    """Sizes from a producer's config.

    official: the six dicts the authors' training scripts build, as a JSON list
    `[config, NN1Config, NN2Config, gamma1Config, gamma2Config, outConfig]` (`best_acc()` in mfm_mosi.py sets no
    `output_dim`; its search loop uses 1, taken as the default). mmsa: MMSA's flat argument dict (its
    `get_config_regression("mfm", DATASET)`: `feature_dims`, `hidden_dims`, `NN1Config`, ..., `seq_lens`).
    `steps` (T) overrides what the config says (MMSA: `seq_lens[0]`; the official configs do not say).
    """
    if producer == "official":
        if not isinstance(config, (list, tuple)) or len(config) != 6 or not isinstance(config[0], Mapping):
            raise ConfigError(
                "the official config must be the JSON list [config, NN1Config, NN2Config, gamma1Config, "
                "gamma2Config, outConfig] that the authors' training scripts build"
            )
        main, nn1, nn2, g1, g2, _out = config
        inputs, hidden = _field(main, "input_dims", "official"), _field(main, "h_dims", "official")
        inner = [_inner_config(c, n) for c, n in ((nn1, "NN1Config"), (nn2, "NN2Config"), (g1, "gamma1Config"), (g2, "gamma2Config"))]  # fmt: skip
        output_dim = int(main.get("output_dim", 1))
        config_steps = main.get("seqlength")
        where = "official"
    elif producer == "mmsa":
        if not isinstance(config, Mapping):
            raise ConfigError("the MMSA config must be its flat argument dict (a JSON object)")
        main = config
        inputs, hidden = _field(main, "feature_dims", "MMSA"), _field(main, "hidden_dims", "MMSA")
        inner = [_inner_config(_field(main, n, "MMSA"), n) for n in ("NN1Config", "NN2Config", "gamma1Config", "gamma2Config")]  # fmt: skip
        mode = main.get("train_mode", "regression")
        output_dim = int(main.get("num_classes", 1)) if mode == "classification" else 1
        lengths = main.get("seq_lens")
        config_steps = lengths[0] if isinstance(lengths, (list, tuple)) and lengths else None
        where = "MMSA"
    else:
        raise ConfigError(f"unknown producer {producer!r}; choose one of {', '.join(PRODUCERS)}")
    try:
        names = ("attention", "candidate", "gamma1", "gamma2")
        objective = {k: main[k] for k in ("lda_mmd", "lda_xl", "lda_xa", "lda_xv") if k in main}
        return Sizes(
            input_dims=_triple(inputs, "input_dims"),
            h_dims=_triple(hidden, "h_dims"),
            memsize=int(_field(main, "memsize", where)),
            windowsize=int(main.get("windowsize", 2)),
            z={k: int(_field(main, f"z{k}_size", where)) for k in "ylav"},
            f={k: int(_field(main, f"f{k}_size", where)) for k in "ylav"},
            inner={n: w for n, (w, _) in zip(names, inner, strict=True)},
            output_dim=output_dim,
            steps=int(steps if steps is not None else config_steps) if (steps or config_steps) else None,
            dropouts={
                **{k: float(_field(main, f"z{k}_to_f{k}_dropout", where)) for k in "ylav"},
                "head": float(_field(main, "fy_to_y_dropout", where)),
            },
            inner_dropouts={n: d for n, (_, d) in zip(names, inner, strict=True)},
            objective=objective or None,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the {where} config has a malformed size: {exc}") from None


def sizes_from_shapes(state: Mapping[str, Tensor], steps: int | None) -> Sizes:
    """Every size the weights' shapes determine (all but T, which must be given)."""

    def shape(key: str) -> tuple[int, ...]:
        if key not in state:
            raise CheckpointError(f"the weights have no {key}, which every MFM of this layout has")
        return tuple(state[key].shape)

    return Sizes(
        input_dims=tuple(shape(f"encoder_{s}.lstm.weight_ih")[1] for s in "lav"),  # type: ignore[arg-type]
        h_dims=tuple(shape(f"mfn_encoder.lstm_{s}.weight_hh")[1] for s in "lav"),  # type: ignore[arg-type]
        memsize=shape("mfn_encoder.att2_fc2.weight")[0],
        windowsize=2,
        z={"y": shape("last_to_zy_fc1.weight")[0], **{s: shape(f"encoder_{s}.fc1.weight")[0] for s in "lav"}},
        f={"y": shape("zy_to_fy_fc2.weight")[0], **{s: shape(f"z{s}_to_f{s}_fc2.weight")[0] for s in "lav"}},
        inner={ours: shape(f"mfn_encoder.{theirs}_fc1.weight")[0] for ours, theirs in _MFN_INNER.items()},
        output_dim=shape("fy_to_y_fc2.weight")[0],
        steps=steps,
    )


def config_from_sizes(sizes: Sizes) -> MFMConfig:
    """This project's config for a producer's MFM: every width as the producer set it, raw inputs, no surrogate."""
    if sizes.steps is None:
        raise ConfigError(
            "the sequence length T is not in the weights or the config: give it (--steps, e.g. 20 for the "
            "MFN MOSI files, 50 for MMSA's aligned_50.pkl)"
        )
    drop = sizes.dropouts or {}
    inner_drop = sizes.inner_dropouts or {}
    modalities = tuple(
        ModalityConfig(
            name,
            "sequence",
            (sizes.steps, sizes.input_dims[i]),
            code_dim=sizes.z[s],
            factor_dim=sizes.f[s],
            hidden_dim=sizes.h_dims[i],
            encoder_hidden_dim=sizes.z[s],  # the producers' encoder LSTM is as wide as the code
            factor_hidden_dim=sizes.f[s],  # and each factor map's hidden layer as wide as the factor
            factor_dropout=drop.get(s),
        )
        for i, (name, s) in enumerate(SHORT.items())
    )
    return MFMConfig(
        modalities=modalities,
        task="regression" if sizes.output_dim == 1 else "classification",
        num_classes=sizes.output_dim,
        shared_code_dim=sizes.z["y"],
        shared_factor_dim=sizes.f["y"],
        factor_hidden_dim=sizes.f["y"],
        head_hidden_dim=sizes.f["y"],
        fusion="mfn",
        mfn_memory_dim=sizes.memsize,
        mfn_window=sizes.windowsize,
        mfn_attention_hidden_dim=sizes.inner["attention"],
        mfn_candidate_hidden_dim=sizes.inner["candidate"],
        mfn_gamma1_hidden_dim=sizes.inner["gamma1"],
        mfn_gamma2_hidden_dim=sizes.inner["gamma2"],
        dropout=0.0,  # unknown dropouts do not matter at inference
        shared_factor_dropout=drop.get("y"),
        head_dropout=drop.get("head"),
        mfn_attention_dropout=inner_drop.get("attention"),
        mfn_candidate_dropout=inner_drop.get("candidate"),
        mfn_gamma1_dropout=inner_drop.get("gamma1"),
        mfn_gamma2_dropout=inner_drop.get("gamma2"),
        surrogate=False,
        standardize_inputs=False,
    )


def objective_from_sizes(sizes: Sizes) -> ObjectiveConfig | None:
    """The producer's loss weights (λ_mmd, λ_l, λ_a, λ_v) as an objective, when its config gives them."""
    weights = sizes.objective
    if not weights:
        return None
    recon = {name: float(weights[f"lda_x{s}"]) for name, s in SHORT.items() if f"lda_x{s}" in weights}
    return ObjectiveConfig(recon_weights=recon, mmd_weight=float(weights.get("lda_mmd", 1.0)))


# ---------------------------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------------------------
_SURROGATE_KEY = re.compile(r"^encoder_(la|lv|av)_to_(l|a|v|y)\.")


def map_state_dict(
    state: Mapping[str, Tensor], config: MFMConfig, name: str
) -> tuple[dict[str, Tensor], list[str]]:
    """(this project's state_dict, dropped producer keys): renamed, every shape checked against `config`.

    Refuses (CheckpointError naming the key) a producer key it does not know, a missing key, or a wrong shape.
    """
    mapping = key_map()
    dropped = sorted(k for k in state if k.startswith(UNUSED_PREFIXES))
    unknown = sorted(k for k in state if k not in mapping and k not in dropped)
    if unknown:
        surrogate = [k for k in unknown if _SURROGATE_KEY.match(k)]
        why = (
            "; the official MFM_missing surrogate encoders have another architecture than this project's "
            "surrogate networks and are not mapped: re-save the weights without them to import the rest"
            if surrogate
            else ""
        )
        raise CheckpointError(f"{name}: unexpected weights {_listing(unknown)}{why}")
    missing = sorted(k for k in mapping if k not in state)
    if missing:
        raise CheckpointError(f"{name}: missing weights {_listing(missing)}")
    shapes = check_parameter_count(config, name)
    renamed = {}
    for theirs, ours in mapping.items():
        tensor = state[theirs]
        if not isinstance(tensor, Tensor):
            raise CheckpointError(f"{name}: {theirs} is a {type(tensor).__name__}, not a tensor")
        if not tensor.dtype.is_floating_point:
            raise CheckpointError(
                f"{name}: {theirs} has dtype {tensor.dtype}; weights must be floating point"
            )
        if tensor.layout != torch.strided or tensor.device.type != "cpu" or not tensor.is_contiguous():
            raise CheckpointError(f"{name}: {theirs} is not a dense contiguous CPU tensor")
        if tuple(tensor.shape) != shapes[ours]:
            raise CheckpointError(
                f"{name}: {theirs} has shape {tuple(tensor.shape)}, the config needs {shapes[ours]}"
            )
        renamed[ours] = tensor.detach().float().contiguous()
    return validate_state_dict(renamed, shapes, name), dropped


def _listing(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return f"{shown} (+{len(keys) - limit} more)" if len(keys) > limit else shown


@dataclass(frozen=True)
class ImportResult:
    """An imported model (eval mode), the objective its producer trained it with (or None), and its metadata."""

    model: MFM
    objective: ObjectiveConfig | None
    metadata: dict[str, Any]
    dropped: list[str]


def parse_config_json(source: Source) -> Any:
    """A producer config file (JSON) as Python values."""
    data, name = read_source(source)
    try:
        return load_json(data, name, max_bytes=1_000_000)
    except ParseLimitError as exc:
        raise ConfigError(str(exc)) from None


def import_model(
    producer: str,
    weights: Source | ProducerWeights,
    config: Any = None,
    *,
    steps: int | None = None,
    dataset: str | None = None,
    data_dir: str | None = None,
) -> ImportResult:
    """Import a producer's MFM state_dict as this project's `MFM`.

    `config`: the producer's config as Python values (see `sizes_from_config`), or None to infer every size from
    the weights' shapes (then `steps` is required). `dataset` / `data_dir` are recorded in the metadata so that
    the interpretations find the data (e.g. "mosi" and the folder of the MFN h5 files).
    """
    if producer not in PRODUCERS:
        raise ConfigError(f"unknown producer {producer!r}; choose one of {', '.join(PRODUCERS)}")
    read = weights if isinstance(weights, ProducerWeights) else read_producer_weights(weights)
    if config is None:
        sizes = sizes_from_shapes(read.state, steps)
    else:
        sizes = sizes_from_config(producer, config, steps)
    model_config = config_from_sizes(sizes)
    state, dropped = map_state_dict(read.state, model_config, read.source)
    model = MFM(model_config)
    model.load_state_dict(state, strict=True)
    model.eval()
    objective = objective_from_sizes(sizes)
    metadata: dict[str, Any] = {
        "imported_from": {
            "producer": producer,
            "producer_name": PRODUCER_NAMES[producer],
            "file": read.source.rsplit("/", 1)[-1],
            "sha256": read.sha256,
            "model_prefix": MMSA_PREFIX if read.prefixed else "",
            "config": config,
            "sizes_from": "config" if config is not None else "weight shapes",
            "dropped": dropped,
            "input_standardisation": False,
            "surrogate": False,
        },
        "dataset": dataset,
        "data_dir": data_dir,
    }
    if objective is not None:
        metadata["objective"] = objective.to_dict()
    return ImportResult(model, objective, metadata, dropped)
