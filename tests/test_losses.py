"""The objective's pieces on known answers."""

from __future__ import annotations

import math

import pytest
import torch

from mfm.losses import gaussian_kernel, mmd, mmd_to_prior, prediction_loss


def test_kernel_matches_the_official_formula_by_hand():
    x = torch.tensor([[0.0, 0.0]])
    y = torch.tensor([[1.0, 3.0]])
    # mean squared difference = (1 + 9) / 2 = 5, divided again by D = 2 -> exp(-2.5)
    assert gaussian_kernel(x, y).item() == pytest.approx(math.exp(-2.5))
    assert gaussian_kernel(x, x).item() == pytest.approx(1.0)


def test_mmd_is_zero_for_identical_samples_and_symmetric():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(50, 4, generator=g), torch.randn(60, 4, generator=g) + 1
    assert mmd(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert mmd(x, y).item() == pytest.approx(mmd(y, x).item(), rel=1e-5)


def test_mmd_is_near_zero_for_prior_samples_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(1)
    prior_like = torch.randn(500, 8, generator=g)
    at_prior = mmd_to_prior(prior_like, generator=g).item()
    values = [mmd_to_prior(prior_like + shift, generator=g).item() for shift in (0.5, 1.0, 2.0, 4.0)]
    assert abs(at_prior) < 0.01
    assert values[0] > 3 * max(at_prior, 1e-4)
    assert values == sorted(values), values  # monotone in the shift


def test_mmd_to_prior_is_reproducible_with_a_generator():
    z = torch.randn(32, 5)
    a = mmd_to_prior(z, generator=torch.Generator().manual_seed(7))
    b = mmd_to_prior(z, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_prediction_loss_known_values():
    assert prediction_loss(
        torch.tensor([1.0, -1.0]), torch.tensor([0.0, 1.0]), "regression"
    ).item() == pytest.approx(1.5)
    logits = torch.tensor([[0.0, 0.0]])
    assert prediction_loss(logits, torch.tensor([1]), "classification").item() == pytest.approx(math.log(2))
