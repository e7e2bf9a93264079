"""Generation from chosen factors: grids, cross-modal swaps, interpolation, traversal, prototypes, side effects."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import random_batch, tiny_image_config

from interpret.generation import (
    cross_modal_grid,
    encode_modality_factor,
    factor_range,
    interpolate_labels,
    interpolation_weights,
    style_label_grid,
    traverse_factor,
)
from mfm.errors import MFMError
from mfm.eval.prototypes import class_prototypes
from mfm.inference import FACTORS, Outputs, run
from mfm.model import MFM


def _model(config, seed: int = 0) -> MFM:
    torch.manual_seed(seed)
    return MFM(config).eval()


def _factors(model: MFM, batch: int = 6, seed: int = 0) -> tuple[dict[str, torch.Tensor], Outputs]:
    inputs, _ = random_batch(model.config, batch=batch, seed=seed)
    return inputs, run(model, inputs, keep=(*FACTORS, "prediction"))


class DecoderSpy:
    """Records the input [F_y ; F_i] of every call of one decoder (a forward pre-hook, removed on exit)."""

    def __init__(self, model: MFM, modality: str) -> None:
        self.module = model.decoders[modality]
        self.inputs: list[torch.Tensor] = []

    def __enter__(self) -> DecoderSpy:
        self.handle = self.module.register_forward_pre_hook(
            lambda _, args: self.inputs.append(args[0].clone())
        )
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()


# ---------------------------------------------------------------------------------------------------------------
# Gathering factors
# ---------------------------------------------------------------------------------------------------------------
def test_modality_factor_reads_its_own_modality_only(config):
    model = _model(config)
    inputs, factors = _factors(model)
    for name in config.modality_names:
        np.testing.assert_allclose(
            encode_modality_factor(model, name, inputs[name]), factors.modality_factors[name], atol=1e-6
        )
    with pytest.raises(ValueError, match="samples must be"):
        encode_modality_factor(model, config.modality_names[0], inputs[config.modality_names[0]][0])


def test_class_prototypes_on_a_hand_made_example():
    shared = np.array([[1.0, 0.0], [3.0, 2.0], [10.0, 10.0], [0.0, 4.0]])
    labels = np.array([0, 0, 2, 1])
    expected = np.array([[2.0, 1.0], [0.0, 4.0], [10.0, 10.0]])
    np.testing.assert_allclose(class_prototypes(shared, labels, 3), expected)
    with pytest.raises(ValueError, match=r"no sample of class\(es\) \[3\]"):
        class_prototypes(shared, labels, 4)
    with pytest.raises(ValueError, match=r"integers in 0\.\.1"):
        class_prototypes(shared, labels, 2)
    with pytest.raises(ValueError, match="labels must be"):
        class_prototypes(shared, labels[:3], 3)


def test_factor_range_is_the_observed_range():
    factors = np.array([[0.0, 5.0], [1.0, 0.0], [3.0, 0.0], [2.0, 0.0]])
    assert factor_range(factors, 0) == (0.0, 3.0)
    assert factor_range(factors, 1) == (0.0, 5.0)
    assert factor_range(factors, 0, quantiles=(0.5, 0.5)) == (1.5, 1.5)
    assert factor_range(np.zeros((4, 2)), 1) == (0.0, 0.0)  # a dead unit
    with pytest.raises(ValueError, match="dim must be"):
        factor_range(factors, 2)
    with pytest.raises(ValueError, match="quantiles"):
        factor_range(factors, 0, quantiles=(0.9, 0.1))


# ---------------------------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------------------------
def test_style_label_grid_is_every_pair_in_one_decoder_call(config):
    model = _model(config)
    _, factors = _factors(model)
    name = config.modality_names[-1]
    labels, styles = factors.shared_factor[:4], factors.modality_factors[name][1:4]  # L = 4, S = 3
    with DecoderSpy(model, name) as spy:
        grid = style_label_grid(model, name, styles, labels)
    assert grid.shape == (4, 3, *config.modality(name).shape)
    assert len(spy.inputs) == 1 and spy.inputs[0].shape[0] == 12
    # grid[l, s] is G([label_l ; style_s]): exactly the decode of that batch of pairs, built by hand...
    shared = torch.cat([torch.as_tensor(labels[i : i + 1]) for i in range(4) for _ in range(3)])
    style = torch.cat([torch.as_tensor(styles[s : s + 1]) for _ in range(4) for s in range(3)])
    with torch.no_grad():
        by_hand = model.decode_modality(name, shared, style).numpy().reshape(grid.shape)
    np.testing.assert_array_equal(grid, by_hand)
    # ...and, pair by pair, a batch of one (equal up to the batch size's float rounding).
    with torch.no_grad():
        one = model.decode_modality(name, torch.as_tensor(labels[2:3]), torch.as_tensor(styles[1:2]))
    np.testing.assert_allclose(grid[2, 1], one[0].numpy(), atol=1e-6, rtol=0)


def test_grid_of_the_models_own_factors_reproduces_its_reconstructions(config):
    model = _model(config)
    inputs, factors = _factors(model, batch=5)
    with torch.no_grad():
        out = model(inputs)
    for name in config.modality_names:
        grid = style_label_grid(
            model, name, factors.modality_factors[name], factors.shared_factor
        )  # (5, 5, ...)
        diagonal = grid[np.arange(5), np.arange(5)]
        np.testing.assert_allclose(diagonal, out.reconstructions[name].numpy(), atol=1e-6, rtol=0)


def test_style_label_grid_checks_its_inputs():
    model = _model(tiny_image_config())
    fy, fi = model.config.shared_factor_dim, model.config.modality("svhn").factor_dim
    assert style_label_grid(model, "svhn", np.ones(fi), np.ones(fy)).shape == (1, 1, 3, 32, 32)
    with pytest.raises(ValueError, match=f"style_factors must be \\(rows, {fi}\\)"):
        style_label_grid(model, "svhn", np.ones((2, fi + 1)), np.ones((2, fy)))
    with pytest.raises(MFMError, match="unknown modality 'audio'"):
        style_label_grid(model, "audio", np.ones((2, fi)), np.ones((2, fy)))


def test_cross_modal_grid_takes_the_label_from_the_other_modality_alone():
    config = tiny_image_config()
    model = _model(config)
    style_inputs, _ = random_batch(config, batch=3, seed=1)
    label_inputs, _ = random_batch(config, batch=2, seed=2)
    # The generated modality's own label samples are never read: poison them.
    poisoned = {**label_inputs, "svhn": torch.full_like(label_inputs["svhn"], float("nan"))}
    grid = cross_modal_grid(model, "svhn", style_inputs["svhn"], poisoned)
    assert grid.shape == (2, 3, 3, 32, 32) and np.isfinite(grid).all()
    label = run(model, {"mnist": label_inputs["mnist"]}, missing="svhn", keep=FACTORS).shared_factor
    style = encode_modality_factor(model, "svhn", style_inputs["svhn"])
    np.testing.assert_array_equal(grid, style_label_grid(model, "svhn", style, label))
    # label_source="all": the joint F_y; with the same samples on both sides the diagonal is the reconstruction.
    joint = cross_modal_grid(model, "mnist", style_inputs["mnist"], style_inputs, label_source="all")
    with torch.no_grad():
        out = model(style_inputs)
    np.testing.assert_allclose(
        joint[np.arange(3), np.arange(3)], out.reconstructions["mnist"].numpy(), atol=1e-6
    )
    with pytest.raises(MFMError, match="surrogate"):
        cross_modal_grid(_model(config.replace(surrogate=False)), "svhn", style_inputs["svhn"], label_inputs)
    with pytest.raises(ValueError, match="label_source"):
        cross_modal_grid(model, "svhn", style_inputs["svhn"], label_inputs, label_source="mnist")


def test_interpolation_endpoints_are_the_decodes_of_start_and_end(config):
    model = _model(config)
    _, factors = _factors(model)
    name = config.modality_names[0]
    style, start, end = factors.modality_factors[name][0], factors.shared_factor[1], factors.shared_factor[2]
    path = interpolate_labels(model, name, style, start, end, steps=5)
    assert path.shape == (5, *config.modality(name).shape)
    ends = style_label_grid(model, name, style, np.stack([start, end]))[:, 0]  # (2, ...)
    np.testing.assert_allclose(path[0], ends[0], atol=1e-6, rtol=0)
    np.testing.assert_allclose(path[-1], ends[1], atol=1e-6, rtol=0)
    with DecoderSpy(model, name) as spy:
        interpolate_labels(model, name, style, start, end, steps=5)
    fy = config.shared_factor_dim
    decoded = spy.inputs[0]  # (5, fy + fi)
    np.testing.assert_array_equal(decoded[0, :fy].numpy(), start)  # exact at t = 0 and t = 1
    np.testing.assert_array_equal(decoded[-1, :fy].numpy(), end)
    np.testing.assert_allclose(decoded[2, :fy].numpy(), (start + end) / 2, atol=1e-6)
    assert (decoded[:, fy:] == torch.as_tensor(style)).all()
    np.testing.assert_allclose(interpolation_weights(5), [0, 0.25, 0.5, 0.75, 1])
    with pytest.raises(ValueError, match="steps must be an integer >= 2"):
        interpolate_labels(model, name, style, start, end, steps=1)


@pytest.mark.parametrize("which", ["shared", "modality"])
def test_traversal_changes_only_the_chosen_dimension(config, which):
    model = _model(config)
    _, factors = _factors(model)
    name = config.modality_names[1]
    shared, style = factors.shared_factor[0], factors.modality_factors[name][0]
    dim = 1
    low, high = factor_range(
        factors.shared_factor if which == "shared" else factors.modality_factors[name], dim
    )
    values = np.linspace(low, high + 1.0, 4)
    with DecoderSpy(model, name) as spy:
        images = traverse_factor(model, name, shared, style, which, dim, values)
    assert images.shape == (4, *config.modality(name).shape)
    decoded = spy.inputs[0].numpy()  # (4, fy + fi)
    column = dim if which == "shared" else config.shared_factor_dim + dim
    expected = np.tile(np.concatenate([shared, style]), (4, 1))
    expected[:, column] = values
    np.testing.assert_allclose(decoded, expected, atol=1e-7)
    # Rows differ because the one dimension does: the first row is the untouched pair with that value.
    with pytest.raises(ValueError, match="dim must be"):
        traverse_factor(model, name, shared, style, which, 99, values)
    with pytest.raises(ValueError, match="which must be"):
        traverse_factor(model, name, shared, style, "label", dim, values)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------------
# Side effects
# ---------------------------------------------------------------------------------------------------------------
def test_functions_leave_mode_and_requires_grad_as_they_were():
    config = tiny_image_config()
    torch.manual_seed(0)
    model = MFM(config).train()
    model.decoders["svhn"].eval()  # a deliberately mixed state must come back as it was
    next(model.head.parameters()).requires_grad_(False)
    modes = {name: m.training for name, m in model.named_modules()}
    grads = {name: p.requires_grad for name, p in model.named_parameters()}
    inputs, _ = random_batch(config, batch=4)
    factors = run(model, inputs, keep=(*FACTORS, "prediction"))
    fi, fy = factors.modality_factors["svhn"], factors.shared_factor
    outputs = [
        style_label_grid(model, "svhn", fi, fy),
        cross_modal_grid(model, "svhn", inputs["svhn"], inputs),
        interpolate_labels(model, "svhn", fi[0], fy[0], fy[1], 3),
        traverse_factor(model, "svhn", fy[0], fi[0], "shared", 0, [0.0, 1.0]),
        encode_modality_factor(model, "mnist", inputs["mnist"]),
    ]
    assert all(isinstance(o, np.ndarray) for o in outputs)
    with pytest.raises(ValueError):
        style_label_grid(model, "svhn", fi[:, :1], fy)
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert {name: p.requires_grad for name, p in model.named_parameters()} == grads
    assert all(p.grad is None for p in model.parameters())
    # Eval mode inside: factors gathered from a training model equal those of the same model in eval mode.
    np.testing.assert_allclose(run(model.eval(), inputs, keep=FACTORS).shared_factor, fy, atol=1e-6)
