"""The one inference step (mfm.inference): a model run over a split in batches equals its forward pass, keeps what
is asked, infers a missing modality without reading it, and leaves the model's modes as they were.

The checks of the loops it replaced (interpret.generation.encode_factors, mfm.swap_metrics.gather_factors,
interpret.analysis.collect, mfm.train.predict) live here, on `run`, `collect` and `predict`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import random_batch, tiny_image_config, tiny_sequence_config

from interpret.analysis import collect
from mfm.errors import MFMError
from mfm.inference import (
    FACTORS,
    FIELDS,
    Outputs,
    as_tensor,
    batches,
    device_of,
    predict,
    run,
    sample_indices,
)
from mfm.model import MFM


def _model(config, seed: int = 0) -> MFM:
    torch.manual_seed(seed)
    return MFM(config).eval()


def tiny_model() -> MFM:
    torch.manual_seed(0)
    return MFM(tiny_image_config()).eval()


# ---------------------------------------------------------------------------------------------------------------
# Moved from test_generation (encode_factors), test_swap_metrics (gather_factors) and test_analysis (collect)
# ---------------------------------------------------------------------------------------------------------------
def test_factors_match_the_forward_pass_in_any_batch_size(config):
    model = _model(config)
    inputs, _ = random_batch(config, batch=7)
    with torch.no_grad():
        out = model(inputs)
    factors = run(
        model, {n: x.numpy() for n, x in inputs.items()}, keep=(*FACTORS, "prediction"), batch_size=3
    )
    assert isinstance(factors, Outputs) and len(factors) == 7 and factors.missing is None
    assert factors.shared_factor.dtype == np.float32
    np.testing.assert_allclose(factors.shared_factor, out.shared_factor.numpy(), atol=1e-6)
    np.testing.assert_allclose(factors.prediction, out.prediction.numpy(), atol=1e-6)
    for name in config.modality_names:
        np.testing.assert_allclose(
            factors.modality_factors[name], out.modality_factors[name].numpy(), atol=1e-6
        )
    with pytest.raises(dataclasses.FrozenInstanceError):
        factors.shared_factor = factors.shared_factor  # type: ignore[misc]


def test_a_missing_modality_uses_the_surrogate_and_is_never_read(config):
    model = _model(config)
    inputs, _ = random_batch(config, batch=4)
    missing = config.modality_names[0]
    poisoned = {**inputs, missing: torch.full_like(inputs[missing], float("nan"))}
    factors = run(model, poisoned, missing=missing, keep=(*FACTORS, "prediction"))
    observed = {n: x for n, x in inputs.items() if n != missing}
    with torch.no_grad():
        out = model(observed, missing=missing)
    assert factors.missing == missing
    np.testing.assert_allclose(factors.shared_factor, out.shared_factor.numpy(), atol=1e-6)
    assert np.isfinite(factors.shared_factor).all()
    with pytest.raises(MFMError, match="surrogate"):
        run(_model(config.replace(surrogate=False)), observed, missing=missing)


def test_gathered_factors_match_the_forward_pass():
    model = tiny_model()
    inputs, _ = random_batch(model.config, batch=7)
    factors = run(model, inputs, keep=FACTORS, batch_size=3)
    with torch.no_grad():
        out = model(inputs)
    np.testing.assert_allclose(factors.shared_factor, out.shared_factor.numpy(), atol=1e-6)
    for name in ("svhn", "mnist"):
        np.testing.assert_allclose(
            factors.modality_factors[name], out.modality_factors[name].numpy(), atol=1e-6
        )


def test_collect_matches_forward_and_restores_mode():
    torch.manual_seed(0)
    model = MFM(tiny_sequence_config()).train()
    inputs, _ = random_batch(model.config, batch=7)
    got = collect(model, {k: v.numpy() for k, v in inputs.items()}, batch_size=3)
    assert model.training  # restored
    with torch.no_grad():
        out = model.eval()(inputs)
    np.testing.assert_allclose(got.shared_factor, out.shared_factor.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        got.reconstructions["visual"], out.reconstructions["visual"].numpy(), rtol=1e-5, atol=1e-6
    )
    assert got.prediction.shape == (7,)


# ---------------------------------------------------------------------------------------------------------------
# The contract of run / batches
# ---------------------------------------------------------------------------------------------------------------
def test_one_batch_gives_exactly_the_forward_pass(config):
    """The same operations in the same order: bit for bit, every field, with and without a missing modality."""
    model = _model(config)
    inputs, _ = random_batch(config, batch=5)
    runs = [(None, inputs)]
    runs += [(m, {n: x for n, x in inputs.items() if n != m}) for m in config.modality_names]
    for missing, given in runs:
        got = run(model, given, missing=missing, batch_size=5)
        with torch.no_grad():
            out = model(given, missing=missing)
        for name in FIELDS:
            expected, value = getattr(out, name), getattr(got, name)
            if isinstance(expected, dict):
                assert set(value) == set(expected)
                for k in expected:
                    np.testing.assert_array_equal(value[k], expected[k].numpy())
            else:
                np.testing.assert_array_equal(value, expected.numpy())
        assert got.missing == missing


def test_only_the_kept_fields_are_computed(config):
    model = _model(config)
    inputs, _ = random_batch(config, batch=4)
    calls = []
    handles = [d.register_forward_hook(lambda *_: calls.append("decode")) for d in model.decoders.values()]
    handles.append(model.head.register_forward_hook(lambda *_: calls.append("head")))
    try:
        factors = run(model, inputs, keep=FACTORS)
    finally:
        for h in handles:
            h.remove()
    assert calls == []  # neither a decoder nor the head ran
    assert factors.reconstructions is None and factors.prediction is None and factors.shared_code is None
    assert len(factors) == 4
    assert predict(model, inputs).shape == ((4,) if config.task == "regression" else (4, config.num_classes))
    with pytest.raises(ValueError, match="unknown output"):
        run(model, inputs, keep=("shared_factor", "logits"))


def test_batches_slice_every_array_and_check_their_lengths():
    model = tiny_model()
    arrays = {"a": np.arange(7.0)[:, None], "b": torch.arange(7.0)[:, None] * 2}
    got = list(batches(model, arrays, 3))
    assert [len(b["a"]) for b in got] == [3, 3, 1]
    assert all(b["a"].dtype == torch.float32 and b["b"].device == device_of(model) for b in got)
    np.testing.assert_array_equal(torch.cat([b["b"] for b in got]).numpy()[:, 0], np.arange(7.0) * 2)
    with pytest.raises(ValueError, match="same number of samples"):
        list(batches(model, {"a": np.zeros((3, 1)), "b": np.zeros((4, 1))}))
    with pytest.raises(ValueError, match="no samples"):
        list(batches(model, {"a": np.zeros((0, 1))}))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        list(batches(model, arrays, 0))
    assert as_tensor(np.ones(2, dtype=np.float64), torch.device("cpu")).dtype == torch.float32
    assert device_of(torch.nn.ReLU()) == torch.device("cpu")  # no parameters: the CPU


def test_check_missing_is_the_one_check(config):
    model = _model(config)
    with pytest.raises(MFMError, match="unknown modality 'audio'"):
        model.check_missing("audio")
    plain = _model(config.replace(surrogate=False))
    with pytest.raises(MFMError, match=r"without surrogate inference.*zero-filling"):
        plain.check_missing(config.modality_names[0])
    plain.check_missing(config.modality_names[0], surrogate=False)  # zero-filling needs no surrogate
    with pytest.raises(MFMError, match="unknown modality 'audio'"):
        plain.check_missing("audio", surrogate=False)


# Moved from test_analysis
def test_sample_indices_are_seeded_sorted_and_bounded():
    a, b = sample_indices(100, 10, seed=3), sample_indices(100, 10, seed=3)
    assert np.array_equal(a, b) and len(a) == 10 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, sample_indices(100, 10, seed=4))
    assert np.array_equal(sample_indices(5, 10, seed=0), np.arange(5))


def test_take_copies_a_subsample_and_not_a_whole_split():
    from mfm.inference import take

    x = np.arange(12.0).reshape(6, 2)
    whole = take({"a": x}, sample_indices(6, None, seed=0))["a"]
    assert whole is x  # every row in order: the array itself, not a 6-row copy
    part = take({"a": x}, np.array([4, 1]))["a"]
    np.testing.assert_array_equal(part, x[[4, 1]])
    assert not np.shares_memory(part, x)
    reordered = take({"a": x}, np.arange(6)[::-1])["a"]
    np.testing.assert_array_equal(reordered, x[::-1])
