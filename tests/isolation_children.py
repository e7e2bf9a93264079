"""What the isolation tests run in the limited child process.

Kept apart from test_isolation.py, which imports the Streamlit test harness: the child imports this module to
unpickle its work, and that import (about 1.9 s of CPU) would otherwise be what the CPU and memory limits stop,
not the work each test builds to exceed them.
"""

from __future__ import annotations

import os
import time

from mfm.errors import MFMError


def allocate(gib: int) -> None:
    block = bytearray(gib << 30)
    block[-1] = 1


def spin() -> None:
    while True:
        pass


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def refuse(message: str) -> None:
    raise MFMError(message)


def crash() -> None:
    os._exit(3)


def fine(value: int) -> int:
    return value * 2


def touch(tensor) -> None:
    tensor.add_(1000.0)  # a child that would write into what it was given


def kill_self() -> None:
    os.kill(os.getpid(), 9)


def torch_allocate(gib: int) -> None:
    import torch

    torch.empty(gib << 28, dtype=torch.float32).fill_(1.0)


def long_refusal() -> None:
    raise MFMError("x" * 10_000_000)
