"""Pure numpy measurements of image style, used to score how well a model preserves style.

`estimate_colors` recovers a street-view digit's background and foreground colours (the generator records the
true ones); `mnist_moments` measures a handwritten digit's slant and stroke thickness. Both work on batches and
need no model.
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
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 4 or images.shape[1] != 1:
        raise DataError(f"mnist_moments: expected images of shape (N, 1, H, W), got {images.shape}")
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
