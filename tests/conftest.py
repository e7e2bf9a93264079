"""Shared fixtures: tiny configs of both model kinds and matching random batches."""

from __future__ import annotations

import pytest
import torch

from mfm.config import MFMConfig, ModalityConfig


def tiny_sequence_config(**overrides) -> MFMConfig:
    """Three short sequence modalities fused by the Memory Fusion Network (a small MOSI)."""
    base = dict(
        modalities=(
            ModalityConfig("language", "sequence", (6, 12), code_dim=6, factor_dim=5, hidden_dim=8),
            ModalityConfig("acoustic", "sequence", (6, 3), code_dim=3, factor_dim=2, hidden_dim=4),
            ModalityConfig("visual", "sequence", (6, 4), code_dim=4, factor_dim=3, hidden_dim=5),
        ),
        task="regression",
        shared_code_dim=6,
        shared_factor_dim=4,
        factor_hidden_dim=8,
        head_hidden_dim=8,
        fusion="mfn",
        mfn_memory_dim=6,
        mfn_attention_hidden_dim=8,
        surrogate=True,
        surrogate_hidden_dim=8,
    )
    base.update(overrides)
    return MFMConfig(**base)


def tiny_image_config(**overrides) -> MFMConfig:
    """A street-view-like 3x32x32 and an MNIST-like 1x28x28 modality fused by concatenation."""
    base = dict(
        modalities=(
            ModalityConfig("svhn", "image", (3, 32, 32), code_dim=4, factor_dim=4, hidden_dim=4),
            ModalityConfig("mnist", "image", (1, 28, 28), code_dim=4, factor_dim=4, hidden_dim=4),
        ),
        task="classification",
        num_classes=10,
        shared_code_dim=6,
        shared_factor_dim=5,
        factor_hidden_dim=8,
        head_hidden_dim=8,
        fusion="concat",
        fusion_hidden_dim=8,
        surrogate=True,
        surrogate_hidden_dim=8,
    )
    base.update(overrides)
    return MFMConfig(**base)


def random_batch(
    config: MFMConfig, batch: int = 5, seed: int = 0
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Inputs shaped for `config` (images in [0, 1]) and labels of its task."""
    g = torch.Generator().manual_seed(seed)
    inputs = {}
    for m in config.modalities:
        x = (
            torch.rand((batch, *m.shape), generator=g)
            if m.kind == "image"
            else torch.randn((batch, *m.shape), generator=g)
        )
        inputs[m.name] = x
    if config.task == "classification":
        labels = torch.randint(0, config.num_classes, (batch,), generator=g)
    else:
        labels = torch.rand(batch, generator=g) * 6 - 3
    return inputs, labels


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tests use tiny models, for which one thread is fastest; it also keeps parallel test runs from thrashing."""
    import os

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    # What the thread policy (mfm.threads) reads: the app and the command lines run in-process keep one thread.
    os.environ.setdefault("MFM_THREADS", "1")
    yield
    torch.set_num_threads(previous)


@pytest.fixture(params=["sequence", "image"])
def config(request) -> MFMConfig:
    """Each model kind in turn."""
    return tiny_sequence_config() if request.param == "sequence" else tiny_image_config()


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory):
    """A private data-set cache folder for the whole test session (the user's cache is never touched)."""
    import os

    path = tmp_path_factory.mktemp("mfm-cache")
    previous = os.environ.get("MFM_CACHE_DIR")
    os.environ["MFM_CACHE_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("MFM_CACHE_DIR", None)
    else:
        os.environ["MFM_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def sentiment_checkpoint(tmp_path_factory, data_cache):
    """A sequence MFM trained for one epoch on 64 planted-sentiment segments by the real CLI (seconds)."""
    from mfm.cli import main

    path = tmp_path_factory.mktemp("checkpoints") / "sentiment_tiny.pt"
    assert (
        main(["train", "--dataset", "sentiment", "--epochs", "1", "--limit", "64", "--out", str(path)]) == 0
    )
    return path
