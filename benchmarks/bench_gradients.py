"""Exact gradient flow against torch.func's Jacobians and a batched backward loop, at equal batch: time and memory.

    python benchmarks/bench_gradients.py [--segments 64] [--repeats 3] [--checkpoint FILE.pt] [--threads 1]
                                         [--skip-loop] [--jacrev]

Every method computes the paper's raw flow ‖∂X̂^(t)/∂F‖² of every segment of one batch of `--segments`:
- project: `interpret.gradients.gradient_flow` (forward mode, squares reduced inside a chunked vmap);
- jacfwd + vmap (and with `--jacrev`, jacrev + vmap): `torch.func.vmap` over the segments of one segment's
  full Jacobian (forward or reverse mode), squared and summed afterwards. Reverse mode needs one vectorised
  backward per generated number: on the MOSI language decoder at 64 segments it took 93 s and about 20 GB
  here, hence opt-in;
- backward loop: one batched backward pass per generated number (T x D of them), as a per-target attribution
  loop does (`gradient_flow_by_loop`), on the same batch.
Each method runs in its own fresh process (spawned), so that its peak memory is its own: the table gives the
first call's seconds (what a fresh process pays, warm-up included), the median of `--repeats` later calls, the
ratio of that median to the project's, the peak resident memory the call added over the process before it
(ru_maxrss after a 2-segment warm-up), and the largest difference from the project's flow relative to its
largest value. Uses the shipped sequence checkpoint when given, else a model of the official MOSI sizes with
random weights (the cost depends on the sizes, not on the weights).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METHODS = ("project", "jacfwd + vmap", "jacrev + vmap", "backward loop")


def _model(checkpoint: str | None):
    import torch

    from mfm.checkpoint import load_checkpoint
    from mfm.model import MFM
    from mfm.presets import config_for_dataset

    if checkpoint:
        return load_checkpoint(checkpoint).model.eval()
    torch.manual_seed(0)
    shapes = {"language": (20, 300), "acoustic": (20, 5), "visual": (20, 20)}
    return MFM(config_for_dataset(tuple(shapes), shapes, "regression", None)).eval()


def _flow(method: str, model, modality: str, shared, factor):
    """(shared flow, modality flow) as numpy arrays (B, T), by `method`."""
    import torch

    from interpret.gradients import gradient_flow, gradient_flow_by_loop

    if method == "project":
        flow = gradient_flow(model, modality, shared, factor, scale="raw", batch_size=len(shared))
        return flow.shared, flow.modality_flow
    if method == "backward loop":
        flow = gradient_flow_by_loop(model, modality, shared, factor)
        return flow.shared, flow.modality_flow
    decoder = model.decoders[modality]
    transform = torch.func.jacfwd if method.startswith("jacfwd") else torch.func.jacrev
    u = model.decoder_input(shared, factor)
    with torch.no_grad():
        jac = torch.func.vmap(transform(lambda v: decoder(v[None])[0]))(u)  # (B, T, D, n)
        squared = jac.square().sum(dim=2)  # (B, T, n)
        n_shared = shared.shape[-1]
        return squared[..., :n_shared].sum(-1).numpy(), squared[..., n_shared:].sum(-1).numpy()


def _run(
    method: str, checkpoint: str | None, modality: str, segments: int, repeats: int, threads: int
) -> dict:
    """In a fresh process: the first call's time, the median of later calls, the peak memory the call added."""
    import torch

    torch.set_num_threads(threads)
    model = _model(checkpoint)
    g = torch.Generator().manual_seed(0)
    shared = torch.rand(segments, model.config.shared_factor_dim, generator=g)
    factor = torch.rand(segments, model.config.modality(modality).factor_dim, generator=g)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    _flow(method, model, modality, shared[:2], factor[:2])  # the process's first call: warm-up included
    first = time.perf_counter() - started
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, result = [], None
    for _ in range(repeats if method != "backward loop" else 1):
        started = time.perf_counter()
        result = _flow(method, model, modality, shared, factor)
        times.append(time.perf_counter() - started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "first_s": first,
        "median_s": statistics.median(times),
        "extra_mb": (peak - baseline) / 1024,
        "warmup_mb": (baseline - before) / 1024,
        "flow": result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--modality", default="language")
    parser.add_argument("--skip-loop", action="store_true", help="leave out the (slow) backward loop")
    parser.add_argument("--jacrev", action="store_true", help="add jacrev + vmap (tens of GB at 64 segments)")
    args = parser.parse_args()
    import numpy as np
    import torch

    left_out = {"backward loop"} if args.skip_loop else set()
    left_out |= set() if args.jacrev else {"jacrev + vmap"}
    methods = [m for m in METHODS if m not in left_out]
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), modality {args.modality!r}, one batch of "
        f"{args.segments} segments, median of {args.repeats} calls after the first, each method in a fresh process"
    )
    print(
        f"{'method':<16}{'first call s':>14}{'later s':>10}{'ratio':>8}{'extra peak MB':>15}{'max rel diff':>14}"
    )
    results = {}
    context = multiprocessing.get_context("spawn")
    for method in methods:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            results[method] = pool.submit(
                _run, method, args.checkpoint, args.modality, args.segments, args.repeats, args.threads
            ).result()
    reference = results["project"]
    scale = max(np.abs(part).max() for part in reference["flow"])
    for method, r in results.items():
        diff = max(np.abs(a - b).max() for a, b in zip(r["flow"], reference["flow"], strict=True)) / scale
        print(
            f"{method:<16}{r['first_s']:>14.3f}{r['median_s']:>10.3f}{r['median_s'] / reference['median_s']:>8.2f}"
            f"{r['extra_mb']:>15.0f}{diff:>14.1e}"
        )


if __name__ == "__main__":
    main()
