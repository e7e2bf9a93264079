"""Measure the data layer: load times of the offline data sets and the planted label relation.

Run from the repository root: python -m benchmarks.bench_data (about 15 s on 2 cores). The cold load uses a
temporary cache folder. Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import tempfile
import time

import numpy as np


def main() -> None:
    """Time cold and cached loads of "digits", generation of "sentiment", and ridge R^2 per sentiment stream
    (regularisation chosen by leave-one-out on the training split)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score

    from mfm.data import load_dataset

    results: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        os.environ["MFM_CACHE_DIR"] = folder
        start = time.perf_counter()
        load_dataset("digits")
        results["digits_cold_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        load_dataset("digits")
        results["digits_cached_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    data = load_dataset("sentiment")
    results["sentiment_s"] = round(time.perf_counter() - start, 2)
    train, test = data.splits["train"], data.splits["test"]
    results["ridge_r2_test"] = {}
    for modality in data.modalities:
        model = RidgeCV(alphas=np.logspace(0, 5, 11)).fit(
            train.inputs[modality].reshape(len(train), -1), train.labels
        )
        prediction = model.predict(test.inputs[modality].reshape(len(test), -1))
        results["ridge_r2_test"][modality] = round(float(r2_score(test.labels, prediction)), 3)
    results["label_energy_over_style_energy"] = data.info["label_energy_over_style_energy"]
    frequency = train.extras["mask/language"].mean(0)  # (T,) share of segments planted at each step
    results["planted_step_frequency_min_max"] = [
        round(float(frequency.min()), 3),
        round(float(frequency.max()), 3),
    ]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
