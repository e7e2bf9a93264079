"""Checkpoints: save -> load gives identical outputs; every kind of bad file is refused clearly and safely."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile

import pytest
import torch
from conftest import random_batch, tiny_image_config, tiny_sequence_config

import mfm.checkpoint as checkpoint_module
from mfm.checkpoint import FORMAT, checkpoint_payload, load_checkpoint, save_checkpoint
from mfm.errors import CheckpointError
from mfm.model import MFM


def make_model(kind: str = "sequence", seed: int = 0) -> MFM:
    torch.manual_seed(seed)
    return MFM(tiny_sequence_config() if kind == "sequence" else tiny_image_config()).eval()


def outputs_equal(a: MFM, b: MFM) -> bool:
    inputs, _ = random_batch(a.config)
    with torch.no_grad():
        x, y = a(inputs), b(inputs)
    return torch.equal(x.prediction, y.prediction) and all(
        torch.equal(x.reconstructions[n], y.reconstructions[n]) for n in x.reconstructions
    )


def to_bytes(payload) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["sequence", "image"])
def test_save_load_round_trip(tmp_path, kind):
    model = make_model(kind)
    path = save_checkpoint(tmp_path / "m.pt", model, {"dataset": "toy", "metrics": {"test": {"mae": 0.5}}})
    loaded = load_checkpoint(path)
    assert loaded.config == model.config
    assert not loaded.model.training
    assert outputs_equal(model, loaded.model)
    assert loaded.metadata["dataset"] == "toy"
    assert loaded.metadata["versions"]["torch"] == torch.__version__
    assert len(loaded.sha256) == 64
    # The same bytes through the bytes and stream entry points.
    data = path.read_bytes()
    assert outputs_equal(model, load_checkpoint(data).model)
    assert load_checkpoint(io.BytesIO(data)).sha256 == loaded.sha256


def test_safetensors_round_trip(tmp_path):
    model = make_model("image")
    path = save_checkpoint(tmp_path / "m.safetensors", model, {"dataset": "toy"})
    assert (tmp_path / "m.json").exists()
    loaded = load_checkpoint(path)
    assert outputs_equal(model, loaded.model)
    # As two uploads: weights bytes and config bytes.
    loaded = load_checkpoint(path.read_bytes(), config_json=(tmp_path / "m.json").read_bytes())
    assert outputs_equal(model, loaded.model)


def test_safetensors_with_a_mismatched_config(tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", make_model("image"))
    other = checkpoint_payload(make_model("sequence"))
    other.pop("state_dict")
    with pytest.raises(CheckpointError, match="does not match its config"):
        load_checkpoint(path, config_json=json.dumps(other).encode())
    (tmp_path / "m.json").unlink()
    with pytest.raises(CheckpointError, match=r"config .* is missing"):
        load_checkpoint(path)


class Payload:
    """Unpickling this would create a file: the loader must never do so."""

    def __init__(self, sentinel: str) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def test_code_execution_payload_is_refused(tmp_path):
    sentinel = tmp_path / "pwned"
    payload = checkpoint_payload(make_model())
    payload["metadata"] = {"note": Payload(str(sentinel))}
    with pytest.raises(CheckpointError, match="weights-only"):
        load_checkpoint(to_bytes(payload))
    # A bare pickle (not a torch zip) with the same payload.
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(pickle.dumps(Payload(str(sentinel))))
    assert not sentinel.exists()


def test_random_truncated_empty_and_directory(tmp_path):
    good = to_bytes(checkpoint_payload(make_model()))
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(os.urandom(4096))
    with pytest.raises(CheckpointError, match="damaged or truncated"):
        load_checkpoint(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(b"")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing.pt")


def test_compressed_archive_is_refused():
    good = to_bytes(checkpoint_payload(make_model()))
    src = zipfile.ZipFile(io.BytesIO(good))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    with pytest.raises(CheckpointError, match="compressed entry"):
        load_checkpoint(out.getvalue())


def test_structure_errors():
    payload = checkpoint_payload(make_model())
    with pytest.raises(CheckpointError, match="not a checkpoint dict"):
        load_checkpoint(to_bytes([1, 2, 3]))
    with pytest.raises(CheckpointError, match="not an MFM checkpoint"):
        load_checkpoint(to_bytes({k: v for k, v in payload.items() if k != "format"}))
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(to_bytes({**payload, "version": 99}))
    with pytest.raises(CheckpointError, match=r"unexpected keys 'extra'"):
        load_checkpoint(to_bytes({**payload, "extra": 1}))
    # Many unexpected keys: the message names a few and counts the rest (it once listed 120,000: 2.6 MB).
    with pytest.raises(CheckpointError, match=r"\(\+9995 more\)") as refused:
        load_checkpoint(to_bytes({**payload, **{f"extra{i:05d}": 1 for i in range(10_000)}}))
    assert len(str(refused.value)) < 300
    with pytest.raises(CheckpointError, match="invalid config"):
        load_checkpoint(to_bytes({**payload, "config": {**payload["config"], "task": "ranking"}}))
    with pytest.raises(CheckpointError, match=r"metadata\.t must hold only builtins"):
        load_checkpoint(to_bytes({**payload, "metadata": {"t": torch.zeros(2)}}))


def test_weight_errors_name_the_key():
    payload = checkpoint_payload(make_model())
    state = payload["state_dict"]
    key = "head.fc1.weight"

    missing = {k: v for k, v in state.items() if k != key}
    with pytest.raises(CheckpointError, match=f"missing {key}"):
        load_checkpoint(to_bytes({**payload, "state_dict": missing}))
    with pytest.raises(CheckpointError, match="unexpected bogus"):
        load_checkpoint(to_bytes({**payload, "state_dict": {**state, "bogus": torch.zeros(1)}}))
    with pytest.raises(CheckpointError, match=rf"{key} has shape \(3, 3\)"):
        load_checkpoint(to_bytes({**payload, "state_dict": {**state, key: torch.zeros(3, 3)}}))
    with pytest.raises(CheckpointError, match=f"{key} holds NaN"):
        load_checkpoint(
            to_bytes({**payload, "state_dict": {**state, key: torch.full_like(state[key], float("nan"))}})
        )
    with pytest.raises(CheckpointError, match=f"{key} has dtype torch.int32"):
        load_checkpoint(to_bytes({**payload, "state_dict": {**state, key: state[key].to(torch.int32)}}))
    with pytest.raises(CheckpointError, match=f"{key} is a str"):
        load_checkpoint(to_bytes({**payload, "state_dict": {**state, key: "weights"}}))


def test_absurd_sizes_are_refused_before_building_the_model(monkeypatch):
    payload = checkpoint_payload(make_model())
    built = []
    original = checkpoint_module.MFM

    def spy(config):
        if torch.empty(()).device.type != "meta":  # shapes may be read from a meta-device model; nothing else
            built.append(config)
        return original(config)

    monkeypatch.setattr(checkpoint_module, "MFM", spy)
    huge = json.loads(json.dumps(payload["config"]))
    huge["modalities"][0]["hidden_dim"] = 10**7  # over the per-size bound
    with pytest.raises(CheckpointError, match="hidden_dim must be between"):
        load_checkpoint(to_bytes({**payload, "config": huge}))
    # Every size within its bound, yet far too many parameters in total: refused from meta shapes alone.
    big = json.loads(json.dumps(payload["config"]))
    for m in big["modalities"]:
        m.update(shape=[4096, 4096], hidden_dim=4096, code_dim=4096, factor_dim=4096)
    with pytest.raises(CheckpointError, match=r"more than the .* limit"):
        load_checkpoint(to_bytes({**payload, "config": big}))
    assert built == []  # no real model was ever allocated


def test_a_valid_file_reports_its_format_tag():
    assert checkpoint_payload(make_model())["format"] == FORMAT


def test_torch_version_in_metadata_loads_as_a_string_and_other_values_are_named(tmp_path):
    """A hand-built checkpoint recording torch.__version__ (a TorchVersion) loads; other non-plain values are
    refused naming their type and the plain value to write instead."""
    import numpy as np

    payload = checkpoint_payload(make_model())
    payload["metadata"]["versions"] = {"torch": torch.__version__}
    assert type(torch.__version__) is not str  # the case that used to be refused
    loaded = load_checkpoint(to_bytes(payload))
    assert loaded.metadata["versions"]["torch"] == str(torch.__version__)
    assert type(loaded.metadata["versions"]["torch"]) is str
    for value, advice in (
        (np.float64(0.5), r"numpy number: write float\(x\) or int\(x\)"),
        (np.arange(3), r"numpy array: write x\.tolist\(\)"),
        (tmp_path, r"a path: write str\(path\)"),
    ):
        payload["metadata"]["note"] = value
        with pytest.raises(CheckpointError, match=advice):
            load_checkpoint(to_bytes(payload))
