"""Reference outputs of the shipped version-1 demos, computed with the code before format version 2.

Kept as it was run. The improved digits demo has since been replaced by a version-2 file (issue 15) and its
entries dropped from v1_demo_outputs.npz; the other two are unchanged.
"""

import sys

import numpy as np
import torch

from mfm.checkpoint import load_checkpoint

out = {}
g = torch.Generator().manual_seed(1234)
for name in ("sentiment_mfm", "digits_mfm_paper", "digits_mfm_improved"):
    loaded = load_checkpoint(f"/work/main/assets/checkpoints/{name}.pt")
    model = loaded.model
    inputs = {}
    for m in model.config.modalities:
        x = (
            torch.rand((2, *m.shape), generator=g)
            if m.kind == "image"
            else torch.randn((2, *m.shape), generator=g)
        )
        inputs[m.name] = x
        out[f"{name}/input/{m.name}"] = x.numpy()
    runs = [(None, model(inputs))]
    if model.config.surrogate:
        for m in model.modality_names:
            runs.append((m, model({k: v for k, v in inputs.items() if k != m}, missing=m)))
    for missing, o in runs:
        tag = f"{name}/{missing or 'all'}"
        out[f"{tag}/prediction"] = o.prediction.detach().numpy()
        out[f"{tag}/shared_factor"] = o.shared_factor.detach().numpy()
        for k, v in o.reconstructions.items():
            out[f"{tag}/recon/{k}"] = v.detach().numpy()
        for k, v in o.modality_factors.items():
            out[f"{tag}/factor/{k}"] = v.detach().numpy()
np.savez_compressed(sys.argv[1], **out)
print(len(out), "arrays")
