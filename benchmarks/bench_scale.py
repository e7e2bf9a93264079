"""Gradient flow over MOSEI-sized splits: time and peak memory at 1,000 / 5,000 / 20,000 segments (issue 16).

    python benchmarks/bench_scale.py [--sizes 1000 5000 20000] [--threads 1] [--checkpoint FILE.pt]

What the Gradients page and the report compute (`interpret.analysis.gradient_flows`, the exact flow at scale
"std", every segment: `max_samples=None`), on the shipped sequence demo's test split tiled to each size (a
segment's cost does not depend on its values). Each size runs in its own fresh process, so that its peak resident
memory (ru_maxrss) is its own; the table gives the seconds, the seconds per 1,000 segments (constant when time
grows linearly), the peak RSS of the process and what the data alone held. Not a test: numbers depend on the
machine and its load.

The information estimate is not here: it keeps every reconstruction and runs PCA on all of them at once, so it
does not yet stream (issue 16, point 5).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _measure(checkpoint: str, size: int, threads: int) -> tuple[float, float, float]:
    """(seconds, peak RSS in MB, MB of the tiled inputs) of one `gradient_flows` call over `size` segments."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from interpret.analysis import gradient_flows
    from interpret.context import open_checkpoint
    from interpret.gradients import GradientSettings

    context = open_checkpoint(checkpoint)
    test = context.dataset.splits["test"].inputs
    inputs = {name: np.resize(x, (size, *x.shape[1:])) for name, x in test.items()}  # tiled to `size` rows
    data_mb = sum(x.nbytes for x in inputs.values()) / 2**20
    started = time.perf_counter()
    _, flows = gradient_flows(context.model, inputs, GradientSettings(max_samples=None))
    seconds = time.perf_counter() - started
    assert all(len(f.shared) == size for f in flows.values())
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, data_mb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--checkpoint", default=str(ROOT / "assets" / "checkpoints" / "sentiment_mfm.pt"))
    args = parser.parse_args(argv)
    print(
        f"gradient flow (exact, std, every modality), {args.threads} thread(s), {Path(args.checkpoint).name}"
    )
    print(f"{'segments':>9} {'seconds':>9} {'s / 1k':>8} {'peak RSS MB':>12} {'data MB':>8}")
    context = multiprocessing.get_context("spawn")
    for size in args.sizes:
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            seconds, peak, data = pool.submit(_measure, args.checkpoint, size, args.threads).result()
        print(f"{size:>9} {seconds:>9.1f} {1000 * seconds / size:>8.2f} {peak:>12.0f} {data:>8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
