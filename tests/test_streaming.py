"""Work over splits too large to hold: the streamed PCA, the streamed information and features read from HDF5."""

from __future__ import annotations

import platform

import h5py
import numpy as np
import pytest
import torch
from conftest import random_batch, tiny_sequence_config
from sklearn.decomposition import PCA

import interpret.analysis as analysis
from interpret.gradients import GradientSettings
from interpret.information import (
    InformationSettings,
    Streamed,
    modality_information,
    streamed_principal_components,
)
from mfm.inference import FACTORS, run, take
from mfm.memory import release_free_memory
from mfm.model import MFM


def _rows(n: int = 400, d: int = 60, seed: int = 0) -> np.ndarray:
    """(n, d) samples with a clear spectrum: variances 9, 4, 1, then 0.01 per remaining direction, rotated."""
    rng = np.random.default_rng(seed)
    scales = np.concatenate([[3.0, 2.0, 1.0], np.full(d - 3, 0.1)])
    rotation = np.linalg.qr(rng.standard_normal((d, d)))[0]
    return (rng.standard_normal((n, d)) * scales) @ rotation.T + 5.0  # an offset the mean pass must remove


def test_streamed_pca_equals_scikit_learns_pca_up_to_sign():
    x = _rows()
    reference = PCA(n_components=3, random_state=0).fit(x)
    expected = reference.transform(x)
    projection, kept = streamed_principal_components(
        Streamed(len(x), lambda: np.array_split(x, 7)), 3, seed=0
    )
    signs = np.sign((projection * expected).sum(axis=0))
    np.testing.assert_allclose(projection * signs, expected, atol=1e-9)
    assert kept == pytest.approx(reference.explained_variance_ratio_.sum(), rel=1e-12)
    # Each component's largest loading is positive, whatever the seed of the random start.
    again, _ = streamed_principal_components(Streamed(len(x), lambda: np.array_split(x, 3)), 3, seed=5)
    np.testing.assert_allclose(again, projection, atol=1e-9)


def test_streamed_pca_reads_images_and_keeps_what_is_not_reduced():
    x = np.random.default_rng(1).standard_normal((50, 2, 1, 1))  # 2 features: fewer than 3 components
    projection, kept = streamed_principal_components(Streamed(50, lambda: np.array_split(x, 4)), 3)
    np.testing.assert_array_equal(projection, x.reshape(50, 2))
    assert kept == 1.0


def test_streamed_pca_refuses_a_wrong_count_and_non_finite_rows():
    x = _rows(n=40)
    with pytest.raises(ValueError, match="gave 40 rows, expected 41"):
        streamed_principal_components(Streamed(41, lambda: np.array_split(x, 2)), 3)
    bad = x.copy()
    bad[17, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        streamed_principal_components(Streamed(40, lambda: np.array_split(bad, 2)), 3)
    with pytest.raises(ValueError, match="n_components"):
        streamed_principal_components(Streamed(40, lambda: np.array_split(x, 2)), 0)


def test_modality_information_is_the_same_streamed_or_held():
    rng = np.random.default_rng(2)
    f_y, f_a = rng.standard_normal((300, 4)), rng.standard_normal((300, 3))
    mixing = rng.standard_normal((7, 80))
    x = np.tanh(np.concatenate([f_y, f_a], axis=1) @ mixing) + 0.1 * rng.standard_normal((300, 80))
    options = dict(n_bootstrap=6, n_null=3, seed=4)
    held = modality_information(f_y, f_a, x.reshape(300, 8, 10), **options)
    streamed = modality_information(f_y, f_a, Streamed(300, lambda: np.array_split(x, 5)), **options)
    assert streamed.ratio == pytest.approx(held.ratio, rel=1e-9)
    assert streamed.shared.low == pytest.approx(held.shared.low, rel=1e-9)
    assert streamed.modality.null_high == pytest.approx(held.modality.null_high, rel=1e-9, abs=1e-12)
    assert streamed.variance_kept == pytest.approx(held.variance_kept, rel=1e-9)
    with pytest.raises(ValueError, match="same number of samples"):
        modality_information(f_y, f_a, Streamed(299, lambda: np.array_split(x[:299], 5)), **options)


@pytest.fixture
def sequence_model() -> tuple[MFM, dict[str, np.ndarray]]:
    torch.manual_seed(0)
    model = MFM(tiny_sequence_config())
    inputs, _ = random_batch(model.config, batch=90, seed=3)
    return model, {name: x.numpy() for name, x in inputs.items()}


@pytest.mark.parametrize("intervention", ["none", "shuffle_shared"])
@pytest.mark.parametrize("tier", ["held, reduced by batches", "decoded on every pass"])
def test_information_streams_the_reconstructions_above_the_limits(
    sequence_model, monkeypatch, intervention, tier
):
    model, inputs = sequence_model
    settings = InformationSettings(max_samples=None, n_bootstrap=4, n_null=2, seed=1)
    held = analysis.information_by_modality(model, inputs, settings, intervention=intervention)
    streams = []
    for name in ("held_stream", "decoded_stream"):
        real = getattr(analysis, name)

        def counting(*args, real=real, name=name):
            streams.append(name)
            return real(*args)

        monkeypatch.setattr(analysis, name, counting)
    size = analysis.reconstruction_bytes(model, 90)
    monkeypatch.setattr(analysis, "STREAM_BYTES", size - 1)
    if tier == "decoded on every pass":
        monkeypatch.setattr(analysis, "HOLD_BYTES", size - 1)
    streamed = analysis.information_by_modality(model, inputs, settings, intervention=intervention)
    kind = "held_stream" if tier.startswith("held") else "decoded_stream"
    assert streams == [kind] * len(model.modality_names)  # the limit was crossed: every modality streamed
    for name in model.modality_names:
        assert streamed[name].ratio == pytest.approx(held[name].ratio, rel=1e-7)
        assert streamed[name].shared.value == pytest.approx(held[name].shared.value, rel=1e-7, abs=1e-12)
        assert streamed[name].variance_kept == pytest.approx(held[name].variance_kept, rel=1e-7)


def test_the_collect_of_a_large_sample_keeps_no_reconstructions(sequence_model, monkeypatch):
    model, inputs = sequence_model
    settings = InformationSettings(max_samples=None)
    assert analysis._collected(model, inputs, settings, None).reconstructions is not None
    monkeypatch.setattr(analysis, "HOLD_BYTES", 0)
    collected = analysis._collected(model, inputs, settings, None)
    assert collected.reconstructions is None and collected.shared_factor.shape[0] == 90


def test_features_read_from_hdf5_stream_and_give_the_same_numbers(sequence_model, tmp_path):
    model, inputs = sequence_model
    path = tmp_path / "features.h5"
    with h5py.File(path, "w") as handle:
        for name, x in inputs.items():
            handle.create_dataset(name, data=x)
    with h5py.File(path, "r") as handle:
        lazy = {name: handle[name] for name in inputs}
        every = take(lazy, np.arange(90))
        assert all(isinstance(x, h5py.Dataset) for x in every.values())  # not read in whole
        part = take(lazy, np.array([3, 10, 50]))
        np.testing.assert_array_equal(part["visual"], inputs["visual"][[3, 10, 50]])
        from_file = run(model, lazy, keep=FACTORS, batch_size=32)
        _, flows = analysis.gradient_flows(model, lazy, GradientSettings(max_samples=None))
    in_memory = run(model, inputs, keep=FACTORS, batch_size=32)
    np.testing.assert_array_equal(from_file.shared_factor, in_memory.shared_factor)
    _, expected = analysis.gradient_flows(model, inputs, GradientSettings(max_samples=None))
    for name in model.modality_names:
        np.testing.assert_array_equal(flows[name].shared, expected[name].shared)


def test_release_free_memory_trims_where_the_c_library_is_glibc():
    assert release_free_memory() is (platform.libc_ver()[0] == "glibc")
