"""The project's code at an earlier commit, unpacked from git, to compare today's numbers with its numbers.

Floating-point results depend on the CPU's instruction set (torch's and OpenBLAS's kernels differ between AVX2 and
AVX-512 machines), so outputs stored on one machine are not the outputs of the same code on another. A test that
says "this change moved no number" therefore runs the earlier code on the machine it runs on, and compares.
Needs the repository's history (a clone, not a bare copy of the files): without it the test fails and says so.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def unpack_commit(commit: str, folder: Path) -> Path:
    """Unpack the tracked files of `commit` into `folder` (`git archive`) and return it."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit], capture_output=True, check=False
    )
    assert archive.returncode == 0, (
        f"commit {commit} is needed (a clone with the project's history): "
        + archive.stderr.decode(errors="replace")
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder
