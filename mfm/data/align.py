"""Aligning sequence modalities of different lengths to one length, as MMSA does for its unaligned pickles.

MMSA's unaligned CMU-MOSI pickle holds text, audio and vision sequences of different lengths (text 50 steps,
audio and vision several hundred frames). Its models that need equal lengths put the three through
`AlignSubNet(args, "avg_pool")` (thuiar/MMSA, `src/MMSA/models/subNets/AlignNets.py`, used by the `AMIO`
wrapper when `need_model_aligned` is set). Read from that file, its average-pooling rule is:

- the target length L is the **text** length; the text itself is never pooled;
- a modality of length T == L is returned unchanged (and nothing is done at all when audio and vision both
  already have length L);
- if L divides T: windows of T / L consecutive frames, no padding;
- otherwise: the sequence is first padded at its end with L - (T mod L) copies of its **last frame**, then cut
  into L consecutive windows of floor(T / L) + 1 frames; each output step is the mean of its window. (When
  T < L this pads to L frames and the windows hold one frame each: the sequence is extended by repeating its
  last frame.)

So 6 frames to 3 steps average pairs (x0+x1)/2, (x2+x3)/2, (x4+x5)/2, and 7 frames to 3 steps pad to
x0..x6, x6, x6 and average triples: (x0+x1+x2)/3, (x3+x4+x5)/3, (x6+x6+x6)/3 = x6.

This module reimplements that rule in numpy (it is not MMSA's code). Means are taken in float64 and stored as
float32, so they can differ from MMSA's float32 torch means in the last bit.
"""

from __future__ import annotations

import numpy as np

from mfm.errors import DataError

ALIGN_MODES: tuple[str, ...] = ("none", "avg_pool")
ALIGN_REFERENCE = "language"  # MMSA aligns to the text length


def check_align(align: object) -> str:
    """Return `align` if it names an alignment mode ("none" or "avg_pool"); raise DataError otherwise."""
    if not isinstance(align, str) or align not in ALIGN_MODES:
        raise DataError(f"align must be one of {', '.join(repr(m) for m in ALIGN_MODES)}, got {align!r}")
    return align


def avg_pool_to_length(x: np.ndarray, length: int) -> np.ndarray:
    """Average-pool a batch of sequences (N, T, D) to (N, length, D) with MMSA's 'avg_pool' rule (see above)."""
    if x.ndim != 3:
        raise DataError(f"avg_pool alignment needs (N, T, D) sequences, got shape {x.shape}")
    if isinstance(length, bool) or not isinstance(length, int | np.integer) or length < 1:
        raise DataError(f"avg_pool alignment needs a target length >= 1, got {length!r}")
    n, steps, dim = x.shape
    if steps == length:
        return x
    if steps == 0:
        raise DataError("avg_pool alignment cannot pool a sequence of length 0")
    remainder = steps % length
    if remainder == 0:
        pad, window = 0, steps // length
    else:
        pad, window = length - remainder, steps // length + 1
    if pad:
        last = np.repeat(x[:, -1:, :], pad, axis=1)
        x = np.concatenate([x, last], axis=1)
    pooled = x.reshape(n, length, window, dim).mean(axis=2, dtype=np.float64)
    return pooled.astype(np.float32)


def align_inputs(
    inputs: dict[str, np.ndarray], align: str, *, reference: str = ALIGN_REFERENCE
) -> dict[str, np.ndarray]:
    """Apply alignment `align` to one split's sequence inputs {modality: (N, T, D)}; returns a new dict.

    "none" returns the arrays as they are; "avg_pool" pools every modality other than `reference` to the
    reference's length (MMSA pools audio and vision to the text length and leaves the text alone).
    """
    check_align(align)
    if align == "none":
        return dict(inputs)
    if reference not in inputs:
        raise DataError(f"avg_pool alignment needs the {reference} modality, found {', '.join(inputs)}")
    length = int(inputs[reference].shape[1])
    return {m: x if m == reference else avg_pool_to_length(x, length) for m, x in inputs.items()}
