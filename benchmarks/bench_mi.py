"""Bias and speed of the mutual-information estimators in ``interpret.information``.

Prints, from one run:
1. the relative error of KSG and of the Gaussian estimator against the analytic MI of correlated Gaussians
   (x ~ N(0, I_d), y = rho x + sqrt(1 - rho^2) e, I = -d/2 log(1 - rho^2)) at d = 1, 2, 3, 4, 6, 8 a side;
2. the time of one KSG estimate at 1,000 / 5,000 / 20,000 samples;
3. the time of one ``estimate_mi`` call with the app's default uncertainty settings.

Usage: ``python benchmarks/bench_mi.py [--n 3000] [--rho 0.6 0.9] [--seeds 10]``. Not a test: numbers depend on the
machine; its figures are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interpret.information import estimate_mi, mutual_information


def correlated_gaussians(n: int, dims: int, rho: float, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Samples x, y of shape (n, dims) with corr(x_j, y_j) = rho, and their analytic MI in nats."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dims))  # (n, d)
    y = rho * x + np.sqrt(1.0 - rho**2) * rng.standard_normal((n, dims))  # (n, d)
    return x, y, -0.5 * dims * np.log(1.0 - rho**2)


def bias_table(n: int, rho: float, seeds: int, k: int) -> None:
    """Print mean ± sd relative error of both estimators over ``seeds`` draws per dimension."""
    print(f"Bias vs analytic MI: correlated Gaussians, rho={rho} per dimension, N={n}, k={k}, {seeds} seeds")
    print(
        f"{'dims':>6} {'analytic':>9} {'KSG mean':>9} {'KSG rel.err':>16} {'Gauss rel.err':>16} {'KSG s':>7}"
    )
    for dims in (1, 2, 3, 4, 6, 8):
        ksg_err, gau_err, ksg_val, seconds = [], [], [], 0.0
        truth = 0.0
        for seed in range(seeds):
            x, y, truth = correlated_gaussians(n, dims, rho, seed)
            start = time.perf_counter()
            ksg = mutual_information(x, y, estimator="ksg", k=k, seed=seed)
            seconds += time.perf_counter() - start
            gau = mutual_information(x, y, estimator="gaussian")
            ksg_val.append(ksg)
            ksg_err.append(ksg / truth - 1.0)
            gau_err.append(gau / truth - 1.0)
        print(
            f"{dims:>3}+{dims:<2} {truth:>9.3f} {np.mean(ksg_val):>9.3f} "
            f"{100 * np.mean(ksg_err):>+7.1f}% ±{100 * np.std(ksg_err):>4.1f}% "
            f"{100 * np.mean(gau_err):>+7.1f}% ±{100 * np.std(gau_err):>4.1f}% {seconds / seeds:>7.3f}"
        )


def timings(dims: int, rho: float, k: int) -> None:
    """Print the time of one KSG estimate at 1,000 / 5,000 / 20,000 samples (best of 3)."""
    print(f"KSG time, one estimate, {dims}+{dims} dims, k={k} (best of 3):")
    for n in (1_000, 5_000, 20_000):
        x, y, _ = correlated_gaussians(n, dims, rho, seed=0)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            mutual_information(x, y, estimator="ksg", k=k)
            best = min(best, time.perf_counter() - start)
        print(f"  N={n:>6}: {best * 1000:8.1f} ms")


def uncertainty_timing(n: int, dims: int, rho: float, k: int) -> None:
    """Print the time of estimate_mi with its default subsamples and permutations."""
    x, y, truth = correlated_gaussians(n, dims, rho, seed=0)
    start = time.perf_counter()
    result = estimate_mi(x, y, estimator="ksg", k=k)
    seconds = time.perf_counter() - start
    print(
        f"\nestimate_mi (KSG, {dims}+{dims}, N={n}, {result.n_bootstrap} subsamples, 20 permutations): "
        f"{seconds:.2f} s; value {result.value:.3f} [{result.low:.3f}, {result.high:.3f}], "
        f"null mean {result.null_mean:.3f}, null 95% {result.null_high:.3f}, truth {truth:.3f}"
    )


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="samples for the bias table")
    parser.add_argument("--rho", type=float, nargs="+", default=[0.6, 0.9], help="correlations per dimension")
    parser.add_argument("--seeds", type=int, default=10, help="draws per dimension")
    parser.add_argument("--k", type=int, default=3, help="KSG neighbours")
    args = parser.parse_args()
    for rho in args.rho:
        bias_table(args.n, rho, args.seeds, args.k)
        print()
    timings(3, args.rho[0], args.k)
    uncertainty_timing(args.n, 3, args.rho[0], args.k)


if __name__ == "__main__":
    main()
