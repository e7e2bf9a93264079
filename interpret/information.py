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
    The neighbour searches are scikit-learn's ``NearestNeighbors`` and ``KDTree`` with the Chebyshev metric.
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

Measured bias (``benchmarks/bench_mi.py``)
------------------------------------------
Correlated Gaussians x ~ N(0, I_d), y = ρ x + sqrt(1 - ρ²) e, analytic MI -d/2 · log(1 - ρ²); N = 3000, k = 3;
relative error, mean ± standard deviation over 10 seeds, measured on the project's 2-core machine:

==========  ================  ===============  ===============  ================  ===============  ===============
dims (x+y)  MI at ρ=0.6       KSG, ρ=0.6       Gaussian, ρ=0.6  MI at ρ=0.9       KSG, ρ=0.9       Gaussian, ρ=0.9
==========  ================  ===============  ===============  ================  ===============  ===============
1+1         0.223             -0.4 ± 5.4 %     +1.7 ± 4.0 %     0.830             +1.3 ± 1.7 %     +0.4 ± 1.5 %
2+2         0.446             +2.1 ± 3.1 %     +0.7 ± 3.1 %     1.661             +0.8 ± 1.7 %     +0.1 ± 1.3 %
3+3         0.669             -4.8 ± 4.0 %     -0.5 ± 2.6 %     2.491             -6.9 ± 1.2 %     -0.1 ± 0.9 %
4+4         0.893             -12.5 ± 2.2 %    +1.8 ± 2.6 %     3.321             -16.7 ± 0.8 %    +1.0 ± 0.7 %
6+6         1.339             -30.2 ± 2.1 %    +0.8 ± 2.1 %     4.982             -36.3 ± 0.5 %    +0.5 ± 0.9 %
8+8         1.785             -43.7 ± 1.0 %    -0.1 ± 1.5 %     6.643             -50.5 ± 0.4 %    -0.1 ± 0.6 %
==========  ================  ===============  ===============  ================  ===============  ===============

KSG is within about 10 % up to 3 dimensions a side and underestimates badly beyond (about -30 % to -36 % at 6+6,
the larger the MI the worse); hence the default of 3 components a side. Strong correlation *within* a side also
hurts KSG (with x and y each mixed by a random well-conditioned matrix, 3+3 at ρ = 0.8 came out about -23 %):
the PCA components fed to it are uncorrelated and then standardised, i.e. whitened, which is KSG's best case.
The Gaussian estimator is unbiased here at every size (its spread is sampling noise).

KSG time for one estimate, 3+3 dimensions, k = 3, same machine: 9 ms at N = 1,000, 73 ms at 5,000, 0.48 s at
20,000. ``estimate_mi`` with 100 half-samples and 20 permutations at N = 3000: 2.5 s.

Uncertainty
-----------
Resampling *with* replacement duplicates samples; a duplicate is its own nearest neighbour at distance 0, which
inflates a nearest-neighbour estimate of MI. Intervals here therefore come from **half-sampling**: B subsamples of
m = N/2 rows drawn without replacement (m-out-of-n subsampling, Politis & Romano 1994). For a statistic whose
variance scales as 1/n, the spread of subsample estimates around the full-sample estimate has variance
σ²(1/m - 1/N), which equals the sampling variance at N exactly when m = N/2, so no rescaling is needed (the
general factor sqrt(m / (N - m)) is applied for other fractions). The interval is the basic (reflected) one,
computed from the subsample deviations from their median: [v - q_hi, v - q_lo]. Centring on the median keeps the
point estimate v inside its interval and leaves out the shift in KSG's bias between m and N samples; the
interval reflects sampling variability only, and the estimator's bias is the table above. Measured coverage of
nominal 95 % intervals for correlated Gaussians at N = 1000 (ρ = 0.6): KSG 93 % (1+1) and 97 % (2+2) over 60
seeds with B = 40; the Gaussian estimator 89 % with B = 40 and 93 % with B = 200 over 300 seeds (few subsamples
estimate the 2.5 % and 97.5 % quantiles too close together). Where KSG's bias exceeds its spread coverage drops
(3+3 at N = 1000: bias -9 %, coverage 62 %).

The ratio r_i gets the same treatment on log r_i, with both terms computed on each subsample (paired), so the
interval reflects their correlation; it is positive and always brackets r_i.

The null baseline is the estimator applied after permuting the rows of y (which destroys the dependence but keeps
both marginals), repeated ``n_null`` times: its mean shows the estimator's floor for independent data of this
size and dimension, and its ``confidence`` quantile is the level an estimate must clear to count as dependence.

Everything here is deterministic for a seed (bit-identical across runs on one machine).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import digamma
from sklearn.decomposition import PCA
from sklearn.neighbors import KDTree, NearestNeighbors

ESTIMATORS = ("ksg", "gaussian")
"""Names accepted by ``estimator=``."""

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

Progress = Callable[[int, int, str], None]
"""``progress(done, total, stage)``: called after each unit of work."""


@dataclass(frozen=True)
class MIEstimate:
    """A mutual-information estimate in nats with its uncertainty.

    ``value`` is the estimate on all samples; ``[low, high]`` its subsampling interval; ``null_mean`` and
    ``null_high`` the mean and upper quantile of the estimate after shuffling the pairs (the level expected from
    independent variables of the same size and dimension). ``n_bootstrap`` counts the subsamples.
    """

    value: float
    low: float
    high: float
    null_mean: float
    null_high: float
    estimator: str
    n_samples: int
    n_bootstrap: int

    @property
    def significant(self) -> bool:
        """Whether the estimate exceeds the upper quantile of its shuffled-pairs null."""
        return self.value > self.null_high


@dataclass(frozen=True)
class ModalityInformation:
    """The paper's information-based interpretation for one modality.

    ``shared`` is I(F_y; X̂_i), ``modality`` is I(F_{a_i}; X̂_i), and ``ratio`` is
    r_i = max(I(F_y; X̂_i), RATIO_FLOOR) / max(I(F_{a_i}; X̂_i), RATIO_FLOOR), with a paired subsampling interval
    ``[ratio_low, ratio_high]`` (built on log r, so 0 < ratio_low <= ratio <= ratio_high).
    """

    shared: MIEstimate
    modality: MIEstimate
    ratio: float
    ratio_low: float
    ratio_high: float


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


def _min_samples(estimator: str, k: int) -> int:
    """Fewest samples one estimate with ``estimator`` accepts."""
    return max(MIN_SAMPLES, k + 2) if estimator == "ksg" else MIN_SAMPLES


def _standardise(a: np.ndarray) -> np.ndarray:
    """Centre each column and scale it to unit variance; constant columns become 0."""
    centred = a - a.mean(axis=0)  # (N, D)
    std = centred.std(axis=0)  # (D,)
    std[std == 0.0] = 1.0
    return centred / std


def _ksg(x: np.ndarray, y: np.ndarray, k: int, seed: int) -> float:
    """KSG estimator 1 (max-norm) on validated (N, dx), (N, dy) arrays; unclipped."""
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    x = _standardise(x)
    y = _standardise(y)
    # Tie-breaking: duplicates would put a k-th neighbour at distance 0.
    x = x + JITTER * rng.standard_normal(x.shape)  # (N, dx)
    y = y + JITTER * rng.standard_normal(y.shape)  # (N, dy)
    joint = np.hstack([x, y])  # (N, dx + dy)
    # kneighbors() without a query excludes each point itself.
    distances, _ = NearestNeighbors(n_neighbors=k, metric="chebyshev").fit(joint).kneighbors()  # (N, k)
    # Strictly within the k-th joint distance: shrink the radius by one ulp (query_radius counts <= r).
    radius = np.nextafter(distances[:, -1], 0.0)  # (N,)
    # Counts include the point itself, so they equal n_x + 1 and n_y + 1.
    nx1 = KDTree(x, metric="chebyshev").query_radius(x, radius, count_only=True)  # (N,)
    ny1 = KDTree(y, metric="chebyshev").query_radius(y, radius, count_only=True)  # (N,)
    return float(digamma(k) + digamma(n) - np.mean(digamma(nx1)) - np.mean(digamma(ny1)))


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
    if flat.shape[1] <= n_components:
        return flat
    n_keep = min(n_components, flat.shape[0])
    return PCA(n_components=n_keep, random_state=seed).fit_transform(flat)  # (N, n_keep)


def _check_uncertainty(n_bootstrap: int, n_null: int, confidence: float) -> None:
    """Validate the resampling settings."""
    for name, value in (("n_bootstrap", n_bootstrap), ("n_null", n_null)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")


def _subsamples(
    n: int, n_bootstrap: int, fraction: float, seed: int, estimator: str, k: int
) -> list[np.ndarray]:
    """Row indices of ``n_bootstrap`` subsamples of round(fraction * n) rows, without replacement, sorted."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"subsample_fraction must lie strictly between 0 and 1, got {fraction!r}")
    m = round(fraction * n)
    if n_bootstrap > 0 and m < _min_samples(estimator, k):
        raise ValueError(
            f"too few samples for subsampling: {n} x {fraction} = {m} rows per subsample; "
            f"estimator {estimator!r} with k={k} needs at least {_min_samples(estimator, k)}"
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
    """Basic subsampling interval around ``value`` from subsample ``replicates`` (see the module docstring)."""
    if replicates.size == 0:
        return value, value
    m = round(fraction * n)
    scale = np.sqrt(m / (n - m))  # 1 for half-sampling
    deviations = scale * (replicates - np.median(replicates))  # (B,)
    alpha = 1.0 - confidence
    q_low, q_high = np.quantile(deviations, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(value - q_high), float(value - q_low)


def _null_summary(null: np.ndarray, confidence: float) -> tuple[float, float]:
    """Mean and ``confidence`` quantile of shuffled-pairs estimates (NaN when there are none)."""
    if null.size == 0:
        return float("nan"), float("nan")
    return float(np.mean(null)), float(np.quantile(null, confidence))


def estimate_mi(
    x: np.ndarray,
    y: np.ndarray,
    *,
    estimator: str = "ksg",
    k: int = 3,
    n_bootstrap: int = 100,
    n_null: int = 20,
    confidence: float = 0.95,
    seed: int = 0,
    subsample_fraction: float = SUBSAMPLE_FRACTION,
    progress: Progress | None = None,
) -> MIEstimate:
    """Estimate I(x; y) with a subsampling interval and a shuffled-pairs null.

    Args:
        x: (N, dx) samples, or (N,).
        y: (N, dy) samples, or (N,).
        estimator: ``"ksg"`` or ``"gaussian"`` (see :func:`mutual_information`).
        k: neighbours for KSG.
        n_bootstrap: subsamples (without replacement) for the interval; 0 gives low = high = value.
        n_null: permutations of y's rows for the null; 0 gives NaN null fields.
        confidence: interval coverage and null quantile, e.g. 0.95.
        seed: fixes the jitter, the subsamples and the permutations.
        subsample_fraction: share of rows in each subsample (0.5: half-sampling, no rescaling).
        progress: optional ``progress(done, total, stage)`` callback, stages ``"estimate"``, ``"bootstrap"``,
            ``"null"``.

    Returns:
        An :class:`MIEstimate`.
    """
    x, y = _check_pair(x, y, estimator, k)
    _check_uncertainty(n_bootstrap, n_null, confidence)
    n = x.shape[0]
    subsamples = _subsamples(n, n_bootstrap, subsample_fraction, seed, estimator, k)
    permutations = _permutations(n, n_null, seed)
    total = 1 + n_bootstrap + n_null
    done = 0

    def tick(stage: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, stage)

    value = _estimate(x, y, estimator, k, seed)
    tick("estimate")
    replicates = []
    for idx in subsamples:
        replicates.append(_estimate(x[idx], y[idx], estimator, k, seed))
        tick("bootstrap")
    null = []
    for perm in permutations:
        null.append(_estimate(x, y[perm], estimator, k, seed))
        tick("null")
    low, high = _interval(value, np.asarray(replicates), n, subsample_fraction, confidence)
    null_mean, null_high = _null_summary(np.asarray(null), confidence)
    return MIEstimate(
        value=value,
        low=low,
        high=high,
        null_mean=null_mean,
        null_high=null_high,
        estimator=estimator,
        n_samples=n,
        n_bootstrap=n_bootstrap,
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
    reconstruction: np.ndarray,
    *,
    estimator: str = "ksg",
    n_components: int = 3,
    k: int = 3,
    n_bootstrap: int = 100,
    n_null: int = 20,
    confidence: float = 0.95,
    seed: int = 0,
    subsample_fraction: float = SUBSAMPLE_FRACTION,
    progress: Progress | None = None,
) -> ModalityInformation:
    """The paper's I(F_y; X̂_i), I(F_{a_i}; X̂_i) and r_i for one modality over a data split.

    Each input is reduced to at most ``n_components`` principal components (:func:`reduce_dimensions`) so KSG
    works where it is trustworthy (see the module's bias table). Both MI terms are estimated on the *same*
    subsamples, so the ratio's interval is paired: r is computed per subsample, and the interval is built from
    those ratios as for an MI but on log r (a ratio whose denominator nears the floor is heavily right-skewed;
    reflected on the linear scale its lower bound would go negative). The nulls permute the reconstruction's
    rows, with the same permutations for both terms.
    ``shared`` equals ``estimate_mi`` on the reduced F_y and X̂_i with the same settings.

    Args:
        shared_factor: (N, a) F_y.
        modality_factor: (N, b) F_{a_i}.
        reconstruction: (N, ...) X̂_i, e.g. (N, T, D) for a sequence or (N, C, H, W) for an image.
        estimator: ``"ksg"`` or ``"gaussian"``.
        n_components: principal components kept per variable.
        k: neighbours for KSG.
        n_bootstrap: paired subsamples for the intervals.
        n_null: permutations for each null.
        confidence: interval coverage and null quantile.
        seed: fixes PCA, jitter, subsamples and permutations.
        subsample_fraction: share of rows per subsample.
        progress: optional ``progress(done, total, stage)`` callback; stages ``"reduce"``, ``"estimate"``,
            ``"bootstrap"``, ``"null"``.

    Returns:
        A :class:`ModalityInformation`.
    """
    named = {
        "shared_factor": shared_factor,
        "modality_factor": modality_factor,
        "reconstruction": reconstruction,
    }
    for name, arr in named.items():
        if name != "reconstruction" and np.ndim(arr) not in (1, 2):
            raise ValueError(f"{name} must be (N, features), got shape {np.shape(arr)}")
        if np.ndim(arr) == 0:
            raise ValueError(f"{name} must be an array of samples, got a scalar")
        if not np.all(np.isfinite(np.asarray(arr, dtype=np.float64))):
            raise ValueError(f"{name} contains NaN or infinite values")
    sizes = {np.shape(a)[0] for a in (shared_factor, modality_factor, reconstruction)}
    if len(sizes) != 1:
        raise ValueError(
            "shared_factor, modality_factor and reconstruction must have the same number of samples, got "
            f"{np.shape(shared_factor)[0]}, {np.shape(modality_factor)[0]} and {np.shape(reconstruction)[0]}"
        )
    _check_uncertainty(n_bootstrap, n_null, confidence)
    total = 1 + 2 * (1 + n_bootstrap + n_null)
    done = 0

    def tick(stage: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, stage)

    f_y = reduce_dimensions(shared_factor, n_components, seed)  # (N, <= n_components)
    f_a = reduce_dimensions(modality_factor, n_components, seed)  # (N, <= n_components)
    x_hat = reduce_dimensions(reconstruction, n_components, seed)  # (N, <= n_components)
    tick("reduce")
    f_y, x_hat = _check_pair(f_y, x_hat, estimator, k)
    f_a, _ = _check_pair(f_a, x_hat, estimator, k)
    n = x_hat.shape[0]
    subsamples = _subsamples(n, n_bootstrap, subsample_fraction, seed, estimator, k)
    permutations = _permutations(n, n_null, seed)

    shared_value = _estimate(f_y, x_hat, estimator, k, seed)
    tick("estimate")
    modality_value = _estimate(f_a, x_hat, estimator, k, seed)
    tick("estimate")
    shared_reps, modality_reps = [], []
    for idx in subsamples:
        shared_reps.append(_estimate(f_y[idx], x_hat[idx], estimator, k, seed))
        tick("bootstrap")
        modality_reps.append(_estimate(f_a[idx], x_hat[idx], estimator, k, seed))
        tick("bootstrap")
    shared_null, modality_null = [], []
    for perm in permutations:
        shared_null.append(_estimate(f_y, x_hat[perm], estimator, k, seed))
        tick("null")
        modality_null.append(_estimate(f_a, x_hat[perm], estimator, k, seed))
        tick("null")

    def summarise(value: float, reps: list[float], null: list[float]) -> MIEstimate:
        low, high = _interval(value, np.asarray(reps), n, subsample_fraction, confidence)
        null_mean, null_high = _null_summary(np.asarray(null), confidence)
        return MIEstimate(value, low, high, null_mean, null_high, estimator, n, n_bootstrap)

    ratio = information_ratio(shared_value, modality_value)
    ratio_reps = np.asarray(
        [information_ratio(s, m) for s, m in zip(shared_reps, modality_reps, strict=True)]
    )  # (B,)
    log_low, log_high = _interval(np.log(ratio), np.log(ratio_reps), n, subsample_fraction, confidence)
    return ModalityInformation(
        shared=summarise(shared_value, shared_reps, shared_null),
        modality=summarise(modality_value, modality_reps, modality_null),
        ratio=ratio,
        ratio_low=float(np.exp(log_low)),
        ratio_high=float(np.exp(log_high)),
    )
