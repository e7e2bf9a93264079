"""Mutual information between factors and generated modalities (the paper's information-based interpretation).

For each modality i, MFM generates X̂_i = G_i([F_y; F_{a_i}]) from the shared discriminative factor F_y and the
modality's own generative factor F_{a_i}. The information-based interpretation compares I(F_y; X̂_i) with
I(F_{a_i}; X̂_i) through the ratio r_i = I(F_y; X̂_i) / I(F_{a_i}; X̂_i): a larger r_i means modality i is more
tied to the label-relevant factor.

Estimators (all in nats)
------------------------
``"ksg"``
    Kraskov, Stögbauer & Grassberger (2004), estimator 1, with the max-norm:
    I = ψ(k) + ψ(N) - < ψ(n_x + 1) + ψ(n_y + 1) >, where ε_i is the max-norm distance from sample i to its k-th
    neighbour in the joint space (x, y) and n_x (n_y) counts the other samples *strictly* within ε_i in the x (y)
    space alone. Each column is standardised first (so the max-norm does not favour large-scale columns and the
    estimate is invariant to per-column scaling), then a tiny seeded jitter (1e-10 standard deviations) breaks ties.
    The neighbour searches are scikit-learn's ``KDTree`` with the Chebyshev metric.
    KSG is nonparametric (it sees non-linear dependence) but biased towards zero as the dimension or the MI grows:
    see the table below. The raw KSG value can be slightly negative for independent variables; this module
    **clips it at 0** (mutual information is non-negative, and a negative value is pure estimation noise). The
    shuffled-pairs null is clipped the same way, so estimate and null stay comparable.
``"gaussian"``
    The covariance (log-determinant) estimator I = 0.5 (log det Σx + log det Σy - log det Σ) on standardised
    columns, with a ridge of 1e-6 added to each covariance (so rank-deficient inputs give a large but finite
    value: about 0.5·log(1 / (2·1e-6)) ≈ 6.6 nats per exactly duplicated dimension). Exact for jointly Gaussian variables up to a
    small positive bias of about dx·dy / (2N); it sees only linear dependence. Use it as a cross-check.

Why only comparisons under one estimator mean anything
------------------------------------------------------
X̂_i is a deterministic function of (F_y, F_{a_i}). With continuous variables the true I(F_y, F_{a_i}; X̂_i) is
infinite, and I(F_y; X̂_i) is large whenever X̂_i nearly determines F_y. The numbers an estimator gives are
therefore shaped by its own smoothing (k for KSG, the linear model for the Gaussian estimator) and by the
dimension reduction, not only by the model. What carries meaning is a comparison made under one estimator with one
set of settings: the ratio r_i between the two factors of one modality, and the ranking of r_i across modalities.
Do not compare a KSG number with a Gaussian number, or numbers computed at different ``n_components`` or ``k``.

High-dimensional variables
--------------------------
A generated modality can be T x D = 20 x 300 per sample, and factors up to 88-d. KSG cannot be trusted there,
so :func:`modality_information` flattens trailing axes and projects each of F_y, F_{a_i} and X̂_i onto its
leading principal components (:func:`reduce_dimensions`, default 3 components a side; PCA is fitted once on all
samples, unstandardised, so the directions are those of largest variance in the model's own units). Three a side
is where the table below shows KSG within about 10 %. PCA is unsupervised, so it adds no selection bias, but MI
carried by low-variance directions is lost: the ratio describes the leading components. This makes r_i steep:
when the factor that dominates X̂_i's variance spans at least ``n_components`` directions, the other factor
barely reaches the kept components. In the tests' planted case (each factor's non-linear contribution scaled to
unit variance per feature, mixed 1.0 : 0.3, plus noise; N = 1000, 4 seeds) the minor factor's KSG MI came out
0.00-0.09 nats against 2.7-4.2 nats for the major one, so r was about 30-250 one way and 0.003-0.02 the other. The ranking of r_i is
robust; its magnitude depends on ``n_components``.

Both terms of the ratio are floored at ``RATIO_FLOOR`` = 0.01 nats (about the KSG shuffled-pairs mean at
N = 1000, 3+3 dims), so r stays finite when the denominator is ~0 and positive when the numerator is.

Measured bias
-------------
``benchmarks/bench_mi.py`` measures both estimators against the analytic MI of correlated Gaussians; its figures
are in ``benchmarks/README.md``. In short: KSG is within about 10 % up to 3 dimensions a side and underestimates
badly beyond (about -30 % at 6+6), hence the default of 3 components a side; the PCA components fed to it are
whitened, which is KSG's best case. The Gaussian estimator is unbiased on Gaussians at every size. At the app's
sample sizes (N = 250-1000) KSG's bias is -8 % to -26 % of the MI, 2 to 8 times its standard deviation, and heavier
tails make it worse.

Uncertainty
-----------
Resampling *with* replacement duplicates samples; a duplicate is its own nearest neighbour at distance 0, which
inflates a nearest-neighbour estimate of MI. Intervals here therefore come from **half-sampling**: B subsamples of
m = N/2 rows drawn without replacement (m-out-of-n subsampling, Politis & Romano 1994). For a statistic whose
variance scales as 1/n, the spread of subsample estimates has variance σ²(1/m - 1/N), which equals the sampling
variance at N exactly when m = N/2, so no rescaling is needed (the general factor sqrt(m / (N - m)) is applied for
other fractions). A sampling interval here is centre ± t·s, s the standard deviation of the B subsample values
and t the Student-t quantile with B - 1 degrees of freedom (30 subsamples put their own 2.5 % and 97.5 %
quantiles too close together).

**The default interval (``interval="bias-aware"``) is widened by an estimate of the estimator's bias; the value is
not corrected.** ``value``, the null and ``significant`` are the raw estimator's, exactly as before (a permutation
test needs no bias correction, and the raw KSG is the more precise statistic), r_i is the ratio of raw values,
and ``corrected`` carries a bias-corrected estimate beside them, not instead. The bias is estimated by
extrapolation in k:

1. KSG's bias depends on k and N through k/N: doubling k shifts the estimate as halving N does (3+3, N = 500,
   ρ = 0.6 and 0.9: KSG(6) - KSG(3) = -0.043 and -0.179 nats over 100 seeds; the mean of two complementary
   half-samples less the full estimate, -0.043 and -0.178 over 200). With a bias a·(k/N)^γ, the bias of KSG(k) is
   c·(KSG(2k) - KSG(k)), c = 1 / (2^γ - 1), and KSG(2k) comes from the same neighbour search as KSG(k).
2. γ depends on the distribution. For Gaussians the measured bias ratio b(N/2) / b(N) (N 125-2000) is about 2,
   1.4, 1.27, 1.15 and 1.1 for D = dx + dy = 4, 6, 8, 12, 16, i.e. γ ≈ 2/(D - 2); after sinh the bias decays
   more slowly (the c = b / (KSG(2k) - KSG(k)) that removes the measured bias b was 1.4-2.3 at 2+2 and 3.0-3.6 at
   3+3 for ρ >= 0.6, N 250-1000, against at most 1.4 and 1.9-2.9 for Gaussians); 2/D is the ε² order of a smooth
   density. :func:`extrapolation_factors`
   takes γ between 2/D and 2/(D - 2): c from 2.41 to 3.85 at 3+3, 1 to 2.41 at 2+2, 0 to 1 at 1+1.
3. ``[low, high]`` is the smallest interval containing the sampling interval of the raw estimate and those of the
   two extrapolated estimates KSG(k) - c·(KSG(2k) - KSG(k)) at both ends of the c range, each from its own spread
   over the same half-samples: the correction's own noise, which is large (it about doubles the standard
   deviation at 3+3), is carried. Bounds are clipped at 0 like the value, which always lies inside.
4. ``corrected`` is the extrapolation at the middle of the c range: less biased, about twice as noisy.

The Gaussian estimator gets the same construction with its first-order bias dx·dy / (2N) (exact; nothing to
extrapolate). ``interval="basic"`` is the previous interval, kept for comparison: the reflected basic interval of
the subsample deviations from their median, [v - q_hi, v - q_lo], sampling noise only.

The ratio's interval is built on log r from the paired subsamples (both terms on each one, so their correlation
is kept): the raw log r's sampling interval, shifted to reach the log r of every pairing of an extrapolated
numerator with an extrapolated denominator. Here the shifts' own noise is *not* added: both terms share the
estimator, N and the dimension of X̂, so their relative biases largely cancel (the raw log r was within 0.05 of the
true one in every default cell below) while the extrapolated terms are twice as noisy, which made intervals about
twice as wide for no coverage. It is positive and always brackets r_i.

Measured coverage of nominal 95 % intervals (``benchmarks/bench_mi_coverage.py``; its figures are in
``benchmarks/README.md``): at the app's and the report's defaults the bias-aware interval covered KSG's I(x; y) in
97-100 % of repeats for Gaussians and their sinh transforms at ρ 0.3-0.9, where the basic one covered 0-86 %; the
ratio 92-100 % (basic 85-98 %). It failed only far outside the defaults (6+6 and 8+8 dimensions after sinh, 69 %
and 31 %): above 4 components a side the intervals are not to be trusted for non-Gaussian data. The price is
width, about 3 to 6 times the basic interval's at the app's defaults, shrinking with N.

The null baseline is the estimator applied after permuting the rows of y (which destroys the dependence but keeps
both marginals), repeated ``n_null`` times: its mean shows the estimator's floor for independent data of this
size and dimension, and its ``confidence`` quantile is the level an estimate must clear to count as dependence.
It is on the raw scale, like ``value``.

Everything here is deterministic for a seed (bit-identical across runs on one machine).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy.special import digamma
from scipy.stats import t as student_t
from sklearn.decomposition import PCA
from sklearn.neighbors import KDTree

from mfm.inference import check_count
from mfm.memory import release_free_memory
from mfm.progress import Progress
from mfm.threads import information_workers

ESTIMATORS = ("ksg", "gaussian")
"""Names accepted by ``estimator=``."""

INTERVALS = ("bias-aware", "basic")
"""Names accepted by ``interval=``: the default bias-aware interval and the previous basic one (to compare)."""

JITTER = 1e-10
"""Standard deviation of the tie-breaking noise added to standardised columns before KSG."""

RIDGE = 1e-6
"""Ridge added to the diagonal of the standardised covariances in the Gaussian estimator."""

RATIO_FLOOR = 0.01
"""Nats; both terms of the ratio are floored here (about KSG's shuffled-pairs mean at N = 1000, 3+3 dims: values
below it are indistinguishable from 0), so r stays finite and positive when a term is ~0."""

SUBSAMPLE_FRACTION = 0.5
"""Default share of rows in each uncertainty subsample (drawn without replacement)."""

MIN_SAMPLES = 5
"""Fewest samples any estimate accepts (KSG also needs more than k)."""


@dataclass(frozen=True)
class EstimateOptions:
    """How one estimate is made: the keywords of :func:`estimate_mi` and :func:`modality_information`, defined once.

    estimator: ``"ksg"`` or ``"gaussian"`` (see :func:`mutual_information`). k: neighbours for KSG. n_bootstrap:
    subsamples (without replacement) for the interval; fewer than 2 give low = high = value (``"basic"``: 0 does).
    n_null: permutations of the rows for the null; 0 gives NaN null fields. confidence: interval coverage and null
    quantile, e.g. 0.95. seed: fixes the jitter, the PCA, the subsamples and the permutations.
    subsample_fraction: share of rows in each subsample (0.5: half-sampling, no rescaling). interval:
    ``"bias-aware"`` (default: covers the estimator's bias as well as its noise) or ``"basic"`` (the previous
    sampling-only interval, kept for comparison); see the module docstring. The values are checked where they are
    used, with the data.
    """

    estimator: str = "ksg"
    k: int = 3
    n_bootstrap: int = 100
    n_null: int = 20
    confidence: float = 0.95
    seed: int = 0
    subsample_fraction: float = SUBSAMPLE_FRACTION
    interval: str = "bias-aware"

    @classmethod
    def of(cls, options: dict) -> EstimateOptions:
        """The options named by keywords; an unknown one is refused by name."""
        unknown = sorted(set(options) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(
                f"unknown estimate option(s) {unknown}; known: {', '.join(f.name for f in fields(cls))}"
            )
        return cls(**options)


@dataclass(frozen=True)
class InformationSettings:
    """How the information of a model is estimated: one value for the Information page's form, the report and its
    CLI (`interpret.report.ReportSettings.information`), and the cache key of a page's result.

    `max_samples`: a seeded subsample of the split (None: all of it); `n_components` principal components a side
    (:func:`reduce_dimensions`); `k` KSG's neighbours; `n_bootstrap` half-samples for the intervals; `n_null`
    shuffled-pairs rounds for the null; `seed` fixes the subsample, the half-samples, the permutations and the
    jitter. The numbers are checked where they are used (:func:`estimate_mi`); the estimator's name here, before
    any work.
    """

    estimator: str = "ksg"
    max_samples: int | None = 1000
    n_components: int = 3
    k: int = 3
    n_bootstrap: int = 50
    n_null: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {self.estimator!r}; choose one of {', '.join(ESTIMATORS)}")
        check_count("max_samples", self.max_samples, allow_none=True)

    def estimate_options(self) -> dict:
        """The :class:`EstimateOptions` these settings fix, as keywords."""
        return {"estimator": self.estimator, "k": self.k, "n_bootstrap": self.n_bootstrap,
                "n_null": self.n_null, "seed": self.seed}  # fmt: skip


@dataclass(frozen=True)
class MIEstimate:
    """A mutual-information estimate in nats with its uncertainty.

    ``value`` is the estimator's value on all samples (KSG is *not* bias-corrected here: see ``corrected``);
    ``[low, high]`` its interval (``interval`` names the method; the default ``"bias-aware"`` one is widened to
    cover the estimator's bias as well as its sampling noise); ``null_mean`` and ``null_high`` the mean and upper
    quantile of the estimate after shuffling the pairs (the level expected from independent variables of the same
    size and dimension, on the same scale as ``value``). ``n_bootstrap`` counts the subsamples. ``corrected`` is
    the bias-corrected estimate at the middle of the assumed bias exponents (KSG extrapolated from k and 2k
    neighbours; the Gaussian estimator less dx·dy / 2N), NaN where too few samples for 2k neighbours.
    """

    value: float
    low: float
    high: float
    null_mean: float
    null_high: float
    estimator: str
    n_samples: int
    n_bootstrap: int
    corrected: float = float("nan")
    interval: str = "bias-aware"

    @property
    def significant(self) -> bool:
        """Whether the estimate exceeds the upper quantile of its shuffled-pairs null."""
        return self.value > self.null_high


@dataclass(frozen=True)
class ModalityInformation:
    """The paper's information-based interpretation for one modality.

    ``shared`` is I(F_y; X̂_i), ``modality`` is I(F_{a_i}; X̂_i), and ``ratio`` is
    r_i = max(I(F_y; X̂_i), RATIO_FLOOR) / max(I(F_{a_i}; X̂_i), RATIO_FLOOR), with a paired subsampling interval
    ``[ratio_low, ratio_high]`` (built on log r, so 0 < ratio_low <= ratio <= ratio_high; bias-aware like the
    terms' intervals unless ``interval="basic"``). ``ratio_corrected`` is the same ratio of the terms'
    ``corrected`` estimates.
    """

    shared: MIEstimate
    modality: MIEstimate
    ratio: float
    ratio_low: float
    ratio_high: float
    ratio_corrected: float = float("nan")
    variance_kept: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """Share of the variance of F_y, F_{a_i} and X̂_i that their principal components keep (1: not reduced)."""

    @property
    def floored(self) -> tuple[str, ...]:
        """The terms of r_i whose estimate lies below ``RATIO_FLOOR`` and so enter the ratio as the floor:
        ``"shared"`` (I(F_y; X̂_i)) and/or ``"modality"`` (I(F_{a_i}; X̂_i)). Empty when r_i is the plain ratio."""
        return tuple(
            name
            for name, term in (("shared", self.shared), ("modality", self.modality))
            if term.value < RATIO_FLOOR
        )

    @property
    def floor_note(self) -> str:
        """Which terms entered r_i as the floor, e.g. "I(F_y; X̂_i) = 0.000 counted as 0.01 nats"; '' if none."""
        named = {"shared": ("I(F_y; X̂_i)", self.shared), "modality": ("I(F_i; X̂_i)", self.modality)}
        return ", ".join(
            f"{named[t][0]} = {named[t][1].value:.3g} counted as {RATIO_FLOOR:g} nats" for t in self.floored
        )


def _as_samples(a: np.ndarray, name: str) -> np.ndarray:
    """Return ``a`` as a float64 (N, D) array, or raise a ValueError naming ``name``."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]  # (N,) -> (N, 1)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 1-D or 2-D (samples x features), got shape {arr.shape}; "
            "flatten or reduce it first (reduce_dimensions)"
        )
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has no features (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_pair(x: np.ndarray, y: np.ndarray, estimator: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate the arguments shared by every public estimate and return (x, y) as (N, D) float arrays."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    x = _as_samples(x, "x")
    y = _as_samples(y, "y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of samples, got {x.shape[0]} and {y.shape[0]}")
    needed = _min_samples(estimator, k)
    if x.shape[0] < needed:
        raise ValueError(
            f"too few samples: {x.shape[0]}; estimator {estimator!r} with k={k} needs at least {needed}"
        )
    return x, y


def _min_samples(estimator: str, k: int, bias_aware: bool = False) -> int:
    """Fewest samples one estimate with ``estimator`` accepts (with ``bias_aware``: also at 2k neighbours)."""
    if estimator != "ksg":
        return MIN_SAMPLES
    return max(MIN_SAMPLES, (2 * k if bias_aware else k) + 2)


def _standardise(a: np.ndarray) -> np.ndarray:
    """Centre each column and scale it to unit variance; constant columns become 0."""
    centred = a - a.mean(axis=0)  # (N, D)
    std = centred.std(axis=0)  # (D,)
    std[std == 0.0] = 1.0
    return centred / std


def _ksg_ladder(x: np.ndarray, y: np.ndarray, ks: tuple[int, ...], seed: int) -> tuple[float, ...]:
    """KSG estimator 1 (max-norm) at each k of ``ks`` on validated (N, dx), (N, dy) arrays; unclipped.

    One joint neighbour search at max(ks) serves every k (the k-th distance does not depend on how many
    neighbours were asked for), so ``_ksg_ladder(x, y, (k,), s)[0]`` and ``(k, 2k)``'s first value are equal.
    """
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    x = _standardise(x)
    y = _standardise(y)
    # Tie-breaking: duplicates would put a k-th neighbour at distance 0.
    x = x + JITTER * rng.standard_normal(x.shape)  # (N, dx)
    y = y + JITTER * rng.standard_normal(y.shape)  # (N, dy)
    joint = np.hstack([x, y])  # (N, dx + dy)
    # Each point is its own nearest neighbour (distance 0; the jitter leaves no other there): drop that column.
    distances = KDTree(joint, metric="chebyshev").query(joint, k=max(ks) + 1)[0][:, 1:]  # (N, K)
    x_tree = KDTree(x, metric="chebyshev")
    y_tree = KDTree(y, metric="chebyshev")
    values = []
    for k in ks:
        # Strictly within the k-th joint distance: shrink the radius by one ulp (query_radius counts <= r).
        radius = np.nextafter(distances[:, k - 1], 0.0)  # (N,)
        # Counts include the point itself, so they equal n_x + 1 and n_y + 1.
        nx1 = x_tree.query_radius(x, radius, count_only=True)  # (N,)
        ny1 = y_tree.query_radius(y, radius, count_only=True)  # (N,)
        values.append(float(digamma(k) + digamma(n) - np.mean(digamma(nx1)) - np.mean(digamma(ny1))))
    return tuple(values)


def _ksg(x: np.ndarray, y: np.ndarray, k: int, seed: int) -> float:
    """KSG estimator 1 (max-norm) on validated (N, dx), (N, dy) arrays; unclipped."""
    return _ksg_ladder(x, y, (k,), seed)[0]


def _gaussian(x: np.ndarray, y: np.ndarray) -> float:
    """Covariance (log-determinant) estimator on validated (N, dx), (N, dy) arrays."""
    dx = x.shape[1]
    joint = np.hstack([_standardise(x), _standardise(y)])  # (N, dx + dy)
    cov = np.cov(joint, rowvar=False).reshape(joint.shape[1], joint.shape[1])  # (dx + dy, dx + dy)
    cov = cov + RIDGE * np.eye(cov.shape[0])

    def logdet(c: np.ndarray) -> float:
        sign, value = np.linalg.slogdet(c)
        return float(value) if sign > 0 else float("-inf")

    return 0.5 * (logdet(cov[:dx, :dx]) + logdet(cov[dx:, dx:]) - logdet(cov))


def _estimate(x: np.ndarray, y: np.ndarray, estimator: str, k: int, seed: int) -> float:
    """One estimate, clipped at 0, on arrays already validated by ``_check_pair``."""
    value = _ksg(x, y, k, seed) if estimator == "ksg" else _gaussian(x, y)
    return max(value, 0.0)


def mutual_information(
    x: np.ndarray, y: np.ndarray, *, estimator: str = "ksg", k: int = 3, seed: int = 0
) -> float:
    """Estimate I(x; y) in nats from paired samples.

    Args:
        x: (N, dx) samples, or (N,) for one column.
        y: (N, dy) samples, or (N,) for one column.
        estimator: ``"ksg"`` (Kraskov et al. 2004, estimator 1, max-norm) or ``"gaussian"`` (log-determinants).
        k: neighbours for KSG (ignored by the Gaussian estimator).
        seed: seeds KSG's tie-breaking jitter.

    Returns:
        The estimate, clipped at 0. Columns are standardised first, so it does not depend on per-column scale.

    Raises:
        ValueError: unknown estimator, bad ``k``, mismatched or too few samples, non-finite values, >2-D input.
    """
    x, y = _check_pair(x, y, estimator, k)
    return _estimate(x, y, estimator, k, seed)


def reduce_dimensions(x: np.ndarray, n_components: int, seed: int = 0) -> np.ndarray:
    """Project samples onto their leading principal components.

    Trailing axes are flattened first, so a generated sequence (N, T, D) becomes (N, T * D): time steps and
    features together. PCA is fitted on these rows as they are (centred, not standardised). If there are no more
    features than ``n_components`` the flattened array is returned unchanged (as float64); otherwise
    min(n_components, N) components. ``seed`` fixes the randomised SVD that scikit-learn uses for large inputs.

    Args:
        x: (N, ...) samples.
        n_components: number of components to keep (>= 1).
        seed: random state of the PCA solver.

    Returns:
        (N, min(n_components, D)) array, D being the flattened feature count.
    """
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim < 1 or arr.shape[0] == 0:
        raise ValueError(f"reduce_dimensions needs at least one sample, got shape {arr.shape}")
    flat = arr.reshape(arr.shape[0], -1)  # (N, D)
    if not np.all(np.isfinite(flat)):
        raise ValueError("reduce_dimensions input contains NaN or infinite values")
    return _reduce(flat, n_components, seed)[0]


def _reduce(flat: np.ndarray, n_components: int, seed: int) -> tuple[np.ndarray, float]:
    """(projection, share of the total variance it keeps) of validated (N, D) samples."""
    if flat.shape[1] <= n_components:
        return flat, 1.0
    n_keep = min(n_components, flat.shape[0])
    pca = PCA(n_components=n_keep, random_state=seed)
    projected = pca.fit_transform(flat)  # (N, n_keep)
    kept = (
        float(pca.explained_variance_ratio_.sum())
        if np.isfinite(pca.explained_variance_ratio_).all()
        else 1.0
    )
    return projected, kept


@dataclass(frozen=True)
class Streamed:
    """Samples too many to hold at once: each call of `passes()` yields all `n` of them anew, in order, as (rows, ...)
    batches (e.g. by decoding the factors again), so :func:`modality_information` reduces them in bounded memory."""

    n: int
    passes: Callable[[], Iterable[np.ndarray]]


POWER_ITERATIONS = 7
"""Subspace iterations of :func:`streamed_principal_components` (scikit-learn's randomised PCA uses 7 for a few
components)."""

OVERSAMPLES = 10
"""Extra random directions :func:`streamed_principal_components` carries beyond the kept components."""


def streamed_principal_components(
    samples: Streamed, n_components: int, seed: int = 0
) -> tuple[np.ndarray, float]:
    """(projection onto the leading principal components, share of the total variance they keep) of samples
    streamed in batches, holding only (N, n_components + 10) numbers and one batch.

    Randomised subspace iteration (Halko, Martinsson & Tropp 2011, algorithms 4.4 and 5.1, as scikit-learn's
    randomised PCA does in memory): one pass for the mean and total variance (Chan et al.'s pairwise update), one
    for Y = (X - μ) Ω with Ω a seeded Gaussian (D, l), `POWER_ITERATIONS` pairs of passes Z = (X - μ)ᵀ Q,
    Y = (X - μ) orth(Z), each re-orthonormalised, and one for B = Qᵀ (X - μ), whose small SVD gives the
    components. Every pass is a float64 accumulation over the batches. Each projection column has the sign that
    makes the largest loading of its component positive. Agrees with `sklearn.decomposition.PCA` to the
    solver's precision up to the columns' signs (which neither estimator here sees); tested.
    """
    check_count("n_components", n_components)

    def rows() -> Iterator[np.ndarray]:
        for batch in samples.passes():
            flat = np.asarray(batch, dtype=np.float64).reshape(len(batch), -1)  # (b, D)
            if not np.all(np.isfinite(flat)):
                raise ValueError("reconstruction contains NaN or infinite values")
            yield flat

    # Pass 1: count, mean and the sum of squared deviations per feature, batch by batch.
    n, mean, m2 = 0, None, None
    for flat in rows():
        b, batch_mean = len(flat), flat.mean(axis=0)
        batch_m2 = ((flat - batch_mean) ** 2).sum(axis=0)
        if mean is None:
            n, mean, m2 = b, batch_mean, batch_m2
            continue
        delta = batch_mean - mean
        mean = mean + delta * (b / (n + b))
        m2 = m2 + batch_m2 + delta**2 * (n * b / (n + b))
        n += b
    if n != samples.n or mean is None:
        raise ValueError(f"the streamed samples gave {n} rows, expected {samples.n}")
    d = len(mean)
    if d <= n_components:  # nothing to reduce: the rows themselves, (N, D) with D <= n_components
        return np.concatenate([flat for flat in rows()]), 1.0
    n_keep = min(n_components, n)
    width = min(n_keep + OVERSAMPLES, d, n)

    def times(right: np.ndarray) -> np.ndarray:  # (X - μ) @ right: (N, width)
        return np.concatenate([(flat - mean) @ right for flat in rows()])

    def transposed_times(left: np.ndarray) -> np.ndarray:  # (X - μ)ᵀ @ left: (D, width)
        total, start = np.zeros((d, left.shape[1])), 0
        for flat in rows():
            total += (flat - mean).T @ left[start : start + len(flat)]
            start += len(flat)
        return total

    omega = np.random.default_rng(np.random.SeedSequence([seed, 11])).standard_normal((d, width))
    q = np.linalg.qr(times(omega))[0]  # (N, width)
    for _ in range(POWER_ITERATIONS):
        q = np.linalg.qr(times(np.linalg.qr(transposed_times(q))[0]))[0]
    u, singular, vt = np.linalg.svd(transposed_times(q).T, full_matrices=False)  # B = Qᵀ(X - μ): (width, D)
    signs = np.sign(vt[np.arange(n_keep), np.abs(vt[:n_keep]).argmax(axis=1)])  # largest loading positive
    projection = (q @ u[:, :n_keep]) * (singular[:n_keep] * signs)  # (N, n_keep) = (X - μ) V_k
    total_variance = float(m2.sum())
    kept = float((singular[:n_keep] ** 2).sum() / total_variance) if total_variance > 0 else 1.0
    return projection, kept


def extrapolation_factors(total_dims: int) -> tuple[float, float]:
    """The range [c_fast, c_slow] of KSG's bias extrapolation factor for dx + dy = ``total_dims`` dimensions.

    KSG's bias behaves as a (k/N)^γ (doubling k is measured to shift it as halving N does), so the bias at k is
    c·(KSG(2k) - KSG(k)) with c = 1 / (2^γ - 1). γ is taken between 2/D (the ε² order of a smooth density in
    D = dx + dy dimensions, the slowest decay assumed; c_slow) and 2/(D - 2) (measured for Gaussians; c_fast, and 0
    for D <= 2, where KSG's bias is below its noise). See the module docstring for the measurements.
    """
    d = int(total_dims)
    if d < 2:
        raise ValueError(f"total_dims must be at least 2 (one column a side), got {total_dims!r}")
    c_fast = 0.0 if d <= 2 else 1.0 / (2.0 ** (2.0 / (d - 2)) - 1.0)
    c_slow = 1.0 / (2.0 ** (2.0 / d) - 1.0)
    return c_fast, c_slow


def _check_uncertainty(
    n_bootstrap: int, n_null: int, confidence: float, interval: str = "bias-aware"
) -> None:
    """Validate the resampling settings."""
    for name, value in (("n_bootstrap", n_bootstrap), ("n_null", n_null)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}; choose one of {', '.join(INTERVALS)}")


def _subsamples(
    n: int, n_bootstrap: int, fraction: float, seed: int, estimator: str, k: int, bias_aware: bool = False
) -> list[np.ndarray]:
    """Row indices of ``n_bootstrap`` subsamples of round(fraction * n) rows, without replacement, sorted."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"subsample_fraction must lie strictly between 0 and 1, got {fraction!r}")
    m = round(fraction * n)
    needed = _min_samples(estimator, k, bias_aware)
    if n_bootstrap > 0 and m < needed:
        raise ValueError(
            f"too few samples for subsampling: {n} x {fraction} = {m} rows per subsample; "
            f"estimator {estimator!r} with k={k} needs at least {needed}"
            + (
                " (the bias-aware interval also uses 2k neighbours)"
                if needed > _min_samples(estimator, k)
                else ""
            )
        )
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    return [np.sort(rng.choice(n, size=m, replace=False)) for _ in range(n_bootstrap)]


def _permutations(n: int, n_null: int, seed: int) -> list[np.ndarray]:
    """``n_null`` seeded permutations of range(n)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    return [rng.permutation(n) for _ in range(n_null)]


def _interval(
    value: float, replicates: np.ndarray, n: int, fraction: float, confidence: float
) -> tuple[float, float]:
    """Basic subsampling interval around ``value`` from subsample ``replicates`` (``interval="basic"``)."""
    if replicates.size == 0:
        return value, value
    m = round(fraction * n)
    scale = np.sqrt(m / (n - m))  # 1 for half-sampling
    deviations = scale * (replicates - np.median(replicates))  # (B,)
    alpha = 1.0 - confidence
    q_low, q_high = np.quantile(deviations, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(value - q_high), float(value - q_low)


def _half_width(replicates: np.ndarray, n: int, fraction: float, confidence: float) -> float:
    """Student-t half-width from the spread of subsample ``replicates`` (B >= 2), rescaled to n samples."""
    m = round(fraction * n)
    scale = np.sqrt(m / (n - m))  # 1 for half-sampling
    b = replicates.size
    return float(student_t.ppf(0.5 + confidence / 2.0, b - 1) * scale * np.std(replicates, ddof=1))


def _union_interval(
    candidates: list[tuple[float, np.ndarray]], n: int, fraction: float, confidence: float
) -> tuple[float, float]:
    """The smallest interval holding centre ± half-width of every (centre, subsample replicates) candidate."""
    widths = [_half_width(reps, n, fraction, confidence) for _, reps in candidates]
    return (
        min(centre - w for (centre, _), w in zip(candidates, widths, strict=True)),
        max(centre + w for (centre, _), w in zip(candidates, widths, strict=True)),
    )


def _null_summary(null: np.ndarray, confidence: float) -> tuple[float, float]:
    """Mean and ``confidence`` quantile of shuffled-pairs estimates (NaN when there are none)."""
    if null.size == 0:
        return float("nan"), float("nan")
    return float(np.mean(null)), float(np.quantile(null, confidence))


def _replicate(
    x: np.ndarray, y: np.ndarray, estimator: str, k: int, seed: int, bias_aware: bool
) -> tuple[float, float]:
    """Unclipped (estimate, KSG at 2k neighbours); the second is NaN for the Gaussian estimator or without
    ``bias_aware``."""
    if estimator == "ksg" and bias_aware:
        at_k, at_2k = _ksg_ladder(x, y, (k, 2 * k), seed)
        return at_k, at_2k
    return (_ksg(x, y, k, seed) if estimator == "ksg" else _gaussian(x, y)), float("nan")


def _corrections(estimator: str, dx: int, dy: int, n: int) -> tuple[float, ...]:
    """The candidate bias corrections: KSG's extrapolation factors, or the Gaussian plug-in's dx·dy / 2N."""
    if estimator == "ksg":
        return extrapolation_factors(dx + dy)
    return (dx * dy / (2.0 * n),)


def _corrected(estimator: str, raw: np.ndarray | float, raw_2k: np.ndarray | float, correction: float):
    """KSG(k) - c·(KSG(2k) - KSG(k)) for KSG; the estimate less its first-order bias for the Gaussian one."""
    if estimator == "ksg":
        return raw - correction * (raw_2k - raw)
    return raw - correction


@dataclass(frozen=True)
class _Replicates:
    """Unclipped estimates of one term on all samples and on each subsample (internal to this module)."""

    estimator: str
    raw: float  # on all samples, (N, dx) against (N, dy)
    raw_2k: float  # KSG at 2k on all samples; NaN for the Gaussian estimator or when not computed
    reps: np.ndarray  # (B,) on each subsample
    reps_2k: np.ndarray  # (B,)
    corrections: tuple[float, ...]

    def candidates(self) -> list[tuple[float, np.ndarray]]:
        """(centre, subsample replicates) of the raw estimate and of each bias-corrected one."""
        out = [(self.raw, self.reps)]
        for c in self.corrections:
            centre = float(_corrected(self.estimator, self.raw, self.raw_2k, c))
            out.append((centre, _corrected(self.estimator, self.reps, self.reps_2k, c)))
        return out

    def point(self) -> float:
        """The bias-corrected estimate at the middle of the candidate corrections, clipped at 0 (NaN if none)."""
        middle = float(np.mean(self.corrections))
        value = float(_corrected(self.estimator, self.raw, self.raw_2k, middle))
        return max(value, 0.0) if np.isfinite(value) else float("nan")


def _replicates(
    x: np.ndarray,
    y: np.ndarray,
    subsamples: list[np.ndarray],
    estimator: str,
    k: int,
    seed: int,
    bias_aware: bool,
    tick: Callable[[str], None],
    pool: ThreadPoolExecutor | None = None,
) -> _Replicates:
    """Estimate one term on all samples (tick "estimate") and on each subsample (tick "bootstrap" each)."""
    n = x.shape[0]
    # The corrected point estimate needs 2k neighbours on all samples; compute it whenever there are enough.
    full_2k = bias_aware or n >= _min_samples(estimator, k, bias_aware=True)
    raw, raw_2k = _replicate(x, y, estimator, k, seed, full_2k)
    tick("estimate")
    pairs = []
    for pair in _in_order(
        pool, lambda idx: _replicate(x[idx], y[idx], estimator, k, seed, bias_aware), subsamples
    ):
        pairs.append(pair)
        tick("bootstrap")
    reps = np.asarray(pairs, dtype=np.float64).reshape(len(subsamples), 2)  # (B, 2): at k, at 2k
    return _Replicates(
        estimator, raw, raw_2k, reps[:, 0], reps[:, 1], _corrections(estimator, x.shape[1], y.shape[1], n)
    )


def _checked_workers(workers: int | None) -> int:
    """`workers`, or `mfm.threads`' policy for None; ValueError unless a positive integer."""
    workers = information_workers() if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers!r}")
    return int(workers)


@contextmanager
def _rounds(workers: int | None, rounds: int) -> Iterator[ThreadPoolExecutor | None]:
    """The thread pool that runs the subsample and null rounds (`workers`, default `mfm.threads`' policy), or
    None where there is one worker or at most one round."""
    workers = _checked_workers(workers)
    pool = ThreadPoolExecutor(workers) if workers > 1 and rounds > 1 else None
    try:
        yield pool
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _in_order(pool: ThreadPoolExecutor | None, function: Callable, items: list) -> Iterator:
    """function(item) for each item, in order: on `pool`'s threads when given (results still come in order, so
    progress ticks and outputs do not depend on the number of workers), else one after another."""
    return map(function, items) if pool is None else pool.map(function, items)


def _mi_interval(
    term: _Replicates, interval: str, n: int, fraction: float, confidence: float
) -> tuple[float, float]:
    """``[low, high]`` of one term, clipped at 0 like its value (see the module docstring, "Uncertainty")."""
    value = max(term.raw, 0.0)
    if interval == "basic":
        return _interval(value, np.maximum(term.reps, 0.0), n, fraction, confidence)
    if term.reps.size < 2:
        return value, value
    low, high = _union_interval(term.candidates(), n, fraction, confidence)
    return max(low, 0.0), max(high, 0.0)


def _log_ratio(shared: np.ndarray | float, modality: np.ndarray | float):
    """log r with both terms floored at RATIO_FLOOR (elementwise)."""
    return np.log(np.maximum(shared, RATIO_FLOOR)) - np.log(np.maximum(modality, RATIO_FLOOR))


def _ratio_interval(
    shared: _Replicates, modality: _Replicates, interval: str, n: int, fraction: float, confidence: float
) -> tuple[float, float]:
    """``[ratio_low, ratio_high]`` from the paired subsamples, built on log r."""
    log_r = float(_log_ratio(max(shared.raw, 0.0), max(modality.raw, 0.0)))
    if interval == "basic":
        reps = _log_ratio(np.maximum(shared.reps, 0.0), np.maximum(modality.reps, 0.0))  # (B,)
        low, high = _interval(log_r, reps, n, fraction, confidence)
        return float(np.exp(low)), float(np.exp(high))
    if shared.reps.size < 2:
        return float(np.exp(log_r)), float(np.exp(log_r))
    # The raw log r's sampling interval, shifted to reach the log r of every pairing of an extrapolated numerator
    # with an extrapolated denominator (their true factors need not be equal: the terms are different
    # distributions). The shifts' own noise is not added: both terms share the estimator, N and the dimension of
    # X̂, so their relative biases, and hence the shifts, are small (see the module docstring).
    centres = [log_r] + [
        float(_log_ratio(s_centre, m_centre))
        for s_centre, _ in shared.candidates()[1:]
        for m_centre, _ in modality.candidates()[1:]
    ]
    width = _half_width(_log_ratio(shared.reps, modality.reps), n, fraction, confidence)
    return float(np.exp(min(centres) - width)), float(np.exp(max(centres) + width))


def estimate_mi(
    x: np.ndarray,
    y: np.ndarray,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
    **options: Any,
) -> MIEstimate:
    """Estimate I(x; y) with a subsampling interval and a shuffled-pairs null.

    Args:
        x: (N, dx) samples, or (N,).
        y: (N, dy) samples, or (N,).
        options: :class:`EstimateOptions` by keyword (``estimator``, ``k``, ``n_bootstrap``, ``n_null``,
            ``confidence``, ``seed``, ``subsample_fraction``, ``interval``), each with its default there.
        progress: optional ``progress(done, total, stage)`` callback, stages ``"estimate"``, ``"bootstrap"``,
            ``"null"``.
        workers: subsample and null rounds run at once, on threads (default: ``mfm.threads``' policy, one per
            usable core). Every round is seeded on its own, so the result does not depend on it.

    Returns:
        An :class:`MIEstimate`. ``value`` and the null do not depend on ``interval``.
    """
    o = EstimateOptions.of(options)
    estimator, k, n_bootstrap, n_null, seed = o.estimator, o.k, o.n_bootstrap, o.n_null, o.seed
    confidence, subsample_fraction, interval = o.confidence, o.subsample_fraction, o.interval
    x, y = _check_pair(x, y, estimator, k)
    _check_uncertainty(n_bootstrap, n_null, confidence, interval)
    n = x.shape[0]
    bias_aware = interval == "bias-aware"
    subsamples = _subsamples(n, n_bootstrap, subsample_fraction, seed, estimator, k, bias_aware)
    permutations = _permutations(n, n_null, seed)
    total = 1 + n_bootstrap + n_null
    done = 0

    def tick(stage: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, stage)

    with _rounds(workers, n_bootstrap + n_null) as pool:
        term = _replicates(x, y, subsamples, estimator, k, seed, bias_aware, tick, pool)
        null = []
        for value in _in_order(pool, lambda perm: _estimate(x, y[perm], estimator, k, seed), permutations):
            null.append(value)
            tick("null")
    low, high = _mi_interval(term, interval, n, subsample_fraction, confidence)
    null_mean, null_high = _null_summary(np.asarray(null), confidence)
    return MIEstimate(
        value=max(term.raw, 0.0),
        low=low,
        high=high,
        null_mean=null_mean,
        null_high=null_high,
        estimator=estimator,
        n_samples=n,
        n_bootstrap=n_bootstrap,
        corrected=term.point(),
        interval=interval,
    )


def information_ratio(shared_mi: float, modality_mi: float) -> float:
    """The paper's r = I(F_y; X̂) / I(F_a; X̂), each term floored at ``RATIO_FLOOR`` nats.

    The floor keeps r finite when the denominator is ~0 and positive when the numerator is ~0 (so log r exists
    for the interval), and makes swapping the two terms invert r exactly.
    """
    return float(max(shared_mi, RATIO_FLOOR) / max(modality_mi, RATIO_FLOOR))


def modality_information(
    shared_factor: np.ndarray,
    modality_factor: np.ndarray,
    reconstruction: np.ndarray | Streamed,
    *,
    n_components: int = 3,
    progress: Progress | None = None,
    workers: int | None = None,
    **options: Any,
) -> ModalityInformation:
    """The paper's I(F_y; X̂_i), I(F_{a_i}; X̂_i) and r_i for one modality over a data split.

    Each input is reduced to at most ``n_components`` principal components (:func:`reduce_dimensions`) so KSG
    works where it is trustworthy (see the module's bias table). Both MI terms are estimated on the *same*
    subsamples, so the ratio's interval is paired: r is computed per subsample, and the interval is built from
    those ratios as for an MI but on log r (a ratio whose denominator nears the floor is heavily right-skewed;
    reflected on the linear scale its lower bound would go negative); the bias-aware one also spans the ratios
    of the terms' bias-corrected estimates. The nulls permute the reconstruction's rows, with the same
    permutations for both terms. ``shared`` equals ``estimate_mi`` on the reduced F_y and X̂_i with the same
    settings.

    Args:
        shared_factor: (N, a) F_y.
        modality_factor: (N, b) F_{a_i}.
        reconstruction: (N, ...) X̂_i, e.g. (N, T, D) for a sequence or (N, C, H, W) for an image; or a
            :class:`Streamed` X̂_i too large to hold, reduced by :func:`streamed_principal_components` (the same
            projection as in memory to the solver's precision) in bounded memory.
        n_components: principal components kept per variable.
        options: :class:`EstimateOptions` by keyword, as for :func:`estimate_mi` (``n_bootstrap`` counts paired
            subsamples, ``n_null`` the permutations of each null).
        progress: optional ``progress(done, total, stage)`` callback; stages ``"reduce"``, ``"estimate"``,
            ``"bootstrap"``, ``"null"``.
        workers: subsample and null rounds run at once, on threads, as for :func:`estimate_mi`; the result does
            not depend on it.

    Returns:
        A :class:`ModalityInformation`.
    """
    o = EstimateOptions.of(options)
    estimator, k, n_bootstrap, n_null, seed = o.estimator, o.k, o.n_bootstrap, o.n_null, o.seed
    confidence, subsample_fraction, interval = o.confidence, o.subsample_fraction, o.interval
    workers = _checked_workers(workers)  # before the reduction, which can be long
    streamed = isinstance(reconstruction, Streamed)
    named = {"shared_factor": shared_factor, "modality_factor": modality_factor}
    if not streamed:  # a streamed reconstruction is checked batch by batch as it is reduced
        named["reconstruction"] = reconstruction
    for name, arr in named.items():
        if name != "reconstruction" and np.ndim(arr) not in (1, 2):
            raise ValueError(f"{name} must be (N, features), got shape {np.shape(arr)}")
        if np.ndim(arr) == 0:
            raise ValueError(f"{name} must be an array of samples, got a scalar")
        if not np.all(np.isfinite(np.asarray(arr, dtype=np.float64))):
            raise ValueError(f"{name} contains NaN or infinite values")
    n_reconstruction = reconstruction.n if streamed else np.shape(reconstruction)[0]
    sizes = {np.shape(shared_factor)[0], np.shape(modality_factor)[0], n_reconstruction}
    if len(sizes) != 1:
        raise ValueError(
            "shared_factor, modality_factor and reconstruction must have the same number of samples, got "
            f"{np.shape(shared_factor)[0]}, {np.shape(modality_factor)[0]} and {n_reconstruction}"
        )
    _check_uncertainty(n_bootstrap, n_null, confidence, interval)
    total = 1 + 2 * (1 + n_bootstrap + n_null)
    done = 0

    def tick(stage: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, stage)

    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    reduced = [
        _reduce(np.asarray(a, dtype=np.float64).reshape(np.shape(a)[0], -1), n_components, seed)
        for a in (shared_factor, modality_factor)
    ]
    if streamed:
        reduced.append(streamed_principal_components(reconstruction, n_components, seed))
    else:
        flat = np.asarray(reconstruction, dtype=np.float64).reshape(n_reconstruction, -1)
        reduced.append(_reduce(flat, n_components, seed))
        del flat
    # The reduction's float64 copies are freed: hand the heap they took back (mfm.memory), or the process keeps
    # it (21 MB of resident memory after the sequence demo's information stage).
    release_free_memory()
    (f_y, kept_y), (f_a, kept_a), (x_hat, kept_x) = reduced  # each (N, <= n_components)
    tick("reduce")
    f_y, x_hat = _check_pair(f_y, x_hat, estimator, k)
    f_a, _ = _check_pair(f_a, x_hat, estimator, k)
    n = x_hat.shape[0]
    bias_aware = interval == "bias-aware"
    subsamples = _subsamples(n, n_bootstrap, subsample_fraction, seed, estimator, k, bias_aware)
    permutations = _permutations(n, n_null, seed)

    # Same work as estimate_mi on each term, so each term equals estimate_mi's result bit for bit; the rounds run
    # on `workers` threads, results and progress in order.
    shared_null, modality_null = [], []
    with _rounds(workers, n_bootstrap + n_null) as pool:
        shared = _replicates(f_y, x_hat, subsamples, estimator, k, seed, bias_aware, tick, pool)
        modality = _replicates(f_a, x_hat, subsamples, estimator, k, seed, bias_aware, tick, pool)

        def both_nulls(perm: np.ndarray) -> tuple[float, float]:
            return _estimate(f_y, x_hat[perm], estimator, k, seed), _estimate(
                f_a, x_hat[perm], estimator, k, seed
            )

        for shared_value, modality_value in _in_order(pool, both_nulls, permutations):
            shared_null.append(shared_value)
            tick("null")
            modality_null.append(modality_value)
            tick("null")

    def summarise(term: _Replicates, null: list[float]) -> MIEstimate:
        low, high = _mi_interval(term, interval, n, subsample_fraction, confidence)
        null_mean, null_high = _null_summary(np.asarray(null), confidence)
        return MIEstimate(
            max(term.raw, 0.0),
            low,
            high,
            null_mean,
            null_high,
            estimator,
            n,
            n_bootstrap,
            term.point(),
            interval,
        )

    shared_estimate = summarise(shared, shared_null)
    modality_estimate = summarise(modality, modality_null)
    ratio = information_ratio(shared_estimate.value, modality_estimate.value)
    ratio_low, ratio_high = _ratio_interval(shared, modality, interval, n, subsample_fraction, confidence)
    corrected = (shared_estimate.corrected, modality_estimate.corrected)
    return ModalityInformation(
        shared=shared_estimate,
        modality=modality_estimate,
        ratio=ratio,
        # exp(log a - log b) can differ from a / b in the last bit: keep the bracket exact.
        ratio_low=min(ratio_low, ratio),
        ratio_high=max(ratio_high, ratio),
        ratio_corrected=information_ratio(*corrected) if all(np.isfinite(corrected)) else float("nan"),
        variance_kept=(kept_y, kept_a, kept_x),
    )
