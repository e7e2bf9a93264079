"""Issue 14, point 7: what the app keeps for every session is bounded by bytes, and one session's uploads by count
and bytes."""

from __future__ import annotations

import json
import threading

import pytest
import torch
from test_app import good_upload_bytes

from mfm.checkpoint import load_checkpoint, save_checkpoint
from mfm.errors import CheckpointError
from pages.bookkeeping import BoundedCache, model_cache_bytes, resident_bytes, session_upload_problem


def test_the_cache_evicts_the_least_recently_used_beyond_its_bytes():
    made = []
    cache = BoundedCache(100, size=len)

    def make(value):
        return lambda: made.append(value) or value

    assert cache.get("a", make("x" * 40)) == "x" * 40
    cache.get("b", make("y" * 40))
    cache.get("a", make("never"))  # a hit: "a" becomes the most recently used
    cache.get("c", make("z" * 40))  # 120 bytes: the least recently used ("b") goes
    assert "a" in cache and "c" in cache and "b" not in cache
    assert cache.total_bytes == 80 and made == ["x" * 40, "y" * 40, "z" * 40]
    big = cache.get("d", make("w" * 500))  # larger than the bound: returned, not kept
    assert big == "w" * 500 and "d" not in cache and cache.total_bytes == 80


def test_the_cache_keeps_one_value_when_sessions_ask_at_once():
    cache = BoundedCache(10_000, size=lambda value: 8)
    barrier = threading.Barrier(4)
    results = []

    def create():
        barrier.wait(timeout=10)  # all four create at the same time
        return object()

    threads = [threading.Thread(target=lambda: results.append(cache.get("k", create))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(r) for r in results}) == 1 and cache.total_bytes == 8


def test_resident_bytes_counts_a_models_tensors(tmp_path):
    data = good_upload_bytes(tmp_path, seed=1)
    (tmp_path / "m.pt").write_bytes(data)
    loaded = load_checkpoint(tmp_path / "m.pt")
    tensors = sum(t.numel() * t.element_size() for t in loaded.model.state_dict().values())
    text = json.dumps(loaded.metadata, default=str) + json.dumps(loaded.config.to_dict(), default=str)
    expected = tensors + len(text.encode())
    assert resident_bytes(loaded) == expected
    # Metadata counts: a model with a large metadata string is not a small entry.
    big = tmp_path / "big.pt"
    save_checkpoint(big, loaded.model, {**loaded.metadata, "command": "x" * (4 << 20)})
    assert resident_bytes(load_checkpoint(big)) > tensors + (4 << 20)
    assert resident_bytes("refused: 12 bytes") == len(b"refused: 12 bytes")
    assert expected > 1000 and isinstance(next(iter(loaded.model.parameters())), torch.Tensor)


def test_limits_come_from_the_environment_and_bad_values_are_refused(monkeypatch):
    monkeypatch.setenv("MFM_APP_MODEL_CACHE_BYTES", "12345")
    assert model_cache_bytes() == 12345
    monkeypatch.setenv("MFM_APP_MODEL_CACHE_BYTES", "lots")
    with pytest.raises(CheckpointError, match="MFM_APP_MODEL_CACHE_BYTES must be a whole number"):
        model_cache_bytes()
    monkeypatch.setenv("MFM_APP_SESSION_UPLOAD_FILES", "2")
    monkeypatch.setenv("MFM_APP_SESSION_UPLOAD_BYTES", "1000")
    assert session_upload_problem([10, 10]) is None
    assert "holds 3 files" in session_upload_problem([1, 1, 1])
    assert "holds 1,200 bytes; this app takes at most 1,000 bytes" in session_upload_problem([600, 600])


def test_allowed_data_dir_confines_paths_to_the_root(tmp_path):
    from mfm.errors import DataError
    from pages.bookkeeping import allowed_data_dir

    root = tmp_path / "root"
    (root / "mosi").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (root / "escape").symlink_to(tmp_path / "secret")  # a link inside the root that leads out of it
    inside = allowed_data_dir("mosi", server_address="0.0.0.0", root=root.resolve())
    assert inside == str((root / "mosi").resolve())
    assert allowed_data_dir(str(root / "mosi"), server_address="0.0.0.0", root=root.resolve()) == inside
    for outside in ("../secret", str(tmp_path / "secret"), "escape", "/etc"):
        with pytest.raises(DataError, match="outside the data root"):
            allowed_data_dir(outside, server_address="0.0.0.0", root=root.resolve())
    # No root: only a server on this machine alone opens typed paths.
    assert allowed_data_dir(str(tmp_path), server_address="127.0.0.1", root=None) == str(tmp_path.resolve())
    for address in ("0.0.0.0", "", "192.168.1.5"):
        with pytest.raises(DataError, match="MFM_DATA_ROOT"):
            allowed_data_dir(str(tmp_path), server_address=address, root=None)


def test_a_nul_byte_in_a_folder_name_is_a_clear_refusal(tmp_path):
    from mfm.errors import DataError
    from pages.bookkeeping import allowed_data_dir

    for root in (None, tmp_path.resolve()):
        with pytest.raises(DataError, match="cannot hold a NUL character"):
            allowed_data_dir("data\x00/etc", server_address="127.0.0.1", root=root)
