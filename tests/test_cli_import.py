"""The import path through the command line, on the real file layouts users have.

`python -m mfm import` -> `check` -> `evaluate` -> `python -m interpret report`, for a state_dict in the authors'
layout (legacy format) read with MFN h5 files, and MMSA's layout (zip, `Model.` prefix) read with an MMSA pickle;
`--nonfinite` both ways; training on unaligned sequences with and without `--align avg_pool`.
"""

from __future__ import annotations

import json
import pickle

import h5py
import numpy as np
import pytest
import torch
from test_import import OFFICIAL_CONFIG, official_state

from interpret.cli import main as interpret_main
from mfm.checkpoint import load_checkpoint
from mfm.cli import main


def write_mfn_h5(root, sizes=(24, 12, 16), steps=20, acoustic_inf=False, seed=0):
    """MFN-layout MOSI files: X_{split}.h5 (N, T, 325) and y_{split}.h5 (N, 1)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in zip(("train", "valid", "test"), sizes, strict=True):
        x = rng.normal(size=(n, steps, 325)).astype(np.float32)
        if acoustic_inf and split == "test":
            x[0, 3, 301] = -np.inf  # COVAREP columns are 300-304
        with h5py.File(root / f"X_{split}.h5", "w") as handle:
            handle["data"] = x
        with h5py.File(root / f"y_{split}.h5", "w") as handle:
            handle["data"] = rng.uniform(-3, 3, size=(n, 1)).astype(np.float32)
    return root


def write_mmsa_pickle(path, lengths=(20, 20, 20), dims=(300, 5, 20), sizes=(24, 12, 16), audio_inf=False):
    """An MMSA-layout pickle: {train, valid, test} -> {text, audio, vision, regression_labels, id}."""
    rng = np.random.default_rng(1)
    contents = {}
    for split, n in zip(("train", "valid", "test"), sizes, strict=True):
        part = {
            key: rng.normal(size=(n, t, d)).astype(np.float32)
            for key, t, d in zip(("text", "audio", "vision"), lengths, dims, strict=True)
        }
        if audio_inf:
            part["audio"][:, -1, :] = -np.inf  # as in real MOSI pickles
        part["regression_labels"] = rng.uniform(-3, 3, size=(n,)).astype(np.float32)
        part["id"] = np.asarray([f"{split}_{i}" for i in range(n)])
        contents[split] = part
    path.write_bytes(pickle.dumps(contents))
    return path


def test_official_weights_with_mfn_h5_files_through_every_command(tmp_path, capsys):
    data = write_mfn_h5(tmp_path / "mosi", acoustic_inf=True)
    weights = tmp_path / "mfm_mosi.pt"
    torch.save(official_state(), weights, _use_new_zipfile_serialization=False)  # PyTorch 0.4's format
    config = tmp_path / "config.json"
    config.write_text(json.dumps(OFFICIAL_CONFIG))
    out = tmp_path / "imported.pt"
    argv = ["import", str(weights), "--from", "official", "--config", str(config), "--steps", "20"]
    assert main([*argv, "--dataset", "mosi", "--data-dir", str(data), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (
        "sizes from config; T 20" in printed
        and "dropped (unused by MFM's forward): mfn_encoder.out_fc1" in printed
    )
    assert main(["check", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "format      version 2" in printed and "imported    from official weights mfm_mosi.pt" in printed
    # The test split holds a -inf: refused by default, naming the file and the count; zeroed on request.
    assert main(["evaluate", str(out), "--json"]) == 2
    error = capsys.readouterr().err
    assert "X_test.h5" in error and "1 non-finite" in error and "--nonfinite zero" in error
    assert main(["evaluate", str(out), "--json", "--nonfinite", "zero"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["test_samples"] == 16 and set(report["metrics"]) == {"all"}  # no surrogate: no subsets
    # The report (information, gradient flow) runs on the imported model too.
    html, summary = tmp_path / "report.html", tmp_path / "summary.json"
    small = ["--samples", "40", "--bootstrap", "3", "--null", "2", "--gradient-samples", "8", "--nonfinite", "zero"]  # fmt: skip
    assert interpret_main(["report", str(out), "--out", str(html), "--json", str(summary), *small]) == 0
    summary = json.loads(summary.read_text())
    assert set(summary["information"]) == {"language", "acoustic", "visual"}


def test_mmsa_weights_with_an_mmsa_pickle_and_recorded_data_options(tmp_path, capsys):
    import types

    from test_import import _load_mmsa_mfm

    args = {
        "feature_dims": [300, 5, 20], "hidden_dims": [16, 8, 8], "memsize": 8, "windowsize": 2,
        "zy_size": 8, "zl_size": 8, "za_size": 4, "zv_size": 4, "fy_size": 6, "fl_size": 6, "fa_size": 3,
        "fv_size": 3, "zy_to_fy_dropout": 0.1, "zl_to_fl_dropout": 0.1, "za_to_fa_dropout": 0.1,
        "zv_to_fv_dropout": 0.1, "fy_to_y_dropout": 0.0, "lda_mmd": 10, "lda_xl": 0.5, "lda_xa": 0.01,
        "lda_xv": 0.5, "NN1Config": {"drop": 0.0, "shapes": 8}, "NN2Config": {"drop": 0.0, "shapes": 8},
        "gamma1Config": {"drop": 0.0, "shapes": 8}, "gamma2Config": {"drop": 0.0, "shapes": 8},
        "outConfig": {"drop": 0.0, "shapes": 8}, "seq_lens": [20, 20, 20], "train_mode": "regression",
        "device": "cpu",
    }  # fmt: skip
    torch.manual_seed(0)
    theirs = _load_mmsa_mfm()(types.SimpleNamespace(**args)).eval()
    weights = tmp_path / "mfm-mosi.pth"
    torch.save({f"Model.{k}": v for k, v in theirs.state_dict().items()}, weights)
    (tmp_path / "mfm-mosi.json").write_text(json.dumps(args))
    data = write_mmsa_pickle(tmp_path / "aligned_20.pkl", audio_inf=True)
    out = tmp_path / "imported.pt"
    command = ["import", str(weights), "--from", "mmsa", "--config", str(tmp_path / "mfm-mosi.json")]
    command += ["--dataset", "mosi-pickle", "--data-dir", str(data), "--nonfinite", "zero", "--out", str(out)]
    assert main(command) == 0
    capsys.readouterr()
    loaded = load_checkpoint(out)
    assert loaded.metadata["data_options"] == {"nonfinite": "zero", "align": "none"}
    assert loaded.objective.mmd_weight == 10 and loaded.metadata["imported_from"]["model_prefix"] == "Model."
    # evaluate reads the pickle with the recorded policy; an explicit --nonfinite refuse overrides it.
    assert main(["evaluate", str(out), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]["all"]
    with torch.no_grad():  # the same prediction MMSA's own model makes on the zeroed test split
        from mfm.data import load_dataset

        test = load_dataset("mosi-pickle", data_dir=data, nonfinite="zero").splits["test"]
        x = [torch.as_tensor(test.inputs[m]) for m in ("language", "acoustic", "visual")]
        mae = float((theirs(*x)[0].squeeze(1) - torch.as_tensor(test.labels)).abs().mean())
    assert metrics["mae"] == pytest.approx(mae, abs=1e-5)
    assert main(["evaluate", str(out), "--json", "--nonfinite", "refuse"]) == 2
    assert "acoustic" in capsys.readouterr().err


def test_unaligned_sequences_train_without_the_mfn_unless_aligned(tmp_path, capsys):
    data = write_mmsa_pickle(tmp_path / "unaligned.pkl", lengths=(4, 8, 6), dims=(6, 3, 4), sizes=(16, 8, 8))
    out = tmp_path / "m.pt"
    common = [
        "train",
        "--dataset",
        "mosi-pickle",
        "--data-dir",
        str(data),
        "--epochs",
        "1",
        "--batch-size",
        "8",
    ]
    assert main([*common, "--out", str(out)]) == 0
    assert "not the Memory Fusion Network" in capsys.readouterr().err
    assert load_checkpoint(out).config.fusion == "concat"
    assert main([*common, "--config", '{"fusion": "mfn"}', "--out", str(out)]) == 2
    assert "needs one length T" in capsys.readouterr().err
    assert main([*common, "--align", "avg_pool", "--out", str(out)]) == 0
    loaded = load_checkpoint(out)
    assert loaded.config.fusion == "mfn" and {m.shape[0] for m in loaded.config.modalities} == {4}
    assert loaded.metadata["data_options"] == {"nonfinite": "refuse", "align": "avg_pool"}
    assert main(["evaluate", str(out), "--json"]) == 0  # reloads the pickle aligned, as recorded
