"""Hostile data files: each is refused by what it declares, before the reader allocates what it claims.

Generated here (no blobs committed). The readers run in a fresh subprocess that imports only the data readers, so
its peak memory (measured by the OS) shows whether a case was refused before allocation.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import re
import struct
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.io import savemat

ROOT = Path(__file__).resolve().parents[1]

RUNNER = """
import json, sys
from pathlib import Path
from mfm.data import readers
from mfm.errors import DataError

case, reader, argument = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    if reader == "idx":
        readers.read_idx(Path(argument))
    elif reader == "svhn":
        readers.read_svhn_mat(Path(argument))
    elif reader == "mosi":
        readers.read_mosi_h5(Path(argument))
    else:
        readers.read_mosi_pickle(Path(argument))
    outcome = "accepted"
except DataError as error:
    outcome = "refused: " + str(error)
# Peak resident memory of this process since exec (VmHWM; ru_maxrss would include the parent's at fork time).
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024
print(json.dumps({"case": case, "outcome": outcome, "peak_mib": peak}))
"""


def _run(case: str, reader: str, argument: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, case, reader, str(argument)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _baseline(tmp_path: Path) -> float:
    """Peak memory of the runner reading a small valid idx file (imports included)."""
    path = tmp_path / "ok-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes(3))
    result = _run("baseline", "idx", path)
    assert result["outcome"] == "accepted"
    return result["peak_mib"]


def _mosi_folder(root: Path, train_rows: int = 4) -> Path:
    root.mkdir()
    for split in ("train", "valid", "test"):
        rows = train_rows if split == "train" else 4
        with h5py.File(root / f"X_{split}.h5", "w") as handle:
            handle["data"] = np.zeros((4, 20, 325), np.float32)  # the cases replace X_train
        with h5py.File(root / f"y_{split}.h5", "w") as handle:
            handle["data"] = np.zeros((rows, 1), np.float32)
    return root


def hostile_cases(tmp: Path) -> dict[str, tuple[str, Path, str]]:
    """name -> (reader, file or folder, a regex the refusal must match)."""
    cases = {}
    # A 2 MB gzip that would expand to 4 GiB of idx data.
    bomb = tmp / "train-images-idx3-ubyte.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as handle:
        handle.write(bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (5_000_000, 28, 28)))
        handle.write(bytes(2**25))  # the header announces 3.7 GiB; what follows is never inflated
    cases["gzip bomb"] = ("idx", bomb, "announces 3738 MiB of data")
    # An SVHN file whose X declares 500,000 images (1.5 GB) in a few kilobytes: a small file's dimensions patched.
    svhn = tmp / "train_32x32.mat"
    savemat(svhn, {"X": np.zeros((32, 32, 3, 5), np.uint8), "y": np.ones((5, 1), np.uint8)})
    raw = svhn.read_bytes()
    assert raw.count(struct.pack("<4i", 32, 32, 3, 5)) == 1
    svhn.write_bytes(raw.replace(struct.pack("<4i", 32, 32, 3, 5), struct.pack("<4i", 32, 32, 3, 500_000)))
    cases["svhn bomb"] = ("svhn", svhn, "declares 500,000 images")
    # MOSI h5 declaring (60000, 20, 325) float32 (1.5 GB) with no data stored.
    declared = _mosi_folder(tmp / "declared", train_rows=60000)
    with h5py.File(declared / "X_train.h5", "w") as handle:
        handle.create_dataset("data", shape=(60000, 20, 325), dtype=np.float32, chunks=(100, 20, 325), compression="gzip")  # fmt: skip
    cases["h5 declared size"] = ("mosi", declared, "declares .* but stores")
    # An external link to another file (that one would be read and its bytes shown as features).
    secret = tmp / "secret.h5"
    with h5py.File(secret, "w") as handle:
        handle["data"] = np.full((4, 20, 325), 7.0, np.float32)
    linked = _mosi_folder(tmp / "linked")
    with h5py.File(linked / "X_train.h5", "w") as handle:
        handle["data"] = h5py.ExternalLink(str(secret), "data")
    cases["h5 external link"] = ("mosi", linked, "ExternalLink, which would read elsewhere")
    # External raw storage: the dataset's bytes live in another (here: any) file.
    raw = tmp / "raw.bin"
    raw.write_bytes(bytes(4 * 20 * 325 * 4))
    external = _mosi_folder(tmp / "external")
    with h5py.File(external / "X_train.h5", "w") as handle:
        handle.create_dataset("data", shape=(4, 20, 325), dtype=np.float32, external=[(str(raw), 0, h5py.h5f.UNLIMITED)])  # fmt: skip
    cases["h5 external storage"] = ("mosi", external, "stored in other files")
    # A FIFO named like a pickle: opening it would block for ever.
    fifo = tmp / "aligned_50.pkl"
    os.mkfifo(fifo)
    cases["fifo pickle"] = ("pickle", fifo, "not a regular file")
    return cases


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a POSIX system")  # Linux CI always has it
def test_hostile_data_files_are_refused_before_allocation(tmp_path):
    baseline = _baseline(tmp_path)
    for name, (reader, path, message) in hostile_cases(tmp_path).items():
        result = _run(name, reader, path)
        assert result["outcome"].startswith("refused: "), (name, result)
        assert re.search(message, result["outcome"]), (name, result["outcome"])
        assert "\\n" not in result["outcome"] and "Traceback" not in result["outcome"]
        # Refused before allocating: at most 150 MiB above reading a 3-byte file.
        assert result["peak_mib"] < baseline + 150, (name, result["peak_mib"], baseline)
    assert "7.0" not in json.dumps(result)  # nothing of the linked file was shown


def test_a_pickle_that_is_fine_still_loads(tmp_path):
    from mfm.data.readers import read_mosi_pickle

    part = {"text": np.zeros((2, 3, 4), np.float32), "audio": np.zeros((2, 3, 1), np.float32),
            "vision": np.zeros((2, 3, 2), np.float32), "regression_labels": np.zeros(2, np.float32)}  # fmt: skip
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps({"train": part, "valid": part, "test": part}))
    assert read_mosi_pickle(path)["test"]["inputs"]["visual"].shape == (2, 3, 2)


def test_refusals_of_server_files_do_not_echo_their_contents(tmp_path):
    """Data files are read from the server's disk: a refusal names the file and the problem, never its bytes."""
    from mfm.data.readers import find_pickle, read_idx, read_mosi_pickle
    from mfm.errors import DataError

    secret = "credentials_token=SECRET-1234"
    text = tmp_path / "notes.pkl"
    text.write_text(f"c{secret}\nvalue\n.")  # parses as a pickle GLOBAL whose "module" is the secret line
    for reader in (read_mosi_pickle, read_idx):
        with pytest.raises(DataError) as error:
            reader(text)
        assert "SECRET" not in str(error.value) and str(text) in str(error.value)
    (tmp_path / "other.pkl").write_bytes(b"x")
    with pytest.raises(DataError) as error:
        find_pickle(tmp_path)
    assert "notes" not in str(error.value) and "other" not in str(error.value)  # no directory listing
