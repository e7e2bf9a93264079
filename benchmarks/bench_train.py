"""One training step (forward, backward, Adam) of this project's sequence MFM against MMSA 2.2.1's own MFM.

    python benchmarks/bench_train.py [--repeats 5] [--steps 5] [--threads 1] [--quick] [--bf16]
    python benchmarks/bench_train.py --epoch [--repeats 5] [--threads 1]

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
MMSA's. Each side's rate (GFLOP/s: its counted operations over its median time) is printed beside the rate of one
large float32 matrix product on the same threads (2,048 x 2,048 by 2,048 x 2,048, best of 5), about the most
arithmetic a second these cores do; the last column is the rate the project would need for the bar (at most
0.67x MMSA's time with its own count of operations).

`--bf16` adds a row per case: the preset's step with its forward under `torch.autocast("cpu", torch.bfloat16)`
(MMSA stays in float32, as it trains). It is not an option of `python -m mfm train`: bfloat16 keeps 8 bits of
mantissa, so the losses and gradients differ from float32's far beyond float rounding, which issue 16 does not
allow; the row says how far reduced precision alone would take the step on this CPU (it has AVX-512 BF16).

`--epoch` times one whole epoch instead, on the sequence demo's data (2,000 training and 400 validation segments
of T 20 at dims 300/5/20): the project's `mfm.train.train_model` for one epoch (what `python -m mfm train
--epochs 1` runs between loading the data and saving: every batch of 32 with the shipped preset, surrogate
inference on, then the validation metrics that selection reads) against the anchor's loop, MMSA's step
(`mmsa_step`) over the shuffled training split in batches of 32, then its model in eval mode over the validation
split with its L1 loss, as MMSA's trains/singleTask/MFM.py does. It prints each side's seconds and samples per
second (training samples / epoch seconds) and the ratio of samples per second (above 1: the project is faster).
Each side's time includes building its model and optimiser (`train_model` builds its own and sets the
standardisation statistics); `--steps` is not read.
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


def project_step(model, optimiser, batch, labels, objective, prior, bf16: bool = False) -> None:
    optimiser.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        terms, _ = total_loss(model, batch, labels, prior, objective=objective)
    terms["total"].backward()
    optimiser.step()


def mmsa_epoch(model, optimiser, train, valid, args, seed: int) -> None:
    """The anchor's epoch: MMSA's step over shuffled batches of 32, then L1 on the validation split (eval mode)."""
    model.train()
    order = torch.randperm(len(train[1]), generator=torch.Generator().manual_seed(seed))
    for start in range(0, len(order), 32):
        index = order[start : start + 32]
        mmsa_step(model, optimiser, {m: x[index] for m, x in train[0].items()}, train[1][index], args)
    model.eval()
    loss = 0.0
    with torch.no_grad():
        for start in range(0, len(valid[1]), 32):
            batch = {m: x[start : start + 32] for m, x in valid[0].items()}
            prediction = model(batch["language"], batch["acoustic"], batch["visual"])[0]
            loss += float(torch.nn.functional.l1_loss(prediction.squeeze(1), valid[1][start : start + 32]))
    model.train()


def epochs(repeats: int) -> None:
    """`--epoch`: one epoch of the project's training against one of the anchor's loop, interleaved."""
    from mfm.data import load_dataset
    from mfm.train import TrainConfig, train_model

    data = load_dataset("sentiment")
    train, valid = data.splits["train"], data.splits["valid"]
    shapes = {m: tuple(train.inputs[m].shape[1:]) for m in DIMS}
    preset, objective = setup_for_dataset(tuple(shapes), shapes, "regression", None)
    mmsa_args = dict(
        mmsa_mosi_args(), feature_dims=[DIMS[m] for m in DIMS], seq_lens=[shapes["language"][0]] * 3
    )
    namespace = types.SimpleNamespace(**mmsa_args)
    tensors = [
        ({m: torch.from_numpy(s.inputs[m]) for m in DIMS}, torch.from_numpy(s.labels)) for s in (train, valid)
    ]
    mine, theirs = [], []
    for repeat in range(repeats):
        started = time.perf_counter()
        train_model(preset, train.inputs, train.labels, valid.inputs, valid.labels,
                    TrainConfig(epochs=1, batch_size=32, seed=repeat), objective=objective)  # fmt: skip
        mine.append(time.perf_counter() - started)
        mmsa_class = _load_mmsa_mfm()
        torch.manual_seed(repeat)
        started = time.perf_counter()
        model = mmsa_class(namespace).train()
        optimiser = torch.optim.Adam(model.parameters(), weight_decay=namespace.weight_decay)
        mmsa_epoch(model, optimiser, tensors[0], tensors[1], namespace, repeat)
        theirs.append(time.perf_counter() - started)
    a, b = statistics.median(mine), statistics.median(theirs)
    n = len(train.labels)
    print(f"one epoch, {n} training + {len(valid.labels)} validation segments, batch 32, median of {repeats}")
    print(f"{'':<10}{'seconds':>10}{'samples/s':>12}")
    print(f"{'project':<10}{a:>10.2f}{n / a:>12.1f}")
    print(f"{'MMSA':<10}{b:>10.2f}{n / b:>12.1f}")
    print(f"samples/s ratio project / MMSA: {b / a:.2f} (issue 16's bar: at least 1.5)")


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


def matmul_rate() -> float:
    """GFLOP/s of one 2,048 x 2,048 float32 matrix product on the current threads, best of 5."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * 2048**3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="batch 32 only, 3 repeats of 2 steps")
    parser.add_argument(
        "--bf16", action="store_true", help="add the preset's step under bfloat16 autocast (numbers differ)"
    )
    parser.add_argument(
        "--epoch", action="store_true", help="time one whole epoch on the sequence demo's data"
    )
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.steps = 3, 2
    torch.set_num_threads(args.threads)
    if args.epoch:
        epochs(args.repeats)
        return
    mmsa_class = _load_mmsa_mfm()
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {args.repeats} interleaved repeats of {args.steps} steps"
    )
    print(f"one large float32 matrix product: {matmul_rate():.1f} GFLOP/s")
    print(
        f"{'setting':<44}{'project s/step':>16}{'MMSA s/step':>14}{'ratio':>8}{'FLOP ratio':>12}"
        f"{'project GFLOP/s':>17}{'MMSA GFLOP/s':>14}{'needed':>8}"
    )
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
        rows = [
            ("preset (official sizes) + surrogate", preset, False),
            ("MMSA's sizes + surrogate", same_sizes, False),
        ]
        if args.bf16:
            rows.append(("preset + surrogate, bf16 autocast", preset, True))
        for label, config, bf16 in rows:
            torch.manual_seed(0)
            ours = MFM(config).train()
            optimiser = torch.optim.Adam(ours.parameters())
            prior = torch.Generator().manual_seed(2)
            mine, theirs_times = [], []
            ours_step = functools.partial(
                project_step, ours, optimiser, batch, labels, objective, prior, bf16
            )
            their_step = functools.partial(mmsa_step, theirs, their_optimiser, batch, labels, namespace)
            for _ in range(args.repeats):
                mine.append(timed(ours_step, args.steps))
                theirs_times.append(timed(their_step, args.steps))
            a, b = statistics.median(mine), statistics.median(theirs_times)
            ours_flops, their_flops = step_flops(ours_step), step_flops(their_step)
            rates = ours_flops / a / 1e9, their_flops / b / 1e9, ours_flops / (0.67 * b) / 1e9
            print(
                f"{f'B {batch_size}, T {steps_t}: {label}':<44}{a:>16.4f}{b:>14.4f}{a / b:>8.2f}"
                f"{ours_flops / their_flops:>12.2f}{rates[0]:>17.1f}{rates[1]:>14.1f}{rates[2]:>8.1f}"
            )


if __name__ == "__main__":
    main()
