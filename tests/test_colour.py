"""Colour measured as colour: CIELAB, CIEDE2000 and concordance on published answers, and street-view colour
metrics that fail for the failure they name (a generator of grey images, faded colours, lost contrast)."""

from __future__ import annotations

import numpy as np
import pytest

from mfm.data.style import concordance, delta_e_2000, srgb_to_lab
from mfm.errors import DataError
from mfm.eval.swap_metrics import colour_metrics, pearson_r


# ---------------------------------------------------------------------------------------------------------------
# CIELAB and CIEDE2000 on published values
# ---------------------------------------------------------------------------------------------------------------
def test_srgb_to_lab_reference_colours():
    # sRGB primaries and white in CIELAB (D65), as tabulated by colour-science references (e.g. Lindbloom).
    rgb = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1, 1], [0, 0, 0]])
    expected = np.array(
        [
            [53.2408, 80.0925, 67.2032],
            [87.7347, -86.1827, 83.1793],
            [32.2970, 79.1875, -107.8602],
            [100.0, 0.0, 0.0],
            [0.0, 0.0, 0.0],
        ]
    )
    np.testing.assert_allclose(srgb_to_lab(rgb), expected, atol=2e-3)


def test_greys_have_no_chroma_and_lightness_rises_with_grey_level():
    grey = np.linspace(0, 1, 11)[:, None].repeat(3, axis=1)  # (11, 3)
    lab = srgb_to_lab(grey)
    np.testing.assert_allclose(lab[:, 1:], 0.0, atol=1e-10)
    assert np.all(np.diff(lab[:, 0]) > 0)
    # Batched shapes pass through, values outside [0, 1] are clipped.
    assert srgb_to_lab(np.zeros((2, 4, 3))).shape == (2, 4, 3)
    np.testing.assert_allclose(
        srgb_to_lab(np.array([1.5, -1.0, 2.0])), srgb_to_lab(np.array([1.0, 0.0, 1.0]))
    )
    with pytest.raises(DataError, match=r"\(\.\.\., 3\)"):
        srgb_to_lab(np.zeros((4, 2)))


# Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes, supplementary test
# data and mathematical observations", Table 1: 28 of its 34 pairs, among them every branch (hue wrap at 0/360
# degrees, hues exactly 180 degrees apart, the mean-hue branches, a* = b* = 0, large differences), and its
# everyday colours. (Also checked once against scikit-image 0.26's deltaE_ciede2000: equal to 6e-14.)
SHARMA = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, 2.8361, -74.0200), (50.0, 0.0, -82.7485), 3.4412),
    ((50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0000),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, -1.0, 2.0), (50.0, 0.0, 0.0), 2.3669),
    ((50.0, 2.4900, -0.0010), (50.0, -2.4900, 0.0009), 7.1792),
    ((50.0, 2.4900, -0.0010), (50.0, -2.4900, 0.0010), 7.1792),
    ((50.0, 2.4900, -0.0010), (50.0, -2.4900, 0.0011), 7.2195),
    ((50.0, 2.4900, -0.0010), (50.0, -2.4900, 0.0012), 7.2195),
    ((50.0, -0.0010, 2.4900), (50.0, 0.0009, -2.4900), 4.8045),
    ((50.0, -0.0010, 2.4900), (50.0, 0.0010, -2.4900), 4.8045),
    ((50.0, -0.0010, 2.4900), (50.0, 0.0011, -2.4900), 4.7461),
    ((50.0, 2.5, 0.0), (50.0, 0.0, -2.5), 4.3065),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (61.0, -5.0, 29.0), 22.8977),
    ((50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    ((50.0, 2.5, 0.0), (58.0, 24.0, 15.0), 19.4535),
    ((50.0, 2.5, 0.0), (50.0, 3.1736, 0.5854), 1.0000),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((63.0109, -31.0961, -5.8663), (62.8187, -29.7946, -4.0864), 1.2630),
    ((61.2901, 3.7196, -5.3901), (61.4292, 2.2480, -4.9620), 1.8731),
    ((35.0831, -44.1164, 3.7933), (35.0232, -40.0716, 1.5901), 1.8645),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((36.4612, 47.8580, 18.3852), (36.2715, 50.5065, 21.2231), 1.4146),
    ((90.8027, -2.0831, 1.4410), (91.1528, -1.6435, 0.0447), 1.4441),
    ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
    ((6.7747, -0.2908, -2.4247), (5.8714, -0.0985, -2.2286), 0.6377),
]


def test_delta_e_2000_matches_sharma_table():
    first = np.array([p[0] for p in SHARMA])
    second = np.array([p[1] for p in SHARMA])
    expected = np.array([p[2] for p in SHARMA])
    np.testing.assert_allclose(delta_e_2000(first, second), expected, atol=1e-4)
    # Symmetric, zero on the diagonal, batched.
    np.testing.assert_allclose(delta_e_2000(second, first), expected, atol=1e-4)
    np.testing.assert_array_equal(delta_e_2000(first, first), 0.0)
    assert delta_e_2000(first.reshape(4, 7, 3), second.reshape(4, 7, 3)).shape == (4, 7)
    np.testing.assert_allclose(
        delta_e_2000(first[:1], second[:3]), delta_e_2000(first[[0, 0, 0]], second[:3])
    )
    with pytest.raises(DataError, match="broadcast"):
        delta_e_2000(first, second[:3])


# ---------------------------------------------------------------------------------------------------------------
# Concordance
# ---------------------------------------------------------------------------------------------------------------
def test_concordance_by_hand_and_against_pearson():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 2))
    x -= x.mean(0)  # centred, so that -x has the same means
    assert concordance(x, x) == pytest.approx(1.0)
    assert concordance(-x, x) == pytest.approx(-1.0)
    # Scaled down by s: Pearson r stays 1, concordance is 2 s / (1 + s²) for equal variances.
    assert concordance(0.2 * x, x) == pytest.approx(2 * 0.2 / (1 + 0.2**2), rel=0.05)
    assert pearson_r(0.2 * x, x) == pytest.approx(1.0)
    # A constant (grey: a* = b* = 0) scores 0 whatever the truth; an offset lowers it.
    assert concordance(np.zeros_like(x), x) == 0.0
    assert concordance(x + 3.0, x) < 0.2
    # By hand, one column: x = (0, 2), y = (0, 1): cov 0.5, var 1 and 0.25, means 1 and 0.5.
    assert concordance(np.array([[0.0], [2.0]]), np.array([[0.0], [1.0]])) == pytest.approx(1.0 / 1.5)
    # NaN rows dropped; too few rows NaN; shapes checked.
    with_nan = np.vstack([x, [[np.nan, 0.0]]])
    assert concordance(with_nan, np.vstack([x, [[0.0, 0.0]]])) == pytest.approx(1.0)
    assert np.isnan(concordance(x[:1], x[:1])) and np.isnan(concordance(x[:0], x[:0]))
    with pytest.raises(DataError, match="differ"):
        concordance(x, x[:, :1])


# ---------------------------------------------------------------------------------------------------------------
# Street-view colour metrics on synthetic generators with known colours
# ---------------------------------------------------------------------------------------------------------------
def painted(fg: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """(S, 3, 32, 32) images: background `bg` (S, 3) with a centred 12x12 foreground block of `fg` (S, 3)."""
    images = np.broadcast_to(bg[:, :, None, None], (len(bg), 3, 32, 32)).copy()
    images[:, :, 10:22, 10:22] = fg[:, :, None, None]
    return images


def grey_equivalent(rgb: np.ndarray) -> np.ndarray:
    """The grey of the same CIE luminance Y as each sRGB colour (..., 3): what a colour-blind decoder draws."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    y = linear @ np.array([0.2126729, 0.7151522, 0.0721750])
    grey = np.where(y <= 0.0031308, 12.92 * y, 1.055 * y ** (1 / 2.4) - 0.055)
    return np.repeat(grey[..., None], 3, axis=-1)


@pytest.fixture(scope="module")
def recorded():
    rng = np.random.default_rng(1)
    fg, bg = rng.uniform(0.05, 0.95, (300, 3)), rng.uniform(0.05, 0.95, (300, 3))
    return fg, bg


def test_true_colours_score_the_ceiling(recorded):
    fg, bg = recorded
    scores = colour_metrics(painted(fg, bg), fg, bg)
    for part in ("fg", "bg"):
        assert scores[f"{part}_lightness_r"] == pytest.approx(1.0, abs=1e-9)
        assert scores[f"{part}_chroma_agreement"] == pytest.approx(1.0, abs=1e-9)
        assert scores[f"{part}_rgb_r"] == pytest.approx(1.0, abs=1e-9)
        assert scores[f"{part}_delta_e"] == pytest.approx(0.0, abs=1e-6)
    assert scores["contrast_r"] == pytest.approx(1.0) and scores["contrast_kept"] == pytest.approx(1.0)


def test_grey_images_keep_lightness_and_rgb_r_but_score_no_chroma(recorded):
    """The failure of issue 15: the old pooled RGB r passes a generator that drops colour; chroma agreement does
    not, and lightness r says (rightly) that the grey level survived."""
    fg, bg = recorded
    scores = colour_metrics(painted(grey_equivalent(fg), grey_equivalent(bg)), fg, bg)
    for part in ("fg", "bg"):
        assert scores[f"{part}_chroma_agreement"] == pytest.approx(0.0, abs=1e-6)
        assert scores[f"{part}_lightness_r"] > 0.999  # the same luminance, so the same L*
        # What made the old figure pass: 0.89-0.91 on the street-view digits, whose colours are less saturated
        # than these uniform random ones.
        assert scores[f"{part}_rgb_r"] > 0.4
        assert scores[f"{part}_delta_e"] > 10


def test_faded_colours_and_lost_contrast_are_caught(recorded):
    fg, bg = recorded
    grey_fg, grey_bg = grey_equivalent(fg), grey_equivalent(bg)
    faded_fg, faded_bg = (
        grey_fg + 0.25 * (fg - grey_fg),
        grey_bg + 0.25 * (bg - grey_bg),
    )  # a quarter of the colour
    faded = colour_metrics(painted(faded_fg, faded_bg), fg, bg)
    for part in ("fg", "bg"):
        assert 0.2 < faded[f"{part}_chroma_agreement"] < 0.8  # hues right, saturation lost
    # Foreground pulled halfway to the background: contrast kept about half, colours still correlated.
    low = colour_metrics(painted(0.5 * (fg + bg), bg), fg, bg)
    assert 0.3 < low["contrast_kept"] < 0.7
    assert low["bg_delta_e"] == pytest.approx(0.0, abs=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# The Style & label page's swatches: measured colours per grid column
# ---------------------------------------------------------------------------------------------------------------
def test_column_colours_of_a_faithful_and_of_a_grey_grid(recorded):
    from interpret.generation import column_colours

    fg, bg = recorded[0][:5], recorded[1][:5]
    real = painted(fg, bg)  # (5, 3, 32, 32)
    faithful = column_colours(real, np.stack([real, real, real]))  # 3 label rows, each the source itself
    np.testing.assert_allclose(faithful.generated_fg, faithful.source_fg)
    np.testing.assert_allclose(faithful.source_bg, bg, atol=1e-12)
    np.testing.assert_allclose(faithful.delta_e_fg, 0.0, atol=1e-9)
    grey = painted(grey_equivalent(fg), grey_equivalent(bg))
    lost = column_colours(real, np.stack([real, grey]))  # one row keeps the colours, one does not
    full_loss = column_colours(real, grey[None])
    np.testing.assert_allclose(lost.delta_e_bg, full_loss.delta_e_bg / 2)  # the mean over the rows
    assert np.all(full_loss.delta_e_bg > 5)
    with pytest.raises(ValueError, match=r"\(S, 3, H, W\)"):
        column_colours(real[:, :1], np.stack([real[:, :1]]))


def test_colour_swatches_draw_the_measured_colours_with_titled_axes(recorded):
    from figure_checks import untitled_axes

    from interpret.figures import colour_swatches
    from interpret.generation import column_colours

    fg, bg = recorded[0][:4], recorded[1][:4]
    real = painted(fg, bg)
    colours = column_colours(real, painted(grey_equivalent(fg), grey_equivalent(bg))[None])
    labels = ["#0", "#1", "#2", "#3"]
    figure = colour_swatches(colours, labels, title="t")
    assert untitled_axes(figure.to_plotly_json()["layout"]) == []
    assert list(figure.layout.xaxis.ticktext) == labels
    assert list(figure.layout.yaxis.ticktext) == ["source", "generated"]
    mosaic = np.asarray(figure.data[0].z)  # (2 * 34, 4 * 34, 3) uint8, tiles of 32 and 2 pixels of padding
    for column in range(4):
        left = column * 34
        for row, (fg, bg) in enumerate(
            [(colours.source_fg, colours.source_bg), (colours.generated_fg, colours.generated_bg)]
        ):
            top = row * 34
            np.testing.assert_array_equal(
                mosaic[top + 16, left + 16], np.round(255 * fg[column])
            )  # the centre
            np.testing.assert_array_equal(mosaic[top + 1, left + 1], np.round(255 * bg[column]))  # the corner
    texts = [a.text for a in figure.layout.annotations]
    assert texts == [
        f"{f:.0f} / {b:.0f}" for f, b in zip(colours.delta_e_fg, colours.delta_e_bg, strict=True)
    ]
