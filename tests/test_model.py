"""The model's contract: shapes, determinism, factor swaps, surrogate inference, and that it can learn."""

from __future__ import annotations

import pytest
import torch
from conftest import random_batch, tiny_image_config, tiny_sequence_config

from mfm.config import ObjectiveConfig
from mfm.errors import MFMError
from mfm.losses import total_loss
from mfm.model import MFM, MFMOutput


def test_forward_shapes(config):
    torch.manual_seed(0)
    model = MFM(config).eval()
    inputs, _ = random_batch(config, batch=5)
    out = model(inputs)
    assert isinstance(out, MFMOutput)
    assert out.shared_code.shape == (5, config.shared_code_dim)
    assert out.shared_factor.shape == (5, config.shared_factor_dim)
    for m in config.modalities:
        assert out.modality_codes[m.name].shape == (5, m.code_dim)
        assert out.modality_factors[m.name].shape == (5, m.factor_dim)
        assert out.reconstructions[m.name].shape == (5, *m.shape)
    expected = (5, config.num_classes) if config.task == "classification" else (5,)
    assert out.prediction.shape == expected
    # Official factor form ends in a ReLU: every factor is non-negative.
    assert (out.shared_factor >= 0).all()
    assert all((f >= 0).all() for f in out.modality_factors.values())
    assert out.missing == ()


def test_image_reconstructions_are_pixels():
    model = MFM(tiny_image_config()).eval()
    inputs, _ = random_batch(model.config)
    for x in model(inputs).reconstructions.values():
        assert x.min() >= 0 and x.max() <= 1


def test_eval_mode_is_deterministic(config):
    torch.manual_seed(1)
    model = MFM(config).eval()
    inputs, _ = random_batch(config)
    a, b = model(inputs), model(inputs)
    assert torch.equal(a.prediction, b.prediction)
    for name in a.reconstructions:
        assert torch.equal(a.reconstructions[name], b.reconstructions[name])


def test_train_mode_dropout_changes_outputs():
    # A check that the determinism test above could fail: with dropout active, two passes differ.
    torch.manual_seed(2)
    model = MFM(tiny_sequence_config(dropout=0.5)).train()
    inputs, _ = random_batch(model.config)
    assert not torch.equal(model(inputs).prediction, model(inputs).prediction)


@pytest.mark.parametrize("steps", [1, 2, 7])
def test_fused_sequence_decoder_equals_the_step_by_step_unroll(steps):
    """Training decodes in the fused LSTM kernel (steps 1..T-1 as an LSTM with recurrent weights W_ih + W_hh over
    a zero input); eval mode and no_grad step by hand. Same outputs and gradients, for any T, and each mode picks
    its form."""
    from mfm.model import SequenceDecoder

    torch.manual_seed(0)
    decoder = SequenceDecoder(input_dim=9, steps=steps, output_dim=4)
    factors = torch.randn(5, 9, requires_grad=True)
    weights = torch.randn(5, steps, 4)  # a loss that weighs every step and feature differently
    results = {}
    for form in ("forward_steps", "forward_fused"):
        out = getattr(decoder, form)(factors)
        grads = torch.autograd.grad((out * weights).sum(), [factors, *decoder.parameters()])
        results[form] = (out, grads)
    (steps_out, steps_grads), (fused_out, fused_grads) = results["forward_steps"], results["forward_fused"]
    assert fused_out.shape == (5, steps, 4)
    torch.testing.assert_close(fused_out, steps_out, rtol=1e-5, atol=1e-6)
    for fused, reference in zip(fused_grads, steps_grads, strict=True):
        torch.testing.assert_close(fused, reference, rtol=1e-4, atol=1e-6)
    decoder.train()  # the fused kernel only in train mode with autograd on
    assert torch.equal(decoder(factors), decoder.forward_fused(factors))
    with torch.no_grad():
        assert torch.equal(decoder(factors), decoder.forward_steps(factors))
    decoder.eval()
    assert torch.equal(decoder(factors), decoder.forward_steps(factors))


def test_training_step_with_fused_decoders_equals_the_step_by_step_one(monkeypatch):
    """One training step (issue 16): losses and gradients as with the decoders unrolled by hand, dropout on."""
    from mfm.model import SequenceDecoder

    config = tiny_sequence_config(dropout=0.3)
    objective = ObjectiveConfig(mmd_weight=0.5, surrogate_weight=0.7)
    torch.manual_seed(0)
    model = MFM(config).train()
    inputs, labels = random_batch(config, batch=6)

    def step():
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)
        terms, _ = total_loss(model, inputs, labels, torch.Generator().manual_seed(2), objective=objective)
        terms["total"].backward()
        grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
        return {k: v.item() for k, v in terms.items()}, grads

    fused, fused_grads = step()
    monkeypatch.setattr(SequenceDecoder, "forward", SequenceDecoder.forward_steps)
    reference, reference_grads = step()
    assert fused.keys() == reference.keys()
    for key in fused:
        assert fused[key] == pytest.approx(reference[key], rel=1e-5, abs=1e-7), key
    assert fused_grads.keys() == reference_grads.keys()
    for key in fused_grads:
        torch.testing.assert_close(fused_grads[key], reference_grads[key], rtol=1e-4, atol=1e-6, msg=key)


@pytest.mark.parametrize("steps", [1, 2, 7])
def test_memory_fusion_network_equals_the_stepped_form(steps):
    """Training steps only the MFN's recurrences (issue 16): outputs and gradients as the stepped form, for any T;
    widths of Γ1 and Γ2 that differ are kept apart. Each mode picks its form."""
    from mfm.model import MemoryFusionNetwork

    config = tiny_sequence_config(mfn_gamma1_hidden_dim=5, mfn_gamma2_hidden_dim=7, dropout=0.0)
    config = config.replace(
        modalities=tuple(
            m.__class__(**{**m.__dict__, "shape": (steps, m.shape[1])}) for m in config.modalities
        )
    )
    torch.manual_seed(0)
    mfn = MemoryFusionNetwork(config).train()
    inputs = {k: v.requires_grad_() for k, v in random_batch(config, batch=4)[0].items()}
    weights = torch.randn(4, config.shared_code_dim)  # a loss that weighs every output differently
    results = []
    for forward in (mfn.forward_hoisted, mfn.forward_steps):
        out = forward(inputs)
        results.append(
            (out, torch.autograd.grad((out * weights).sum(), [*inputs.values(), *mfn.parameters()]))
        )
    (out, grads), (reference, reference_grads) = results
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-6)
    for got, want in zip(grads, reference_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert torch.equal(mfn(inputs), mfn.forward_hoisted(inputs))  # the hoisted form only to train
    with torch.no_grad():
        assert torch.equal(mfn(inputs), mfn.forward_steps(inputs))
    mfn.eval()
    assert torch.equal(mfn(inputs), mfn.forward_steps(inputs))


def test_memory_fusion_network_dropout_is_the_stepped_forms():
    """In train mode each inner network drops out as in the stepped form, per element and per step: with dropout in
    one part at a time, the outputs' mean and spread over 2,000 draws of one sample agree with the stepped form's
    (a mask shared across steps, a wrong rate or a missing 1/(1 - p) moves the spread by a third or more). Each
    Dropout module's own mode counts, as in the stepped form."""
    from mfm.model import MemoryFusionNetwork

    config = tiny_sequence_config(dropout=0.0)
    torch.manual_seed(0)
    mfn = MemoryFusionNetwork(config).train()
    inputs = random_batch(config, batch=1)[0]
    inputs = {k: v.expand(2000, *v.shape[1:]) for k, v in inputs.items()}  # one sample, 2,000 dropout draws
    parts = ("attention", "candidate", "gamma1", "gamma2")
    for part in parts:
        for other in parts:
            getattr(mfn, other)[2].p = 0.3 if other == part else 0.0
        with torch.no_grad():
            got, want = mfn.forward_hoisted(inputs), mfn.forward_steps(inputs)
        error = (
            got.var(0) / len(got) + want.var(0) / len(want)
        ).sqrt()  # standard error of the means' difference
        assert ((got.mean(0) - want.mean(0)).abs() < 4 * error).all(), part
        assert want.std(0).min() > 1e-6, part  # the part's dropout moves every output
        torch.testing.assert_close(got.std(0), want.std(0), rtol=0.1, atol=0.0, msg=part)
        getattr(mfn, part)[2].eval()  # that Dropout module alone in eval mode: no draws in either form
        with torch.no_grad():
            fixed = mfn.forward_hoisted({k: v[:50] for k, v in inputs.items()})
        assert fixed.std(0).max() < 1e-6, part  # identical samples: outputs apart by float rounding only
        getattr(mfn, part)[2].train()


def test_prediction_reads_the_shared_factor_only(config):
    torch.manual_seed(3)
    model = MFM(config).eval()
    inputs, _ = random_batch(config)
    out = model(inputs)
    fy = out.shared_factor.detach().requires_grad_(True)
    fi = {n: f.detach().requires_grad_(True) for n, f in out.modality_factors.items()}
    prediction = model.predict(fy)
    recon = model.decode(fy, fi)
    prediction.sum().backward(retain_graph=True)
    assert fy.grad is not None and fy.grad.abs().sum() > 0
    assert all(f.grad is None for f in fi.values())
    # Each modality's generation depends on its own factor and F_y, not on another modality's factor.
    names = list(fi)
    recon[names[0]].sum().backward()
    assert fi[names[0]].grad.abs().sum() > 0
    assert all(fi[n].grad is None for n in names[1:])


def test_decode_swaps_factors_between_samples(config):
    torch.manual_seed(4)
    model = MFM(config).eval()
    inputs, _ = random_batch(config, batch=4)
    out = model(inputs)
    # Style of sample 0 with the shared factor of sample 1 reproduces neither sample's own reconstruction...
    name = config.modality_names[0]
    swapped = model.decode_modality(name, out.shared_factor[1:2], out.modality_factors[name][0:1])
    assert swapped.shape == (1, *config.modality(name).shape)
    # ...while decoding a sample's own factors reproduces its forward-pass reconstruction exactly.
    own = model.decode(out.shared_factor, out.modality_factors)
    assert torch.allclose(own[name], out.reconstructions[name])


@pytest.mark.parametrize("kind", ["sequence", "image"])
def test_surrogate_inference_with_each_modality_missing(kind):
    config = tiny_sequence_config() if kind == "sequence" else tiny_image_config()
    torch.manual_seed(5)
    model = MFM(config).eval()
    inputs, _ = random_batch(config)
    full = model(inputs)
    for missing in config.modality_names:
        observed = {n: x for n, x in inputs.items() if n != missing}
        out = model(observed, missing=missing)
        assert out.missing == (missing,)
        assert out.reconstructions[missing].shape == inputs[missing].shape
        assert out.prediction.shape == full.prediction.shape
        # The missing modality's input is never read: changing it changes nothing.
        poisoned = {**inputs, missing: inputs[missing] + 100}
        assert torch.equal(model(poisoned, missing=missing).prediction, out.prediction)


def test_input_errors_name_the_problem():
    model = MFM(tiny_sequence_config()).eval()
    inputs, _ = random_batch(model.config)
    with pytest.raises(MFMError, match="'visual' is missing"):
        model({k: v for k, v in inputs.items() if k != "visual"})
    with pytest.raises(MFMError, match="expects samples of shape"):
        model({**inputs, "visual": torch.zeros(5, 6, 7)})
    with pytest.raises(MFMError, match="unknown modality 'audio'"):
        model(inputs, missing="audio")
    plain = MFM(tiny_sequence_config(surrogate=False))
    with pytest.raises(MFMError, match="without surrogate inference"):
        plain(inputs, missing="visual")


def structured_batch(config, batch: int = 8, seed: int = 1):
    """Inputs that lie on a 2-D manifold (mixtures of two fixed patterns), so a small model can fit them."""
    g = torch.Generator().manual_seed(seed)
    z = torch.rand(batch, 2, generator=g)
    inputs = {}
    for m in config.modalities:
        patterns = torch.rand((2, *m.shape), generator=g)
        x = torch.einsum("bk,k...->b...", z, patterns) / 2  # (B, *shape) in [0, 1]
        inputs[m.name] = x if m.kind == "image" else 4 * (x - 0.5)
    if config.task == "classification":
        labels = (z[:, 0] * config.num_classes).long().clamp(max=config.num_classes - 1)
    else:
        labels = 6 * z[:, 0] - 3
    return inputs, labels


@pytest.mark.parametrize("kind", ["sequence", "image"])
def test_small_model_overfits_a_small_batch(kind):
    # The MMD term compares 8 codes with 8 fresh prior draws, so it has a noisy floor; it is switched off here so
    # that the fit terms alone must fall by an order of magnitude.
    make = tiny_sequence_config if kind == "sequence" else tiny_image_config
    config = make(dropout=0.0, surrogate=False)
    torch.manual_seed(0)
    model = MFM(config).train()
    inputs, labels = structured_batch(config)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(150):
        terms, _ = total_loss(model, inputs, labels, objective=ObjectiveConfig(mmd_weight=0.0))
        optimiser.zero_grad()
        terms["total"].backward()
        optimiser.step()
        losses.append(terms["total"].item())
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])


def test_surrogate_learns_to_imitate_the_full_codes():
    config = tiny_sequence_config(dropout=0.0)
    torch.manual_seed(0)
    model = MFM(config).train()
    inputs, labels = structured_batch(config)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        terms, _ = total_loss(model, inputs, labels, objective=ObjectiveConfig(mmd_weight=0.0))
        optimiser.zero_grad()
        terms["total"].backward()
        optimiser.step()
        losses.append({k: v.item() for k, v in terms.items() if k.startswith("surrogate/")})
    for name in config.modality_names:
        assert losses[-1][f"surrogate/{name}"] < losses[0][f"surrogate/{name}"] / 2, name


@pytest.mark.parametrize("kind", ["sequence", "image"])
def test_standardized_inputs_use_training_statistics_and_only_in_encoders(kind):
    """With standardize_inputs, encoders read (x - mean) / std of the training inputs, per feature or channel;
    the model is then exactly the unstandardised model run on standardised inputs, and decoders are untouched."""
    make = tiny_sequence_config if kind == "sequence" else tiny_image_config
    torch.manual_seed(0)
    model = MFM(make(standardize_inputs=True)).eval()
    inputs, _ = random_batch(model.config, batch=40, seed=3)
    inputs = {n: 5.0 * x + 2.0 for n, x in inputs.items()}  # far from zero mean and unit variance
    constant = next(iter(inputs))
    if kind == "sequence":
        inputs[constant][..., 0] = 7.0  # a constant feature
    else:
        inputs[constant][:, 0] = 7.0  # a constant channel
    model.set_input_statistics(inputs)
    for x in model.standardize(inputs).values():
        axes = tuple(range(x.ndim - 1)) if kind == "sequence" else (0, 2, 3)
        mean, std = x.mean(axes), x.std(axes, correction=0)
        assert mean.abs().max() < 1e-4
        informative = std > 1e-3  # the constant feature becomes 0 everywhere, not a division by zero
        assert torch.allclose(std[informative], torch.ones_like(std[informative]), atol=1e-4)
        assert torch.isfinite(x).all()
    plain = MFM(make(standardize_inputs=False)).eval()
    missing = plain.load_state_dict(model.state_dict(), strict=False)
    assert not missing.missing_keys and all(k.startswith("standardizers.") for k in missing.unexpected_keys)
    with torch.no_grad():
        ours, theirs = model(inputs), plain(model.standardize(inputs))
        for name in model.modality_names:
            torch.testing.assert_close(ours.modality_codes[name], theirs.modality_codes[name])
            torch.testing.assert_close(model.encode_modality(name, inputs[name]), theirs.modality_codes[name])
        torch.testing.assert_close(ours.prediction, theirs.prediction)
        torch.testing.assert_close(
            model(inputs, missing=constant).prediction,
            plain(model.standardize(inputs), missing=constant).prediction,
        )
        decoded = model.decode(ours.shared_factor, ours.modality_factors)
        torch.testing.assert_close(
            decoded[constant], plain.decode(ours.shared_factor, ours.modality_factors)[constant]
        )
    with pytest.raises(MFMError, match="standardize_inputs=False"):
        plain.set_input_statistics(inputs)
    other = torch.ones(2, 3)
    assert (
        model.standardize({"other": other})["other"] is other
    )  # only the model's own modalities are touched


def test_training_sets_the_input_statistics_and_checkpoints_carry_them(tmp_path):
    from mfm.checkpoint import load_checkpoint, save_checkpoint
    from mfm.train import TrainConfig, train_model

    config = tiny_sequence_config(standardize_inputs=True)
    inputs, labels = random_batch(config, batch=12, seed=1)
    inputs = {n: 3.0 * x - 1.0 for n, x in inputs.items()}
    arrays = {n: x.numpy() for n, x in inputs.items()}
    result = train_model(
        config, arrays, labels.numpy(), arrays, labels.numpy(), TrainConfig(epochs=1, batch_size=6)
    )
    language = result.model.standardizers["language"]
    torch.testing.assert_close(language.mean, inputs["language"].mean((0, 1)))
    torch.testing.assert_close(language.std, inputs["language"].std((0, 1), correction=0))
    loaded = load_checkpoint(save_checkpoint(tmp_path / "m.pt", result.model)).model
    torch.testing.assert_close(loaded.standardizers["language"].std, language.std)


@pytest.mark.parametrize("composite", ["ink", "two_tone"])
def test_composite_decoder_paints_one_ink_colour_over_a_background(composite):
    """X̂ = α c + (1 - α) B: where the ink covers everything the image is one colour, c = sigmoid(W [F_y ; F_i] + b)
    read linearly from the factors; where it covers nothing, the background (drawn by the convolutions, or for
    "two_tone" a second colour from the head); in between, their blend. Cutting F_y off the decoder
    (interpret.analysis.cut_shared_factor) also cuts it off the colours."""
    import dataclasses

    from interpret.analysis import cut_shared_factor

    base = tiny_image_config()
    config = base.replace(
        modalities=tuple(dataclasses.replace(m, composite=composite) for m in base.modalities)
    )
    torch.manual_seed(0)
    model = MFM(config).eval()
    decoder = model.decoders["svhn"]
    factors = torch.randn(3, config.shared_factor_dim + 4)
    last = decoder.deconv[-1]
    maps, heads = (4, 3) if composite == "ink" else (1, 6)
    assert last.out_channels == maps and decoder.ink.out_features == heads
    assert decoder.ink.in_features == factors.shape[1]
    with torch.no_grad():
        output = decoder(factors)
        assert output.shape == (3, 3, 32, 32) and 0 <= output.min() and output.max() <= 1
        last.bias[-1] = 40.0  # the ink covers every pixel
        colours = torch.sigmoid(decoder.ink(factors))  # (3, 3 or 6)
        ink = colours[:, :3, None, None]
        torch.testing.assert_close(decoder(factors), ink.expand(3, 3, 32, 32))
        assert (ink[0] - ink[1]).abs().max() > 1e-3  # each image its own colour
        last.bias[-1] = -40.0  # no ink: the background alone
        background = decoder(factors)
        if composite == "ink":  # drawn pixel by pixel
            assert background.std(dim=(2, 3)).min() > 1e-4
        else:  # one colour per image, the head's second
            torch.testing.assert_close(background, colours[:, 3:, None, None].expand(3, 3, 32, 32))
        last.bias[-1] = 0.0
        coverage = torch.sigmoid(decoder.deconv(decoder.proj(factors).view(-1, *decoder.start))[:, -1:])
        assert 0.05 < coverage.mean() < 0.95
        torch.testing.assert_close(decoder(factors), coverage * ink + (1 - coverage) * background)
    cut = cut_shared_factor(model, "svhn")
    moved = factors.clone()
    moved[:, : config.shared_factor_dim] += 3.0
    with torch.no_grad():
        torch.testing.assert_close(cut.decoders["svhn"](moved), cut.decoders["svhn"](factors))
        assert (decoder(moved) - decoder(factors)).abs().max() > 1e-3
    inputs, labels = random_batch(config, batch=4)
    model.train()
    terms, _ = total_loss(model, inputs, labels, torch.Generator().manual_seed(0))
    terms["total"].backward()
    assert decoder.ink.weight.grad.abs().sum() > 0  # the colours are trained
