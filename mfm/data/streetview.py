"""A generator of SVHN-like street-view digits: 32x32 colour crops of house numbers, rendered from fonts.

Each image shows one centred digit (the label) in a font, colours, size, aspect, rotation and offset drawn at
random, with parts of neighbouring digits at the left and right edges as in SVHN's cropped-digit format, then a
smooth background shading and texture, blur and pixel noise. Every image's style parameters are recorded, so
that style preservation can be measured later (`mfm.data.style`).

Fonts: the TrueType fonts that ship with matplotlib (always present; the system's only when asked for), each kept
only if it renders all ten digits and they look like digits (see `digit_fonts`). The set of fonts is part of the
cache key and of the data's `info`; so the default images are the same on every machine with the same matplotlib
and Pillow, and shipped checkpoints evaluate to the same numbers everywhere.

Rendering happens on a 64x64 canvas and is box-filtered down to 32x32 (anti-aliasing). Image i depends only on
(seed, key_i, label_i, fonts), where key_i is a per-image key the caller passes (the MNIST index it is paired
with), so a subset of a data set renders the same images as the full set.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mfm.errors import DataError
from mfm.progress import Progress

GENERATOR_VERSION = 1
IMAGE_SIZE = 32
_CANVAS = 2 * IMAGE_SIZE  # rendered at twice the size, then box-filtered down
_GLYPH_POINTS = 96  # glyphs are rasterised once at this size and rescaled per image
_SYSTEM_FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.fonts",
    "~/.local/share/fonts",
    "/Library/Fonts",
    "/System/Library/Fonts",
    "C:/Windows/Fonts",
)
# Files that render something other than plain digits at the digit code points (symbols, old-style figures,
# placeholder boxes), or nothing at all.
_EXCLUDED_FONT = re.compile(
    r"lastresort|symbol|dings|emoji|icon|braille|music|cmex|cmsy|cmmi|nonuni|stixsiz|display"
)

STYLE_PARAMETERS: dict[str, str] = {
    "font": "(N,) int: index into the data set's info['fonts']",
    "fg_color": "(N, 3) float in [0, 1]: RGB of the digit strokes",
    "bg_color": "(N, 3) float in [0, 1]: mean RGB of the background before shading and texture",
    "angle": "(N,) float: rotation in degrees, counter-clockwise",
    "height": "(N,) float: height of the digit's ink as a fraction of the image height",
    "aspect": "(N,) float: horizontal stretch of the glyph",
    "offset": "(N, 2) float: (x, y) displacement of the digit's centre from the image centre, in pixels",
    "neighbours": "(N, 2) int: digits partly visible at the left and right edges, -1 where none",
    "blur": "(N,) float: Gaussian blur sigma in pixels",
    "noise": "(N,) float: standard deviation of the additive pixel noise",
}


@dataclass(frozen=True)
class StreetViewDigits:
    """Rendered street-view digits: images (N, 3, 32, 32) uint8, labels (N,) int64, style (param -> (N, ...))."""

    images: np.ndarray
    labels: np.ndarray
    style: dict[str, np.ndarray]
    fonts: tuple[str, ...]


def candidate_font_files(include_system: bool = False) -> list[Path]:
    """TrueType files that might render digits: matplotlib's, then (only if asked) the system's, one per file name.

    The default data set uses matplotlib's fonts alone, so that it is the same on every machine with the same
    matplotlib and Pillow, whatever else is installed (installing a browser, say, adds system fonts).
    """
    import matplotlib

    folders = [Path(matplotlib.get_data_path()) / "fonts" / "ttf"]
    if include_system:
        folders += [Path(folder).expanduser() for folder in _SYSTEM_FONT_DIRS]
    seen: dict[str, Path] = {}
    for rank, folder in enumerate(folders):
        if not folder.is_dir():
            continue
        pattern = "*.ttf" if rank == 0 else "**/*.ttf"
        for path in sorted(folder.glob(pattern)):
            name = path.name.lower()
            if name not in seen and not _EXCLUDED_FONT.search(name):
                seen[name] = path
    return list(seen.values())


def fonts_fingerprint(fonts: Sequence[Path]) -> str:
    """A short hash of the font file names (in order), used in cache keys."""
    return hashlib.sha1("\n".join(p.name for p in fonts).encode()).hexdigest()[:10]


def digit_fonts(candidates: Sequence[Path] | None = None) -> list[Path]:
    """Return the fonts (of `candidates`, default `candidate_font_files()`) that render the ten digits as digits.

    A font is kept when all ten digits render with ink, and at least 7 of them are most correlated with the same
    digit of matplotlib's DejaVu Sans (this drops symbol fonts that put other glyphs at the digit code points).
    """
    import matplotlib

    candidates = list(candidate_font_files() if candidates is None else candidates)
    reference_path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    reference = _digit_signatures(reference_path)
    if reference is None:
        raise DataError(f"{reference_path}: cannot render digits with matplotlib's DejaVu Sans")
    kept = []
    for path in candidates:
        signatures = _digit_signatures(path)
        if signatures is None:
            continue
        matches = int(np.sum((signatures @ reference.T).argmax(axis=1) == np.arange(10)))
        if matches >= 7:
            kept.append(path)
    if not kept:
        raise DataError(
            "no font renders the digits 0-9 (looked in matplotlib's fonts/ttf and the system's fonts)"
        )
    return kept


def _digit_signatures(path: Path) -> np.ndarray | None:
    """Unit-norm, mean-free 16x12 renderings of the ten digits (10, 192), or None if a digit has no ink."""
    from PIL import Image

    glyphs = _load_glyphs(path)
    if glyphs is None:
        return None
    rows = []
    for glyph in glyphs:
        small = np.asarray(Image.fromarray(glyph).resize((12, 16), Image.BILINEAR), dtype=np.float64)
        small = small - small.mean()
        norm = np.linalg.norm(small)
        if norm == 0:
            return None
        rows.append(small.ravel() / norm)
    return np.stack(rows)


def _load_glyphs(path: Path) -> list[np.ndarray] | None:
    """The ten digits of a font rasterised at `_GLYPH_POINTS`, each cropped to its ink; None if unusable."""
    from PIL import ImageFont

    try:
        font = ImageFont.truetype(str(path), _GLYPH_POINTS)
    except OSError:
        return None
    glyphs = []
    for digit in "0123456789":
        mask = font.getmask(digit)
        width, height = mask.size
        if width == 0 or height == 0:
            return None
        array = np.asarray(mask, dtype=np.uint8).reshape(height, width)
        rows, cols = np.nonzero(array > 32)
        if rows.size == 0:
            return None
        glyphs.append(np.ascontiguousarray(array[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]))
    if len({g.tobytes() for g in glyphs}) < 10:
        return None  # the same glyph (a placeholder box) for different digits
    return glyphs


def render_street_view_digits(
    labels: np.ndarray,
    *,
    seed: int = 0,
    keys: np.ndarray | None = None,
    fonts: Sequence[Path] | None = None,
    progress: Progress | None = None,
) -> StreetViewDigits:
    """Render one street-view digit per entry of `labels` (N,) in 0-9, deterministically for (seed, keys).

    keys: (N,) non-negative ints, one per image (default 0..N-1); image i is drawn from a generator seeded by
    (seed, keys[i]). fonts: font files to draw from (default `digit_fonts()`). progress(done, total, stage) is
    called every few hundred images.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise DataError("street-view generator: labels must be a 1-d array of digits 0-9")
    keys = np.arange(labels.size) if keys is None else np.asarray(keys)
    if keys.shape != labels.shape:
        raise DataError("street-view generator: keys must have the same shape as labels")
    font_paths = list(digit_fonts() if fonts is None else fonts)
    glyph_sets = []
    for path in font_paths:
        glyphs = _load_glyphs(path)
        if glyphs is None:
            raise DataError(f"{path}: this font does not render the digits 0-9")
        glyph_sets.append(glyphs)

    n = labels.size
    images = np.empty((n, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)  # (N, 3, 32, 32)
    style = {
        "font": np.empty(n, np.int64),
        "fg_color": np.empty((n, 3), np.float32),
        "bg_color": np.empty((n, 3), np.float32),
        "angle": np.empty(n, np.float32),
        "height": np.empty(n, np.float32),
        "aspect": np.empty(n, np.float32),
        "offset": np.empty((n, 2), np.float32),
        "neighbours": np.empty((n, 2), np.int64),
        "blur": np.empty(n, np.float32),
        "noise": np.empty(n, np.float32),
    }
    step = 250
    for i in range(n):
        if progress is not None and i % step == 0:
            progress(i, n, "rendering street-view digits")
        rng = np.random.default_rng([int(seed), GENERATOR_VERSION, int(keys[i])])
        image, params = _render_one(int(labels[i]), rng, glyph_sets)
        images[i] = image
        for name, value in params.items():
            style[name][i] = value
    if progress is not None:
        progress(n, n, "rendering street-view digits")
    return StreetViewDigits(images, labels.astype(np.int64), style, tuple(p.name for p in font_paths))


def _luminance(rgb: np.ndarray) -> float:
    return float(rgb @ np.array([0.299, 0.587, 0.114]))


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    import colorsys

    return np.array(colorsys.hsv_to_rgb(h, s, v))


def _sample_colors(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Background and foreground RGB: mostly muted colours, as on house-number plates, with enough contrast."""
    background = _hsv_to_rgb(rng.random(), rng.beta(1.2, 2.5), rng.uniform(0.08, 0.97))
    for _ in range(20):
        if rng.random() < 0.4:  # near-achromatic digits (white, grey, black) are common in SVHN
            foreground = _hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.15), rng.uniform(0.0, 1.0))
        else:
            foreground = _hsv_to_rgb(rng.random(), rng.beta(1.5, 2.0), rng.uniform(0.05, 1.0))
        if abs(_luminance(foreground) - _luminance(background)) >= 0.28:
            return foreground, background
    # No contrasting colour drawn: take black or white, whichever is further from the background.
    return (np.zeros(3) if _luminance(background) > 0.5 else np.ones(3)), background


def _place(canvas: np.ndarray, glyph: np.ndarray, centre_x: float, centre_y: float) -> None:
    """Draw `glyph` (h, w) on `canvas` (64, 64) centred at (centre_x, centre_y), clipped at the edges."""
    height, width = glyph.shape
    top = round(centre_y - height / 2)
    left = round(centre_x - width / 2)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + height, _CANVAS), min(left + width, _CANVAS)
    if y1 <= y0 or x1 <= x0:
        return
    region = glyph[y0 - top : y1 - top, x0 - left : x1 - left]
    np.maximum(canvas[y0:y1, x0:x1], region, out=canvas[y0:y1, x0:x1])


def _render_one(
    label: int, rng: np.random.Generator, glyph_sets: list[list[np.ndarray]]
) -> tuple[np.ndarray, dict[str, object]]:
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    font = int(rng.integers(len(glyph_sets)))
    glyphs = glyph_sets[font]
    height = rng.uniform(0.5, 0.82)
    aspect = float(np.clip(rng.lognormal(0.0, 0.15), 0.7, 1.4))
    offset = np.clip(rng.normal(0.0, [1.2, 0.9]), -3.0, 3.0)  # output pixels
    angle = float(np.clip(rng.normal(0.0, 7.0), -20.0, 20.0))
    gap = rng.uniform(0.5, 4.0)  # output pixels between the digit and its neighbours
    neighbours = [int(rng.integers(10)) if rng.random() < 0.75 else -1 for _ in range(2)]

    # Ink mask on the supersampled canvas; all digits share the font, height and aspect, as on one plate.
    ink_height = max(2, round(height * _CANVAS))
    scale = ink_height / glyphs[label].shape[0]

    def sized(digit: int) -> np.ndarray:
        glyph = glyphs[digit]
        width = max(1, round(glyph.shape[1] * scale * aspect))
        return np.asarray(Image.fromarray(glyph).resize((width, ink_height), Image.BILINEAR))

    canvas = np.zeros((_CANVAS, _CANVAS), dtype=np.uint8)  # (64, 64)
    centre_x = _CANVAS / 2 + 2 * offset[0]
    centre_y = _CANVAS / 2 + 2 * offset[1]
    main = sized(label)
    _place(canvas, main, centre_x, centre_y)
    for side, digit in zip((-1, 1), neighbours, strict=True):
        if digit >= 0:
            other = sized(digit)
            _place(
                canvas, other, centre_x + side * (main.shape[1] / 2 + 2 * gap + other.shape[1] / 2), centre_y
            )
    rotated = Image.fromarray(canvas).rotate(angle, resample=Image.BILINEAR, center=(centre_x, centre_y))
    ink = (
        np.asarray(rotated.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BOX), dtype=np.float64) / 255.0
    )  # (32, 32)

    foreground, background = _sample_colors(rng)
    # Background: base colour + a linear shading + a smooth texture, both zero-mean over the image.
    coords = np.linspace(-0.5, 0.5, IMAGE_SIZE)
    shading = rng.normal(0.0, 0.08, 2)
    field = shading[0] * coords[None, :] + shading[1] * coords[:, None]  # (32, 32)
    texture = gaussian_filter(rng.normal(0.0, 1.0, (IMAGE_SIZE, IMAGE_SIZE)), 3.0)
    texture *= rng.uniform(0.0, 0.06) / (texture.std() + 1e-12)
    back = background[:, None, None] + (field + texture - (field + texture).mean())[None]  # (3, 32, 32)
    image = back * (1.0 - ink[None]) + foreground[:, None, None] * ink[None]
    blur = rng.uniform(0.0, 1.0)
    if blur > 0.05:
        image = gaussian_filter(image, (0.0, blur, blur), mode="nearest")
    noise = rng.uniform(0.0, 0.04)
    image = image + rng.normal(0.0, noise, image.shape)
    pixels = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    params = {
        "font": font,
        "fg_color": foreground,
        "bg_color": background,
        "angle": angle,
        "height": height,
        "aspect": aspect,
        "offset": offset,
        "neighbours": neighbours,
        "blur": blur,
        "noise": noise,
    }
    return pixels, params
