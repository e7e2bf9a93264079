"""Coverage of the mutual-information intervals in ``interpret.information``: old (basic) vs new (bias-aware).

Prints, from one run, for nominal 95 % intervals:
1. at the app's default settings (pages/information.py: KSG, k = 3, 3 principal components a side, 500 samples,
   30 subsampling rounds) and the report's (interpret/report.py ReportSettings: KSG, 3 components, 600 samples,
   30 rounds), the coverage of I(x; y) for correlated Gaussians x ~ N(0, I_d), y = rho x + sqrt(1 - rho^2) e
   (analytic MI -d/2 log(1 - rho^2)) at rho 0.3 / 0.6 / 0.9, for the same y passed through sinh (an invertible
   elementwise map: the MI is unchanged, the distribution is not Gaussian), and for the Gaussian estimator;
2. the coverage of the ratio r = I(F_y; X) / I(F_a; X) at both defaults, for two independent Gaussian factors
   mixed per coordinate, X = alpha F_y + beta F_a + sigma e (known MIs, hence a known ratio);
3. one case through ``modality_information``'s PCA reduction (6-d factors, a 30-d X whose leading 3-d subspace
   carries the mixture; the truth is the MI between the population principal subspaces);
4. a sweep, with fewer repeats, over the components a side the app offers (1-8) and its sample sizes (250-3000).

Every row gives the number of repeats, the coverage of the old interval (``interval="basic"``: half-sample
deviations from their median, sampling noise only) and of the new one (``interval="bias-aware"``, the default),
their mean widths, and the mean error of the reported value (raw KSG) and of ``corrected`` (the extrapolated
estimate at the middle of the band). The Monte-Carlo standard error of a coverage p from R repeats is
sqrt(p (1 - p) / R): about 2.2 points at p = 0.95 and 3 at p = 0.9 with R = 100 (the default cells; the ratio
and the PCA case get 2R/5, the sweep 4R/25 and 2R/25 at N 3000, the Gaussian estimator 3R).

Usage: ``python benchmarks/bench_mi_coverage.py [--quick] [--repeats 100]``; the full run took 509 s on the
project's 2-core machine (one process, another job on the other core), ``--quick`` about 2 minutes. Not a test:
the figures are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interpret.information import estimate_mi, modality_information

# The defaults a user gets without touching a setting (read from pages/information.py and interpret/report.py).
DEFAULTS = {
    "app": {"n": 500, "n_bootstrap": 30, "k": 3, "dims": 3},
    "report": {"n": 600, "n_bootstrap": 30, "k": 3, "dims": 3},
}
RHOS = (0.3, 0.6, 0.9)
# Ratio configurations (alpha, beta, sigma): X_j = alpha F_y,j + beta F_a,j + sigma e_j, 3 coordinates.
RATIO_MIXES = {"r~4.1": (1.0, 0.6, 0.3), "r=1": (1.0, 1.0, 0.5), "r~0.15": (0.5, 1.0, 0.3)}
MAPS: dict[str, Callable[[np.ndarray], np.ndarray] | None] = {"gaussian": None, "sinh": np.sinh}

Sample = tuple[np.ndarray, np.ndarray]


def correlated(n: int, dims: int, rho: float, rng: np.random.Generator, warp: str) -> Sample:
    """x ~ N(0, I_d), y = rho x + sqrt(1 - rho^2) e, y passed through MAPS[warp]; both (n, dims)."""
    x = rng.standard_normal((n, dims))  # (n, d)
    y = rho * x + np.sqrt(1.0 - rho**2) * rng.standard_normal((n, dims))  # (n, d)
    f = MAPS[warp]
    return x, (y if f is None else f(y))


def correlated_mi(dims: int, rho: float) -> float:
    """Analytic MI of ``correlated`` (any warp): -d/2 log(1 - rho^2)."""
    return -0.5 * dims * np.log(1.0 - rho**2)


def mixed(n: int, dims: int, mix: tuple[float, float, float], rng: np.random.Generator):
    """F_y, F_a ~ N(0, I_d) independent and X = alpha F_y + beta F_a + sigma e; all (n, dims)."""
    alpha, beta, sigma = mix
    f_y = rng.standard_normal((n, dims))
    f_a = rng.standard_normal((n, dims))
    x = alpha * f_y + beta * f_a + sigma * rng.standard_normal((n, dims))
    return f_y, f_a, x


def mixed_mi(dims: int, mix: tuple[float, float, float]) -> tuple[float, float]:
    """Analytic (I(F_y; X), I(F_a; X)) of ``mixed``: d/2 log(total / residual) per term."""
    alpha, beta, sigma = mix
    total = alpha**2 + beta**2 + sigma**2
    return (
        0.5 * dims * np.log(total / (beta**2 + sigma**2)),
        0.5 * dims * np.log(total / (alpha**2 + sigma**2)),
    )


# The PCA case: 6-d factors whose 3 leading principal directions are their first coordinates, and a 30-d X whose
# leading 3-d principal subspace is span(U) and carries the per-coordinate mixture of those coordinates.
PCA_FACTOR_SD = np.sqrt([4.0, 3.0, 2.0, 0.2, 0.2, 0.2])
PCA_SCALES = np.array([3.0, 2.5, 2.0])
PCA_NOISE = 0.1
PCA_MIX = (1.0, 0.6, 0.3)


def through_pca(n: int, rng: np.random.Generator, basis: np.ndarray):
    """(F_y (n, 6), F_a (n, 6), X (n, 5, 6)): the mixture of the leading coordinates, scaled, embedded in 30-d."""
    alpha, beta, sigma = PCA_MIX
    u = rng.standard_normal((n, 6))
    w = rng.standard_normal((n, 6))
    mixture = alpha * u[:, :3] + beta * w[:, :3] + sigma * rng.standard_normal((n, 3))  # (n, 3)
    x = (mixture * PCA_SCALES) @ basis.T + PCA_NOISE * rng.standard_normal((n, 30))  # (n, 30)
    return u * PCA_FACTOR_SD, w * PCA_FACTOR_SD, x.reshape(n, 5, 6)


def through_pca_mi() -> tuple[float, float]:
    """MI between the population principal subspaces of ``through_pca``: per coordinate -1/2 log(1 - corr^2)."""
    alpha, beta, sigma = PCA_MIX
    variance = PCA_SCALES**2 * (alpha**2 + beta**2 + sigma**2) + PCA_NOISE**2  # (3,) of each projected X_j
    corr_y = PCA_SCALES * alpha / np.sqrt(variance)
    corr_a = PCA_SCALES * beta / np.sqrt(variance)
    return float(-0.5 * np.log(1 - corr_y**2).sum()), float(-0.5 * np.log(1 - corr_a**2).sum())


@dataclass
class Tally:
    """Running coverage, width and error counts of one cell."""

    hits_old: int = 0
    hits_new: int = 0
    width_old: float = 0.0
    width_new: float = 0.0
    error_raw: float = 0.0
    error_corrected: float = 0.0
    repeats: int = 0

    def add(self, truth: float, old: tuple[float, float], new: tuple[float, float], raw: float, corr: float):
        self.hits_old += old[0] <= truth <= old[1]
        self.hits_new += new[0] <= truth <= new[1]
        self.width_old += old[1] - old[0]
        self.width_new += new[1] - new[0]
        self.error_raw += raw - truth
        self.error_corrected += corr - truth
        self.repeats += 1

    def row(self, label: str, truth: float, log_errors: bool = False) -> str:
        r = self.repeats
        p_old, p_new = self.hits_old / r, self.hits_new / r
        se = np.sqrt(max(p_new * (1 - p_new), 0.05 * 0.95) / r)
        unit = "log" if log_errors else ""
        return (
            f"{label:<34} {truth:>6.3f} {r:>4} {100 * p_old:>5.0f}% {100 * p_new:>5.0f}% ±{100 * se:>3.0f} "
            f"{self.width_old / r:>7.3f} {self.width_new / r:>7.3f} "
            f"{self.error_raw / r:>+8.3f}{unit} {self.error_corrected / r:>+8.3f}{unit}"
        )


HEADER = (
    f"{'cell':<34} {'truth':>6} {'reps':>4} {'old':>6} {'new':>6} {'se':>4} {'w old':>7} {'w new':>7} "
    f"{'err raw':>8} {'err corr':>8}"
)


def mi_cell(
    dims: int, n: int, rho: float, warp: str, estimator: str, b: int, k: int, repeats: int, seed: int
):
    """Tally of ``estimate_mi`` on ``correlated`` data, old and new intervals from the same subsamples."""
    truth = correlated_mi(dims, rho)
    tally = Tally()
    for rep in range(repeats):
        rng = np.random.default_rng(np.random.SeedSequence([seed, rep]))
        x, y = correlated(n, dims, rho, rng, warp)
        settings = {"estimator": estimator, "k": k, "n_bootstrap": b, "n_null": 0, "seed": rep}
        new = estimate_mi(x, y, **settings)
        old = estimate_mi(x, y, interval="basic", **settings)
        tally.add(truth, (old.low, old.high), (new.low, new.high), new.value, new.corrected)
    return tally, truth


def ratio_cell(make: Callable[[np.random.Generator], tuple], truth_pair, n_comp, b, k, repeats, seed):
    """Tally of ``modality_information``'s ratio (errors on log r) and of its shared term."""
    truth = truth_pair[0] / truth_pair[1]
    ratio, shared = Tally(), Tally()
    for rep in range(repeats):
        rng = np.random.default_rng(np.random.SeedSequence([seed, rep]))
        f_y, f_a, x = make(rng)
        settings = {"n_components": n_comp, "k": k, "n_bootstrap": b, "n_null": 0, "seed": rep}
        new = modality_information(f_y, f_a, x, **settings)
        old = modality_information(f_y, f_a, x, interval="basic", **settings)
        ratio.add(
            np.log(truth),
            (np.log(old.ratio_low), np.log(old.ratio_high)),
            (np.log(new.ratio_low), np.log(new.ratio_high)),
            np.log(new.ratio),
            np.log(new.ratio_corrected),
        )
        shared.add(
            truth_pair[0],
            (old.shared.low, old.shared.high),
            (new.shared.low, new.shared.high),
            new.shared.value,
            new.shared.corrected,
        )
    return ratio, shared, truth


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100, help="repeats per default cell")
    parser.add_argument("--quick", action="store_true", help="20 repeats per default cell (about 2 minutes)")
    args = parser.parse_args()
    repeats = 20 if args.quick else args.repeats
    ratio_repeats = max(repeats * 2 // 5, 8)
    sweep_repeats = max(repeats * 4 // 25, 4)
    start = time.perf_counter()
    failing: list[str] = []

    print("Coverage of nominal 95 % intervals; old = basic (sampling only), new = bias-aware (default).")
    print(
        "Coverage se: Monte-Carlo standard error of the new coverage, sqrt(p(1-p)/R) (floored at p = 0.95); "
        "widths in nats; err = mean (estimate - truth): raw = the reported value, corr = `corrected`.\n"
    )
    for name, s in DEFAULTS.items():
        print(
            f"== {name} defaults: N {s['n']}, {s['dims']}+{s['dims']} dims, k {s['k']}, B {s['n_bootstrap']} =="
        )
        print(HEADER)
        for warp, estimator in (("gaussian", "ksg"), ("sinh", "ksg"), ("gaussian", "gaussian")):
            for rho in RHOS:
                tally, truth = mi_cell(
                    s["dims"],
                    s["n"],
                    rho,
                    warp,
                    estimator,
                    s["n_bootstrap"],
                    s["k"],
                    repeats if estimator == "ksg" else 3 * repeats,  # the Gaussian estimator is cheap
                    seed=int(rho * 10),
                )
                label = f"I {estimator} {warp} rho {rho}"
                print(tally.row(label, truth))
                if tally.hits_new / tally.repeats < 0.9:
                    failing.append(f"{name}: {label}")
        for index, (mix_name, mix) in enumerate(RATIO_MIXES.items()):
            dims = s["dims"]
            ratio, shared, truth = ratio_cell(
                lambda rng, mix=mix, dims=dims, n=s["n"]: mixed(n, dims, mix, rng),
                mixed_mi(dims, mix),
                dims,
                s["n_bootstrap"],
                s["k"],
                ratio_repeats,
                seed=50 + index,
            )
            label = f"ratio {mix_name} (log r)"
            print(ratio.row(label, np.log(truth), log_errors=True))
            print(shared.row(f"  its I(F_y; X) {mix_name}", mixed_mi(dims, mix)[0]))
            if ratio.hits_new / ratio.repeats < 0.9:
                failing.append(f"{name}: {label}")
        print()

    s = DEFAULTS["app"]
    print(f"== through modality_information's PCA (app defaults, N {s['n']}): 6-d factors, 30-d X ==")
    print(HEADER)
    basis, _ = np.linalg.qr(np.random.default_rng(123).standard_normal((30, 3)))  # (30, 3) orthonormal
    truth_pair = through_pca_mi()
    ratio, shared, truth = ratio_cell(
        lambda rng: through_pca(s["n"], rng, basis),
        truth_pair,
        3,
        s["n_bootstrap"],
        s["k"],
        ratio_repeats,
        99,
    )
    print(ratio.row("ratio through PCA (log r)", np.log(truth), log_errors=True))
    print(shared.row("  its I(F_y; X)", truth_pair[0]))
    print()

    se = 100 * np.sqrt(0.05 * 0.95 / sweep_repeats)
    print(f"== sweep (B 30, k 3; fewer repeats: se about {se:.0f} points at p = 0.95) ==")
    print(HEADER)
    for dims in (1, 2, 4, 6, 8):
        for warp in ("gaussian", "sinh"):
            for rho in RHOS if warp == "gaussian" else (0.9,):
                tally, truth = mi_cell(dims, 500, rho, warp, "ksg", 30, 3, sweep_repeats, seed=dims * 100)
                print(tally.row(f"I ksg {warp} {dims}+{dims} N 500 rho {rho}", truth))
    for n in (250, 1000, 3000):
        reps = sweep_repeats if n <= 1000 else max(sweep_repeats // 2, 4)
        for warp, rho in (("gaussian", 0.6), ("gaussian", 0.9), ("sinh", 0.9)):
            tally, truth = mi_cell(3, n, rho, warp, "ksg", 30, 3, reps, seed=n)
            print(tally.row(f"I ksg {warp} 3+3 N {n} rho {rho}", truth))
    print()
    verdict = "all >= 90 %" if not failing else "BELOW 90 %: " + "; ".join(failing)
    print(f"Default cells (new interval): {verdict}")
    print(f"Wall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
