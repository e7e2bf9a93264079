"""Speed of a style x label grid (``interpret.generation.style_label_grid``), which the app recomputes on every
slider move: the goal is well under 0.1 s for a 10 x 10 grid of the image model on CPU.

The model is the demo-sized image model built by ``mfm.presets.config_for_dataset`` (street-view 3x32x32 and
MNIST-like 1x28x28, hidden 16, codes 16, factors 16, shared factor 16), with random weights in eval mode: the time
does not depend on the weights. Factors are random non-negative values, as the ReLU factor maps give. Prints, per
modality, the median and best time per grid over ``--repeats`` runs (after a warm-up) and the median's ratio to
0.1 s, beside the model's decoder alone on the same number of inputs (so the wrapper's own overhead shows), then
one ``interpolate_labels`` and one ``traverse_factor`` call of ``--size`` steps.

Usage: ``python benchmarks/bench_grid.py [--size 10] [--repeats 50] [--threads N]``. Not a test: numbers depend on
the machine and its load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interpret.generation import interpolate_labels, style_label_grid, traverse_factor
from mfm.model import MFM
from mfm.presets import config_for_dataset

BUDGET_S = 0.1


def timed(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median, best) wall time of `call` in seconds over `repeats` runs, after two warm-up runs."""
    for _ in range(2):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10, help="labels = styles per grid side")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    config = config_for_dataset(
        ("svhn", "mnist"), {"svhn": (3, 32, 32), "mnist": (1, 28, 28)}, "classification", 10
    )
    torch.manual_seed(0)
    model = MFM(config).eval()
    rng = np.random.default_rng(0)
    n = args.size
    labels = np.maximum(rng.standard_normal((n, config.shared_factor_dim)), 0).astype(np.float32)  # (L, fy)
    print(
        f"demo image model: {sum(p.numel() for p in model.parameters()):,} parameters; "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {n} x {n} grid, {args.repeats} repeats"
    )
    print(f"{'call':<34} {'median ms':>10} {'best ms':>9} {'median / 0.1 s':>15}")
    for m in config.modalities:
        styles = np.maximum(rng.standard_normal((n, m.factor_dim)), 0).astype(np.float32)  # (S, fi)
        decoder_input = torch.rand(n * n, config.shared_factor_dim + m.factor_dim)  # (L·S, fy + fi)

        def decoder_alone(m=m, x=decoder_input) -> None:
            with torch.no_grad():
                model.decoders[m.name](x)

        calls = {
            f"decoder alone {m.name} ({n * n} inputs)": decoder_alone,
            f"style_label_grid {m.name} {n}x{n}": lambda m=m, s=styles: style_label_grid(
                model, m.name, s, labels
            ),
            f"interpolate_labels {m.name} ({n})": lambda m=m, s=styles: interpolate_labels(
                model, m.name, s[0], labels[0], labels[1], n
            ),
            f"traverse_factor {m.name} ({n})": lambda m=m, s=styles: traverse_factor(
                model, m.name, labels[0], s[0], "shared", 0, np.linspace(0, 2, n)
            ),
        }
        for name, call in calls.items():
            median, best = timed(call, args.repeats)
            print(f"{name:<34} {median * 1e3:>10.2f} {best * 1e3:>9.2f} {median / BUDGET_S:>15.3f}")


if __name__ == "__main__":
    main()
