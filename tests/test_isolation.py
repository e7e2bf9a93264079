"""Issue 14, point 2: untrusted input is parsed first in a limited worker process (mfm.isolation.preflight), so
nothing it does can stall or exhaust the server; each limit must stop a child built to exceed it."""

from __future__ import annotations

import time

import pytest
from isolation_children import (
    allocate,
    crash,
    fine,
    kill_self,
    long_refusal,
    refuse,
    sleep,
    spin,
    torch_allocate,
    touch,
)
from test_app import (  # noqa: F401  (fixtures)
    assert_healthy,
    checkpoint_dir,
    demo_dir,
    good_upload_bytes,
    new_app,
    release_streamlit_caches,
    shown,
)

from mfm import isolation
from mfm.errors import MFMError
from mfm.isolation import MESSAGE_CHARS, Limits, WorkerLimitError, preflight


def test_a_check_within_its_limits_returns():
    assert preflight("small.pt", fine, 21) is None


def test_a_refusal_in_the_child_is_raised_with_its_message():
    with pytest.raises(MFMError, match=r"^the file says no$"):
        preflight("x.pt", refuse, "the file says no")


def test_memory_beyond_the_limit_is_refused():
    with pytest.raises(MFMError, match=r"x\.pt: reading it needs more than 1\.0 GiB of memory"):
        preflight("x.pt", allocate, 2, limits=Limits(memory_bytes=1 << 30))


def test_cpu_time_beyond_the_limit_is_stopped():
    start = time.monotonic()
    with pytest.raises(MFMError, match="more than 1 s of CPU time"):
        preflight("x.pt", spin, limits=Limits(cpu_seconds=1, wall_seconds=30))
    assert time.monotonic() - start < 15


def test_wall_clock_beyond_the_limit_is_stopped():
    start = time.monotonic()
    with pytest.raises(MFMError, match="longer than 1 s; stopped"):
        preflight("x.pt", sleep, 60, limits=Limits(wall_seconds=1))
    assert time.monotonic() - start < 10


def test_a_child_that_dies_is_a_refusal_not_a_crash():
    with pytest.raises(MFMError, match="ended without an answer"):
        preflight("x.pt", crash)


def test_limits_from_the_environment(monkeypatch):
    monkeypatch.setenv("MFM_WORKER_MEMORY_BYTES", "123456789")
    monkeypatch.setenv("MFM_WORKER_WALL_SECONDS", "2.5")
    limits = Limits.from_environment()
    assert limits.memory_bytes == 123456789 and limits.wall_seconds == 2.5 and limits.cpu_seconds == 120
    monkeypatch.setenv("MFM_WORKER_CPU_SECONDS", "-1")
    with pytest.raises(MFMError, match="MFM_WORKER_CPU_SECONDS must be positive"):
        Limits.from_environment()


def test_the_app_parses_an_upload_in_the_worker_first(tmp_path, monkeypatch):
    """With the worker's time limit below what any parse needs, a good upload is refused by the worker (so the
    app does run it), the app keeps working, and with the default limits the same file loads."""
    data = good_upload_bytes(tmp_path, seed=5)
    monkeypatch.setenv("MFM_WORKER_WALL_SECONDS", "0.001")
    at = new_app("tiny_sentiment.pt")
    at.run()
    at.sidebar.file_uploader[0].set_value(("model.pt", data, "application/octet-stream")).run()
    assert_healthy(at)
    errors = [shown(e.value) for e in at.error]
    assert any("model.pt: reading it took longer than 0.001 s" in e for e in errors), errors
    assert at.session_state["mfm_selection"].name == "tiny_sentiment.pt"
    monkeypatch.delenv("MFM_WORKER_WALL_SECONDS")
    at.run()  # a limit hit is not cached: the same file loads once the limit allows it
    assert at.session_state["mfm_selection"].name == "model.pt"


def test_the_child_gets_a_copy_never_shared_memory():
    import torch

    tensor = torch.zeros(4)
    preflight("x.pt", touch, tensor)
    assert not tensor.is_shared() and torch.equal(tensor, torch.zeros(4))


def test_limit_hits_are_worker_limit_errors_and_name_the_limit():
    with pytest.raises(WorkerLimitError, match="was killed"):
        preflight("x.pt", kill_self)
    with pytest.raises(WorkerLimitError, match=r"needs more than 1\.0 GiB"):
        preflight("x.pt", torch_allocate, 4, limits=Limits(memory_bytes=1 << 30))
    with pytest.raises(MFMError) as refused:
        preflight("x.pt", refuse, "bad file")
    assert not isinstance(refused.value, WorkerLimitError)  # a refusal of the file itself: may be cached


def test_a_long_message_is_cut_not_mistaken_for_a_memory_limit():
    with pytest.raises(MFMError) as refused:
        preflight("x.pt", long_refusal)
    assert not isinstance(refused.value, WorkerLimitError) and len(str(refused.value)) <= MESSAGE_CHARS


def test_checks_wait_for_a_free_worker(monkeypatch):
    import threading

    monkeypatch.setattr(isolation, "_SLOTS", threading.BoundedSemaphore(1))
    isolation._SLOTS.acquire()  # every worker busy
    try:
        with pytest.raises(WorkerLimitError, match=r"stayed busy for 0\.5 s"):
            preflight("x.pt", fine, 1, limits=Limits(wall_seconds=0.5))
    finally:
        isolation._SLOTS.release()
    # One slot: three checks of 1 s each run one after the other.
    started = time.monotonic()
    threads = [threading.Thread(target=preflight, args=("x.pt", sleep, 1.0)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started >= 3.0
