"""Whether a modality generated without its own input still shows its sample's label, judged by the independent
digit classifiers (:mod:`mfm.eval.classifiers`).

For every image modality m with a classifier, on a seeded subsample of the test split: the share of X̂_m generated
without X_m (surrogate inference, paper Eq. 5; zero-filling X_m for a model without it) that the classifier reads
as the sample's label, beside the share of the full-data X̂_m and of the real X_m (the ceiling).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mfm.eval import classifiers as judges
from mfm.inference import run, sample_indices, take
from mfm.model import MFM


def missing_image_reading(
    model: MFM, dataset: Any, max_samples: int = 500, seed: int = 0, classifier_dir: str | None = None
) -> tuple[dict[str, dict[str, float]], int]:
    """({modality: {"without", "with", "real"}}, samples): shares read as the label, for every image modality of
    a classification model that has a classifier of its shape ({} when none has, or for other models).

    "without" comes from surrogate inference when the model has it, else from zero-filling X_m.
    """
    config = model.config
    if config.task != "classification" or config.kind != "image":
        return {}, 0
    shapes = {m: tuple(config.modality(m).shape) for m in model.modality_names}
    found = judges.load_classifiers(model.modality_names, classifier_dir)
    found = {m: c for m, c in found.items() if tuple(getattr(c, "shape", shapes[m])) == shapes[m]}
    if not found:
        return {}, 0
    test = dataset.splits["test"]
    index = sample_indices(len(test), max_samples, seed)
    inputs, labels = take(test.inputs, index), np.asarray(test.labels)[index]
    full = run(model, inputs, keep=("reconstructions",)).reconstructions
    measured = {}
    for name, classifier in found.items():
        if config.surrogate:
            observed = {n: x for n, x in inputs.items() if n != name}
            without = run(model, observed, missing=name, keep=("reconstructions",))
        else:
            without = run(model, {**inputs, name: np.zeros_like(inputs[name])}, keep=("reconstructions",))
        measured[name] = {
            "without": judges.accuracy(classifier, without.reconstructions[name], labels),
            "with": judges.accuracy(classifier, full[name], labels),
            "real": judges.accuracy(classifier, inputs[name], labels),
        }
    return measured, len(index)
