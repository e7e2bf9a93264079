"""Parse untrusted input once in a separate, limited process before the server parses it itself.

The checks of `mfm.checkpoint`, `mfm.safe_parse` and the data readers bound what a file can make this program do,
but they run in the process that serves every user. `preflight(fn, *args)` first runs ``fn(*args)`` in a child
process with an address-space limit, a CPU-time limit and a wall-clock timeout, and keeps nothing from it but a
verdict: if the child finishes within its limits, the caller runs the same deterministic parse in-process; if it
runs out of memory or time, or dies, the input is refused with a message saying which limit it hit, and no other
user noticed anything. The command line parses in-process (its user chose the file and can stop it).

Children are forked from a `multiprocessing` forkserver that has imported torch and the loaders once, so each
check costs a fork, not an interpreter start. The work goes to the child as one byte string made by plain
`pickle` (tensors are copied, never moved into shared memory the child could write into), and the verdict comes
back as at most 64 KiB of JSON (`recv_bytes`): the parent never unpickles anything a child that read hostile input
sends. At most `MFM_WORKER_CONCURRENCY` checks (default 2) run at once; the others wait their turn within their
wall-clock limit.

A refusal because the parse itself failed is an `MFMError`; a refusal because a limit was hit (or the workers were
busy) is a `WorkerLimitError`, which callers should not cache: the same file may pass on a quieter machine.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mfm.errors import MFMError

ANSWER_BYTES = 64 << 10
"""Largest verdict a child may send back; a child's message is cut to `MESSAGE_CHARS` before it is sent."""
MESSAGE_CHARS = 4000


class WorkerLimitError(MFMError):
    """The check hit a limit (memory, CPU or wall-clock time), died, or waited too long for a free worker."""


@dataclass(frozen=True)
class Limits:
    """What one check may use: address space (bytes), CPU time (seconds) and wall-clock time (seconds)."""

    memory_bytes: int = 3 << 30
    cpu_seconds: int = 120
    wall_seconds: float = 180.0

    @classmethod
    def from_environment(cls) -> Limits:
        """The defaults, overridden by ``MFM_WORKER_MEMORY_BYTES``, ``MFM_WORKER_CPU_SECONDS`` and
        ``MFM_WORKER_WALL_SECONDS``."""
        values: dict[str, Any] = {}
        for field, name, kind in (
            ("memory_bytes", "MFM_WORKER_MEMORY_BYTES", int),
            ("cpu_seconds", "MFM_WORKER_CPU_SECONDS", int),
            ("wall_seconds", "MFM_WORKER_WALL_SECONDS", float),
        ):
            raw = os.environ.get(name)
            if raw is None:
                continue
            try:
                value = kind(raw)
            except ValueError:
                raise MFMError(f"{name} must be a number, got {raw!r}") from None
            if not value > 0:
                raise MFMError(f"{name} must be positive, got {raw!r}")
            values[field] = value
        return cls(**values)


_CONTEXT_LOCK = threading.Lock()
_CONTEXT: Any = None
_SLOTS: threading.BoundedSemaphore | None = None


def _slots() -> threading.BoundedSemaphore:
    """The semaphore bounding concurrent checks (``MFM_WORKER_CONCURRENCY``, default 2), made on first use."""
    global _SLOTS
    with _CONTEXT_LOCK:
        if _SLOTS is None:
            raw = os.environ.get("MFM_WORKER_CONCURRENCY", "2")
            if not raw.isdigit() or int(raw) < 1:
                raise MFMError(f"MFM_WORKER_CONCURRENCY must be a positive whole number, got {raw!r}")
            _SLOTS = threading.BoundedSemaphore(int(raw))
        return _SLOTS


_PRELOAD = ["torch", "mfm.checkpoint", "mfm.importers", "mfm.data"]


def preload(*modules: str) -> None:
    """Have the forkserver import `modules` too (the caller's parse functions), before its first check."""
    with _CONTEXT_LOCK:
        _PRELOAD.extend(m for m in modules if m not in _PRELOAD)


def _context() -> Any:
    """The forkserver context (started on the first check, with the loaders preloaded)."""
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(list(_PRELOAD))
            _CONTEXT = context
        return _CONTEXT


def _is_allocation_failure(exc: BaseException) -> bool:
    """torch reports a failed allocation (e.g. beyond the address-space limit) as a RuntimeError."""
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "DefaultCPUAllocator" in text
    )


def _child(connection: Any, payload: bytes, limits: Limits) -> None:
    import pickle
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    cpu = int(limits.cpu_seconds)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    try:
        fn, args = pickle.loads(payload)  # the parent's own work: trusted
        fn(*args)
        verdict: dict[str, Any] = {"ok": True}
    except MFMError as exc:
        verdict = {"ok": False, "kind": "refused", "message": str(exc)[:MESSAGE_CHARS]}
    except MemoryError:
        verdict = {"ok": False, "kind": "memory"}
    except Exception as exc:  # reported by type only, like the app's other unexpected errors
        kind = "memory" if _is_allocation_failure(exc) else "unexpected"
        verdict = {"ok": False, "kind": kind, "type": type(exc).__name__}
    connection.send_bytes(json.dumps(verdict).encode())
    connection.close()


def preflight(what: str, fn: Callable[..., Any], *args: Any, limits: Limits | None = None) -> None:
    """Run ``fn(*args)`` in a limited child process; return if it completed, else raise an MFMError naming `what`:
    the child's own MFMError message when the parse refused the input, a `WorkerLimitError` when a limit was hit.

    `fn` and `args` must be picklable (a module-level function and plain data); what `fn` returns is dropped.
    """
    import pickle

    limits = limits or Limits.from_environment()
    payload = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)  # copies tensors: nothing is shared
    slots = _slots()
    if not slots.acquire(timeout=limits.wall_seconds):
        raise WorkerLimitError(
            f"{what}: every check worker stayed busy for {limits.wall_seconds:g} s; try again"
        )
    try:
        return _check(what, payload, limits)
    finally:
        slots.release()


def _check(what: str, payload: bytes, limits: Limits) -> None:
    context = _context()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, payload, limits), daemon=True)
    process.start()
    send.close()
    raw, oversized = None, False
    try:
        ready = receive.poll(limits.wall_seconds)  # True on an answer, and on end-of-file when the child died
        if ready:
            raw = receive.recv_bytes(ANSWER_BYTES)
    except OSError:  # an answer longer than ANSWER_BYTES
        ready, oversized = True, True
    except EOFError:  # the child died before answering
        ready = True
    finally:
        receive.close()
    if not ready:
        process.kill()
        process.join(5)
        raise WorkerLimitError(f"{what}: reading it took longer than {limits.wall_seconds:g} s; stopped")
    process.join(5)
    if process.is_alive():
        process.kill()
        process.join(5)
    if oversized:
        raise MFMError(f"{what}: refused (the check's answer was longer than {ANSWER_BYTES // 1024} KiB)")
    if raw is None:
        code = process.exitcode
        if code == -24:  # SIGXCPU
            raise WorkerLimitError(
                f"{what}: reading it used more than {limits.cpu_seconds} s of CPU time; stopped"
            )
        if code == -9:  # SIGKILL: the CPU hard limit, or the system's out-of-memory killer
            raise WorkerLimitError(f"{what}: the check process was killed (its CPU or memory limit); refused")
        raise WorkerLimitError(
            f"{what}: the check process ended without an answer (exit status {code}); it most likely needed "
            f"more than its {limits.memory_bytes / 2**30:.1f} GiB of memory"
        )
    try:
        verdict = json.loads(raw.decode())
        if not isinstance(verdict, dict):
            raise ValueError("not an object")
    except (UnicodeDecodeError, ValueError):
        raise MFMError(f"{what}: refused (the check's answer could not be read)") from None
    if verdict.get("ok") is True:
        return
    kind = verdict.get("kind")
    if kind == "refused":
        raise MFMError(str(verdict.get("message"))[:MESSAGE_CHARS])
    if kind == "memory":
        raise WorkerLimitError(
            f"{what}: reading it needs more than {limits.memory_bytes / 2**30:.1f} GiB of memory"
        )
    raise MFMError(f"{what}: reading it failed unexpectedly ({str(verdict.get('type'))[:100]})")
