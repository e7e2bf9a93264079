"""Missing-modality what-if: surrogate outputs beside full-data ones, zero-filling for models without surrogates,
errors, the summaries, their method labels, and side effects."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import random_batch, tiny_image_config, tiny_sequence_config

from interpret.whatif import (
    METHODS,
    WhatIf,
    missing_modality,
    missing_modality_summary,
    zero_fill_missing_modality,
    zero_fill_summary,
)
from mfm.errors import MFMError
from mfm.inference import predict
from mfm.metrics import task_metrics
from mfm.model import MFM
from mfm.train import evaluate_model


def _model(config, seed: int = 0) -> MFM:
    torch.manual_seed(seed)
    return MFM(config).eval()


def test_what_if_holds_both_passes_with_the_right_shapes(config):
    model = _model(config)
    inputs, _ = random_batch(config, batch=5)
    for missing in config.modality_names:
        what_if = missing_modality(model, inputs, missing, batch_size=2)
        assert isinstance(what_if, WhatIf) and len(what_if) == 5 and what_if.missing == missing
        observed = {n: x for n, x in inputs.items() if n != missing}
        with torch.no_grad():
            inferred, full = model(observed, missing=missing), model(inputs)
        for ours, theirs in ((what_if.inferred, inferred), (what_if.full, full)):
            np.testing.assert_allclose(ours.shared_code, theirs.shared_code.numpy(), atol=1e-6)
            np.testing.assert_allclose(ours.shared_factor, theirs.shared_factor.numpy(), atol=1e-6)
            np.testing.assert_allclose(ours.prediction, theirs.prediction.numpy(), atol=1e-6)
            for n in config.modality_names:
                np.testing.assert_allclose(
                    ours.modality_codes[n], theirs.modality_codes[n].numpy(), atol=1e-6
                )
                np.testing.assert_allclose(
                    ours.reconstructions[n], theirs.reconstructions[n].numpy(), atol=1e-6
                )
        shape = config.modality(missing).shape
        assert what_if.reconstruction.shape == (5, *shape)
        np.testing.assert_array_equal(what_if.target, inputs[missing].numpy())
        for errors in (
            what_if.shared_code_error,
            what_if.modality_code_error,
            what_if.reconstruction_error,
            what_if.full_reconstruction_error,
            what_if.prediction_change,
        ):
            assert errors.shape == (5,)


def test_errors_are_the_per_sample_differences():
    config = tiny_image_config()
    model = _model(config)
    inputs, _ = random_batch(config, batch=4)
    w = missing_modality(model, inputs, "mnist")
    full, inferred = w.full, w.inferred
    target = inputs["mnist"].numpy()
    expected_code = ((inferred.shared_code - full.shared_code) ** 2).mean(1)
    np.testing.assert_allclose(w.shared_code_error, expected_code, rtol=1e-5)
    expected_mcode = ((inferred.modality_codes["mnist"] - full.modality_codes["mnist"]) ** 2).mean(1)
    np.testing.assert_allclose(w.modality_code_error, expected_mcode, rtol=1e-5)
    recon = ((inferred.reconstructions["mnist"] - target) ** 2).reshape(4, -1).mean(1)
    np.testing.assert_allclose(w.reconstruction_error, recon, rtol=1e-5)
    full_recon = ((full.reconstructions["mnist"] - target) ** 2).reshape(4, -1).mean(1)
    np.testing.assert_allclose(w.full_reconstruction_error, full_recon, rtol=1e-5)
    p = torch.softmax(torch.as_tensor(inferred.prediction), -1).numpy()
    q = torch.softmax(torch.as_tensor(full.prediction), -1).numpy()
    np.testing.assert_allclose(w.prediction_change, 0.5 * np.abs(p - q).sum(1), atol=1e-6)
    assert ((w.prediction_change >= 0) & (w.prediction_change <= 1)).all()
    np.testing.assert_array_equal(w.class_changed, p.argmax(1) != q.argmax(1))


def test_regression_prediction_change_is_signed_and_has_no_class_flag():
    config = tiny_sequence_config()
    model = _model(config)
    inputs, _ = random_batch(config, batch=3)
    w = missing_modality(model, inputs, "visual")
    np.testing.assert_allclose(w.prediction_change, w.inferred.prediction - w.full.prediction, atol=1e-6)
    assert w.class_changed is None


def test_the_missing_input_is_never_read(config):
    model = _model(config)
    inputs, _ = random_batch(config, batch=4)
    missing = config.modality_names[0]
    clean = missing_modality(model, inputs, missing)
    poisoned = missing_modality(
        model, {**inputs, missing: torch.full_like(inputs[missing], float("nan"))}, missing
    )
    absent = missing_modality(model, {n: x for n, x in inputs.items() if n != missing}, missing)
    for other in (poisoned, absent):
        np.testing.assert_array_equal(other.inferred.shared_code, clean.inferred.shared_code)
        np.testing.assert_array_equal(other.inferred.prediction, clean.inferred.prediction)
        np.testing.assert_array_equal(other.reconstruction, clean.reconstruction)
        for n in config.modality_names:
            np.testing.assert_array_equal(other.inferred.modality_codes[n], clean.inferred.modality_codes[n])
    assert np.isfinite(poisoned.reconstruction).all()
    # Without X_m there is nothing to compare with.
    assert absent.full is None and absent.target is None
    assert absent.reconstruction_error is None and absent.prediction_change is None


def test_one_sample_comes_back_as_a_batch_of_one():
    config = tiny_image_config()
    model = _model(config)
    inputs, _ = random_batch(config, batch=3)
    one = missing_modality(model, {n: x[1].numpy() for n, x in inputs.items()}, "svhn")
    batch = missing_modality(model, inputs, "svhn")
    assert len(one) == 1 and one.reconstruction.shape == (1, 3, 32, 32)
    np.testing.assert_allclose(one.reconstruction[0], batch.reconstruction[1], atol=1e-6)
    np.testing.assert_allclose(one.reconstruction_error[0], batch.reconstruction_error[1], rtol=1e-5)


def test_error_messages():
    config = tiny_image_config()
    model = _model(config)
    inputs, labels = random_batch(config, batch=3)
    with pytest.raises(MFMError, match=r"unknown modality 'audio'; this model has \['svhn', 'mnist'\]"):
        missing_modality(model, inputs, "audio")
    without = _model(config.replace(surrogate=False))
    with pytest.raises(MFMError, match="without surrogate inference"):
        missing_modality(without, inputs, "svhn")
    with pytest.raises(MFMError, match="without surrogate inference"):
        missing_modality_summary(without, inputs, labels.numpy())
    with pytest.raises(MFMError, match="input for modality 'mnist' is missing"):
        missing_modality(model, {"svhn": inputs["svhn"]}, "svhn")
    with pytest.raises(MFMError, match="not a mix"):
        missing_modality(model, {"svhn": inputs["svhn"][0], "mnist": inputs["mnist"]}, "svhn")
    with pytest.raises(MFMError, match="inputs lack modalities"):
        missing_modality_summary(model, {"mnist": inputs["mnist"]}, labels.numpy())


def test_summary_agrees_with_evaluate_and_with_the_per_sample_errors(config):
    model = _model(config)
    inputs, labels = random_batch(config, batch=7)
    inputs = {n: x.numpy() for n, x in inputs.items()}
    labels = labels.numpy()
    calls = []
    summary = missing_modality_summary(
        model, inputs, labels, batch_size=3, progress=lambda *a: calls.append(a)
    )
    assert list(summary) == list(config.modality_names)
    assert calls == [(i + 1, len(config.modality_names), n) for i, n in enumerate(config.modality_names)]
    evaluated = evaluate_model(model, inputs, labels, batch_size=3)
    for missing, entry in summary.items():
        assert entry["metrics_full"] == evaluated["all"]
        assert entry["metrics_without"] == evaluated[f"without_{missing}"]
        w = missing_modality(model, inputs, missing)
        assert entry["shared_code_mse"] == pytest.approx(w.shared_code_error.mean(), rel=1e-5)
        assert entry["modality_code_mse"] == pytest.approx(w.modality_code_error.mean(), rel=1e-5)
        assert entry["reconstruction_mse_surrogate"] == pytest.approx(w.reconstruction_error.mean(), rel=1e-5)
        assert entry["reconstruction_mse_full"] == pytest.approx(w.full_reconstruction_error.mean(), rel=1e-5)
        assert entry["prediction_change"] == pytest.approx(
            np.abs(w.prediction_change).mean(), rel=1e-5, abs=1e-7
        )
        assert ("class_changed" in entry) == (config.task == "classification")
        assert entry["method"] == "surrogate" and w.method == "surrogate"
        assert all(isinstance(v, (float, dict)) for k, v in entry.items() if k != "method")


def test_what_if_leaves_mode_and_requires_grad_as_they_were():
    config = tiny_image_config()
    torch.manual_seed(0)
    model = MFM(config).train()
    model.surrogates["svhn"].eval()  # a deliberately mixed state must come back as it was
    next(model.decoders["mnist"].parameters()).requires_grad_(False)
    modes = {name: m.training for name, m in model.named_modules()}
    grads = {name: p.requires_grad for name, p in model.named_parameters()}
    inputs, labels = random_batch(config, batch=4)
    w = missing_modality(model, inputs, "svhn")
    missing_modality_summary(model, inputs, labels.numpy(), batch_size=2)
    zero_fill_missing_modality(model, inputs, "mnist")
    zero_fill_summary(model, inputs, labels.numpy(), batch_size=2)
    with pytest.raises(MFMError):
        missing_modality(model, inputs, "audio")
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert {name: p.requires_grad for name, p in model.named_parameters()} == grads
    assert all(p.grad is None for p in model.parameters())
    # It ran in eval mode: the same numbers as the model in eval mode.
    np.testing.assert_allclose(
        missing_modality(model.eval(), inputs, "svhn").reconstruction, w.reconstruction, atol=1e-6
    )


# ---------------------------------------------------------------------------------------------------------------
# Zero-filling (models without surrogate inference, e.g. imported ones)
# ---------------------------------------------------------------------------------------------------------------
def _zeroed(inputs, missing):
    return {n: torch.zeros_like(x) if n == missing else x for n, x in inputs.items()}


def test_zero_fill_is_the_unchanged_model_on_explicitly_zeroed_inputs(config):
    model = _model(config.replace(surrogate=False))
    inputs, _ = random_batch(config, batch=5)
    for missing in config.modality_names:
        w = zero_fill_missing_modality(model, inputs, missing, batch_size=2)
        assert w.method == "zero_fill" and len(w) == 5
        with torch.no_grad():
            zeroed, full = model(_zeroed(inputs, missing)), model(inputs)
        for ours, theirs in ((w.inferred, zeroed), (w.full, full)):
            np.testing.assert_allclose(ours.shared_code, theirs.shared_code.numpy(), atol=1e-6)
            np.testing.assert_allclose(ours.prediction, theirs.prediction.numpy(), atol=1e-6)
            for n in config.modality_names:
                np.testing.assert_allclose(
                    ours.modality_codes[n], theirs.modality_codes[n].numpy(), atol=1e-6
                )
                np.testing.assert_allclose(
                    ours.reconstructions[n], theirs.reconstructions[n].numpy(), atol=1e-6
                )
        target = inputs[missing].numpy()
        recon = ((zeroed.reconstructions[missing].numpy() - target) ** 2).reshape(5, -1).mean(1)
        np.testing.assert_allclose(w.reconstruction_error, recon, rtol=1e-5)
        code = ((zeroed.shared_code - full.shared_code) ** 2).mean(1).numpy()
        np.testing.assert_allclose(w.shared_code_error, code, rtol=1e-5, atol=1e-12)


def test_zero_fill_of_an_input_that_is_already_zero_changes_nothing(config):
    # Known answer: when X_m is zero, the zero-filled pass is the full-data pass, so every error is exactly 0
    # and the reconstruction error equals the full-data one.
    model = _model(config.replace(surrogate=False))
    inputs, labels = random_batch(config, batch=4)
    missing = config.modality_names[-1]
    inputs = _zeroed(inputs, missing)
    w = zero_fill_missing_modality(model, inputs, missing)
    np.testing.assert_array_equal(w.shared_code_error, np.zeros(4))
    np.testing.assert_array_equal(w.modality_code_error, np.zeros(4))
    np.testing.assert_array_equal(w.prediction_change, np.zeros(4))
    np.testing.assert_array_equal(w.reconstruction_error, w.full_reconstruction_error)
    entry = zero_fill_summary(model, {n: x.numpy() for n, x in inputs.items()}, labels.numpy())[missing]
    assert entry["shared_code_mse"] == 0 and entry["prediction_change"] == 0
    assert entry["reconstruction_mse_zero_fill"] == entry["reconstruction_mse_full"]
    assert entry["metrics_without"] == entry["metrics_full"]


def test_zero_fill_never_reads_the_missing_input(config):
    model = _model(config.replace(surrogate=False))
    inputs, _ = random_batch(config, batch=3)
    missing = config.modality_names[0]
    clean = zero_fill_missing_modality(model, inputs, missing)
    poisoned = zero_fill_missing_modality(
        model, {**inputs, missing: torch.full_like(inputs[missing], float("nan"))}, missing
    )
    absent = zero_fill_missing_modality(model, {n: x for n, x in inputs.items() if n != missing}, missing)
    for other in (poisoned, absent):
        np.testing.assert_array_equal(other.inferred.prediction, clean.inferred.prediction)
        np.testing.assert_array_equal(other.reconstruction, clean.reconstruction)
    assert absent.full is None and absent.prediction_change is None and absent.method == "zero_fill"


def test_zero_fill_summary_is_labelled_and_agrees_with_predict_on_zeroed_inputs(config):
    model = _model(config.replace(surrogate=False))
    inputs, labels = random_batch(config, batch=7)
    inputs = {n: x.numpy() for n, x in inputs.items()}
    labels = labels.numpy()
    calls = []
    summary = zero_fill_summary(model, inputs, labels, batch_size=3, progress=lambda *a: calls.append(a))
    assert list(summary) == list(config.modality_names)
    assert calls == [(i + 1, len(config.modality_names), n) for i, n in enumerate(config.modality_names)]
    for missing, entry in summary.items():
        assert entry["method"] == "zero_fill"
        assert "reconstruction_mse_zero_fill" in entry and "reconstruction_mse_surrogate" not in entry
        zeroed = {n: np.zeros_like(x) if n == missing else x for n, x in inputs.items()}
        assert entry["metrics_full"] == task_metrics(
            config.task, predict(model, inputs, batch_size=3), labels
        )
        expected = task_metrics(config.task, predict(model, zeroed, batch_size=3), labels)
        assert entry["metrics_without"] == pytest.approx(expected, rel=1e-6, abs=1e-9)
        w = zero_fill_missing_modality(model, inputs, missing)
        assert entry["reconstruction_mse_zero_fill"] == pytest.approx(w.reconstruction_error.mean(), rel=1e-5)
        assert entry["reconstruction_mse_full"] == pytest.approx(w.full_reconstruction_error.mean(), rel=1e-5)
        assert entry["prediction_change"] == pytest.approx(
            np.abs(w.prediction_change).mean(), rel=1e-5, abs=1e-7
        )
    assert "not the paper's surrogate inference" in METHODS["zero_fill"]


def test_surrogate_functions_refuse_a_model_without_surrogate_and_point_to_zero_filling():
    config = tiny_sequence_config(surrogate=False)
    model = _model(config)
    inputs, labels = random_batch(config, batch=3)
    for call in (
        lambda: missing_modality(model, inputs, "visual"),
        lambda: missing_modality_summary(model, inputs, labels.numpy()),
    ):
        with pytest.raises(MFMError, match=r"without surrogate inference.*zero-filling"):
            call()
    with pytest.raises(MFMError, match="unknown modality 'audio'"):
        zero_fill_missing_modality(model, inputs, "audio")
