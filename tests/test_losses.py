"""The objective's pieces on known answers."""

from __future__ import annotations

import math

import pytest
import torch

from mfm.losses import gaussian_kernel, mmd, mmd_to_prior, prediction_loss


def test_kernel_matches_the_official_formula_by_hand():
    x = torch.tensor([[0.0, 0.0]])
    y = torch.tensor([[1.0, 3.0]])
    # mean squared difference = (1 + 9) / 2 = 5, divided again by D = 2 -> exp(-2.5)
    assert gaussian_kernel(x, y).item() == pytest.approx(math.exp(-2.5))
    assert gaussian_kernel(x, x).item() == pytest.approx(1.0)


def test_kernel_equals_the_difference_form_in_values_and_gradients():
    """The kernel's matrix-product distance against the official difference form, exp(-mean_d (x_d - y_d)² / D),
    computed in float64: values and gradients, including a sample against itself (distance 0)."""
    g = torch.Generator().manual_seed(3)
    x = (2 * torch.randn(64, 32, generator=g)).requires_grad_()
    y = (torch.randn(48, 32, generator=g) + 1).requires_grad_()
    weights = torch.rand(64, 48, generator=g)

    def difference_form(a, b):
        return torch.exp(-(a.unsqueeze(1) - b.unsqueeze(0)).pow(2).mean(-1) / a.shape[-1])

    for a, b, w in ((x, y, weights), (x, x, torch.rand(64, 64, generator=g))):
        ours = gaussian_kernel(a, b)
        reference = difference_form(a.double(), b.double())
        torch.testing.assert_close(ours.double(), reference, rtol=1e-5, atol=1e-6)
        grads = torch.autograd.grad((ours * w).sum(), [x, y], allow_unused=True)
        reference_grads = torch.autograd.grad((reference * w.double()).sum(), [x, y], allow_unused=True)
        for ours_grad, reference_grad in zip(grads, reference_grads, strict=True):
            if reference_grad is not None:
                torch.testing.assert_close(ours_grad, reference_grad, rtol=1e-4, atol=1e-5)


def test_mmd_is_zero_for_identical_samples_and_symmetric():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(50, 4, generator=g), torch.randn(60, 4, generator=g) + 1
    assert mmd(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert mmd(x, y).item() == pytest.approx(mmd(y, x).item(), rel=1e-5)


def test_mmd_is_near_zero_for_prior_samples_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(1)
    prior_like = torch.randn(500, 8, generator=g)
    at_prior = mmd_to_prior(prior_like, generator=g).item()
    values = [mmd_to_prior(prior_like + shift, generator=g).item() for shift in (0.5, 1.0, 2.0, 4.0)]
    assert abs(at_prior) < 0.01
    assert values[0] > 3 * max(at_prior, 1e-4)
    assert values == sorted(values), values  # monotone in the shift


def test_mmd_to_prior_is_reproducible_with_a_generator():
    z = torch.randn(32, 5)
    a = mmd_to_prior(z, generator=torch.Generator().manual_seed(7))
    b = mmd_to_prior(z, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_prediction_loss_known_values():
    assert prediction_loss(
        torch.tensor([1.0, -1.0]), torch.tensor([0.0, 1.0]), "regression"
    ).item() == pytest.approx(1.5)
    logits = torch.tensor([[0.0, 0.0]])
    assert prediction_loss(logits, torch.tensor([1]), "classification").item() == pytest.approx(math.log(2))


def test_style_adversary_trains_the_adversary_to_read_and_the_encoder_to_hide_the_class():
    from conftest import random_batch, tiny_image_config

    from mfm.losses import style_adversary_loss
    from mfm.model import MFM

    torch.manual_seed(0)
    model = MFM(tiny_image_config(style_adversaries=True)).eval()
    inputs, labels = random_batch(model.config, batch=8)
    output = model(inputs)
    code = output.modality_codes["svhn"]
    code.retain_grad()
    loss = style_adversary_loss(model, output, labels)["adversary/svhn"]
    loss.backward()
    adversary = model.style_adversaries["svhn"]
    # The adversary's gradient is that of its cross-entropy alone (the confusion term sees frozen weights).
    fit_grads = torch.autograd.grad(
        torch.nn.functional.cross_entropy(adversary(code.detach()), labels), list(adversary.parameters())
    )
    for p, g in zip(adversary.parameters(), fit_grads, strict=True):
        torch.testing.assert_close(p.grad, g)
    # The code's gradient is that of the confusion term alone: it pushes towards a uniform prediction.
    assert code.grad is not None and code.grad.abs().sum() > 0
    assert (
        0
        <= loss.item()
        <= torch.nn.functional.cross_entropy(adversary(code.detach()), labels).item() + math.log(10)
    )


def test_extra_terms_appear_only_when_enabled_and_swap_targets_the_next_label():
    from conftest import random_batch, tiny_image_config

    from mfm.config import ObjectiveConfig
    from mfm.errors import ConfigError
    from mfm.losses import swap_cycle_loss, total_loss
    from mfm.model import MFM

    torch.manual_seed(0)
    plain = MFM(tiny_image_config())
    inputs, labels = random_batch(plain.config, batch=6)
    terms, _ = total_loss(plain, inputs, labels)
    assert not any(k.startswith(("adversary/", "swap/")) for k in terms)
    model = MFM(tiny_image_config(style_adversaries=True)).eval()
    extras = ObjectiveConfig(style_adversary_weight=1.0, swap_weight=1.0)
    terms, output = total_loss(model, inputs, labels, objective=extras)
    assert {"adversary/svhn", "adversary/mnist", "swap/label", "swap/style"} <= set(terms)
    # The swap's label term: each generated modality read alone (surrogate path without the other one), against
    # the rolled labels. Recompute it by hand.
    order = torch.roll(torch.arange(6), 1)
    swapped = model.decode(output.shared_factor[order], output.modality_factors)
    expected = (
        sum(
            torch.nn.functional.cross_entropy(model(swapped, missing=m).prediction, labels[order])
            for m in ("svhn", "mnist")
        )
        / 2
    )
    assert swap_cycle_loss(model, output, inputs, labels)["swap/label"].item() == pytest.approx(
        expected.item(), rel=1e-5
    )
    with pytest.raises(ConfigError, match="need a classification task"):
        from conftest import tiny_sequence_config

        tiny_sequence_config(style_adversaries=True)
    with pytest.raises(ConfigError, match="needs a model built with style_adversaries"):
        total_loss(plain, inputs, labels, objective=extras)


def test_swap_terms_train_the_decoders_only():
    """The swap terms train the decoders, never the reader or the codes; the reader's BatchNorm statistics and
    every requires_grad flag come back unchanged (it runs in eval mode with parameters fixed)."""
    from conftest import random_batch, tiny_image_config

    from mfm.losses import swap_cycle_loss
    from mfm.model import MFM

    torch.manual_seed(0)
    model = MFM(tiny_image_config()).train()
    inputs, labels = random_batch(model.config, batch=6)
    output = model(inputs)
    # The decoders generate in train mode (their statistics may move); the reader's statistics must not.
    statistics = {
        k: v.clone()
        for k, v in model.state_dict().items()
        if "running" in k and not k.startswith("decoders.")
    }
    terms = swap_cycle_loss(model, output, inputs, labels)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in statistics.items())
    assert model.training and all(p.requires_grad for p in model.parameters())
    model.zero_grad()
    (terms["swap/label"] + terms["swap/style"]).backward()
    grads = {k: p.grad for k, p in model.named_parameters()}
    decoders = [k for k in grads if k.startswith("decoders.")]
    assert all(grads[k] is not None and grads[k].abs().sum() > 0 for k in decoders)
    assert all(
        grads[k] is None for k in grads if k not in decoders
    )  # encoders, factor maps, head, surrogates


def test_foreground_weights_by_hand_and_plain_mse_at_zero():
    from mfm.losses import foreground_weights, reconstruction_losses

    # A 2x2 grey image with one white pixel: mean 0.25, distances 0.75 (white) and 0.25 (the rest), max 0.75.
    image = torch.zeros(1, 1, 2, 2)
    image[0, 0, 0, 0] = 1.0
    weights = foreground_weights(image, 2.0)
    raw = torch.tensor([[1 + 2.0, 1 + 2.0 / 3, 1 + 2.0 / 3, 1 + 2.0 / 3]])  # 1 + s · d / max d
    torch.testing.assert_close(weights.flatten(1), raw / raw.mean())
    torch.testing.assert_close(foreground_weights(torch.rand(3, 3, 5, 5), 4.0).mean((2, 3)), torch.ones(3, 1))
    # Strength 0 is the plain mean squared error; sequences are never weighted.
    target, guess = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    plain = torch.nn.functional.mse_loss(guess, target)
    assert torch.equal(reconstruction_losses({"x": guess}, {"x": target}, 0.0)["x"], plain)
    sequence = torch.rand(4, 6, 3)
    assert torch.equal(
        reconstruction_losses({"s": sequence}, {"s": torch.zeros(4, 6, 3)}, 4.0)["s"], sequence.pow(2).mean()
    )
    # The same error costs more on a stroke than on the background.
    stroke, background = image.clone(), image.clone()
    stroke[0, 0, 0, 0] -= 0.5
    background[0, 0, 1, 1] += 0.5
    on_stroke = reconstruction_losses({"x": stroke}, {"x": image}, 4.0)["x"]
    on_background = reconstruction_losses({"x": background}, {"x": image}, 4.0)["x"]
    assert on_stroke > 2 * on_background


def test_chroma_weight_by_hand_grey_errors_free_and_grey_scale_untouched():
    from mfm.losses import chroma, reconstruction_losses

    target = torch.rand(2, 3, 4, 4)
    torch.testing.assert_close(chroma(target).sum(1), torch.zeros(2, 4, 4))  # colour without grey level
    # An error of grey level only (every channel off by the same amount) has no chroma part: weight ignored.
    brighter = target + 0.1
    plain = reconstruction_losses({"x": brighter}, {"x": target})["x"]
    torch.testing.assert_close(
        reconstruction_losses({"x": brighter}, {"x": target}, chroma_weight=9.0)["x"], plain
    )
    # Drawing the target grey (its channel mean everywhere): the error is all chroma, so it costs 1 + λ_c times.
    grey = target.mean(1, keepdim=True).expand_as(target)
    plain = reconstruction_losses({"x": grey}, {"x": target})["x"]
    torch.testing.assert_close(
        reconstruction_losses({"x": grey}, {"x": target}, chroma_weight=9.0)["x"], 10 * plain
    )
    # By hand, one pixel: target (1, 0, 0), guess (0, 0, 0); chroma (2/3, -1/3, -1/3) vs 0: chroma error 2/3 per
    # pixel over 3 channels, so the mean is (1 + λ · 2/3) / 3.
    red, black = torch.tensor([1.0, 0, 0]).view(1, 3, 1, 1), torch.zeros(1, 3, 1, 1)
    loss = reconstruction_losses({"x": black}, {"x": red}, chroma_weight=3.0)["x"]
    torch.testing.assert_close(loss, torch.tensor((1 + 3.0 * 2 / 3) / 3))
    # Grey-scale images and sequences have no chroma: unchanged.
    mono, guess = torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4)
    assert torch.equal(
        reconstruction_losses({"m": guess}, {"m": mono}, chroma_weight=9.0)["m"],
        torch.nn.functional.mse_loss(guess, mono),
    )
    # With the foreground weights too, the same per-pixel weights multiply both parts.
    both = reconstruction_losses({"x": grey}, {"x": target}, foreground_weight=4.0, chroma_weight=9.0)["x"]
    fg_only = reconstruction_losses({"x": grey}, {"x": target}, foreground_weight=4.0)["x"]
    torch.testing.assert_close(both, 10 * fg_only)


def test_colour_statistics_error_by_hand_and_what_it_catches():
    from mfm.losses import colour_statistics_error, reconstruction_losses

    # A 4x4 blue background (0, 0, 1) with one red pixel (1, 0, 0): mean colour (1/16, 0, 15/16); the red pixel
    # is the furthest (m = 1), the blue ones at m = 1/15 of its distance.
    target = torch.zeros(1, 3, 4, 4)
    target[0, 2] = 1.0
    target[0, :, 0, 0] = torch.tensor([1.0, 0.0, 0.0])
    torch.testing.assert_close(colour_statistics_error(target, target), torch.zeros(1))
    # All black: the error is the squared norm of the target's digit and background colours.
    m = torch.full((4, 4), 1.0 / 15)
    m[0, 0] = 1.0
    digit = (m.pow(2)[None] * target[0]).sum((1, 2)) / m.pow(2).sum()
    background = ((1 - m).pow(2)[None] * target[0]).sum((1, 2)) / (1 - m).pow(2).sum()
    black = torch.zeros_like(target)
    torch.testing.assert_close(
        colour_statistics_error(black, target), (digit.pow(2).sum() + background.pow(2).sum()).view(1)
    )
    # A digit drawn in the background's colour (no contrast) costs more than one half way there.
    faded, half = target.clone(), target.clone()
    faded[0, :, 0, 0] = torch.tensor([0.0, 0.0, 1.0])
    half[0, :, 0, 0] = torch.tensor([0.5, 0.0, 0.5])
    assert colour_statistics_error(faded, target) > colour_statistics_error(half, target) > 0
    # In reconstruction_losses: added λ_s times to colour images only.
    plain = reconstruction_losses({"x": half}, {"x": target})["x"]
    torch.testing.assert_close(
        reconstruction_losses({"x": half}, {"x": target}, colour_weight=2.0)["x"],
        plain + 2.0 * colour_statistics_error(half, target).mean(),
    )
    mono, guess = torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4)
    assert torch.equal(
        reconstruction_losses({"m": guess}, {"m": mono}, colour_weight=5.0)["m"],
        torch.nn.functional.mse_loss(guess, mono),
    )


def test_digit_colours_equal_the_style_estimator():
    """`digit_colours` (torch, in the loss) measures what `mfm.data.style.estimate_colors` (numpy, in the
    evaluation) does: the ring's median and the mean of the 5 % of pixels furthest from it."""
    import numpy as np

    from mfm.data.style import estimate_colors
    from mfm.losses import digit_colours

    g = torch.Generator().manual_seed(0)
    images = torch.rand(6, 3, 32, 32, generator=g, dtype=torch.float64)  # continuous: no ties among distances
    digit, background, ink, ring = digit_colours(images)
    want_digit, want_background = estimate_colors(images.numpy())
    np.testing.assert_allclose(digit.numpy(), want_digit, rtol=0, atol=1e-12)
    np.testing.assert_allclose(background.numpy(), want_background, rtol=0, atol=1e-12)
    assert ink.shape == (6, 1, 32, 32) and ink.sum((1, 2, 3)).tolist() == [round(0.05 * 1024)] * 6
    assert ring.sum().item() == 32 * 32 - 28 * 28
    with pytest.raises(ValueError, match="too small for a 2-pixel border"):
        digit_colours(torch.rand(1, 3, 4, 8))


def _two_tone_picture(first, second, coverage):
    """α t_1 + (1 - α) t_2 for (B, C) tones and a (B, 1, H, W) coverage."""
    return coverage * first[:, :, None, None] + (1 - coverage) * second[:, :, None, None]


def test_tone_error_by_hand_either_role_and_what_it_catches():
    from mfm.losses import tone_error

    # Targets: a red square (1, 0, 0) on blue (0, 0, 1), 8 x 8 pixels; the square covers more than the 5 % that
    # the digit's colour is read from, and stays off the 2-pixel ring.
    red, blue = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 1.0]])
    square = torch.zeros(1, 1, 8, 8)
    square[..., 3:5, 3:5] = 1.0
    target = _two_tone_picture(red, blue, square)
    # The decoder draws the target exactly, with the digit as its first tone or as its second: no error.
    for tones, coverage in ((torch.cat([red, blue], 1), square), (torch.cat([blue, red], 1), 1 - square)):
        drawn = _two_tone_picture(tones[:, :3], tones[:, 3:], coverage)
        torch.testing.assert_close(drawn, target)
        torch.testing.assert_close(tone_error(drawn, tones, target), torch.zeros(1))
    # A grey digit tone (0.5, 0.5, 0.5) where red is wanted: the squared distance 0.25 + 0.25 + 0.25; its chroma
    # part (red minus its mean: (2/3, -1/3, -1/3)) 2/3, counted chroma_weight more times.
    grey = torch.full((1, 3), 0.5)
    tones = torch.cat([grey, blue], 1)
    drawn = _two_tone_picture(grey, blue, square)
    torch.testing.assert_close(tone_error(drawn, tones, target), torch.tensor([0.75]))
    torch.testing.assert_close(
        tone_error(drawn, tones, target, chroma_weight=3.0), torch.tensor([0.75 + 2.0])
    )
    # Roles swapped against what the picture shows (the first tone drawn on the background): the first tone must
    # then be the background's colour, so drawing red there as the first tone costs both colours.
    inverted = _two_tone_picture(red, blue, 1 - square)
    assert tone_error(inverted, torch.cat([red, blue], 1), target).item() == pytest.approx(4.0)
    # Gradients reach the tones and nothing is asked of the reconstruction.
    tones = torch.cat([grey, blue], 1).requires_grad_()
    drawn = _two_tone_picture(tones[:, :3], tones[:, 3:], square).detach().requires_grad_()
    tone_error(drawn, tones, target).sum().backward()
    torch.testing.assert_close(tones.grad[0, :3], 2 * (grey - red)[0])
    assert drawn.grad is None
    with pytest.raises(ValueError, match=r"need tones \(B, 2C\)"):
        tone_error(target, red, target)  # one colour where two are needed


def test_tone_term_trains_the_two_tone_head_and_needs_such_a_decoder():
    import dataclasses

    from conftest import random_batch, tiny_image_config

    from mfm.config import ObjectiveConfig
    from mfm.errors import ConfigError
    from mfm.losses import tone_error, total_loss
    from mfm.model import MFM

    base = tiny_image_config()
    objective = ObjectiveConfig(tone_weight=2.0, chroma_weight=1.5)
    torch.manual_seed(0)
    plain = MFM(base)
    inputs, labels = random_batch(base, batch=4)
    with pytest.raises(
        ConfigError, match="tone_weight needs a colour image modality with a two-tone decoder"
    ):
        total_loss(plain, inputs, labels, objective=objective)
    with pytest.raises(ValueError, match="draws no two tones"):
        plain.decoders["svhn"].tones(torch.zeros(1, 9))
    two_tone = base.replace(  # MNIST is grey-scale: only svhn's decoder is trained by the term
        modalities=tuple(dataclasses.replace(m, composite="two_tone") for m in base.modalities)
    )
    model = MFM(two_tone).eval()  # no dropout or batch statistics: two passes give the same terms
    generator = torch.Generator().manual_seed(0)
    terms, output = total_loss(model, inputs, labels, generator, objective=objective)
    assert {k for k in terms if k.startswith("tone/")} == {"tone/svhn"}
    decoder = model.decoders["svhn"]
    tones = decoder.tones(model.decoder_input(output.shared_factor, output.modality_factors["svhn"]))
    expected = tone_error(output.reconstructions["svhn"], tones, inputs["svhn"], chroma_weight=1.5).mean()
    torch.testing.assert_close(terms["tone/svhn"], expected)
    plain_objective = ObjectiveConfig(chroma_weight=1.5)
    without, _ = total_loss(
        model, inputs, labels, torch.Generator().manual_seed(0), objective=plain_objective
    )
    torch.testing.assert_close(terms["total"], without["total"] + 2.0 * expected)
    terms["tone/svhn"].backward()
    assert decoder.ink.weight.grad.abs().sum() > 0
    assert model.decoders["mnist"].ink.weight.grad is None


def _bar_width(w: int, length: int) -> float:
    """`stroke_thickness` of a w-by-L bar of full ink, by hand: A = w L; P = 2 (w + L), less the bottom-right
    corner, where one pixel sees both a step down and a step right and adds √2 rather than 2."""
    perimeter, area = 2 * (w + length) - 2 + math.sqrt(2), w * length
    return (perimeter - math.sqrt(perimeter**2 - 16 * area)) / 4


def test_stroke_thickness_equals_the_style_measure_and_a_rectangle_by_hand():
    """`stroke_thickness` (torch, in the loss) measures what `mfm.data.style.mnist_moments` (numpy, in the
    evaluation) does; on a w-by-L bar of ink it is
    about w (by hand), whatever the ink's level."""
    import numpy as np

    from mfm.data.style import mnist_moments
    from mfm.losses import stroke_thickness

    g = torch.Generator().manual_seed(0)
    images = torch.rand(5, 1, 28, 28, generator=g, dtype=torch.float64) * (
        torch.rand(5, 1, 28, 28, generator=g) > 0.7
    )
    _, want = mnist_moments(images.numpy())
    np.testing.assert_allclose(stroke_thickness(images, eps=1e-12).numpy(), want, rtol=1e-9)
    bars = torch.zeros(2, 1, 28, 28)
    bars[0, 0, 4:24, 10:13] = 1.0  # 3 pixels wide, 20 long
    bars[1, 0, 4:24, 10:15] = 0.4  # 5 pixels wide, faint: the measure divides by the peak
    for image, (w, length) in zip(bars, ((3, 20), (5, 20)), strict=True):
        width = _bar_width(w, length)
        assert stroke_thickness(image[None]).item() == pytest.approx(width, rel=1e-5)
        assert abs(width - w) < 0.11  # within a tenth of a pixel of the bar's width
    assert stroke_thickness(torch.zeros(1, 1, 8, 8)).item() == 0.0  # no ink: 0 (the numpy measure: NaN)
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, H, W\)"):
        stroke_thickness(torch.zeros(1, 3, 8, 8))


def test_thickness_error_by_hand_and_what_it_catches():
    """The squared log ratio of the widths of the ink above half intensity: 0 for the target, about (log 5/3)²
    for a stroke drawn 5 pixels wide where 3 are wanted, blurred or not; its gradient agrees with finite
    differences; a target without ink asks nothing."""
    from mfm.losses import thickness_error

    target = torch.zeros(1, 1, 28, 28)
    target[0, 0, 4:24, 10:13] = 1.0
    fat = torch.zeros_like(target)
    fat[0, 0, 4:24, 9:14] = 1.0
    torch.testing.assert_close(thickness_error(target, target), torch.zeros(1))
    assert thickness_error(fat, target).item() == pytest.approx(math.log(5 / 3) ** 2, rel=0.1)
    # Blurred over 3 pixels, a 5-pixel stroke keeps 5 pixels above half intensity: charged as the fat one.
    blurred = torch.nn.functional.avg_pool2d(fat, (1, 3), stride=1, padding=(0, 1))
    assert thickness_error(blurred, target).item() == pytest.approx(
        thickness_error(fat, target).item(), rel=0.1
    )
    noise = torch.rand(fat.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    drawn = (fat.double() * 0.6 + 0.3 * noise).requires_grad_()  # near the level: every pixel counts
    thickness_error(drawn, target.double()).sum().backward()
    for pixel in ((12, 9), (12, 11), (3, 8), (20, 20)):  # an edge, the middle, a corner, background
        step = torch.zeros_like(drawn)
        step[(0, 0, *pixel)] = 1e-6
        numeric = (
            thickness_error(drawn.detach() + step, target.double())
            - thickness_error(drawn.detach() - step, target.double())
        ) / 2e-6
        assert drawn.grad[(0, 0, *pixel)].item() == pytest.approx(numeric.item(), rel=1e-4, abs=1e-9), pixel
    assert thickness_error(fat, torch.zeros_like(target)).item() == 0.0
    assert thickness_error(fat, 0.4 * target).item() == 0.0  # nothing above half intensity: no ink
    speck = torch.zeros_like(target)
    speck[0, 0, 12, 12] = 1.0
    assert thickness_error(fat, speck).item() == 0.0  # a lone pixel is no ink
    with pytest.raises(ValueError, match="must have one shape"):
        thickness_error(fat, target[:, :, :20])


def test_thickness_error_is_not_met_by_what_thins_the_measure_but_not_the_strokes():
    """What decoders drew to meet earlier readings of the term (assets/README.md): a faint period-2 texture (on
    `stroke_thickness` of the images themselves), a faint frame along the border (after a box filter, with the
    level relative to the peak), diagonal hatching inside thick strokes (trained from scratch with the box
    filter). Each makes a 7-pixel stroke measure much thinner by `stroke_thickness` (the evaluation's measure),
    and none buys this loss more than a small fraction of what drawing the stroke 3 pixels wide does."""
    from mfm.losses import stroke_thickness, thickness_error

    target = torch.zeros(1, 1, 28, 28)
    target[0, 0, 4:24, 10:13] = 1.0
    fat = torch.zeros_like(target)
    fat[0, 0, 4:24, 8:15] = 1.0  # 7 wide
    checker = torch.zeros_like(target)
    checker[..., ::2, ::2] = checker[..., 1::2, 1::2] = 0.3
    frame = torch.zeros_like(target)
    frame[..., 0, :] = frame[..., -1, :] = frame[..., :, 0] = frame[..., :, -1] = 0.3
    diagonal = torch.arange(28)[:, None] + torch.arange(28)[None, :]  # i + j
    column = torch.arange(28)[None, :].expand(28, 28)
    fat_error = thickness_error(fat, target).item()
    assert fat_error == pytest.approx(math.log(7 / 3) ** 2, rel=0.05)
    gamed = {
        "texture": fat + checker,
        "frame": fat + frame,
        "bright texture": (fat + 3 * checker).clamp(max=1),  # above the level: the closing fills it
        "hatching, one pixel in three": fat * (diagonal % 3 != 0),
        "hatching, two pixels in four": fat * (diagonal % 4 >= 2),
        "stripes along the stroke": fat * (column % 3 != 0),
    }
    for name, image in gamed.items():
        assert stroke_thickness(image).item() < stroke_thickness(fat).item() - 0.5, name  # the measure moves
        assert thickness_error(image, target).item() > 0.95 * fat_error, name  # the loss does not
    # Dimmed uniformly, even below the level, a stroke keeps its width (a 2 x 2 box filter lost its blurred edges:
    # the error fell from 0.77 to 0.48 at 0.45).
    for level in (0.45, 0.7):
        assert thickness_error(level * fat, target).item() == pytest.approx(fat_error, rel=0.01), level
    # A lone full-intensity pixel over soft strokes drawn at 0.6 sets the scale of a level read relative to each
    # image's peak (a fine-tuning trial's decoder put one in a corner): that reading moves; at a fixed level,
    # with lone pixels removed, the pixel is no ink at all, in a corner or beside the stroke.
    soft = torch.nn.functional.avg_pool2d(fat, (1, 3), stride=1, padding=(0, 1))  # edges at 1/3 and 2/3
    faint = 0.6 * soft

    def relative(images):  # the peak-relative reading, tried and left
        return stroke_thickness(torch.sigmoid((images / images.amax() - 0.5) / 0.05))

    for pixel in ((0, 0), (12, 20)):
        dotted = faint.clone()
        dotted[(0, 0, *pixel)] = 1.0
        assert relative(faint).item() - relative(dotted).item() > 1.0, pixel  # the dot thins it by its edges
        assert thickness_error(dotted, target).item() == pytest.approx(thickness_error(faint, target).item())


def test_read_ink_keeps_thin_strokes_at_any_angle_and_no_ink_beyond_the_edge():
    """What the term reads as ink: a one-pixel stroke at 45 degrees stays whole (a 2 x 2 opening erased it); a gap
    between a stroke and the image's edge stays open (the closing counts the outside as background); a lone
    pixel is gone, a stroke's pixels are not."""
    from mfm.losses import read_ink

    diagonal = torch.zeros(1, 1, 28, 28)
    for i in range(4, 24):
        diagonal[0, 0, i, i] = 1.0
    torch.testing.assert_close(read_ink(diagonal).round(), diagonal)
    bar = torch.zeros(1, 1, 28, 28)
    bar[0, 0, 4:24, 1:6] = 1.0  # one pixel from the left edge
    torch.testing.assert_close(read_ink(bar).round(), bar)
    lone = torch.zeros(1, 1, 28, 28)
    lone[0, 0, 12, 20] = 1.0
    assert read_ink(lone).max().item() < 1e-3


def test_thickness_term_trains_the_grey_decoders_and_needs_one():
    from conftest import random_batch, tiny_image_config

    from mfm.config import ObjectiveConfig
    from mfm.errors import ConfigError
    from mfm.losses import thickness_error, total_loss
    from mfm.model import MFM

    config = tiny_image_config()
    torch.manual_seed(0)
    model = MFM(config).eval()
    inputs, labels = random_batch(config, batch=4)
    objective = ObjectiveConfig(thickness_weight=0.5)
    terms, output = total_loss(model, inputs, labels, torch.Generator().manual_seed(0), objective=objective)
    assert {k for k in terms if k.startswith("thickness/")} == {"thickness/mnist"}  # svhn is in colour
    expected = thickness_error(output.reconstructions["mnist"], inputs["mnist"]).mean()
    torch.testing.assert_close(terms["thickness/mnist"], expected)
    without, _ = total_loss(
        model, inputs, labels, torch.Generator().manual_seed(0), objective=ObjectiveConfig()
    )
    torch.testing.assert_close(terms["total"], without["total"] + 0.5 * expected)
    terms["thickness/mnist"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.decoders["mnist"].parameters())
    assert all(p.grad is None for p in model.decoders["svhn"].parameters())
    colour_only = config.replace(modalities=(config.modalities[0],), surrogate=False)
    with pytest.raises(ConfigError, match="thickness_weight needs a grey-scale image modality"):
        objective.check_model(colour_only)


def test_edge_error_by_hand_and_what_it_catches():
    from mfm.losses import edge_error, reconstruction_losses

    # Two identical rows 0 0 1 1 (a sharp step) against 0 .5 .5 1 (the step blurred over two pixels): steps
    # along a row 0 1 0 against .5 0 .5, differences .5 1 .5, mean 2/3; nothing changes down a column.
    sharp = torch.tensor([0.0, 0.0, 1.0, 1.0]).repeat(2, 1).view(1, 1, 2, 4)
    blurred = torch.tensor([0.0, 0.5, 0.5, 1.0]).repeat(2, 1).view(1, 1, 2, 4)
    torch.testing.assert_close(edge_error(blurred, sharp), torch.tensor([2 / 3]))
    torch.testing.assert_close(edge_error(sharp, sharp), torch.zeros(1))
    # The step drawn a pixel early: steps 1 0 0, differences 1 1 0, mean 2/3 as for the blur. The squared error
    # charges that miss twice the blur (1/4 against 1/8), so it pays to blur an uncertain edge; here it does not.
    moved = torch.tensor([0.0, 1.0, 1.0, 1.0]).repeat(2, 1).view(1, 1, 2, 4)
    torch.testing.assert_close(edge_error(moved, sharp), torch.tensor([2 / 3]))
    mse = torch.nn.functional.mse_loss
    assert mse(blurred, sharp) / mse(moved, sharp) == 0.5
    # In reconstruction_losses: added λ_e times to every image, grey or colour; sequences untouched.
    torch.testing.assert_close(
        reconstruction_losses({"m": blurred}, {"m": sharp}, edge_weight=3.0)["m"],
        mse(blurred, sharp) + 3.0 * edge_error(blurred, sharp).mean(),
    )
    colour, guess = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    torch.testing.assert_close(
        reconstruction_losses({"x": guess}, {"x": colour}, edge_weight=0.5)["x"],
        mse(guess, colour) + 0.5 * edge_error(guess, colour).mean(),
    )
    sequence, predicted = torch.rand(2, 5, 3), torch.rand(2, 5, 3)
    assert torch.equal(
        reconstruction_losses({"s": predicted}, {"s": sequence}, edge_weight=5.0)["s"],
        mse(predicted, sequence),
    )
    # Per modality: a mapping weighs each name (a name left out: no edge term).
    per_modality = reconstruction_losses(
        {"m": blurred, "x": guess}, {"m": sharp, "x": colour}, edge_weight={"m": 3.0}
    )
    torch.testing.assert_close(
        per_modality["m"], mse(blurred, sharp) + 3.0 * edge_error(blurred, sharp).mean()
    )
    assert torch.equal(per_modality["x"], mse(guess, colour))


def test_objectives_give_each_modality_its_own_edge_weight():
    from conftest import random_batch, tiny_image_config

    from mfm.config import ObjectiveConfig
    from mfm.losses import edge_error, mfm_objective, surrogate_objective
    from mfm.model import MFM

    torch.manual_seed(0)
    model = MFM(tiny_image_config()).eval()
    inputs, labels = random_batch(model.config)
    output = model(inputs)
    plain, edged = ObjectiveConfig(), ObjectiveConfig(edge_weights={"mnist": 2.0})
    base = mfm_objective(model, output, inputs, labels, objective=plain)
    terms = mfm_objective(model, output, inputs, labels, objective=edged)
    want = base["recon/mnist"] + 2.0 * edge_error(output.reconstructions["mnist"], inputs["mnist"]).mean()
    torch.testing.assert_close(terms["recon/mnist"], want)
    assert torch.equal(terms["recon/svhn"], base["recon/svhn"])
    passes = model.forward_each_missing(inputs, output)
    base = surrogate_objective(model, output, inputs, labels, objective=plain, passes=passes)
    terms = surrogate_objective(model, output, inputs, labels, objective=edged, passes=passes)
    edge = sum(edge_error(p.reconstructions["mnist"], inputs["mnist"]).mean() for p in passes.values())
    torch.testing.assert_close(terms["total"], base["total"] + 2.0 * edge)


def test_objectives_give_each_modality_its_own_foreground_weight():
    from conftest import random_batch, tiny_image_config

    from mfm.config import ObjectiveConfig
    from mfm.losses import foreground_weights, mfm_objective, surrogate_objective
    from mfm.model import MFM

    torch.manual_seed(0)
    model = MFM(tiny_image_config()).eval()
    inputs, labels = random_batch(model.config)
    output = model(inputs)
    shared, named = (
        ObjectiveConfig(foreground_weight=4.0),
        ObjectiveConfig(foreground_weight=4.0, foreground_weights={"mnist": 0.0}),
    )
    base = mfm_objective(model, output, inputs, labels, objective=shared)
    terms = mfm_objective(model, output, inputs, labels, objective=named)
    mnist, svhn = output.reconstructions["mnist"], output.reconstructions["svhn"]
    torch.testing.assert_close(terms["recon/mnist"], (mnist - inputs["mnist"]).pow(2).mean())  # plain
    weighted = (foreground_weights(inputs["svhn"], 4.0) * (svhn - inputs["svhn"]).pow(2)).mean()
    torch.testing.assert_close(terms["recon/svhn"], weighted)
    assert torch.equal(terms["recon/svhn"], base["recon/svhn"])
    assert not torch.equal(terms["recon/mnist"], base["recon/mnist"])
    passes = model.forward_each_missing(inputs, output)
    plain = ObjectiveConfig(foreground_weights={"svhn": 4.0})  # the same weights, named the other way
    torch.testing.assert_close(
        surrogate_objective(model, output, inputs, labels, objective=named, passes=passes)["total"],
        surrogate_objective(model, output, inputs, labels, objective=plain, passes=passes)["total"],
    )


def test_frozen_restores_flags_after_an_exception():
    from conftest import tiny_image_config

    from mfm.model import MFM
    from mfm.modes import frozen

    model = MFM(tiny_image_config()).train()
    model.head.eval()
    next(model.head.parameters()).requires_grad_(False)  # a deliberately mixed state
    flags = [p.requires_grad for p in model.parameters()]
    modes = [m.training for m in model.modules()]
    with pytest.raises(RuntimeError, match="inside"):
        with frozen(model):
            assert not any(p.requires_grad for p in model.parameters()) and not model.training
            raise RuntimeError("inside")
    assert [p.requires_grad for p in model.parameters()] == flags
    assert [m.training for m in model.modules()] == modes


def _separate_surrogate_passes(model, full, inputs, labels, objective):
    """The surrogate objective as it was computed before `MFM.forward_each_missing`: one full
    `model(observed, missing=m)` pass per modality (the reference the faster path must equal)."""
    from mfm.losses import prediction_loss, reconstruction_losses, surrogate_code_loss

    terms, total = {}, torch.zeros(())
    for missing in model.modality_names:
        inferred = model({n: x for n, x in inputs.items() if n != missing}, missing=missing)
        loss = surrogate_code_loss(inferred, full, missing, objective.surrogate_detach_targets)
        loss = loss + prediction_loss(inferred.prediction, labels, model.config.task)
        for name, recon in reconstruction_losses(
            inferred.reconstructions, inputs, objective.foreground_weight
        ).items():
            loss = loss + objective.recon_weight(name) * recon
        terms[f"surrogate/{missing}"] = loss
        total = total + loss
    terms["total"] = total
    return terms


@pytest.mark.parametrize("kind", ["sequence", "image"])
def test_one_pass_surrogate_objective_equals_the_separate_passes_in_losses_and_gradients(kind):
    """Training-step speed-up (issue 16): reused codes and stacked sequence decoders, the same numbers."""
    from conftest import random_batch, tiny_image_config, tiny_sequence_config

    from mfm.config import ObjectiveConfig
    from mfm.losses import surrogate_objective
    from mfm.model import MFM

    config = (tiny_sequence_config if kind == "sequence" else tiny_image_config)(dropout=0.2)
    objective = ObjectiveConfig(recon_weights={config.modality_names[0]: 0.3}, foreground_weight=2.0)
    torch.manual_seed(0)
    model = MFM(config).train()
    inputs, labels = random_batch(config, batch=6)

    def run(objective_function):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)  # the same dropout draws on both sides
        full = model(inputs)
        terms = objective_function(model, full, inputs, labels, objective)
        terms["total"].backward()
        grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
        return {k: v.item() for k, v in terms.items()}, grads

    fast, fast_grads = run(lambda m, f, x, y, o: surrogate_objective(m, f, x, y, objective=o))
    slow, slow_grads = run(_separate_surrogate_passes)
    assert fast.keys() == slow.keys()
    for key in fast:
        assert fast[key] == pytest.approx(slow[key], rel=1e-5, abs=1e-7), key
    assert fast_grads.keys() == slow_grads.keys()
    for key in fast_grads:
        torch.testing.assert_close(fast_grads[key], slow_grads[key], rtol=1e-4, atol=1e-6, msg=key)


@pytest.mark.parametrize("kind", ["sequence", "image"])
def test_training_step_loss_equals_the_separate_passes_in_losses_and_gradients(kind):
    """total_loss (one stacked decoding of the full and the surrogate passes) against the step as it was: the full
    forward, the paper's objective, then one surrogate pass per modality."""
    from conftest import random_batch, tiny_image_config, tiny_sequence_config

    from mfm.config import ObjectiveConfig
    from mfm.losses import mfm_objective, total_loss
    from mfm.model import MFM

    config = (tiny_sequence_config if kind == "sequence" else tiny_image_config)(dropout=0.2)
    objective = ObjectiveConfig(mmd_weight=0.5, surrogate_weight=0.7)
    torch.manual_seed(0)
    model = MFM(config).train()
    inputs, labels = random_batch(config, batch=6)

    def reference(prior):
        full = model(inputs)
        terms = mfm_objective(model, full, inputs, labels, prior, objective=objective)
        surrogate = _separate_surrogate_passes(model, full, inputs, labels, objective)
        terms["total"] = terms["total"] + objective.surrogate_weight * surrogate.pop("total")
        return {**terms, **surrogate}

    def run(step):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)
        terms = step(torch.Generator().manual_seed(2))
        terms["total"].backward()
        return {k: v.item() for k, v in terms.items()}, {
            k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None
        }

    fast, fast_grads = run(lambda prior: total_loss(model, inputs, labels, prior, objective=objective)[0])
    slow, slow_grads = run(reference)
    assert fast.keys() == slow.keys()
    for key in fast:
        assert fast[key] == pytest.approx(slow[key], rel=1e-5, abs=1e-7), key
    for key in slow_grads:
        torch.testing.assert_close(fast_grads[key], slow_grads[key], rtol=1e-4, atol=1e-6, msg=key)
