"""Importing other people's MFMs: MMSA's own model from its PyPI wheel, and the authors' key layout.

MMSA 2.2.1 is installed without its dependencies (transformers and friends are not needed to build its MFM):
its two model files are loaded by path under a stand-in package, so none of MMSA's package imports run.
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import types
from pathlib import Path

import pytest
import torch

from mfm.checkpoint import load_checkpoint, save_checkpoint
from mfm.errors import CheckpointError, ConfigError
from mfm.importers import import_model, key_map, read_producer_weights, recognise

# The official best MOSI configuration (`best_acc()` in pliang279/factorized mfm_mosi.py), as the six dicts.
OFFICIAL_CONFIG = [
    {
        "input_dims": [300, 5, 20],
        "h_dims": [88, 64, 48],
        "zy_size": 32,
        "zl_size": 32,
        "za_size": 8,
        "zv_size": 80,
        "fy_size": 16,
        "fl_size": 88,
        "fa_size": 8,
        "fv_size": 8,
        "memsize": 64,
        "zy_to_fy_dropout": 0.0,
        "zl_to_fl_dropout": 0.2,
        "za_to_fa_dropout": 0.2,
        "zv_to_fv_dropout": 0.7,
        "fy_to_y_dropout": 0.0,
        "lda_mmd": 1.0,
        "lda_xl": 1.0,
        "lda_xa": 0.01,
        "lda_xv": 0.5,
        "missing": 0,
        "windowsize": 2,
        "batchsize": 32,
        "num_epochs": 30,
        "lr": 0.01,
        "momentum": 0.9,
    },
    {"shapes": 128, "drop": 0.5},
    {"shapes": 128, "drop": 0.5},
    {"shapes": 128, "drop": 0.5},
    {"shapes": 128, "drop": 0.5},
    {"shapes": 64, "drop": 0.5},
]


def official_shapes(config=OFFICIAL_CONFIG, output_dim: int = 1) -> dict[str, tuple[int, ...]]:
    """Every weight of the authors' `MFM` for `config`, written out from its constructor's sizes (by hand)."""
    main, nn1, nn2, g1, g2, out = config
    d = dict(zip("lav", main["input_dims"], strict=True))
    h = dict(zip("lav", main["h_dims"], strict=True))
    z = {k: main[f"z{k}_size"] for k in "ylav"}
    f = {k: main[f"f{k}_size"] for k in "ylav"}
    mem, total = main["memsize"], sum(h.values())
    shapes: dict[str, tuple[int, ...]] = {}

    def linear(key, i, o):
        shapes[f"{key}.weight"], shapes[f"{key}.bias"] = (o, i), (o,)

    def cell(key, i, hidden):
        shapes[f"{key}.weight_ih"], shapes[f"{key}.weight_hh"] = (4 * hidden, i), (4 * hidden, hidden)
        shapes[f"{key}.bias_ih"] = shapes[f"{key}.bias_hh"] = (4 * hidden,)

    for s in "lav":
        cell(f"encoder_{s}.lstm", d[s], z[s])
        linear(f"encoder_{s}.fc1", z[s], z[s])
        cell(f"decoder_{s}.lstm", f["y"] + f[s], f["y"] + f[s])
        linear(f"decoder_{s}.fc1", f["y"] + f[s], d[s])
        cell(f"mfn_encoder.lstm_{s}", d[s], h[s])
        linear(f"z{s}_to_f{s}_fc1", z[s], f[s])
        linear(f"z{s}_to_f{s}_fc2", f[s], f[s])
    att = 2 * total
    linear("mfn_encoder.att1_fc1", att, nn1["shapes"])
    linear("mfn_encoder.att1_fc2", nn1["shapes"], att)
    linear("mfn_encoder.att2_fc1", att, nn2["shapes"])
    linear("mfn_encoder.att2_fc2", nn2["shapes"], mem)
    linear("mfn_encoder.gamma1_fc1", att + mem, g1["shapes"])
    linear("mfn_encoder.gamma1_fc2", g1["shapes"], mem)
    linear("mfn_encoder.gamma2_fc1", att + mem, g2["shapes"])
    linear("mfn_encoder.gamma2_fc2", g2["shapes"], mem)
    linear("mfn_encoder.out_fc1", total + mem, out["shapes"])
    linear("mfn_encoder.out_fc2", out["shapes"], output_dim)
    linear("last_to_zy_fc1", total + mem, z["y"])
    linear("zy_to_fy_fc1", z["y"], f["y"])
    linear("zy_to_fy_fc2", f["y"], f["y"])
    linear("fy_to_y_fc1", f["y"], f["y"])
    linear("fy_to_y_fc2", f["y"], output_dim)
    return shapes


def official_state(seed: int = 0, **kwargs) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=g) * 0.1 for k, s in official_shapes(**kwargs).items()}


def saved(state, legacy: bool = False) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer, _use_new_zipfile_serialization=not legacy)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------------------
# The authors' layout
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_official_state_dict_imports_with_every_shape_and_provenance(tmp_path, legacy):
    state = official_state()
    path = tmp_path / "mfm_official.pt"
    path.write_bytes(saved(state, legacy))
    result = import_model("official", path, OFFICIAL_CONFIG, steps=20, dataset="mosi", data_dir="/data/mosi")
    config = result.model.config
    assert [m.name for m in config.modalities] == ["language", "acoustic", "visual"]
    assert [m.shape for m in config.modalities] == [(20, 300), (20, 5), (20, 20)]
    assert [m.hidden_dim for m in config.modalities] == [88, 64, 48]  # MFN cells
    assert [m.encoder_width for m in config.modalities] == [32, 8, 80]  # encoder LSTMs = z_i
    assert [config.factor_width(m) for m in ("language", "acoustic", "visual")] == [88, 8, 8]
    assert (config.shared_code_dim, config.shared_factor_dim, config.factor_width()) == (32, 16, 16)
    assert [config.mfn_width(p) for p in ("attention", "candidate", "gamma1", "gamma2")] == [128] * 4
    assert config.task == "regression" and not config.surrogate and not config.standardize_inputs
    assert config.dropout_of("factor:visual") == 0.7 and config.dropout_of("mfn_gamma2") == 0.5
    # Every producer weight landed where the key map says, unchanged.
    ours = result.model.state_dict()
    for theirs, mine in key_map().items():
        assert torch.equal(ours[mine], state[theirs]), theirs
    assert result.dropped == [
        "mfn_encoder.out_fc1.bias",
        "mfn_encoder.out_fc1.weight",
        "mfn_encoder.out_fc2.bias",
        "mfn_encoder.out_fc2.weight",
    ]
    source = result.metadata["imported_from"]
    assert source["producer"] == "official" and source["config"] == OFFICIAL_CONFIG
    assert source["sha256"] == read_producer_weights(path).sha256 and source["model_prefix"] == ""
    assert source["input_standardisation"] is False and source["surrogate"] is False
    assert result.metadata["dataset"] == "mosi" and result.metadata["data_dir"] == "/data/mosi"
    assert result.objective.recon_weight("acoustic") == 0.01 and result.objective.mmd_weight == 1.0
    # Saved as an ordinary version-2 checkpoint, it loads back to the same weights.
    out = save_checkpoint(tmp_path / "imported.pt", result.model, result.metadata, result.objective)
    loaded = load_checkpoint(out)
    assert loaded.version == 2 and loaded.metadata["imported_from"]["producer"] == "official"
    assert all(torch.equal(v, ours[k]) for k, v in loaded.model.state_dict().items())


def test_sizes_inferred_from_shapes_match_the_config():
    state = official_state()
    with pytest.raises(ConfigError, match="sequence length T"):
        import_model("official", saved(state), None)
    inferred = import_model("official", saved(state), None, steps=20).model.config
    given = import_model("official", saved(state), OFFICIAL_CONFIG, steps=20).model.config
    # The shapes determine every size; only the dropouts (unused at inference) are unknown without the config.
    strip = {"dropout": 0.0, "shared_factor_dropout": None, "head_dropout": None}
    strip.update({f"mfn_{p}_dropout": None for p in ("attention", "candidate", "gamma1", "gamma2")})
    bare = tuple(m.__class__(**{**m.__dict__, "factor_dropout": None}) for m in given.modalities)
    assert inferred == given.replace(modalities=bare, **strip)


def test_a_missing_or_misshapen_or_unknown_key_is_refused_by_name():
    state = official_state()
    del state["decoder_v.fc1.bias"]
    with pytest.raises(CheckpointError, match=r"missing weights decoder_v\.fc1\.bias"):
        import_model("official", saved(state), OFFICIAL_CONFIG, steps=20)
    state = official_state()
    state["zl_to_fl_fc2.weight"] = torch.zeros(88, 87)
    with pytest.raises(
        CheckpointError, match=r"zl_to_fl_fc2\.weight has shape \(88, 87\), the config needs \(88, 88\)"
    ):
        import_model("official", saved(state), OFFICIAL_CONFIG, steps=20)
    state = official_state()
    state["encoder_la_to_v.fc1.weight"] = torch.zeros(80, 80)
    with pytest.raises(
        CheckpointError, match=r"encoder_la_to_v\.fc1\.weight.*surrogate encoders have another"
    ):
        import_model("official", saved(state), OFFICIAL_CONFIG, steps=20)
    with pytest.raises(ConfigError, match="JSON list"):
        import_model("official", saved(official_state()), {"input_dims": [300, 5, 20]}, steps=20)


def test_recognise_tells_the_producers_apart_by_the_wrapper_prefix():
    state = official_state()
    assert recognise(state) == "official"
    assert recognise({f"Model.{k}": v for k, v in state.items()}) == "mmsa"
    assert recognise({"encoder.weight": torch.zeros(1)}) is None


@pytest.mark.filterwarnings("ignore:Couldn.t retrieve source code")
def test_a_whole_pickled_module_is_refused_with_the_command_that_resaves_it(tmp_path):
    # A module class pickled by reference, as `torch.save(model)` in the authors' scripts does.
    module = types.ModuleType("mfm_model")

    class MFM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fy_to_y_fc1 = torch.nn.Linear(2, 2)

    MFM.__module__ = "mfm_model"
    MFM.__qualname__ = "MFM"
    module.MFM = MFM
    sys.modules["mfm_model"] = module
    try:
        path = tmp_path / "mfn_123.pt"
        torch.save(MFM(), path, _use_new_zipfile_serialization=False)
    finally:
        del sys.modules["mfm_model"]
    with pytest.raises(CheckpointError) as error:
        read_producer_weights(path)
    message = str(error.value)
    assert "whole pickled model (mfm_model.MFM)" in message
    assert (
        "python -c \"from mfm_model import *; import torch; torch.save(torch.load('mfn_123.pt').state_dict(), 'mfn_123_state_dict.pt')\""
        in message
    )


# ---------------------------------------------------------------------------------------------------------------
# MMSA's own model, from its wheel
# ---------------------------------------------------------------------------------------------------------------
def _mmsa_root() -> Path:
    spec = importlib.util.find_spec("MMSA")  # finds the installed package without importing it
    assert spec is not None and spec.submodule_search_locations, (
        "the test dependency mmsa==2.2.1 is not installed (tests/setup.sh installs it with --no-deps)"
    )
    return Path(next(iter(spec.submodule_search_locations)))


def _load_mmsa_mfm():
    """MMSA's `MFM` class, its two files loaded by path under a stand-in package (no MMSA import runs)."""
    folder = _mmsa_root() / "models" / "singleTask"
    package = types.ModuleType("mmsa_models")
    package.__path__ = [str(folder)]
    sys.modules["mmsa_models"] = package
    for name in ("MFN", "MFM"):
        spec = importlib.util.spec_from_file_location(f"mmsa_models.{name}", folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["mmsa_models.MFM"].MFM


def mmsa_mosi_args() -> dict:
    """MMSA's argument dict for MFM on MOSI, merged from its shipped config as its get_config_regression does."""
    shipped = json.loads((_mmsa_root() / "config" / "config_regression.json").read_text())
    args = dict(shipped["datasetCommonParams"]["mosi"]["aligned"])
    args.update(shipped["mfm"]["commonParams"])
    args.update(shipped["mfm"]["datasetParams"]["mosi"])
    args.update(model_name="mfm", dataset_name="mosi", train_mode="regression", device="cpu")
    return args


def test_mmsa_mfm_from_the_wheel_imports_and_computes_what_mmsa_computes(tmp_path):
    mfm_class = _load_mmsa_mfm()
    args = mmsa_mosi_args()
    assert args["feature_dims"] == [768, 5, 20] and args["seq_lens"] == [50, 50, 50]
    torch.manual_seed(0)
    theirs = mfm_class(types.SimpleNamespace(**args)).eval()
    # Saved as MMSA saves it: the AMIO wrapper's state_dict, every key behind "Model.".
    path = tmp_path / "mfm-mosi.pth"
    torch.save({f"Model.{k}": v for k, v in theirs.cpu().state_dict().items()}, path)
    config_path = tmp_path / "mfm-mosi.json"
    config_path.write_text(json.dumps(args))
    from mfm.importers import parse_config_json

    result = import_model("mmsa", path, parse_config_json(config_path), dataset="mosi-pickle")
    ours = result.model
    assert result.metadata["imported_from"]["model_prefix"] == "Model."
    assert [m.shape for m in ours.config.modalities] == [(50, 768), (50, 5), (50, 20)]
    g = torch.Generator().manual_seed(1)
    text, audio, vision = (torch.randn(4, 50, d, generator=g) for d in (768, 5, 20))
    captured = {}
    for s in "lav":  # MMSA calls decoder.forward(...) itself (no hooks run): wrap it to keep what it returns
        decoder = getattr(theirs, f"decoder_{s}")

        def keep(*call, s=s, forward=decoder.forward):
            captured[s] = forward(*call).permute(1, 0, 2)  # (T, B, D) -> (B, T, D)
            return captured[s].permute(1, 0, 2)

        decoder.forward = keep
    with torch.no_grad():
        prediction = theirs(text, audio, vision)[0]  # (B, 1)
        output = ours({"language": text, "acoustic": audio, "visual": vision})
    assert set(captured) == set("lav")
    differences = {"prediction": (output.prediction - prediction.squeeze(1)).abs().max().item()}
    for name, s in (("language", "l"), ("acoustic", "a"), ("visual", "v")):
        differences[name] = (output.reconstructions[name] - captured[s]).abs().max().item()
    assert differences["prediction"] <= 1e-5, differences
    assert max(differences[m] for m in ("language", "acoustic", "visual")) <= 1e-4, differences
    assert prediction.abs().max() > 1e-3  # a real comparison, not of two zeros
    # MMSA's loss weights travel as the objective: λ_mmd 100 and λ_l/a/v 0.5/0.01/0.5 on MOSI.
    assert result.objective.mmd_weight == 100 and result.objective.recon_weight("acoustic") == 0.01
