"""Parse untrusted input once in a separate, limited process before the server parses it itself.

The checks of `mfm.checkpoint`, `mfm.safe_parse` and the data readers bound what a file can make this program do,
but they run in the process that serves every user. `preflight(fn, *args)` first runs ``fn(*args)`` in a child
process with an address-space limit, a CPU-time limit and a wall-clock timeout, and keeps nothing from it but a
verdict: if the child finishes within its limits, the caller runs the same deterministic parse in-process; if it
runs out of memory or time, or dies, the input is refused with a message saying which limit it hit, and no other
user noticed anything. The command line parses in-process (its user chose the file and can stop it).

Children are forked from a `multiprocessing` forkserver that has imported torch and the loaders once, so each
check costs a fork, not an interpreter start. The verdict comes back as JSON bytes (`recv_bytes`): the parent
never unpickles anything a child that read hostile input sends.
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
        values = {}
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


def _child(connection: Any, fn: Callable[..., Any], args: tuple, limits: Limits) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    cpu = int(limits.cpu_seconds)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    try:
        fn(*args)
        verdict = {"ok": True}
    except MFMError as exc:
        verdict = {"ok": False, "kind": "refused", "message": str(exc)}
    except MemoryError:
        verdict = {"ok": False, "kind": "memory"}
    except Exception as exc:
        verdict = {"ok": False, "kind": "unexpected", "type": type(exc).__name__}
    connection.send_bytes(json.dumps(verdict).encode())
    connection.close()


def preflight(what: str, fn: Callable[..., Any], *args: Any, limits: Limits | None = None) -> None:
    """Run ``fn(*args)`` in a limited child process; return if it completed, else raise an MFMError naming `what`
    and the limit it hit. An MFMError raised by `fn` in the child is raised again here with its message.

    `fn` and `args` must be picklable (a module-level function and plain data); what `fn` returns is dropped.
    """
    limits = limits or Limits.from_environment()
    context = _context()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, fn, args, limits), daemon=True)
    process.start()
    send.close()
    raw = None
    try:
        ready = receive.poll(limits.wall_seconds)  # True on an answer, and on end-of-file when the child died
        if ready:
            raw = receive.recv_bytes(1 << 20)
    except (EOFError, OSError):  # the child died before answering
        ready = True
    finally:
        receive.close()
    if not ready:
        process.kill()
        process.join(5)
        raise MFMError(f"{what}: reading it took longer than {limits.wall_seconds:g} s; stopped")
    process.join(5)
    if raw is None:
        code = process.exitcode
        if code is not None and code < 0 and -code in (24, 9):  # SIGXCPU, or SIGKILL after it
            raise MFMError(f"{what}: reading it used more than {limits.cpu_seconds} s of CPU time; stopped")
        raise MFMError(
            f"{what}: the check process ended without an answer (exit status {code}); it most likely needed "
            f"more than its {limits.memory_bytes / 2**30:.1f} GiB of memory"
        )
    verdict = json.loads(raw.decode())
    if verdict.get("ok") is True:
        return
    kind = verdict.get("kind")
    if kind == "refused":
        raise MFMError(str(verdict.get("message")))
    if kind == "memory":
        raise MFMError(f"{what}: reading it needs more than {limits.memory_bytes / 2**30:.1f} GiB of memory")
    raise MFMError(f"{what}: reading it failed unexpectedly ({verdict.get('type')})")
