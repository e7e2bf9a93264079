"""Label-swap fidelity and style preservation: known answers, a metric that can fail, determinism, no side effects."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import tiny_image_config, tiny_sequence_config
from torch import Tensor, nn

from mfm.data.style import estimate_colors, mnist_moments, pinholes, specks
from mfm.data.types import MultimodalDataset, Split
from mfm.errors import MFMError
from mfm.eval.classifiers import DigitClassifier, accuracy, save_classifier
from mfm.eval.prototypes import class_prototypes
from mfm.eval.swap_metrics import (
    COLOUR_MEASURES,
    SWAP_SCORE,
    _draw_swaps,
    held_out_swap_accuracy,
    label_swap_fidelity,
    pearson_r,
    swap_evaluation,
    swap_images,
    swap_selection,
    swap_targets,
)
from mfm.inference import FACTORS, run
from mfm.model import MFM

K = 10


def tiny_model(seed: int = 0, **overrides) -> MFM:
    torch.manual_seed(seed)
    return MFM(tiny_image_config(**overrides)).eval()


# ---------------------------------------------------------------------------------------------------------------
# Pure numpy parts on known answers
# ---------------------------------------------------------------------------------------------------------------
def test_class_prototypes_by_hand():
    factors = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0], [5.0, 5.0]])
    labels = np.array([0, 0, 1, 1, 2])
    expected = np.array([[2.0, 0.0], [0.0, 3.0], [5.0, 5.0]])
    np.testing.assert_allclose(class_prototypes(factors, labels, 3), expected)
    with pytest.raises(ValueError, match=r"no sample of class\(es\) \[3\]"):
        class_prototypes(factors, labels, 4)
    with pytest.raises(ValueError, match=r"integers in 0\.\.1"):
        class_prototypes(factors, labels, 2)


def test_pearson_r_known_answers():
    x = np.array([[0.1, 0.5, 0.9], [0.3, 0.2, 0.4]])  # samples x channels, flattened
    assert pearson_r(x, x) == pytest.approx(1.0)
    assert pearson_r(x, 2 - 3 * x) == pytest.approx(-1.0)
    assert pearson_r(x, np.full_like(x, 0.7)) == 0.0  # a constant output preserves nothing
    assert pearson_r([1.0, np.nan, 2.0, 3.0], [2.0, 5.0, 4.0, 6.0]) == pytest.approx(1.0)  # NaN pair dropped
    assert np.isnan(pearson_r([1.0], [2.0]))
    rng = np.random.default_rng(0)
    assert abs(pearson_r(rng.random(20000), rng.random(20000))) < 0.03  # independent -> about 0


def test_swap_targets_never_the_own_class_and_deterministic():
    source = np.arange(2000) % K
    pool = np.repeat(np.arange(K), 3)
    targets, index = swap_targets(source, pool, K, np.random.default_rng(0))
    assert (targets != source).all()
    assert np.array_equal(pool[index], targets)
    # Every other class is reachable from every class, about equally often.
    for c in range(K):
        reached = np.bincount(targets[source == c], minlength=K)
        assert reached[c] == 0 and (reached[np.arange(K) != c] > 5).all()
    again = swap_targets(source, pool, K, np.random.default_rng(0))
    assert np.array_equal(targets, again[0]) and np.array_equal(index, again[1])
    with pytest.raises(MFMError, match=r"no sample of class 4 in the split"):
        swap_targets(source, pool[pool != 4], K, np.random.default_rng(0))


# ---------------------------------------------------------------------------------------------------------------
# Label-swap fidelity on a planted pattern: 1.0 when right, 0.0 when the classifier disagrees
# ---------------------------------------------------------------------------------------------------------------
class PlantedDecoder(nn.Module):
    """Writes the first 10 entries of F_y into the top pixel row; the style factor only dims the rest."""

    def __init__(self, shape: tuple[int, int, int], shared_factor_dim: int) -> None:
        super().__init__()
        self.shape, self.fy = shape, shared_factor_dim
        self.scale = nn.Parameter(torch.ones(()))  # gives the module a device

    def forward(self, factors: Tensor) -> Tensor:  # (B, fy + fi) -> (B, C, H, W)
        images = factors.new_zeros(factors.shape[0], *self.shape)
        images[:, :, 2:, :] = 0.1 * torch.sigmoid(factors[:, self.fy :].mean(1))[:, None, None, None]
        images[:, :, 0, :K] = self.scale * factors[:, None, :K]
        return images


class PatternReader(nn.Module):
    """A stub classifier: the class is the brightest of the first 10 top-row pixels, plus `shift` (mod 10)."""

    def __init__(self, shift: int = 0) -> None:
        super().__init__()
        self.shift = shift

    def forward(self, images: Tensor) -> Tensor:  # (B, C, H, W) -> (B, 10) logits
        return images[:, 0, 0, :K].roll(self.shift, dims=1)


def planted_model() -> MFM:
    model = tiny_model(shared_factor_dim=K)
    for m in model.config.modalities:
        model.decoders[m.name] = PlantedDecoder(m.shape, K)
    return model


def test_label_swap_fidelity_is_one_when_the_label_factor_wins_and_zero_when_it_does_not():
    model = planted_model()
    rng = np.random.default_rng(0)
    labels = rng.integers(K, size=37)
    target_factors = np.eye(K, dtype=np.float32)[labels]  # (S, fy): class c is a one-hot at c
    style = rng.random((37, 4)).astype(np.float32)  # (S, fi), the style of other samples
    for modality in ("svhn", "mnist"):
        assert label_swap_fidelity(model, modality, style, target_factors, labels, PatternReader()) == 1.0
        assert label_swap_fidelity(model, modality, style, target_factors, labels, PatternReader(1)) == 0.0
    # A classifier that reads the right pattern, but for half the samples the label factor points elsewhere.
    wrong = np.eye(K, dtype=np.float32)[np.where(np.arange(37) % 2 == 0, (labels + 1) % K, labels)]
    assert label_swap_fidelity(model, "mnist", style, wrong, labels, PatternReader()) == pytest.approx(
        18 / 37
    )


def test_swap_images_decodes_label_then_style_and_checks_shapes():
    model = tiny_model()
    fy, fi = model.config.shared_factor_dim, model.config.modality("svhn").factor_dim
    style, label = torch.rand(3, fi), torch.rand(3, fy)
    images = swap_images(model, "svhn", style.numpy(), label.numpy(), batch_size=2)
    with torch.no_grad():
        expected = model.decode_modality("svhn", label, style)
    assert images.shape == (3, 3, 32, 32) and images.dtype == np.float32
    np.testing.assert_allclose(images, expected.numpy(), atol=1e-6)
    with pytest.raises(MFMError, match="style factors"):
        swap_images(model, "svhn", label.numpy(), style.numpy())
    with pytest.raises(MFMError, match="modality"):
        swap_images(model, "audio", style.numpy(), label.numpy())


# ---------------------------------------------------------------------------------------------------------------
# The whole evaluation
# ---------------------------------------------------------------------------------------------------------------
def toy_dataset(n: int = 30, seed: int = 0) -> MultimodalDataset:
    """Random digit-pair-shaped data with every class in every split and recorded styles of the right shapes."""
    rng = np.random.default_rng(seed)
    splits = {}
    for offset, name in enumerate(("train", "valid", "test")):
        labels = (np.arange(n) + offset) % K
        svhn = rng.random((n, 3, 32, 32), dtype=np.float32)
        mnist = rng.random((n, 1, 28, 28), dtype=np.float32)
        fg, bg = estimate_colors(svhn)
        slant, thickness = mnist_moments(mnist)
        extras = {
            "style/svhn/fg_color": (fg + 0.05 * rng.standard_normal(fg.shape)).astype(np.float32),
            "style/svhn/bg_color": bg.astype(np.float32),
            "style/mnist/slant": slant.astype(np.float32),
            "style/mnist/thickness": thickness.astype(np.float32),
        }
        splits[name] = Split(
            inputs={"svhn": svhn, "mnist": mnist}, labels=labels.astype(np.int64), extras=extras
        )
    return MultimodalDataset(
        name="toy",
        task="classification",
        num_classes=K,
        modalities=("svhn", "mnist"),
        shapes={"svhn": (3, 32, 32), "mnist": (1, 28, 28)},
        splits=splits,
        info={},
    )


def classifiers() -> dict[str, DigitClassifier]:
    torch.manual_seed(0)
    return {"svhn": DigitClassifier((3, 32, 32)).eval(), "mnist": DigitClassifier((1, 28, 28)).eval()}


def test_swap_evaluation_keys_ranges_ceilings_and_json():
    data, clfs = toy_dataset(), classifiers()
    results = swap_evaluation(tiny_model(), data, clfs, max_samples=12, seed=0)
    assert set(results) == {"svhn", "mnist"}
    common = {"samples", "label_swap_prototype", "label_swap_sample"}
    common |= {"classifier_accuracy_real", "reconstruction_accuracy"}
    per_colour = {f"{part}_{m}" for part in ("fg", "bg") for m in COLOUR_MEASURES}
    colours = {
        f"{c}{s}" for c in (*per_colour, "contrast_r", "contrast_kept") for s in ("", "_sample", "_ceiling")
    }
    moments = {f"{c}_r{s}" for c in ("slant", "thickness", "width") for s in ("", "_sample", "_ceiling")}
    assert set(results["svhn"]) == common | colours
    pins = {f"{c}{s}" for c in ("pinholes", "specks") for s in ("", "_sample", "_ceiling")}
    assert set(results["mnist"]) == common | moments | pins
    for row in results.values():
        assert row["samples"] == 12
        for key in common - {"samples"}:
            assert 0.0 <= row[key] <= 1.0
    # The recorded MNIST moments were measured on these very images, so the ceiling is exact; the colours were
    # recorded with noise, so the ceiling is high but below 1.
    assert results["mnist"]["slant_r_ceiling"] == pytest.approx(1.0)
    assert results["mnist"]["thickness_r_ceiling"] == pytest.approx(1.0)
    assert results["mnist"]["width_r_ceiling"] == pytest.approx(1.0)  # the real images against themselves
    # the style sources, drawn as the evaluation draws them
    sources, _, _ = _draw_swaps(data.splits["test"].labels, K, 12, 0)
    real = data.splits["test"].inputs["mnist"][sources]
    assert results["mnist"]["pinholes_ceiling"] == pytest.approx(np.nanmean(pinholes(real)))
    assert results["mnist"]["specks_ceiling"] == pytest.approx(np.nanmean(specks(real)))
    assert results["svhn"]["bg_rgb_r_ceiling"] == pytest.approx(1.0)
    assert results["svhn"]["bg_chroma_agreement_ceiling"] == pytest.approx(1.0)
    assert results["svhn"]["bg_delta_e_ceiling"] == pytest.approx(0.0, abs=1e-4)
    assert 0.5 < results["svhn"]["fg_rgb_r_ceiling"] < 1.0
    assert 0.5 < results["svhn"]["fg_lightness_r_ceiling"] < 1.0
    json.dumps(results)  # JSON-ready


def test_swap_evaluation_recomputes_by_hand():
    model, data, clfs = tiny_model(), toy_dataset(), classifiers()
    results = swap_evaluation(model, data, clfs, max_samples=1000, seed=3)  # all 30 test samples, in order
    test = data.splits["test"]
    assert results["mnist"]["classifier_accuracy_real"] == accuracy(
        clfs["mnist"], test.inputs["mnist"], test.labels
    )
    # Replay the documented draws: targets from the same generator, prototypes from the TRAIN split.
    targets, _ = swap_targets(test.labels, test.labels, K, np.random.default_rng(3))
    train_shared = run(model, data.splits["train"].inputs, keep=FACTORS).shared_factor
    test_modality = run(model, test.inputs, keep=FACTORS).modality_factors
    prototypes = class_prototypes(train_shared, data.splits["train"].labels, K)
    fidelity = label_swap_fidelity(
        model, "svhn", test_modality["svhn"], prototypes[targets], targets, clfs["svhn"]
    )
    assert results["svhn"]["label_swap_prototype"] == fidelity


def test_swap_evaluation_is_deterministic_and_leaves_modes_alone():
    model, data, clfs = tiny_model(), toy_dataset(), classifiers()
    model.train()
    model.decoders.eval()  # deliberately half in eval mode
    clfs["mnist"].train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a = swap_evaluation(model, data, clfs, max_samples=10, seed=5)
    assert model.training and model.shared_encoder.training and not model.decoders.training
    assert clfs["mnist"].training and not clfs["svhn"].training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BatchNorm stats untouched
    b = swap_evaluation(model, data, clfs, max_samples=10, seed=5)
    assert json.dumps(a) == json.dumps(b)


def planted_end_to_end() -> tuple[MFM, MultimodalDataset]:
    """The class planted end to end: MNIST top row -> F_y one-hot (so prototypes are one-hot) -> decoded top row."""
    model, data = planted_model(), toy_dataset()

    class OneHotLabel(nn.Module):  # F_y = z_y, the one-hot read below
        def forward(self, code: Tensor) -> Tensor:
            return code

    class ReadLabel(nn.Module):
        def forward(self, inputs) -> Tensor:
            return inputs["mnist"][:, 0, 0, :K]

    for name in ("train", "valid", "test"):  # plant each sample's class in its MNIST image's top row
        split = data.splits[name]
        split.inputs["mnist"][:, 0, 0, :K] = np.eye(K, dtype=np.float32)[split.labels]
    model.shared_encoder = ReadLabel()
    model.shared_factor_map = OneHotLabel()
    return model, data


def test_a_planted_perfect_swap_scores_one_and_a_wrong_reader_zero():
    model, data = planted_end_to_end()
    perfect = swap_evaluation(model, data, {"mnist": PatternReader()}, max_samples=30)
    assert perfect["mnist"]["label_swap_prototype"] == 1.0
    assert perfect["mnist"]["label_swap_sample"] == 1.0
    assert perfect["mnist"]["reconstruction_accuracy"] == 1.0
    # The same images scored by a reader that is off by one class: the metric fails.
    failing = swap_evaluation(model, data, {"mnist": PatternReader(1)}, max_samples=30)
    assert failing["mnist"]["label_swap_prototype"] == 0.0


def test_swap_evaluation_refusals():
    model, data = tiny_model(), toy_dataset()
    with pytest.raises(MFMError, match="classifiers are given for"):
        swap_evaluation(model, data, {"audio": DigitClassifier((1, 28, 28))})
    with pytest.raises(MFMError, match="classifier reads"):
        swap_evaluation(model, data, {"mnist": DigitClassifier((3, 32, 32))})


# ---------------------------------------------------------------------------------------------------------------
# Selection of a training run's epoch by label swaps (`python -m mfm train --select swaps`)
# ---------------------------------------------------------------------------------------------------------------
def test_held_out_swaps_are_the_test_evaluation_on_one_split():
    """With one split as train, valid and test, the held-out figures are `swap_evaluation`'s, draw for draw."""
    model, clfs = tiny_model(), classifiers()
    test = toy_dataset().splits["test"]
    one = MultimodalDataset("toy", "classification", K, ("svhn", "mnist"), {"svhn": (3, 32, 32),
                            "mnist": (1, 28, 28)}, dict.fromkeys(("train", "valid", "test"), test), {})  # fmt: skip
    expected = swap_evaluation(model, one, clfs, max_samples=12, seed=4)
    got = held_out_swap_accuracy(model, test.inputs, test.labels, clfs, max_samples=12, seed=4)
    assert got == {
        f"{key}/{m}": expected[m][name]
        for m in ("svhn", "mnist")
        for key, name in (("label_swap", "label_swap_prototype"), ("label_swap_sample", "label_swap_sample"))
    }


def test_held_out_swaps_score_one_on_a_planted_swap_and_zero_with_a_wrong_reader():
    model, data = planted_end_to_end()
    valid = data.splits["valid"]
    perfect = held_out_swap_accuracy(model, valid.inputs, valid.labels, {"mnist": PatternReader()})
    assert perfect == {"label_swap/mnist": 1.0, "label_swap_sample/mnist": 1.0}
    wrong = held_out_swap_accuracy(model, valid.inputs, valid.labels, {"mnist": PatternReader(1)})
    assert wrong == {"label_swap/mnist": 0.0, "label_swap_sample/mnist": 0.0}


def test_swap_selection_scores_the_mean_and_refuses_a_model_it_cannot_read(tmp_path):
    model, data = planted_end_to_end()
    valid = data.splits["valid"]
    folder = tmp_path / "classifiers"
    folder.mkdir()
    save_classifier(folder / "mnist.pt", DigitClassifier((1, 28, 28)), {"note": "untrained"})
    extra, selection = swap_selection(model.config, valid.inputs, valid.labels, str(folder))
    assert selection == (SWAP_SCORE, True)
    metrics = extra(model, {"accuracy": 0.5})
    swaps = {k: v for k, v in metrics.items() if k != SWAP_SCORE}
    assert set(swaps) == {"label_swap/mnist", "label_swap_sample/mnist"}
    assert metrics[SWAP_SCORE] == pytest.approx((0.5 + sum(swaps.values())) / 3)
    with pytest.raises(MFMError, match="needs a digit classifier for one of"):
        swap_selection(
            model.config, valid.inputs, valid.labels, str(tmp_path)
        )  # a folder without classifiers
    with pytest.raises(
        MFMError, match=r"every class in the validation split; it has no sample of class\(es\) \[9\]"
    ):
        swap_selection(model.config, valid.inputs, valid.labels % 9, str(folder))
    save_classifier(folder / "mnist.pt", DigitClassifier((3, 32, 32)), {"note": "the wrong shape"})
    with pytest.raises(MFMError, match=r"the mnist classifier reads \(3, 32, 32\) images"):
        swap_selection(model.config, valid.inputs, valid.labels, str(folder))
    with pytest.raises(MFMError, match="needs an image classification model"):
        swap_selection(tiny_sequence_config(), valid.inputs, valid.labels)
