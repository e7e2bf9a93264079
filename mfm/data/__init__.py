"""Data sets for the MFM toolkit, all usable offline.

`load_dataset(name, data_dir=None, seed=0, progress=None)` returns a `MultimodalDataset` of three `Split`s;
`list_datasets()` describes the names: "digits", "digits-real", "sentiment", "mosi", "mosi-pickle".

Conventions (the rest of the project codes against them):
- inputs: modality -> float32 (N, ...); images (N, C, H, W) in [0, 1], sequences (N, T, D). Modality order is
  fixed: ("svhn", "mnist") for digits, ("language", "acoustic", "visual") for sentiment data.
- labels: (N,) int64 class ids, or float32 sentiment in [-3, 3].
- extras (first axis N): "mask/<modality>" (N, T) bool planted label-bearing steps; "words" (N, T) str;
  "style/<modality>/<param>" recorded style (e.g. "style/svhn/fg_color" (N, 3)); "speaker", "speaker_type" (N,)
  int; "index/<source>" or "index" source rows.
- Bad input raises `mfm.errors.DataError` naming the file and the problem; NaN and inf are refused.
"""

from mfm.data.registry import check_data_version, list_datasets, load_dataset
from mfm.data.types import DatasetSpec, MultimodalDataset, Split

__all__ = ["DatasetSpec", "MultimodalDataset", "Split", "check_data_version", "list_datasets", "load_dataset"]
