"""Pure numpy measurements of image style, used to score how well a model preserves style.

`estimate_colors` recovers a street-view digit's background and foreground colours (the generator records the
true ones); `mnist_moments` measures a handwritten digit's slant and stroke thickness, `stroke_width` its stroke
width on the binarised ink, independently, `pinholes` the specks of background inside that ink and `specks` the
islands of ink apart from it. All work on batches and need no model.
"""

from __future__ import annotations

import numpy as np

from mfm.errors import DataError


def estimate_colors(
    images: np.ndarray, *, border: int = 2, ink_fraction: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Estimate the foreground and background colour of colour digit images.

    images: (N, 3, H, W) floats in [0, 1]. The background is the per-channel median of the `border`-pixel ring
    around the image (robust to neighbouring digits cut by the left and right edges); the foreground is the
    mean of the `ink_fraction` of pixels furthest (Euclidean RGB distance) from that background.
    Returns (fg (N, 3), bg (N, 3)) as float64.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 4 or images.shape[1] != 3:
        raise DataError(f"estimate_colors: expected images of shape (N, 3, H, W), got {images.shape}")
    n, _, height, width = images.shape
    if min(height, width) <= 2 * border:
        raise DataError(
            f"estimate_colors: images of {height}x{width} are too small for a {border}-pixel border"
        )
    ring = np.ones((height, width), dtype=bool)
    ring[border:-border, border:-border] = False
    pixels = images.reshape(n, 3, height * width)  # (N, 3, P)
    background = np.median(pixels[:, :, ring.ravel()], axis=2)  # (N, 3)
    distance = np.linalg.norm(pixels - background[:, :, None], axis=1)  # (N, P)
    count = max(1, round(ink_fraction * height * width))
    furthest = np.argpartition(distance, -count, axis=1)[:, -count:]  # (N, count)
    foreground = np.take_along_axis(pixels, furthest[:, None, :], axis=2).mean(axis=2)  # (N, 3)
    return foreground, background


def _grey_images(name: str, images: np.ndarray) -> np.ndarray:
    """`images` as float64 (N, 1, H, W); DataError naming the measure `name` for any other shape."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 4 or images.shape[1] != 1:
        raise DataError(f"{name}: expected images of shape (N, 1, H, W), got {images.shape}")
    return images


def mnist_moments(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slant and stroke thickness of grey-scale digit images, white ink on black as in MNIST.

    images: (N, 1, H, W) non-negative intensities (any scale; each image is normalised by its maximum).
    slant: -mu11 / mu02 from the intensity-weighted central moments, the horizontal shift of the ink per pixel
    going up (positive leans right, like italics; 0 for an upright digit; the shear that deskewing undoes).
    thickness: the width of the rectangle with the same area and perimeter, (P - sqrt(P^2 - 16 A)) / 4, with
    area A the summed intensity and perimeter P the total variation (summed gradient magnitude); exact for a
    straight stroke of width w pixels, and a smooth measure of stroke width for curved ones.
    Returns (slant (N,), thickness (N,)) as float64; an image without ink gives NaN for both.
    """
    images = _grey_images("mnist_moments", images)
    ink = images[:, 0]  # (N, H, W)
    peak = ink.reshape(len(ink), -1).max(axis=1)  # (N,)
    with np.errstate(invalid="ignore", divide="ignore"):
        ink = ink / np.where(peak > 0, peak, np.nan)[:, None, None]
        height, width = ink.shape[1:]
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)  # (H, W) each
        mass = ink.sum(axis=(1, 2))  # (N,)
        x_mean = (ink * xs).sum(axis=(1, 2)) / mass
        y_mean = (ink * ys).sum(axis=(1, 2)) / mass
        dx = xs[None] - x_mean[:, None, None]  # (N, H, W)
        dy = ys[None] - y_mean[:, None, None]
        mu11 = (ink * dx * dy).sum(axis=(1, 2))
        mu02 = (ink * dy * dy).sum(axis=(1, 2))
        slant = -mu11 / mu02
        padded = np.pad(ink, ((0, 0), (0, 1), (0, 1)))  # zero ink beyond the edges
        grad_x = np.diff(padded, axis=2)[:, :height, :]  # (N, H, W)
        grad_y = np.diff(padded, axis=1)[:, :, :width]
        # Edges leaving the image on the top and left side are not seen by forward differences: add them.
        perimeter = (
            np.sqrt(grad_x**2 + grad_y**2).sum(axis=(1, 2)) + ink[:, 0, :].sum(1) + ink[:, :, 0].sum(1)
        )
        # A = w L and P = 2 (L + w) for a w-by-L rectangle; solve for the smaller root w.
        thickness = (perimeter - np.sqrt(np.maximum(perimeter**2 - 16.0 * mass, 0.0))) / 4.0
    return slant, thickness


def stroke_width(images: np.ndarray, *, level: float = 0.5) -> np.ndarray:
    """Stroke width of grey-scale digit images measured on their binarised ink: an independent check of
    `mnist_moments`' thickness, which a model trained on that very measure (`ObjectiveConfig.thickness_weight`)
    could meet without drawing thinner or thicker strokes (faint haze or ragged edges move area and perimeter).

    images: (N, 1, H, W) non-negative intensities. Each image is binarised at `level` times its maximum; the
    width is twice the mean distance from the ink's ridge to the nearest background (the ridge: the ink whose
    Euclidean distance to the background is the largest in its 3 x 3 neighbourhood, measured on half-pixels):
    w for a straight bar w pixels wide, whatever the ink's level or blur below the threshold. Returns (N,)
    float64; NaN for an image without ink.
    """
    from scipy import ndimage  # imported where used, as the other data modules do

    images = _grey_images("stroke_width", images)
    widths = np.full(len(images), np.nan)
    for i, image in enumerate(images[:, 0]):
        peak = image.max()
        if not peak > 0:
            continue
        # Each pixel split in 2 x 2: a stroke w pixels wide is 2w half-pixels wide, and its ridge lies w of them
        # from the background whether w is odd or even. Padded with background: ink at the image's edge is
        # measured as if the image went on blank.
        ink = np.kron(image >= level * peak, np.ones((2, 2), dtype=bool))
        distance = ndimage.distance_transform_edt(np.pad(ink, 1))[1:-1, 1:-1]  # in half-pixels
        ridge = ink & (distance == ndimage.maximum_filter(distance, size=3))
        widths[i] = distance[ridge].mean()
    return widths


def _count_small_regions(name: str, images: np.ndarray, level: float, max_area: int, ink: bool) -> np.ndarray:
    """Per image binarised at `level` times its maximum: the number of small regions (at most `max_area` pixels)
    of background enclosed by ink (`ink` False: 4-connected, the region reaching the edge left out) or of ink
    apart from the largest (`ink` True: 8-connected). (N,) float64; NaN for an image without ink."""
    from scipy import ndimage  # imported where used, as the other data modules do

    images = _grey_images(name, images)
    if max_area < 1:
        raise DataError(f"{name}: max_area must be at least 1, got {max_area}")
    counts = np.full(len(images), np.nan)
    for i, image in enumerate(images[:, 0]):
        peak = image.max()
        if not peak > 0:
            continue
        if ink:
            regions, n = ndimage.label(image >= level * peak, structure=np.ones((3, 3)))
        else:  # padded with background: the border joins the outside, which is region regions[0, 0]
            regions, n = ndimage.label(np.pad(image < level * peak, 1, constant_values=True))
        sizes = np.bincount(regions.ravel(), minlength=n + 1)[1:]
        small = sizes <= max_area
        small[np.argmax(sizes) if ink else regions[0, 0] - 1] = False  # the digit itself / the outside
        counts[i] = float(small.sum())
    return counts


def pinholes(images: np.ndarray, *, level: float = 0.5, max_area: int = 6) -> np.ndarray:
    """Pinholes per image: small specks of background enclosed by ink, a count of what real pen strokes rarely
    have and a decoder's texture or hatching inside thick strokes makes (issue 15: a model trained on a thickness
    term drew diagonal hatching that lowered the measured thickness without thinning the strokes).

    images: (N, 1, H, W) non-negative intensities. Each image is binarised at `level` times its maximum (as
    `stroke_width`); a pinhole is a 4-connected region of background no larger than `max_area` pixels that does
    not reach the image's edge (the loop of a 0, 6, 8 or 9 is larger). Returns (N,) float64 counts; NaN for an
    image without ink. On the digits data's real MNIST test images the mean is about 0.13. A count, not a
    measure of area: diagonal one-pixel hatching counts each of its pixels (4-connected background), and a slit
    longer than `max_area` inside a stroke counts nothing.
    """
    return _count_small_regions("pinholes", images, level, max_area, ink=False)


def specks(images: np.ndarray, *, level: float = 0.5, max_area: int = 6) -> np.ndarray:
    """Specks per image: small islands of ink apart from the digit, the counterpart of `pinholes` outside the
    strokes (issue 15: a model trained on a thickness term drew a bright speck in a corner of every image, which
    adds edges and so lowers an area-over-perimeter thickness).

    images: (N, 1, H, W) non-negative intensities, binarised at `level` times each image's maximum (as
    `stroke_width`); a speck is an 8-connected region of ink of at most `max_area` pixels, other than the
    image's largest region. Returns (N,) float64 counts; NaN for an image without ink. On the digits data's
    real MNIST test images the mean is about 0.02.
    """
    return _count_small_regions("specks", images, level, max_area, ink=True)


# ---------------------------------------------------------------------------------------------------------------
# Colour as colour: CIELAB and CIEDE2000
# ---------------------------------------------------------------------------------------------------------------
_SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)  # IEC 61966-2-1 primaries, D65 white
# The white point as the matrix maps sRGB white (0.95047, 1.0000001, 1.08883), so that greys come out with
# a* = b* = 0 to rounding (with the rounded Y = 1 they would carry a tint of about 1e-5).
_WHITE_D65 = _SRGB_TO_XYZ.sum(axis=1)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB colours: (..., 3) floats in [0, 1] -> (..., 3) L* (0-100), a*, b*, float64.

    sRGB's transfer curve is undone, the linear values mapped to XYZ (IEC 61966-2-1), then to L*a*b* with the
    CIE 1976 formulas. Greys (equal channels) have a* = b* = 0 up to rounding; white is L* 100.
    Values outside [0, 1] are clipped first (a decoder's sigmoid output never leaves it).
    """
    rgb = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0)
    if rgb.shape[-1:] != (3,):
        raise DataError(f"srgb_to_lab: expected colours of shape (..., 3), got {rgb.shape}")
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _SRGB_TO_XYZ.T / _WHITE_D65  # (..., 3), relative to white
    delta = 6.0 / 29.0
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4.0 / 29.0)
    lightness = 116.0 * f[..., 1] - 16.0
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return np.stack([lightness, a, b], axis=-1)


def delta_e_2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference of two (..., 3) arrays of L*a*b* colours (broadcast against each other) ->
    (...,) float64.

    The formula as written by Sharma, Wu and Dalal (2005), kL = kC = kH = 1: about 1 is a just noticeable
    difference, 2-10 a difference seen at a glance, above 50 opposite colours.
    """
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    try:
        shape = np.broadcast_shapes(lab1.shape, lab2.shape)
    except ValueError:
        shape = None
    if shape is None or lab1.shape[-1:] != (3,) or lab2.shape[-1:] != (3,):
        raise DataError(
            f"delta_e_2000: need two (..., 3) arrays that broadcast together, got {lab1.shape}, {lab2.shape}"
        )
    l1, a1, b1 = np.moveaxis(lab1, -1, 0)
    l2, a2, b2 = np.moveaxis(lab2, -1, 0)
    chroma_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(chroma_mean**7 / (chroma_mean**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0  # arctan2(0, 0) = 0, the formula's convention
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0
    chromatic = (c1p * c2p) != 0
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(chromatic, dh, 0.0)
    d_lightness, d_chroma = l2 - l1, c2p - c1p
    d_hue = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2)
    l_mean, c_mean = (l1 + l2) / 2, (c1p + c2p) / 2
    h_sum, h_gap = h1p + h2p, np.abs(h1p - h2p)
    h_mean = np.where(h_gap <= 180, h_sum / 2, np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2))
    h_mean = np.where(chromatic, h_mean, h_sum)
    t = (
        1
        - 0.17 * np.cos(np.radians(h_mean - 30))
        + 0.24 * np.cos(np.radians(2 * h_mean))
        + 0.32 * np.cos(np.radians(3 * h_mean + 6))
        - 0.20 * np.cos(np.radians(4 * h_mean - 63))
    )
    rotation = 30 * np.exp(-(((h_mean - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * c_mean
    s_h = 1 + 0.015 * c_mean * t
    r_t = -np.sin(np.radians(2 * rotation)) * r_c
    terms = (d_lightness / s_l, d_chroma / s_c, d_hue / s_h)
    return np.sqrt(terms[0] ** 2 + terms[1] ** 2 + terms[2] ** 2 + r_t * terms[1] * terms[2])


def concordance(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's concordance correlation of paired (N, D) arrays, the D columns pooled: how close the points lie to
    x = y, not just to some line.

    2 Σ_d cov(x_d, y_d) / Σ_d (var x_d + var y_d + (mean x_d - mean y_d)²), in [-1, 1]: 1 when x equals y, 0 when
    x is constant (a grey generator's a*, b*), and below Pearson's r when x is y scaled down (faded colours) or
    shifted. Rows with a NaN or inf are dropped; fewer than two rows give NaN, two constant equal sides 1.0.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x, y = x.reshape(len(x), -1 if x.size else 1), y.reshape(len(y), -1 if y.size else 1)
    if x.shape != y.shape:
        raise DataError(f"concordance: shapes {x.shape} and {y.shape} differ")
    keep = np.isfinite(x).all(1) & np.isfinite(y).all(1)
    x, y = x[keep], y[keep]
    if len(x) < 2:
        return float("nan")
    mx, my = x.mean(0), y.mean(0)
    covariance = ((x - mx) * (y - my)).mean(0).sum()
    spread = (x.var(0) + y.var(0) + (mx - my) ** 2).sum()
    return 1.0 if spread == 0 else float(2 * covariance / spread)
