"""The project's KSG estimate against npeet-plus's, the anchor, on the same samples (issue 16, point 6).

    pip install npeet-plus==0.2.0   # the anchor; not a project requirement
    python benchmarks/bench_ksg.py [--sizes 1000 5000 20000] [--dims 2 8] [--repeats 5] [--k 3]

For correlated Gaussians (x ~ N(0, I_d), y = rho x + sqrt(1 - rho^2) e, analytic I = -d/2 log(1 - rho^2)) at each
size and dimension, prints both estimates in nats, their difference, each side's median seconds over `repeats`
interleaved runs (project, anchor, project, anchor, ...) and the ratio project / anchor. Both are KSG estimator 1
with the max-norm; the project standardises each column itself, so npeet is given the standardised columns and
`base=e`. Each adds its own tie-breaking jitter (1e-10 scale), so they need not agree bit for bit (in the
printed runs they agreed to 2e-15 nats). One BLAS thread, the project's policy for the estimate (`mfm.threads`).
Not a test: times depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interpret.information import mutual_information


def _standardised(a: np.ndarray) -> np.ndarray:
    centred = a - a.mean(axis=0)
    return centred / centred.std(axis=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--rho", type=float, default=0.6)
    args = parser.parse_args(argv)
    try:
        import npeet_plus
    except ImportError:
        print("the anchor is missing: pip install npeet-plus==0.2.0", file=sys.stderr)
        return 2
    from threadpoolctl import threadpool_limits

    print(
        f"KSG (k={args.k}, max-norm), project vs npeet-plus, rho={args.rho}, {args.repeats} interleaved repeats"
    )
    header = (
        f"{'N':>6} {'d':>3} {'analytic':>9} {'project':>9} {'npeet':>9} {'|diff|':>9}"
        f" {'project s':>10} {'npeet s':>9} {'ratio':>6}"
    )
    print(header)
    with threadpool_limits(1):
        for n in args.sizes:
            for d in args.dims:
                rng = np.random.default_rng(n + d)
                x = rng.standard_normal((n, d))  # (n, d)
                y = args.rho * x + math.sqrt(1 - args.rho**2) * rng.standard_normal((n, d))  # (n, d)
                analytic = -0.5 * d * math.log(1 - args.rho**2)
                xs, ys = _standardised(x), _standardised(y)
                ours, theirs, t_ours, t_theirs = 0.0, 0.0, [], []
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    ours = mutual_information(x, y, k=args.k)
                    t_ours.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    theirs = float(npeet_plus.mi(xs, ys, k=args.k, base=math.e))
                    t_theirs.append(time.perf_counter() - started)
                a, b = statistics.median(t_ours), statistics.median(t_theirs)
                print(
                    f"{n:>6} {d:>3} {analytic:>9.4f} {ours:>9.4f} {theirs:>9.4f} {abs(ours - theirs):>9.1e}"
                    f" {a:>10.3f} {b:>9.3f} {a / b:>6.2f}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
