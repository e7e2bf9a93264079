"""The report CLI on a shipped demo at its default settings: wall time and peak memory of the whole process.

    python benchmarks/bench_report.py [--checkpoint assets/checkpoints/sentiment_mfm.pt] [--repeats 3]
                                      [--threads 0]

Runs `python -m interpret report CHECKPOINT --out ... --json ...` `--repeats` times, each in a fresh process (what
a user's command pays: imports, model and data, every stage), and prints each run's wall seconds and peak
resident memory (the child's ru_maxrss, from `os.wait4`), then their medians. `--threads 0` is the CLI's
default policy (every usable core). Issue 16's bar for the sequence demo: at most 15 s and 600 MB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_once(checkpoint: str, threads: int, folder: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one report process."""
    command = [sys.executable, "-m", "interpret", "report", checkpoint, "--threads", str(threads),
               "--out", str(folder / "report.html"), "--json", str(folder / "report.json")]  # fmt: skip
    errors = (
        folder / "stderr.txt"
    )  # a file, not a pipe: a pipe left unread while waiting could fill and block
    with errors.open("wb") as stream:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stream)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        text = errors.read_text(errors="replace")
        raise SystemExit(f"the report failed ({process.returncode}):\n{text[-3000:]}")
    return seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux: MiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="assets/checkpoints/sentiment_mfm.pt")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.repeats):
            seconds, peak = run_once(args.checkpoint, args.threads, Path(folder))
            runs.append((seconds, peak))
            print(f"run {i + 1}: {seconds:6.2f} s, peak RSS {peak:6.0f} MB", flush=True)
    print(
        f"{args.checkpoint}, --threads {args.threads}, {os.cpu_count()} cores: median "
        f"{statistics.median(s for s, _ in runs):.2f} s, {statistics.median(p for _, p in runs):.0f} MB "
        f"over {len(runs)} runs (bar: 15 s, 600 MB)"
    )


if __name__ == "__main__":
    main()
