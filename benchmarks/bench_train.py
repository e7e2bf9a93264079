"""One training step (forward, backward, Adam) of this project's sequence MFM against MMSA 2.2.1's own MFM.

    python benchmarks/bench_train.py [--repeats 5] [--steps 5] [--threads 1] [--quick]

MMSA's `MFM` is built from its wheel (test dependency `mmsa==2.2.1`, installed by tests/setup.sh) with its MOSI
config, at input dims 300/5/20. This project's model is measured twice: with the shipped sequence preset (the
official MOSI sizes, surrogate inference on, standardised inputs; `mfm.presets`) and with MMSA's own sizes plus
surrogate inference, so that one row compares equal architectures. Both sides run interleaved, `--repeats`
times, each timing `--steps` steps after one warm-up step; the table prints the median seconds per step and the
ratio project / MMSA (below 1: the project is faster), from this one run.

Beside the time ratio it prints the ratio of floating-point operations of one step (forward and backward, counted
by `torch.utils.flop_counter` with oneDNN's fused LSTM switched off so that every LSTM's products are counted):
surrogate inference runs three more inference networks and decodes every modality four times, so the project's
step does more arithmetic than MMSA's; time ratio / FLOP ratio is the project's speed per operation relative to
MMSA's.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
import types
import warnings
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_import import _load_mmsa_mfm, mmsa_mosi_args  # noqa: E402  (MMSA's model files, by path)

from mfm.importers import config_from_sizes, sizes_from_config  # noqa: E402
from mfm.losses import total_loss  # noqa: E402
from mfm.model import MFM  # noqa: E402
from mfm.presets import setup_for_dataset  # noqa: E402

DIMS = {"language": 300, "acoustic": 5, "visual": 20}


def mmsa_step(model, optimiser, batch, labels, args) -> None:
    """MMSA's own training step (trains/singleTask/MFM.py): L1 + its gen_loss + lda_mmd * MMD."""
    optimiser.zero_grad()
    prediction, gen_loss, mmd_loss, _ = model(batch["language"], batch["acoustic"], batch["visual"])
    loss = torch.nn.functional.l1_loss(prediction.squeeze(1), labels) + gen_loss + args.lda_mmd * mmd_loss
    loss.backward()
    optimiser.step()


def project_step(model, optimiser, batch, labels, objective, prior) -> None:
    optimiser.zero_grad()
    terms, _ = total_loss(model, batch, labels, prior, objective=objective)
    terms["total"].backward()
    optimiser.step()


def timed(step, steps: int) -> float:
    step()  # warm-up
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps


def step_flops(step) -> int:
    """Floating-point operations of one call of `step`, every LSTM included (oneDNN's fused kernel is not counted)."""
    counter = FlopCounterMode(display=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # oneDNN's note about TF32 on Intel GPUs
        with torch.backends.mkldnn.flags(enabled=False), counter:
            step()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="batch 32 only, 3 repeats of 2 steps")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.steps = 3, 2
    torch.set_num_threads(args.threads)
    mmsa_class = _load_mmsa_mfm()
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {args.repeats} interleaved repeats of {args.steps} steps"
    )
    print(f"{'setting':<44}{'project s/step':>16}{'MMSA s/step':>14}{'ratio':>8}{'FLOP ratio':>12}")
    cases = [(32, 20)] if args.quick else [(32, 20), (32, 50), (256, 20), (256, 50)]
    for batch_size, steps_t in cases:
        mmsa_args = dict(mmsa_mosi_args(), feature_dims=[300, 5, 20], seq_lens=[steps_t] * 3)
        namespace = types.SimpleNamespace(**mmsa_args)
        torch.manual_seed(0)
        theirs = mmsa_class(namespace).train()
        their_optimiser = torch.optim.Adam(theirs.parameters())
        shapes = {m: (steps_t, d) for m, d in DIMS.items()}
        preset, objective = setup_for_dataset(tuple(shapes), shapes, "regression", None)
        same_sizes = config_from_sizes(sizes_from_config("mmsa", mmsa_args)).replace(surrogate=True)
        g = torch.Generator().manual_seed(1)
        batch = {m: torch.randn(batch_size, steps_t, d, generator=g) for m, d in DIMS.items()}
        labels = torch.rand(batch_size, generator=g) * 6 - 3
        for label, config in (
            ("preset (official sizes) + surrogate", preset),
            ("MMSA's sizes + surrogate", same_sizes),
        ):
            torch.manual_seed(0)
            ours = MFM(config).train()
            optimiser = torch.optim.Adam(ours.parameters())
            prior = torch.Generator().manual_seed(2)
            mine, theirs_times = [], []
            ours_step = functools.partial(project_step, ours, optimiser, batch, labels, objective, prior)
            their_step = functools.partial(mmsa_step, theirs, their_optimiser, batch, labels, namespace)
            for _ in range(args.repeats):
                mine.append(timed(ours_step, args.steps))
                theirs_times.append(timed(their_step, args.steps))
            a, b = statistics.median(mine), statistics.median(theirs_times)
            flops = step_flops(ours_step) / step_flops(their_step)
            print(
                f"{f'B {batch_size}, T {steps_t}: {label}':<44}{a:>16.4f}{b:>14.4f}{a / b:>8.2f}{flops:>12.2f}"
            )


if __name__ == "__main__":
    main()
