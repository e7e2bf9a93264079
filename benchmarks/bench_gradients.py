"""Exact gradient flow (forward mode, vectorised) against a per-output backward loop computing the same numbers.

    python benchmarks/bench_gradients.py [--segments 64] [--loop-segments 2] [--checkpoint FILE.pt] [--scale std]

Uses the shipped sequence checkpoint when given, else a model of the official MOSI sizes (language decoder input
16 + 88, output 20 x 300) with random weights: the cost depends on the sizes, not on the weights. Prints, per
modality, seconds per segment for both, their ratio, and the largest difference relative to the largest value.

The exact flow is timed at `--scale` (default "std", the app's and the report's default: each factor dimension's
squared derivative weighted by its variance over the benchmarked segments; "raw": the paper's unweighted norm).
The loop computes the paper's raw norm, so the difference column always compares it with the exact raw flow.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interpret.gradients import FLOW_SCALES, gradient_flow, gradient_flow_by_loop
from mfm.checkpoint import load_checkpoint
from mfm.model import MFM
from mfm.presets import config_for_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=64)
    parser.add_argument("--loop-segments", type=int, default=2)
    parser.add_argument("--checkpoint")
    parser.add_argument(
        "--scale", choices=FLOW_SCALES, default="std", help="scale of the timed exact flow (default std)"
    )
    args = parser.parse_args()
    if args.checkpoint:
        model = load_checkpoint(args.checkpoint).model
    else:
        torch.manual_seed(0)
        shapes = {"language": (20, 300), "acoustic": (20, 5), "visual": (20, 20)}
        model = MFM(config_for_dataset(tuple(shapes), shapes, "regression", None)).eval()
    g = torch.Generator().manual_seed(0)
    shared = torch.rand(args.segments, model.config.shared_factor_dim, generator=g)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.segments} segments "
        f"(loop: {args.loop_segments}); exact flow timed at scale {args.scale!r}, the loop (raw) checked against "
        "the exact raw flow"
    )
    print(
        f"{'modality':<10} {'decoder in -> out':<22} {'exact s/seg':>12} {'loop s/seg':>12} {'speed-up':>9} {'max rel diff':>13}"
    )
    for m in model.config.modalities:
        factor = torch.rand(args.segments, m.factor_dim, generator=g)
        gradient_flow(model, m.name, shared[:2], factor[:2], scale=args.scale)  # warm-up
        started = time.perf_counter()
        gradient_flow(model, m.name, shared, factor, batch_size=64, scale=args.scale)
        exact_s = (time.perf_counter() - started) / args.segments
        k = args.loop_segments
        started = time.perf_counter()
        loop = gradient_flow_by_loop(model, m.name, shared[:k], factor[:k])
        loop_s = (time.perf_counter() - started) / k
        exact = gradient_flow(model, m.name, shared[:k], factor[:k], scale="raw")  # what the loop computes
        scale = max(abs(loop.shared).max(), abs(loop.modality_flow).max())
        diff = max(
            abs(exact.shared[:k] - loop.shared).max(), abs(exact.modality_flow[:k] - loop.modality_flow).max()
        )
        io = f"{model.config.shared_factor_dim}+{m.factor_dim} -> {m.shape[0]}x{m.shape[1]}"
        print(
            f"{m.name:<10} {io:<22} {exact_s:>12.4f} {loop_s:>12.4f} {loop_s / exact_s:>8.0f}x {diff / scale:>13.2e}"
        )


if __name__ == "__main__":
    main()
