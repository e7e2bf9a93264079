"""Gradient flow and information over MOSEI-sized splits: time and peak memory at 1,000 / 5,000 / 20,000 segments
(issue 16, point 5).

    python benchmarks/bench_scale.py [--sizes 1000 5000 20000] [--tasks flow information] [--source file memory]
        [--threads 1] [--checkpoint FILE.pt]

What the Gradients page and the report compute over a whole split (`max_samples=None`), on the shipped sequence
demo's test split tiled to each size (a segment's cost does not depend on its values):

- `flow`: `interpret.analysis.gradient_flows`, the exact flow at scale "std" of every modality;
- `information`: `interpret.analysis.information_by_modality` at the app's other defaults (KSG, 3 components a
  side, 50 half-samples, 20 null rounds); above `interpret.analysis.STREAM_BYTES` of reconstructions it reduces
  them a batch at a time, and above `HOLD_BYTES` it does not hold them but decodes them anew for every pass.

Sources of the segments: `file` streams them from an HDF5 file (`h5py.Dataset`s, as a MOSEI user's features are
read; written here once per size, before the measured process starts), so only a batch is in memory at a time;
`memory` holds the tiled arrays in memory (the "data MB" column says how much of the peak that is).

Each (task, source, size) runs in its own fresh process, so that its peak resident memory (ru_maxrss) is its own;
the table gives the seconds, the seconds per 1,000 segments (constant when time grows linearly) and the peak RSS
of the process. Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _test_split(checkpoint: str) -> tuple:
    """(the checkpoint's context, its data set's test split) for the planted data the checkpoint names."""
    from interpret.context import open_checkpoint

    context = open_checkpoint(checkpoint)
    return context, context.dataset.splits["test"].inputs


def _write_tiled(checkpoint: str, size: int, path: Path) -> None:
    """The test split tiled to `size` rows, one HDF5 dataset per modality, written a copy of the split at a time."""
    import h5py

    _, test = _test_split(checkpoint)
    with h5py.File(path, "w") as handle:
        for name, x in test.items():
            data = handle.create_dataset(name, shape=(size, *x.shape[1:]), dtype=x.dtype)
            for start in range(0, size, len(x)):
                rows = min(len(x), size - start)
                data[start : start + rows] = x[:rows]


def _measure(
    checkpoint: str, task: str, size: int, source: str, path: str, threads: int
) -> tuple[float, ...]:
    """(seconds, peak RSS in MB, MB of inputs held in memory) of one `task` over `size` segments."""
    import h5py
    import numpy as np

    from interpret.analysis import gradient_flows, information_by_modality
    from interpret.gradients import GradientSettings
    from interpret.information import InformationSettings
    from mfm.checkpoint import load_checkpoint
    from mfm.threads import apply_thread_policy

    apply_thread_policy(threads)
    if source == "file":  # the model alone, and the features read from the file a batch at a time
        model = load_checkpoint(checkpoint).model
        handle = h5py.File(path, "r")
        inputs = {name: handle[name] for name in model.modality_names}
        data_mb = 0.0
    else:  # the planted data set generated, its test split tiled to `size` rows in memory
        context, test = _test_split(checkpoint)
        model = context.model
        inputs = {name: np.resize(x, (size, *x.shape[1:])) for name, x in test.items()}
        data_mb = sum(x.nbytes for x in inputs.values()) / 2**20
        del context, test
    started = time.perf_counter()
    if task == "flow":
        _, results = gradient_flows(model, inputs, GradientSettings(max_samples=None))
        assert all(len(f.shared) == size for f in results.values())
    else:
        results = information_by_modality(model, inputs, InformationSettings(max_samples=None))
        assert all(r.shared.n_samples == size for r in results.values())
    seconds = time.perf_counter() - started
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, data_mb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument(
        "--tasks", nargs="+", choices=("flow", "information"), default=["flow", "information"]
    )
    parser.add_argument("--source", nargs="+", choices=("file", "memory"), default=["file"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--checkpoint", default=str(ROOT / "assets" / "checkpoints" / "sentiment_mfm.pt"))
    args = parser.parse_args(argv)
    print(f"{args.threads} thread(s), {Path(args.checkpoint).name}, test split tiled")
    print(
        f"{'task':>12} {'source':>7} {'segments':>9} {'seconds':>9} {'s / 1k':>8} {'peak RSS MB':>12} {'data MB':>8}"
    )
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            path = Path(folder) / f"tiled_{size}.h5"
            if "file" in args.source:
                with ProcessPoolExecutor(1, mp_context=context) as pool:  # not in this process's memory
                    pool.submit(_write_tiled, args.checkpoint, size, path).result()
            for task in args.tasks:
                for source in args.source:
                    with ProcessPoolExecutor(1, mp_context=context) as pool:
                        seconds, peak, data = pool.submit(
                            _measure, args.checkpoint, task, size, source, str(path), args.threads
                        ).result()
                    print(
                        f"{task:>12} {source:>7} {size:>9} {seconds:>9.1f} {1000 * seconds / size:>8.2f} "
                        f"{peak:>12.0f} {data:>8.0f}",
                        flush=True,
                    )
            path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
