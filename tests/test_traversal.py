"""Traversal spans (mean ± spread · sd, clipped to the observed range) on known answers, and the effect of each
factor dimension on a tiny MFM against the independent traverse_factor path, with a planted cut and a dead unit."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from conftest import tiny_image_config, tiny_sequence_config

from interpret.generation import (
    TRAVERSAL_SPREAD,
    TraversalSpan,
    factor_effects,
    traversal_span,
    traverse_factor,
)
from mfm.model import MFM


# ---------------------------------------------------------------------------------------------------------------
# traversal_span on a hand-made factor matrix
# ---------------------------------------------------------------------------------------------------------------
def hand_factors() -> np.ndarray:
    """(10, 4) columns with answers by hand (population sd, ddof = 0):

    0: nine 0s and one 20: mean 2, sd sqrt((9·4 + 18²)/10) = 6; 2 ± 12 -> clipped below at the min 0, high 14.
    1: nine 20s and one 0: mean 18, sd 6; 18 ± 12 -> low 6, clipped above at the max 20.
    2: constant 3 (a dead unit): sd 0, low = high = 3.
    3: 0..9: mean 4.5, sd sqrt(8.25) = 2.872; 4.5 ± 5.745 -> clipped at both ends, 0 and 9.
    """
    factors = np.zeros((10, 4))
    factors[9, 0] = 20.0
    factors[:9, 1] = 20.0
    factors[:, 2] = 3.0
    factors[:, 3] = np.arange(10)
    return factors


def test_span_is_mean_plus_minus_two_sd_clipped_to_the_observed_range():
    factors = hand_factors()
    assert TRAVERSAL_SPREAD == 2.0
    expected = {0: (2.0, 6.0, 0.0, 14.0), 1: (18.0, 6.0, 6.0, 20.0), 3: (4.5, np.sqrt(8.25), 0.0, 9.0)}
    for dim, (mean, sd, low, high) in expected.items():
        span = traversal_span(factors, dim, count=5)
        assert isinstance(span, TraversalSpan) and span.dim == dim
        assert span.mean == pytest.approx(mean) and span.sd == pytest.approx(sd)
        assert (span.low, span.high) == (pytest.approx(low), pytest.approx(high))
    # The same rule written out for every column.
    for dim in range(factors.shape[1]):
        column = factors[:, dim]
        span = traversal_span(factors, dim)
        assert span.sd == pytest.approx(np.std(column, ddof=0))
        assert span.low == pytest.approx(max(column.min(), column.mean() - 2 * column.std()))
        assert span.high == pytest.approx(min(column.max(), column.mean() + 2 * column.std()))


def test_span_values_are_evenly_spaced_and_sigmas_count_sds_from_the_mean():
    span = traversal_span(hand_factors(), 0, count=5)
    np.testing.assert_allclose(span.values, [0.0, 3.5, 7.0, 10.5, 14.0])
    np.testing.assert_allclose(span.sigmas, [-1 / 3, 0.25, 5 / 6, 17 / 12, 2.0])  # (values - 2) / 6
    assert len(traversal_span(hand_factors(), 1).values) == 9  # the default count
    np.testing.assert_allclose(
        traversal_span(hand_factors(), 1, count=3).sigmas, [-2.0, -5 / 6, 1 / 3]
    )  # 6, 13, 20
    with pytest.raises(dataclasses.FrozenInstanceError):
        span.low = 1.0  # type: ignore[misc]


def test_spread_sets_how_many_sds_the_span_reaches():
    span = traversal_span(hand_factors(), 0, count=3, spread=1.0)  # 2 ± 6: low clipped at 0, high 8
    assert (span.low, span.high) == (pytest.approx(0.0), pytest.approx(8.0))
    span = traversal_span(hand_factors(), 1, count=3, spread=0.25)  # 18 ± 1.5: inside 0..20 at both ends
    np.testing.assert_allclose(span.values, [16.5, 18.0, 19.5])
    np.testing.assert_allclose(span.sigmas, [-0.25, 0.0, 0.25])


def test_a_constant_dimension_gives_one_repeated_value_and_zero_sigmas():
    span = traversal_span(hand_factors(), 2, count=4)
    assert span.sd == 0.0 and span.mean == 3.0
    assert span.low == span.high == 3.0
    np.testing.assert_array_equal(span.values, [3.0, 3.0, 3.0, 3.0])
    np.testing.assert_array_equal(span.sigmas, np.zeros(4))
    assert np.isfinite(span.sigmas).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(count=1), "count must be >= 2"),
        (dict(count=0), "count must be >= 2"),
        (dict(spread=0.0), "spread > 0"),
        (dict(spread=-1.0), "spread > 0"),
        (dict(dim=4), "dim must be an integer"),
        (dict(dim=-1), "dim must be an integer"),
    ],
)
def test_span_refuses_bad_arguments(kwargs, message):
    settings = {"dim": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        traversal_span(hand_factors(), **settings)


def test_span_refuses_a_factor_matrix_of_the_wrong_rank():
    with pytest.raises(ValueError, match="factors must be"):
        traversal_span(np.arange(5.0), 0)


# ---------------------------------------------------------------------------------------------------------------
# factor_effects on a tiny MFM
# ---------------------------------------------------------------------------------------------------------------
CONFIGS = {"image": (tiny_image_config, "svhn"), "sequence": (tiny_sequence_config, "acoustic")}


def _model(kind: str, seed: int = 0) -> tuple[MFM, str]:
    make, modality = CONFIGS[kind]
    torch.manual_seed(seed)
    return MFM(make()).eval(), modality


def _point(model: MFM, modality: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Hand-made factor matrices over 'a split' (every column spread out) and the point traversed from."""
    rng = np.random.default_rng(seed)
    fy, fi = model.config.shared_factor_dim, model.config.modality(modality).factor_dim
    shared, style = rng.uniform(0.0, 2.0, (30, fy)), rng.uniform(0.0, 2.0, (30, fi))
    return {"shared": shared, "modality": style, "at_shared": shared[0], "at_style": style[0]}


def _by_traversal(model, modality, point, which, factors) -> np.ndarray:
    """Each dimension's effect the long way: traverse_factor at its span's two ends, RMS of the difference."""
    effects = []
    for dim in range(factors.shape[1]):
        span = traversal_span(factors, dim, 2)
        out = traverse_factor(
            model, modality, point["at_shared"], point["at_style"], which, dim, [span.low, span.high]
        ).astype(np.float64)
        effects.append(np.sqrt(np.mean((out[1] - out[0]) ** 2)))
    return np.array(effects)


@pytest.mark.parametrize("which", ["shared", "modality"])
@pytest.mark.parametrize("kind", ["image", "sequence"])
def test_effect_is_the_rms_change_between_the_span_ends(kind, which):
    model, modality = _model(kind)
    point = _point(model, modality)
    factors = point[which]
    effects = factor_effects(model, modality, point["at_shared"], point["at_style"], which, factors)
    assert effects.shape == (factors.shape[1],)
    assert np.isfinite(effects).all() and (effects > 0).all()  # every live dimension moves the output
    np.testing.assert_allclose(effects, _by_traversal(model, modality, point, which, factors), rtol=1e-5)


def test_effect_depends_on_the_spread():
    model, modality = _model("image")
    point = _point(model, modality)
    args = (model, modality, point["at_shared"], point["at_style"], "shared", point["shared"])
    narrow, wide = factor_effects(*args, spread=0.25), factor_effects(*args)
    assert (narrow < wide).all()  # a quarter sd each way against (up to) two: a smaller move


def _cut(model: MFM, modality: str, column: int) -> MFM:
    """A copy whose decoder for `modality` never reads input `column` of [F_y ; F_i]: its first layer's weights
    for that column zeroed (the LSTM cell's input weights, which also read the hidden state at later steps, for a
    sequence; the input projection, and a composite decoder's ink head, for an image)."""
    clone = copy.deepcopy(model).eval()
    with torch.no_grad():
        for weight in clone.decoders[modality].factor_weights():
            weight[:, column] = 0.0
    return clone


@pytest.mark.parametrize("which", ["shared", "modality"])
@pytest.mark.parametrize("kind", ["image", "sequence"])
def test_a_dimension_the_decoder_cannot_read_has_effect_zero_and_sorts_last(kind, which):
    model, modality = _model(kind)
    point = _point(model, modality)
    dim = 1  # not the last one, so that sorting it last is not a tie's default
    column = dim if which == "shared" else model.config.shared_factor_dim + dim
    cut = _cut(model, modality, column)
    effects = factor_effects(cut, modality, point["at_shared"], point["at_style"], which, point[which])
    assert effects[dim] == 0.0
    assert (np.delete(effects, dim) > 0).all()
    order = np.argsort(-effects, kind="stable")
    assert order[-1] == dim
    # The uncut model does use that dimension.
    assert (
        factor_effects(model, modality, point["at_shared"], point["at_style"], which, point[which])[dim] > 0
    )


@pytest.mark.parametrize("kind", ["image", "sequence"])
def test_a_dead_dimension_has_effect_zero(kind):
    model, modality = _model(kind)
    point = _point(model, modality)
    factors = point["shared"].copy()
    factors[:, 2] = 0.7  # a unit that never varies over the split
    effects = factor_effects(model, modality, point["at_shared"], point["at_style"], "shared", factors)
    assert effects[2] == 0.0
    assert (np.delete(effects, 2) > 0).all()


def test_effects_leave_the_modes_as_they_were_and_run_in_eval_mode():
    model, modality = _model("image")
    model.train()
    model.decoders["mnist"].eval()  # a deliberately mixed state must come back as it was
    modes = {name: m.training for name, m in model.named_modules()}
    grads = {name: p.requires_grad for name, p in model.named_parameters()}
    point = _point(model, modality)
    args = (modality, point["at_shared"], point["at_style"], "shared", point["shared"])
    in_training = factor_effects(model, *args)
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert {name: p.requires_grad for name, p in model.named_parameters()} == grads
    assert all(p.grad is None for p in model.parameters())
    # Eval mode inside (BatchNorm on its running statistics): the same numbers as the model in eval mode.
    np.testing.assert_allclose(in_training, factor_effects(model.eval(), *args), rtol=1e-6)


def test_effects_refuse_a_factor_matrix_of_the_wrong_width():
    model, modality = _model("image")
    point = _point(model, modality)
    at = (point["at_shared"], point["at_style"])
    fy = model.config.shared_factor_dim
    with pytest.raises(ValueError, match=rf"factors must be \(N, {fy}\)"):
        factor_effects(model, modality, *at, "shared", point["shared"][:, :-1])
    with pytest.raises(ValueError, match="factors must be"):
        factor_effects(model, modality, *at, "shared", np.hstack([point["shared"], point["shared"]]))
    with pytest.raises(ValueError, match="factors must be"):
        factor_effects(model, modality, *at, "modality", point["shared"])  # F_y's width for F_i
    with pytest.raises(ValueError, match="factors must be"):
        factor_effects(model, modality, *at, "shared", point["shared"][:, 0])
    with pytest.raises(ValueError, match="which must be"):
        factor_effects(model, modality, *at, "label", point["shared"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shared must be a vector"):
        factor_effects(model, modality, point["at_style"], point["at_style"], "shared", point["shared"])
