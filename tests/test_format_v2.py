"""Checkpoint format version 2: the shipped version-1 demos load unchanged, and a version-2 round trip is exact.

The outputs of the shipped version-1 demos on fixed inputs are computed by the code as it was before version 2
(commit 2461cdd, unpacked from git and run on this machine: tests/baseline.py says why not a stored file) and by
today's code, which must give the same numbers: bit for bit on the Intel machines this was written on; on an AMD
EPYC the two versions' float32 kernels differ in the last bits (a language reconstruction by 6e-8), so the
comparison allows 1e-5 relative / 1e-6 absolute, orders of magnitude below what a wrong or misplaced weight moves. The improved digits demo was a version-1 file until
issue 15 replaced it with a version-2 one (the migration of its objective is checked on a built version-1 config
below).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from baseline import unpack_commit
from conftest import random_batch, tiny_image_config, tiny_sequence_config

from mfm.checkpoint import VERSION, checkpoint_payload, load_checkpoint, save_checkpoint
from mfm.config import MFMConfig, ModalityConfig, ObjectiveConfig, split_v1_config
from mfm.model import MFM

ROOT = Path(__file__).resolve().parents[1]
DEMOS = ("sentiment_mfm", "digits_mfm_paper")


def _outputs(model: MFM, inputs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    runs = [("all", model(inputs))]
    if model.config.surrogate:
        runs += [
            (m, model({k: v for k, v in inputs.items() if k != m}, missing=m)) for m in model.modality_names
        ]
    out = {}
    for tag, o in runs:
        out[f"{tag}/prediction"] = o.prediction
        out[f"{tag}/shared_factor"] = o.shared_factor
        out.update({f"{tag}/recon/{k}": v for k, v in o.reconstructions.items()})
        out.update({f"{tag}/factor/{k}": v for k, v in o.modality_factors.items()})
    return {k: v.detach().numpy() for k, v in out.items()}


V1_COMMIT = "2461cdd"
"""The last commit before checkpoint format version 2."""
V1_OUTPUTS = """
import sys

import numpy as np
import torch

from mfm.checkpoint import load_checkpoint

torch.set_num_threads(1)
out = {}
g = torch.Generator().manual_seed(1234)
for name in sys.argv[2:]:
    model = load_checkpoint(f"assets/checkpoints/{name}.pt").model
    inputs = {}
    for m in model.config.modalities:
        shape = (2, *m.shape)
        x = torch.rand(shape, generator=g) if m.kind == "image" else torch.randn(shape, generator=g)
        inputs[m.name] = x
        out[f"{name}/input/{m.name}"] = x.numpy()
    runs = [(None, model(inputs))]
    if model.config.surrogate:
        runs += [(m, model({k: v for k, v in inputs.items() if k != m}, missing=m)) for m in model.modality_names]
    for missing, o in runs:
        tag = f"{name}/{missing or 'all'}"
        out[f"{tag}/prediction"] = o.prediction.detach().numpy()
        out[f"{tag}/shared_factor"] = o.shared_factor.detach().numpy()
        out.update({f"{tag}/recon/{k}": v.detach().numpy() for k, v in o.reconstructions.items()})
        out.update({f"{tag}/factor/{k}": v.detach().numpy() for k, v in o.modality_factors.items()})
np.savez(sys.argv[1], **out)
"""
"""The outputs of the demos on seeded inputs, by the version-1 code (run from its own tree)."""


@pytest.fixture(scope="module")
def v1_outputs(tmp_path_factory) -> dict[str, np.ndarray]:
    folder = unpack_commit(V1_COMMIT, tmp_path_factory.mktemp("v1"))
    (folder / "v1_outputs.py").write_text(V1_OUTPUTS)
    result = subprocess.run(
        [sys.executable, "v1_outputs.py", str(folder / "outputs.npz"), *DEMOS],
        cwd=folder, env={**os.environ, "PYTHONPATH": str(folder)}, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(folder / "outputs.npz") as saved:
        return {k: saved[k] for k in saved.files}


@pytest.mark.parametrize("name", DEMOS)
def test_shipped_version_1_demos_load_and_give_the_same_outputs(name, v1_outputs):
    reference = v1_outputs
    loaded = load_checkpoint(ROOT / "assets" / "checkpoints" / f"{name}.pt")
    assert loaded.version == 1
    model = loaded.model
    inputs = {m.name: torch.from_numpy(reference[f"{name}/input/{m.name}"]) for m in model.config.modalities}
    with torch.no_grad():
        outputs = _outputs(model, inputs)
    expected = {
        k[len(name) + 1 :]: reference[k] for k in reference if k.startswith(f"{name}/") and "/input/" not in k
    }
    assert set(outputs) == set(expected)
    for key, value in outputs.items():
        np.testing.assert_allclose(value, expected[key], rtol=1e-5, atol=1e-6, err_msg=key)
    # The objective's weights moved from the config to the metadata.
    assert loaded.objective is not None
    if name == "sentiment_mfm":
        assert dict(loaded.objective.recon_weights) == {"language": 1.0, "acoustic": 0.01, "visual": 0.5}


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_version_2_round_trip_is_bit_identical(tmp_path, suffix):
    config = tiny_sequence_config(
        modalities=(
            ModalityConfig(
                "language", "sequence", (6, 12), 6, 5, 8, encoder_hidden_dim=6, factor_hidden_dim=5
            ),
            ModalityConfig("acoustic", "sequence", (6, 3), 3, 2, 4, factor_dropout=0.3),
            ModalityConfig("visual", "sequence", (6, 4), 4, 3, 5),
        ),
        mfn_candidate_hidden_dim=7,
        mfn_gamma2_hidden_dim=9,
        mfn_gamma1_dropout=0.2,
        shared_factor_hidden_dim=3,
    )
    torch.manual_seed(0)
    model = MFM(config).eval()
    objective = ObjectiveConfig(recon_weights={"acoustic": 0.01}, mmd_weight=10.0)
    path = save_checkpoint(tmp_path / f"m{suffix}", model, {"dataset": "toy"}, objective)
    loaded = load_checkpoint(path)
    assert loaded.version == VERSION == 2
    assert loaded.config == config and loaded.objective == objective
    inputs, _ = random_batch(config)
    with torch.no_grad():
        before, after = _outputs(model, inputs), _outputs(loaded.model, inputs)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.model.state_dict()[key]), key


def test_the_distinct_widths_shape_the_model():
    """Each new width reaches the module it names (and the defaults reproduce version 1)."""
    config = tiny_sequence_config(
        modalities=(
            ModalityConfig(
                "language", "sequence", (6, 12), 6, 5, 8, encoder_hidden_dim=11, factor_hidden_dim=13
            ),
            ModalityConfig("acoustic", "sequence", (6, 3), 3, 2, 4),
            ModalityConfig("visual", "sequence", (6, 4), 4, 3, 5),
        ),
        mfn_candidate_hidden_dim=7,
        mfn_gamma1_hidden_dim=17,
        mfn_gamma2_hidden_dim=9,
        shared_factor_hidden_dim=3,
        head_hidden_dim=19,
    )
    model = MFM(config)
    assert model.modality_encoders["language"].lstm.hidden_size == 11  # not the MFN cell's 8
    assert model.shared_encoder.cells["language"].hidden_size == 8
    assert model.modality_factor_maps["language"].fc1.out_features == 13
    assert model.modality_factor_maps["acoustic"].fc1.out_features == config.factor_hidden_dim == 8
    assert model.shared_factor_map.fc1.out_features == 3
    assert [model.shared_encoder.candidate[0].out_features, model.shared_encoder.gamma1[0].out_features] == [
        7,
        17,
    ]
    assert [model.shared_encoder.attention[0].out_features, model.shared_encoder.gamma2[0].out_features] == [
        8,
        9,
    ]
    assert model.head.fc1.out_features == 19
    defaults = MFM(tiny_sequence_config())
    assert (
        defaults.modality_encoders["language"].lstm.hidden_size == 8
    )  # encoder width defaults to hidden_dim


def test_version_1_config_splits_into_the_same_model_and_its_objective():
    v2 = tiny_image_config(style_adversaries=True)
    v1 = v2.to_dict()
    v1.pop("style_adversaries")
    for key in ("encoder_hidden_dim", "factor_hidden_dim", "factor_dropout"):
        for m in v1["modalities"]:
            m.pop(key)
    for m in v1["modalities"]:
        m["recon_weight"] = 2.0 if m["name"] == "svhn" else 1.0
    v1.update(mmd_weight=0.5, style_adversary_weight=1.0, foreground_weight=4.0, ramp_epochs=5)
    for key in [k for k in v1 if k.startswith(("mfn_", "shared_factor_", "head_dropout")) and v1[k] is None]:
        v1.pop(key)
    v1.pop("mfn_window")
    config, objective = split_v1_config(v1)
    assert MFMConfig.from_dict(config) == v2
    objective = ObjectiveConfig.from_dict(objective)
    assert objective.recon_weight("svhn") == 2.0 and objective.mmd_weight == 0.5
    assert (objective.style_adversary_weight, objective.foreground_weight, objective.ramp_epochs) == (
        1.0,
        4.0,
        5,
    )
    # And a version-1 file with that config loads as version 2 with that objective.
    payload = checkpoint_payload(MFM(v2))
    payload.update(version=1, config=v1)
    payload["metadata"].pop("objective", None)
    import io

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    loaded = load_checkpoint(buffer.getvalue())
    assert loaded.version == 1 and loaded.config == v2 and loaded.objective == objective
