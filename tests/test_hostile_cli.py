"""Issue 14's "Done means": every hostile input, given to the command line, fails fast, small and quietly.

Each case is a file (or a data folder) built here from the generators of test_hostile.py and test_hostile_data.py
(no blobs committed) and run through `python -m mfm check FILE` or `python -m mfm data NAME --data-dir DIR` in a
fresh process whose address space is capped (RLIMIT_AS, 2 GiB) and which is killed after 60 s. The in-process
tests there show that the loaders raise the right error; this file shows what a user (or a server) actually gets
from the program: a non-zero exit status, a few lines holding the expected message and no traceback, a peak
resident memory (VmHWM, the child's own) under 1 GiB, an answer in seconds, and not one byte of a secret file
that a hostile input tries to read or to have quoted back.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from conftest import tiny_sequence_config
from scipy.io import savemat
from test_data_digits import _mnist_like, _svhn_like, _write_idx
from test_hostile import saved, tuple_dag_pickle, valid_payload, with_data_pkl, zip_bomb
from test_hostile_data import hostile_cases

from mfm.checkpoint import expected_shapes, save_checkpoint
from mfm.model import MFM

ROOT = Path(__file__).resolve().parents[1]
SECRET = "SECRET-TOKEN-4242"
ADDRESS_SPACE = 2 * 2**30  # RLIMIT_AS of the child: torch's import fits, a real allocation of a bomb does not
TIMEOUT = 60  # seconds before a hung child is killed
MAX_PEAK_KB = 2**20  # 1 GiB of resident memory
MAX_SECONDS = 30
MAX_LINES = 3

# The child: caps its own address space before anything is imported, runs the CLI's entry point (what
# `python -m mfm` runs), then prints its peak resident memory since exec (VmHWM: ru_maxrss would include the
# parent's at fork time) on a last line of its own and exits with the CLI's status.
WRAPPER = """
import resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from mfm.cli import main
try:
    status = main(sys.argv[2:])
except SystemExit as stop:
    status = stop.code
sys.stdout.flush()
sys.stderr.flush()
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(f"PEAK_KB {peak}", flush=True)
sys.exit(status)
"""

CASES = [
    # 1. the tuple DAG t_{i+1} = (t_i, t_i): 40 levels as a dict key, in a checkpoint and in a data pickle
    "dag-key-40-in-checkpoint",
    "dag-key-40-in-mosi-pickle",
    # 2. the DAG as a plain value (24 levels) and 22 levels as a key
    "dag-value-24-in-checkpoint",
    "dag-key-22-in-checkpoint",
    # 3. zero-stride tensors over one float each: a huge model, and one under the parameter cap
    "zero-stride-huge-model",
    "zero-stride-model-under-the-cap",
    # 4. decompression and allocation bombs
    "zip-bomb-checkpoint",
    "gzip-idx-bomb",
    "svhn-mat-declaring-500k-images",
    "mosi-h5-declaring-60000x20x325",
    # 5. files that would read (or quote) a secret file
    "mosi-h5-external-link-to-secret",
    "mosi-h5-external-storage-in-secret",
    "pickle-whose-first-line-is-a-secret",
    # 6. what once gave tracebacks
    "safetensors-header-200k-deep",
    "safetensors-header-5000-digit-integer",
    "json-config-5000-digit-integer",
    "safetensors-shape-5",
    "deep-lists-as-the-whole-pickle",
    "deep-list-in-metadata",
    "metadata-metrics-a-list",
    "metadata-dataset-a-list",
    "metadata-data-seed-abc",
    "meta-tensor",
    "sparse-tensor",
    "float8-tensor",
    # 7. a FIFO named like a pickle in the data folder
    "fifo-pickle-in-data-folder",
]

KEY = "decoders.language.out.weight"  # the weight the tensor cases replace


def _with_weight(tensor: torch.Tensor) -> bytes:
    payload = valid_payload()
    payload["state_dict"][KEY] = tensor
    return saved(payload)


def _with_metadata(**fields) -> bytes:
    payload = valid_payload()
    payload["metadata"].update(fields)
    return saved(payload)


def _zero_stride_model(width: int) -> bytes:
    """A checkpoint whose config asks for hidden layers `width` wide and whose every weight is one float expanded
    (stride 0) to the shape the config needs: a few kilobytes on disk, any size once copied."""
    config = tiny_sequence_config(
        factor_hidden_dim=width,
        head_hidden_dim=width,
        surrogate_hidden_dim=width,
        mfn_attention_hidden_dim=width,
    )
    state = {
        key: torch.zeros((), dtype=torch.long)
        if key.endswith("num_batches_tracked")
        else torch.zeros(1).expand(shape)
        for key, shape in expected_shapes(config).items()
    }
    return saved({**valid_payload(), "config": config.to_dict(), "state_dict": state})


def _deep_list_in_metadata(depth: int) -> bytes:
    """metadata["note"] a list nested `depth` deep: a marker string saved in its place, then its opcode in data.pkl
    replaced by EMPTY_LIST x depth, APPEND x (depth - 1) (building it to save it would hit the recursion limit)."""
    marker = "DEEP-LIST-MARKER"
    archive = _with_metadata(note=marker)
    with zipfile.ZipFile(io.BytesIO(archive)) as source:
        pkl = next(source.read(i) for i in source.infolist() if i.filename.endswith("/data.pkl"))
    opcode = b"X" + len(marker).to_bytes(4, "little") + marker.encode()  # BINUNICODE (protocol 2)
    assert pkl.count(opcode) == 1
    return with_data_pkl(archive, pkl.replace(opcode, b"]" * depth + b"a" * (depth - 1)))


def _safetensors(folder: Path, name: str, header: bytes | None = None) -> Path:
    """A valid tiny .safetensors + .json pair (the config beside it), then its header replaced when given."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    path = save_checkpoint(folder / f"{name}.safetensors", MFM(tiny_sequence_config()))
    if header is not None:
        path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(4))
    return path


def _digits_folder(folder: Path, replace: dict[str, Path]) -> Path:
    """A digits-real folder of small valid MNIST idx and SVHN .mat files, with the files in `replace` (name in the
    folder -> a hostile file, moved in) taking the place of the valid ones."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for part, count in (("train", 120), ("t10k", 30)):
        images, labels = _mnist_like(count, rng)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            if f"{part}-{kind}-ubyte.gz" not in replace:
                _write_idx(folder / f"{part}-{kind}-ubyte.gz", array, compress=True)
    for part, count in (("train", 150), ("test", 40)):
        if f"{part}_32x32.mat" not in replace:
            images, labels = _svhn_like(count, rng)
            savemat(folder / f"{part}_32x32.mat", {"X": images, "y": labels})
    for name, hostile in replace.items():
        hostile.rename(folder / name)
    return folder


def _build(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """case name -> (the CLI's arguments, a regex its message must match)."""
    cases: dict[str, tuple[list[str], Path | bytes, str]] = {}  # name -> (command, file bytes or path, regex)
    base = saved(valid_payload())
    value: tuple = ()
    for _ in range(24):
        value = (value, value)
    cases["dag-key-40-in-checkpoint"] = (
        ["check"], with_data_pkl(base, tuple_dag_pickle(40, as_key=True)), "dict key|expand to more than"
    )  # fmt: skip
    cases["dag-value-24-in-checkpoint"] = (["check"], _with_metadata(note=value), "expand to more than")
    cases["dag-key-22-in-checkpoint"] = (
        ["check"], with_data_pkl(base, tuple_dag_pickle(22, as_key=True)), "dict key|expand to more than"
    )  # fmt: skip
    cases["zero-stride-huge-model"] = (
        ["check"], _zero_stride_model(4096), r"describes 101,984,396 values, more than the 20,000,000 limit"
    )  # fmt: skip
    cases["zero-stride-model-under-the-cap"] = (["check"], _zero_stride_model(1024), r"is a strided view")
    cases["zip-bomb-checkpoint"] = (["check"], zip_bomb(), "compressed entry")
    deep = bytearray(b"\x80\x02") + b"]" * 100_000 + b"a" * 99_999 + b"."  # EMPTY_LIST x N, APPEND x N-1
    cases["deep-lists-as-the-whole-pickle"] = (
        ["check"], with_data_pkl(base, bytes(deep)), "holds a list, not a checkpoint dict"
    )  # fmt: skip
    cases["deep-list-in-metadata"] = (["check"], _deep_list_in_metadata(100_000), "nested deeper than 200")
    cases["metadata-metrics-a-list"] = (["check"], _with_metadata(metrics=[1, 2]), "'metrics' must be dict")
    cases["metadata-dataset-a-list"] = (
        ["check"], _with_metadata(dataset=["sentiment"]), "'dataset' must be str or null"
    )  # fmt: skip
    cases["metadata-data-seed-abc"] = (["check"], _with_metadata(data_seed="abc"), "'data_seed' must be int")
    shape = valid_payload()["state_dict"][KEY].shape
    cases["meta-tensor"] = (
        ["check"], _with_weight(torch.empty(shape, device="meta")), r"is not a dense CPU tensor \(torch.strided, meta\)"
    )  # fmt: skip
    cases["sparse-tensor"] = (
        ["check"], _with_weight(torch.ones(shape).to_sparse()), r"is not a dense CPU tensor \(torch.sparse_coo"
    )  # fmt: skip
    cases["float8-tensor"] = (
        ["check"], _with_weight(torch.zeros(shape).to(torch.float8_e4m3fn)), "weights must be floating point"
    )  # fmt: skip

    # safetensors pairs: the header or the JSON config beside it replaced
    st = tmp / "safetensors"
    cases["safetensors-header-200k-deep"] = (
        ["check"], _safetensors(st, "deep", header=("[" * 200_000 + "]" * 200_000).encode()), "deeper than"
    )  # fmt: skip
    big = '{"w": {"dtype": "F32", "shape": [' + "9" * 5000 + '], "data_offsets": [0, 4]}}'
    cases["safetensors-header-5000-digit-integer"] = (
        ["check"], _safetensors(st, "bigint", header=big.encode()), "a JSON integer of 5000 digits"
    )  # fmt: skip
    config_path = _safetensors(st, "bigconfig")
    config_json = config_path.with_suffix(".json")
    config_json.write_text(config_json.read_text().replace('"version": 2', '"version": ' + "2" * 5000, 1))
    cases["json-config-5000-digit-integer"] = (["check"], config_path, "a JSON integer of 5000 digits")
    shape5 = json.dumps({"w": {"dtype": "F32", "shape": 5, "data_offsets": [0, 4]}}).encode()
    cases["safetensors-shape-5"] = (["check"], _safetensors(st, "shape5", header=shape5), "has no shape list")

    # data files: test_hostile_data's generators (one folder: the gzip and .mat bombs, a FIFO, three MOSI folders)
    data = tmp / "data"
    data.mkdir()
    made = hostile_cases(data)
    secret_h5 = data / "secret.h5"  # what the external link reads: the secret planted in it as well
    with h5py.File(secret_h5, "a") as handle:
        handle.attrs["note"] = SECRET
        handle["token"] = np.frombuffer(SECRET.encode(), np.uint8)
    raw = data / "raw.bin"  # what the external raw storage reads: it begins with the secret
    raw.write_bytes((SECRET.encode() * 2000)[: raw.stat().st_size])
    pickle_path = tmp / "dag.pkl"
    pickle_path.write_bytes(tuple_dag_pickle(40, as_key=True))
    cases["dag-key-40-in-mosi-pickle"] = (
        ["data", "mosi-pickle", "--data-dir"], pickle_path, "dict key|expand to more than"
    )  # fmt: skip
    gz_folder = _digits_folder(tmp / "digits-gz", {"train-images-idx3-ubyte.gz": made["gzip bomb"][1]})
    cases["gzip-idx-bomb"] = (["data", "digits-real", "--data-dir"], gz_folder, made["gzip bomb"][2])
    mat_folder = _digits_folder(tmp / "digits-mat", {"train_32x32.mat": made["svhn bomb"][1]})
    cases["svhn-mat-declaring-500k-images"] = (
        ["data", "digits-real", "--data-dir"], mat_folder, made["svhn bomb"][2]
    )  # fmt: skip
    mosi = ["data", "mosi", "--data-dir"]
    cases["mosi-h5-declaring-60000x20x325"] = (mosi, *made["h5 declared size"][1:])
    cases["mosi-h5-external-link-to-secret"] = (mosi, *made["h5 external link"][1:])
    cases["mosi-h5-external-storage-in-secret"] = (mosi, *made["h5 external storage"][1:])
    secret_folder = tmp / "secret-pickle"
    secret_folder.mkdir()
    # test_hostile_data's server-file case: parsed as a pickle GLOBAL whose "module" is the secret line
    (secret_folder / "notes.pkl").write_text(f"c{SECRET}\nvalue\n.")
    cases["pickle-whose-first-line-is-a-secret"] = (
        ["data", "mosi-pickle", "--data-dir"], secret_folder, "refusing to load a global"
    )  # fmt: skip
    fifo_folder = tmp / "fifo"
    fifo_folder.mkdir()
    made["fifo pickle"][1].rename(fifo_folder / "aligned_50.pkl")
    cases["fifo-pickle-in-data-folder"] = (
        ["data", "mosi-pickle", "--data-dir"], fifo_folder, made["fifo pickle"][2]
    )  # fmt: skip

    out = {}
    for name, (command, target, message) in cases.items():
        if isinstance(target, bytes):
            path = tmp / f"{name}.pt"
            path.write_bytes(target)
            target = path
        out[name] = ([*command, str(target)], message)
    return out


@pytest.fixture(scope="module")
def hostile_inputs(tmp_path_factory) -> dict[str, tuple[list[str], str]]:
    if not hasattr(os, "mkfifo"):
        pytest.skip("needs a POSIX system (a FIFO, /proc/self/status)")  # Linux CI always has them
    built = _build(tmp_path_factory.mktemp("hostile-cli"))
    assert sorted(built) == sorted(CASES)
    return built


def _run_cli(argv: list[str]) -> tuple[int, str, int, float]:
    """(exit status, stdout + stderr without the peak line, peak resident kB, wall seconds) of the CLI in a fresh,
    capped process."""
    env = {k: v for k, v in os.environ.items() if k not in ("MFM_DEBUG", "MFM_MAX_PARAMETERS")}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(ADDRESS_SPACE), *argv],
        capture_output=True, text=True, errors="replace", timeout=TIMEOUT, cwd=ROOT, env=env,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    lines = result.stdout.rstrip("\n").split("\n")
    assert lines and lines[-1].startswith("PEAK_KB "), (argv, result.returncode, result.stdout[-2000:],
                                                        result.stderr[-2000:])  # fmt: skip
    peak_kb = int(lines[-1].split()[1])
    output = "\n".join(lines[:-1]) + "\n" + result.stderr
    return result.returncode, output.strip(), peak_kb, seconds


@pytest.mark.parametrize("case", CASES)
def test_the_cli_refuses_a_hostile_input_fast_small_and_quietly(hostile_inputs, case):
    argv, message = hostile_inputs[case]
    status, output, peak_kb, seconds = _run_cli(argv)
    print(f"{case}: exit {status}, peak {peak_kb / 1024:.0f} MiB, {seconds:.1f} s: {output[:300]}")
    assert status != 0, (case, output)
    assert "Traceback" not in output, (case, output[-3000:])
    assert len(output.splitlines()) <= MAX_LINES and len(output) < 1500, (case, output[:3000])
    assert re.search(r"^(INVALID|error): ", output, re.MULTILINE), (case, output)
    assert re.search(message, output), (case, message, output)
    assert status != 3 and "MFM_DEBUG" not in output, (case, output)  # 3: an exception no check foresaw
    assert SECRET not in output and "TOKEN-4242" not in output, (case, output)
    assert peak_kb < MAX_PEAK_KB, (case, peak_kb)
    assert seconds < MAX_SECONDS, (case, seconds)
