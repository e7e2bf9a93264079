"""Training augmentations: shifts move whole images, blur is a normalised Gaussian, both follow their generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mfm.augment import gaussian_blur, random_blur, random_shift


def test_random_shift_moves_whole_images_by_at_most_the_limit():
    images = torch.zeros(16, 1, 10, 10)
    images[:, 0, 5, 5] = 1.0
    shifted = random_shift(images, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape
    rows, cols = (shifted[:, 0] == 1).nonzero()[:, 1], (shifted[:, 0] == 1).nonzero()[:, 2]
    assert len(rows) == 16 and (rows - 5).abs().max() <= 2 and (cols - 5).abs().max() <= 2
    assert len({(int(r), int(c)) for r, c in zip(rows, cols, strict=True)}) > 1  # not all the same shift
    assert torch.equal(random_shift(images, 0, torch.Generator()), images)


@pytest.mark.parametrize("sigma", [0.7, 1.5])
def test_blurred_impulse_is_the_sampled_gaussian(sigma):
    impulse = torch.zeros(1, 1, 21, 21)
    impulse[0, 0, 10, 10] = 1.0
    blurred = gaussian_blur(impulse, torch.tensor([sigma]))[0, 0].double().numpy()
    radius = int(np.ceil(3 * sigma))
    t = np.arange(-radius, radius + 1)
    kernel = np.exp(-(t**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    expected = np.zeros((21, 21))
    expected[10 - radius : 11 + radius, 10 - radius : 11 + radius] = np.outer(kernel, kernel)
    np.testing.assert_allclose(blurred, expected, atol=1e-7)


def test_blur_keeps_constants_and_sharp_images_and_works_per_sample():
    constant = torch.full((2, 3, 8, 8), 0.7)
    torch.testing.assert_close(gaussian_blur(constant, torch.tensor([1.0, 2.0])), constant)
    images = torch.rand(3, 2, 10, 12)
    torch.testing.assert_close(gaussian_blur(images, torch.zeros(3)), images)
    mixed = gaussian_blur(images, torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(mixed[[0, 2]], images[[0, 2]])  # each sample gets its own sigma
    torch.testing.assert_close(mixed[1], gaussian_blur(images[1:2], torch.tensor([1.0]))[0])
    assert not torch.allclose(mixed[1], images[1])


def test_random_blur_is_seeded_and_bounded():
    images = torch.rand(8, 1, 12, 12)
    a = random_blur(images, 2.0, torch.Generator().manual_seed(1))
    b = random_blur(images, 2.0, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert a.var() < images.var()  # blur smooths
    generator = torch.Generator().manual_seed(5)
    state = generator.get_state()
    assert random_blur(images, 0.0, generator) is images
    assert torch.equal(generator.get_state(), state)  # no draw when disabled: old runs reproduce
