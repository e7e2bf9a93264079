"""How many CPU threads the project's work uses: one policy for the app, the report and the command lines.

Three pools can run at once in one process, and on a small machine they fight: torch's intra-op threads, the
BLAS/OpenMP threads numpy and scipy call into, and the workers that run the information estimate's subsample and
null rounds side by side (scikit-learn's neighbour searches release the GIL, so threads scale). The policy:

- torch gets every usable core (`available_cores`, the process's CPU affinity): model work is few large
  products, which threads split well;
- BLAS gets one thread: what calls it (PCA of a few thousand rows, small covariances) is small, and a second
  BLAS pool next to the estimate's workers only oversubscribes the cores;
- the information estimate runs `information_workers()` rounds at once, one per usable core.

`apply_thread_policy(threads)` sets all three from one number: `threads` when given (`--threads` of
`python -m mfm train` / `evaluate` / `train-classifier` and `python -m interpret report`), else `MFM_THREADS`
from the environment, else every usable core (divided among torchrun's processes when training). The app calls it
once at start-up. Where several app sessions compute at once, or other work keeps the cores busy, torch's threads
wait on one another (`benchmarks/bench_app.py` saw tens of times slower kernels on a busy machine): run the app
with `MFM_THREADS=1` there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_WORKERS: int | None = None  # set by apply_thread_policy; None: one per usable core


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


def information_workers() -> int:
    """How many information-estimate rounds run at once: as set by `apply_thread_policy`, else every core."""
    return _WORKERS if _WORKERS is not None else available_cores()


@dataclass(frozen=True)
class ThreadPolicy:
    """What `apply_thread_policy` set."""

    torch_threads: int
    blas_threads: int
    information_workers: int


def threads_argument(text: str) -> int:
    """argparse type of every `--threads`: a positive integer, or 0 for the policy's default."""
    import argparse

    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected a positive integer (or 0: the default), got {text!r}")
    return int(text)


def local_processes() -> int:
    """How many torchrun processes share this machine's cores (LOCAL_WORLD_SIZE, else WORLD_SIZE, else 1)."""
    for name in ("LOCAL_WORLD_SIZE", "WORLD_SIZE"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def threads_from_environment() -> int | None:
    """`MFM_THREADS` as a positive integer, None when unset; a bad value is an error, not ignored."""
    value = os.environ.get("MFM_THREADS", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"MFM_THREADS must be a positive integer, got {value!r}")
    return int(value)


def apply_thread_policy(threads: int | None = None, *, share: int = 1) -> ThreadPolicy:
    """Set torch's intra-op threads and the information workers to `threads`, else `MFM_THREADS`, else the
    usable cores divided among `share` processes (torchrun's), and every BLAS/OpenMP pool numpy and scipy use
    to one thread. Process-wide; returns what was set."""
    global _WORKERS
    import torch
    from threadpoolctl import threadpool_limits

    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    n = threads or threads_from_environment() or max(1, available_cores() // max(1, share))
    torch.set_num_threads(n)
    threadpool_limits(limits=1, user_api="blas")  # stays in force: the returned object is not used to restore
    _WORKERS = n
    return ThreadPolicy(torch_threads=n, blas_threads=1, information_workers=n)
