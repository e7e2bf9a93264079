"""Gradient flow and Captum attributions against hand-derivable answers, finite differences and autograd."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from conftest import random_batch, tiny_image_config, tiny_sequence_config

from interpret.gradients import (
    attribute_generated,
    captum_time_profile,
    decoder_jacobian,
    factor_spread,
    gradient_flow,
    gradient_flow_by_loop,
)
from mfm.model import MFM


def factors_of(model: MFM, batch: int = 4, seed: int = 0):
    inputs, _ = random_batch(model.config, batch=batch, seed=seed)
    with torch.no_grad():
        out = model.eval()(inputs)
    # Add a positive offset: ReLU factors can be exactly 0, where a finite difference straddles the kink.
    return out.shared_factor + 0.1, {n: f + 0.1 for n, f in out.modality_factors.items()}


def test_jacobian_of_a_linear_map_is_its_matrix():
    torch.manual_seed(0)
    linear = torch.nn.Linear(3, 5)
    jac = decoder_jacobian(linear, torch.randn(4, 3))
    assert jac.shape == (4, 5, 3)
    for b in range(4):
        assert torch.allclose(jac[b], linear.weight, atol=1e-6)


def test_gradient_flow_of_a_hand_derivable_decoder():
    # X̂^(t) = w_t * (u · v) for a 1-feature output: ∂X̂^(t)/∂u = w_t v, so the flow splits by the parts of v.
    class Toy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.v = torch.tensor([1.0, 2.0, 3.0])  # u = [F_y (2) ; F_i (1)]
            self.w = torch.tensor([1.0, 0.5, 0.0])

        def forward(self, u):
            return (self.w[None, :, None] * (u @ self.v)[:, None, None]).expand(-1, 3, 1)  # (B, T=3, D=1)

    jac = decoder_jacobian(Toy(), torch.randn(2, 3))  # (B, T, D, n)
    squared = jac.pow(2)
    shared = squared[..., :2].sum(dim=(2, 3))
    modal = squared[..., 2:].sum(dim=(2, 3))
    assert torch.allclose(shared[0], torch.tensor([5.0, 1.25, 0.0]))  # w_t² (1 + 4)
    assert torch.allclose(modal[0], torch.tensor([9.0, 2.25, 0.0]))  # w_t² 9


@pytest.mark.parametrize("kind", ["sequence", "image", "image, resize decoders"])
def test_gradient_flow_matches_autograd_jacobian_and_the_slow_loop(kind):
    torch.manual_seed(1)
    config = tiny_sequence_config() if kind == "sequence" else tiny_image_config()
    if kind.endswith("resize decoders"):
        config = config.replace(
            modalities=tuple(dataclasses.replace(m, upsampling="resize") for m in config.modalities)
        )
    kind = kind.split(",")[0]
    model = MFM(config).eval()
    shared, factors = factors_of(model, batch=3)
    # Sequences: language's flow runs through its hidden states, acoustic's does not (sequence_readout).
    for name in model.modality_names[:2]:
        _check_flow_against_the_loop_and_autograd(model, name, shared, factors, kind)


def _check_flow_against_the_loop_and_autograd(model, name, shared, factors, kind):
    flow = gradient_flow(model, name, shared, factors[name], scale="raw", batch_size=2)
    loop = gradient_flow_by_loop(model, name, shared, factors[name])
    np.testing.assert_allclose(flow.shared, loop.shared, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(flow.modality_flow, loop.modality_flow, rtol=1e-4, atol=1e-8)
    # Against torch.autograd.functional.jacobian of one sample.
    u = model.decoder_input(shared[:1], factors[name][:1])
    jac = torch.autograd.functional.jacobian(lambda x: model.decoders[name](x)[0], u)[..., 0, :]  # (*out, n)
    squared = jac.pow(2)
    reduce = (1,) if kind == "sequence" else (0,)
    expected = squared[..., : shared.shape[1]].sum(dim=(*reduce, -1))
    np.testing.assert_allclose(flow.shared[0], expected.numpy(), rtol=1e-4, atol=1e-8)
    shape = model.config.modality(name).shape
    expected_shape = (3, shape[0]) if kind == "sequence" else (3, *shape[1:])
    assert flow.shared.shape == expected_shape


def test_gradient_flow_matches_finite_differences():
    torch.manual_seed(2)
    model = MFM(tiny_sequence_config()).eval().double()
    shared, factors = factors_of(model.float(), batch=2)
    model = model.double()
    name = "acoustic"
    u = model.decoder_input(shared, factors[name]).double()
    eps = 1e-6
    fd = torch.zeros(*model.decoders[name](u).shape, u.shape[1], dtype=torch.float64)
    with torch.no_grad():
        for j in range(u.shape[1]):
            step = torch.zeros_like(u)
            step[:, j] = eps
            fd[..., j] = (model.decoders[name](u + step) - model.decoders[name](u - step)) / (2 * eps)
    jac = decoder_jacobian(model.decoders[name], u)
    torch.testing.assert_close(jac, fd, rtol=1e-5, atol=1e-7)


def test_saliency_equals_the_exact_jacobian_entry():
    torch.manual_seed(3)
    model = MFM(tiny_sequence_config()).eval()
    shared, factors = factors_of(model)
    name, t, d = "language", 2, 5
    a_y, a_i = attribute_generated(model, name, shared, factors[name], method="saliency", step=t, feature=d)
    jac = decoder_jacobian(model.decoders[name], model.decoder_input(shared, factors[name]))  # (B, T, D, n)
    k = shared.shape[1]
    np.testing.assert_allclose(a_y, jac[:, t, d, :k].detach().numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(a_i, jac[:, t, d, k:].detach().numpy(), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="unknown attribution method"):
        attribute_generated(model, name, shared, factors[name], method="shap")


def test_input_x_gradient_and_integrated_gradients_completeness():
    torch.manual_seed(4)
    model = MFM(tiny_sequence_config()).eval()
    shared, factors = factors_of(model)
    name = "visual"
    sal = attribute_generated(model, name, shared, factors[name], method="saliency", step=1)
    ixg = attribute_generated(model, name, shared, factors[name], method="input_x_gradient", step=1)
    np.testing.assert_allclose(ixg[0], sal[0] * shared.numpy(), rtol=1e-5, atol=1e-7)
    # Integrated gradients from the zero baseline sum to f(x) - f(0) (completeness, up to the Riemann error).
    a_y, a_i = attribute_generated(
        model, name, shared, factors[name], method="integrated_gradients", step=1, n_steps=200
    )
    with torch.no_grad():
        u = model.decoder_input(shared, factors[name])
        delta = model.decoders[name](u)[:, 1].sum(-1) - model.decoders[name](torch.zeros_like(u))[:, 1].sum(
            -1
        )
    np.testing.assert_allclose(a_y.sum(-1) + a_i.sum(-1), delta.numpy(), rtol=1e-2, atol=1e-4)


def test_captum_time_profile_with_saliency_is_the_squared_frame_gradient():
    torch.manual_seed(5)
    model = MFM(tiny_sequence_config()).eval()
    shared, factors = factors_of(model)
    profile = captum_time_profile(
        model, "language", shared, factors["language"], method="saliency", scale="raw"
    )
    jac = decoder_jacobian(model.decoders["language"], model.decoder_input(shared, factors["language"]))
    frame_grad = jac.detach().sum(dim=2)  # ∂(Σ_d X̂[t, d]) / ∂u: (B, T, n)
    k = shared.shape[1]
    np.testing.assert_allclose(
        profile.shared, frame_grad[..., :k].pow(2).sum(-1).numpy(), rtol=1e-4, atol=1e-8
    )


def model_state(model: MFM):
    return (
        model.training,
        [p.requires_grad for p in model.parameters()],
        [p.grad is None for p in model.parameters()],
        sum(
            len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks)
            for m in model.modules()
        ),
    )


@pytest.mark.parametrize("training", [True, False])
def test_attribution_leaves_the_model_as_it_found_it(training):
    torch.manual_seed(7)
    model = MFM(tiny_sequence_config())
    shared, factors = factors_of(model)
    model.train(training)
    before = model_state(model)
    gradient_flow(model, "language", shared, factors["language"])
    for method in ("saliency", "input_x_gradient", "integrated_gradients"):
        attribute_generated(model, "language", shared, factors["language"], method=method, step=0)
    captum_time_profile(model, "visual", shared, factors["visual"])
    assert model_state(model) == before


@pytest.mark.parametrize("kind", ["sequence", "image"])
def test_squared_derivatives_in_chunks_equal_the_full_jacobian(kind, monkeypatch):
    """The flow's reduction inside the vectorised map (issue 16): per direction, Σ over features or channels of
    the squared Jacobian and its weights, the same whether the directions run one at a time or all at once."""
    import interpret.gradients as gradients

    torch.manual_seed(4)
    model = MFM(tiny_sequence_config() if kind == "sequence" else tiny_image_config()).eval()
    shared, factors = factors_of(model, batch=3)
    name = model.modality_names[-1]
    u = model.decoder_input(shared, factors[name]).detach()
    reduce_dim = 2 if kind == "sequence" else 1
    jac = decoder_jacobian(model.decoders[name], u)  # (B, *out, n)
    weights = torch.rand(u.shape[1])
    expected = (jac.pow(2) * weights).sum(dim=reduce_dim).movedim(-1, 0)  # (n, B, *rest)
    for elements in (1, 1 << 30):  # chunks of one direction; every direction in one chunk
        monkeypatch.setattr(gradients, "_CHUNK_ELEMENTS", elements)
        got = gradients.squared_derivatives(model.decoders[name], u, reduce_dim, weights)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-9)


def test_the_image_flow_runs_on_a_channels_last_copy_and_leaves_the_model_as_it_was():
    """The image flow differentiates a channels-last copy of the decoder (oneDNN's faster layout): the model's
    own weights keep their layout and its outputs their bits, and the flow equals the plain decoder's."""
    import interpret.gradients as gradients

    torch.manual_seed(8)
    model = MFM(tiny_image_config()).eval()
    shared, factors = factors_of(model, batch=3)
    u = model.decoder_input(shared, factors["svhn"]).detach()
    with torch.no_grad():
        before = model.decoders["svhn"](u)
    copy, readout = gradients._differentiated(model.decoders["svhn"])
    assert readout is None and copy is not model.decoders["svhn"]
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in copy.parameters() if p.ndim == 4)
    flow = gradient_flow(model, "svhn", shared, factors["svhn"], scale="raw")
    assert all(p.is_contiguous() for p in model.parameters())
    with torch.no_grad():
        assert torch.equal(model.decoders["svhn"](u), before)
    plain = gradients.squared_derivatives(model.decoders["svhn"], u, 1)  # (n, B, H, W)
    k = shared.shape[1]
    torch.testing.assert_close(torch.as_tensor(flow.shared), plain[:k].sum(0), rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(torch.as_tensor(flow.modality_flow), plain[k:].sum(0), rtol=1e-5, atol=1e-9)


def test_hidden_states_equal_pytorchs_lstm_cell_stepped_by_hand():
    """`SequenceDecoder.hidden_states` (one product a step, W_ih + W_hh from step 1) against `nn.LSTMCell` itself,
    fed its own previous hidden state, in double precision."""
    from mfm.model import SequenceDecoder

    torch.manual_seed(7)
    decoder = SequenceDecoder(input_dim=6, steps=5, output_dim=9).double().eval()
    factors = torch.randn(4, 6, dtype=torch.float64)
    h = c = torch.zeros_like(factors)
    x, expected = factors, []
    with torch.no_grad():
        for _ in range(5):
            h, c = decoder.cell(x, (h, c))
            expected.append(h)
            x = h
        torch.testing.assert_close(
            decoder.hidden_states(factors), torch.stack(expected, dim=1), rtol=1e-12, atol=1e-14
        )
        torch.testing.assert_close(
            decoder(factors), decoder.out(torch.stack(expected, dim=1)), rtol=1e-12, atol=1e-14
        )


def test_the_sequence_flow_through_the_hidden_states_equals_the_frames():
    """Frame t is W h_t + b, so Σ_d (∂X̂_t,d/∂u_j)² = ‖W q‖² = ‖R q‖² with q = ∂h_t/∂u_j and W = QR (issue 16): the
    flow differentiates the hidden states and squares them through R when frames are wider than the hidden state
    (language: 12 features, 9 hidden numbers), and the decoder itself otherwise (acoustic: 3 against 6)."""
    import interpret.gradients as gradients

    torch.manual_seed(5)
    model = MFM(tiny_sequence_config()).eval()
    shared, factors = factors_of(model, batch=3)
    for name, through_hidden in (("language", True), ("acoustic", False)):
        decoder = model.decoders[name]
        function, readout = gradients.sequence_readout(decoder)
        assert (readout is not None) == through_hidden, name
        assert function == (decoder.hidden_states if through_hidden else decoder)
        u = model.decoder_input(shared, factors[name]).detach()
        expected = decoder_jacobian(decoder, u).pow(2).sum(dim=2).movedim(-1, 0)  # (n, B, T)
        got = gradients.squared_derivatives(function, u, 2, readout=readout)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-9)


def test_scale_free_flow_weights_each_dimension_by_its_spread_and_ignores_units():
    """The default flow is Σ_j σ_j² (∂X̂/∂u_j)²; re-expressing a factor dimension in other units (F_y[:, j] times c,
    the decoder's weights on it divided by c: the same generated data) leaves it unchanged, while the raw flow
    of that dimension changes by 1/c²."""
    torch.manual_seed(6)
    model = MFM(tiny_image_config()).eval()
    shared, factors = factors_of(model, batch=6)
    name = "mnist"
    u = model.decoder_input(shared, factors[name])
    jac = decoder_jacobian(model.decoders[name], u).detach()  # (B, C, H, W, n)
    sigma = u.detach().numpy().std(axis=0)  # (n,)
    k = shared.shape[1]
    flow = gradient_flow(model, name, shared, factors[name])
    assert flow.scale == "std"
    expected = (jac.pow(2) * torch.as_tensor(sigma**2))[..., :k].sum(dim=(1, -1))
    np.testing.assert_allclose(flow.shared, expected.numpy(), rtol=1e-4, atol=1e-9)
    # A given spread (the analysed samples') is used as is, e.g. for one sample.
    spread = factor_spread(shared, factors[name])
    one = gradient_flow(model, name, shared[:1], factors[name][:1], spread=spread)
    np.testing.assert_allclose(one.shared, flow.shared[:1], rtol=1e-5, atol=1e-9)
    with pytest.raises(ValueError, match="spread"):
        gradient_flow(model, name, shared[:1], factors[name][:1])
    # Units: dimension j of F_y times c, the decoder's input weights on it divided by c.
    j = int(np.argmax(sigma[:k]))
    c = 10.0
    rescaled = copy.deepcopy(model)
    with torch.no_grad():
        rescaled.decoders[name].proj.weight[:, j] /= c
    shared_c = shared.clone()
    shared_c[:, j] *= c
    with torch.no_grad():
        torch.testing.assert_close(
            rescaled.decode_modality(name, shared_c, factors[name]),
            model.decode_modality(name, shared, factors[name]),
        )
    scaled = gradient_flow(rescaled, name, shared_c, factors[name])
    np.testing.assert_allclose(scaled.shared, flow.shared, rtol=1e-4, atol=1e-9)
    raw, raw_c = (
        gradient_flow(m, name, f, factors[name], scale="raw")
        for m, f in ((model, shared), (rescaled, shared_c))
    )
    assert not np.allclose(raw.shared, raw_c.shared, rtol=1e-3)
    with pytest.raises(ValueError, match="unknown gradient-flow scale"):
        gradient_flow(model, name, shared, factors[name], scale="sd")


def test_captum_scale_applies_to_saliency_and_input_scaled_methods_say_so():
    torch.manual_seed(7)
    model = MFM(tiny_sequence_config()).eval()
    shared, factors = factors_of(model)
    raw = captum_time_profile(model, "visual", shared, factors["visual"], method="saliency", scale="raw")
    std = captum_time_profile(model, "visual", shared, factors["visual"], method="saliency")
    sigma_y, _ = factor_spread(shared, factors["visual"])
    a_y, _ = attribute_generated(model, "visual", shared, factors["visual"], method="saliency", step=2)
    np.testing.assert_allclose(std.shared[:, 2], ((a_y * sigma_y) ** 2).sum(-1), rtol=1e-4, atol=1e-10)
    assert (raw.scale, std.scale) == ("raw", "std")
    ixg = captum_time_profile(model, "visual", shared, factors["visual"], method="input_x_gradient")
    assert ixg.scale == "input"


@pytest.mark.parametrize("kind", ["sequence", "image"])
@pytest.mark.parametrize("scale", ["std", "raw"])
def test_shared_flow_alone_equals_the_full_flows_shared_part(kind, scale):
    """Differentiating F_y's directions only (the faithfulness checks read nothing else) changes no number."""
    from interpret.gradients import shared_gradient_flow

    torch.manual_seed(8)
    model = MFM(tiny_sequence_config() if kind == "sequence" else tiny_image_config()).eval()
    shared, factors = factors_of(model, batch=5)
    name = model.modality_names[0]
    full = gradient_flow(model, name, shared, factors[name], scale=scale, batch_size=2)
    alone = shared_gradient_flow(model, name, shared, factors[name], scale=scale, batch_size=2)
    np.testing.assert_array_equal(alone, full.shared)


def test_forward_mode_works_on_a_decoder_left_in_train_mode():
    """Training decodes in a fused kernel without forward-mode rules; a caller that differentiates a decoder in
    train mode (no eval_mode) still gets the step-by-step form, with the eval-mode numbers (no dropout inside)."""
    torch.manual_seed(9)
    model = MFM(tiny_sequence_config()).train()
    shared, factors = factors_of(model, batch=3)
    u = model.decoder_input(shared, factors["language"]).detach()
    in_train = decoder_jacobian(model.decoders["language"], u)
    model.eval()
    torch.testing.assert_close(in_train, decoder_jacobian(model.decoders["language"], u))
