"""The planted sentiment sequences: shapes, determinism, planted masks, styles and the label relation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score

from mfm.data import load_dataset
from mfm.data.sentiment import (
    FILLER_WORDS,
    INTENSIFIERS,
    NEGATIVE_WORDS,
    POSITIVE_WORDS,
    TEMPLATES,
    SentimentConfig,
    make_sentiment,
)
from mfm.errors import DataError

SIZES = (600, 100, 300)


@pytest.fixture(scope="module")
def data():
    return make_sentiment(0, sizes=SIZES)


def test_shapes_dtypes_and_label_range(data) -> None:
    assert data.task == "regression" and data.num_classes is None
    assert data.modalities == ("language", "acoustic", "visual")
    assert data.shapes == {"language": (20, 300), "acoustic": (20, 5), "visual": (20, 20)}
    for name, size in zip(("train", "valid", "test"), SIZES, strict=True):
        split = data.splits[name]
        assert len(split) == size
        for modality, array in split.inputs.items():
            assert array.shape == (size, *data.shapes[modality]) and array.dtype == np.float32
            assert np.isfinite(array).all()
        assert split.labels.dtype == np.float32
        assert split.labels.min() >= -3 and split.labels.max() <= 3
        assert split.extras["words"].shape == (size, 20) and split.extras["words"].dtype.kind == "U"
        for modality in data.modalities:
            assert split.extras[f"mask/{modality}"].shape == (size, 20)
            assert split.extras[f"mask/{modality}"].dtype == bool


def test_same_seed_gives_identical_data(data) -> None:
    again = make_sentiment(0, sizes=SIZES)
    other = make_sentiment(1, sizes=SIZES)
    for name, split in data.splits.items():
        for modality in data.modalities:
            assert np.array_equal(split.inputs[modality], again.splits[name].inputs[modality])
        assert np.array_equal(split.labels, again.splits[name].labels)
        for key, value in split.extras.items():
            assert np.array_equal(value, again.splits[name].extras[key]), key
    assert not np.array_equal(data.splits["train"].labels, other.splits["train"].labels)


def test_masks_follow_the_speaker_type_template_and_cover_time_evenly(data) -> None:
    masks = np.concatenate([s.extras["mask/language"] for s in data.splits.values()])
    types = np.concatenate([s.extras["speaker_type"] for s in data.splits.values()])
    for k, steps in enumerate(TEMPLATES):
        expected = np.zeros(20, dtype=bool)
        expected[list(steps)] = True
        assert np.all(masks[types == k] == expected)
    # the templates partition the steps: each step is planted in one template, so equally often over types
    assert np.array_equal(np.sort(np.concatenate(TEMPLATES)), np.arange(20))
    counts = np.bincount(types, minlength=len(TEMPLATES))
    assert counts.min() >= 0.8 * counts.max()
    frequency = masks.mean(axis=0)  # (T,)
    assert frequency.max() - frequency.min() < 0.05
    # each template reaches into both halves of the segment
    assert all(min(t) < 10 <= max(t) for t in TEMPLATES)
    for split in data.splits.values():
        assert np.array_equal(split.extras["mask/acoustic"], split.extras["mask/language"])
        assert not split.extras["mask/visual"].any()


def test_speaker_types_are_revealed_by_language_and_acoustic_style_only(data) -> None:
    train, test = data.splits["train"], data.splits["test"]
    for modality in data.modalities:
        # nearest centroid of the time-averaged stream, fitted on train speakers, applied to unseen test speakers
        features = {name: s.inputs[modality].mean(axis=1) for name, s in (("train", train), ("test", test))}
        centroids = np.stack([features["train"][train.extras["speaker_type"] == k].mean(0) for k in range(5)])
        distance = ((features["test"][:, None, :] - centroids[None]) ** 2).sum(-1)
        accuracy = np.mean(distance.argmin(1) == test.extras["speaker_type"])
        if modality == "visual":  # no type offset: about chance (0.2) for unseen speakers
            assert accuracy < 0.4, (modality, accuracy)
        else:
            assert accuracy > 0.9, (modality, accuracy)


def test_splits_have_disjoint_speakers(data) -> None:
    speakers = [set(s.extras["speaker"].tolist()) for s in data.splits.values()]
    assert not speakers[0] & speakers[1] and not speakers[0] & speakers[2] and not speakers[1] & speakers[2]


def test_words_are_sentiment_words_at_planted_steps_and_fillers_elsewhere(data) -> None:
    split = data.splits["train"]
    words, masks, stated = (
        split.extras["words"],
        split.extras["mask/language"],
        split.extras["stated/language"],
    )
    positive = {w for group in POSITIVE_WORDS for w in group}
    negative = {w for group in NEGATIVE_WORDS for w in group}
    intensifiers = {w for group in INTENSIFIERS for w in group}
    assert set(words[~masks].tolist()) <= set(FILLER_WORDS)
    for i in range(len(split)):
        planted = words[i][masks[i]].tolist()  # two phrases: intensifier, sentiment word
        assert planted[0] in intensifiers and planted[2] in intensifiers
        polarity = positive if stated[i] >= 0 else negative  # the words say what the language states
        assert planted[1] in polarity and planted[3] in polarity


def _ridge_r2(data, modality: str) -> float:
    train, test = data.splits["train"], data.splits["test"]
    model = RidgeCV(alphas=np.logspace(0, 5, 11)).fit(
        train.inputs[modality].reshape(len(train), -1), train.labels
    )
    return r2_score(test.labels, model.predict(test.inputs[modality].reshape(len(test), -1)))


def test_label_relation_language_strong_acoustic_weak_visual_none(data) -> None:
    scores = {m: _ridge_r2(data, m) for m in data.modalities}
    # the language states y + e_l: no linear model of it beats R^2 = Var(y) / (Var(y) + sigma_l^2) = 3 / 3.36
    ceiling = 3.0 / (3.0 + SentimentConfig().language_label_noise ** 2)
    assert 0.8 < scores["language"] < ceiling + 0.03
    assert scores["visual"] < 0.05
    assert scores["language"] > scores["acoustic"] > scores["visual"]
    energy = data.info["label_energy_over_style_energy"]
    assert energy["language"] > energy["acoustic"] > energy["visual"] == 0.0


def test_label_content_sits_at_the_planted_steps(data) -> None:
    # Correlation of the label with each step's projection on the best direction: high only at planted steps.
    split = data.splits["train"]
    language, masks = split.inputs["language"], split.extras["mask/language"]
    labels = split.extras["stated/language"]  # what the language states: y plus its own error
    planted = language[masks].reshape(len(split), -1, 300).mean(1)  # (N, 300)
    direction = np.linalg.lstsq(planted - planted.mean(0), labels - labels.mean(), rcond=None)[0]
    projection = language @ direction  # (N, T)
    for t in range(20):
        on, off = masks[:, t], ~masks[:, t]
        assert abs(np.corrcoef(projection[on, t], labels[on])[0, 1]) > 0.9
        assert abs(np.corrcoef(projection[off, t], labels[off])[0, 1]) < 0.2


def test_each_stream_states_the_label_with_its_own_independent_error(data) -> None:
    config = SentimentConfig()
    errors = {}
    for name in ("language", "acoustic"):
        stated = np.concatenate([s.extras[f"stated/{name}"] for s in data.splits.values()])
        labels = np.concatenate([s.labels for s in data.splits.values()])
        errors[name] = stated - labels
        sigma = getattr(config, f"{name}_label_noise")
        assert abs(errors[name].std() - sigma) < 0.05 * sigma + 0.03  # 1,000 draws: about 2 % standard error
        assert abs(np.corrcoef(errors[name], labels)[0, 1]) < 0.1
    assert abs(np.corrcoef(errors["language"], errors["acoustic"])[0, 1]) < 0.1
    # each stream's planted content is what it states, not the label itself (fitted on train, scored on test)
    train, test = data.splits["train"], data.splits["test"]
    for name in ("language", "acoustic"):
        direction = np.linalg.lstsq(
            _planted_contrast(train, name), train.extras[f"stated/{name}"], rcond=None
        )[0]
        projection = _planted_contrast(test, name) @ direction
        with_stated = np.corrcoef(projection, test.extras[f"stated/{name}"])[0, 1]
        with_label = np.corrcoef(projection, test.labels)[0, 1]
        assert with_stated > 0.98 and with_stated > with_label + 0.02, (name, with_stated, with_label)


def _planted_contrast(split, modality: str) -> np.ndarray:
    """(N, D): a stream's mean over the planted steps minus its mean over the others (the style cancels)."""
    x, mask = split.inputs[modality].astype(np.float64), split.extras["mask/language"][:, :, None]
    return (x * mask).sum(1) / mask.sum(1) - (x * ~mask).sum(1) / (~mask).sum(1)


def test_acoustic_adds_label_information_the_language_lacks_and_visual_adds_none(data) -> None:
    # The order the missing-modality metrics must show (issue 4): language most, acoustic some, visual none.
    train, test = data.splits["train"], data.splits["test"]

    def r2(modalities: tuple[str, ...]) -> float:
        features = {n: np.concatenate([_planted_contrast(s, m) for m in modalities], 1) for n, s in
                    (("train", train), ("test", test))}  # fmt: skip
        model = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(features["train"], train.labels)
        return r2_score(test.labels, model.predict(features["test"]))

    language, both = r2(("language",)), r2(("language", "acoustic"))
    assert both > language + 0.03  # analytic: 3 / 3.36 = 0.89 -> about 3 / 3.18 = 0.94
    assert abs(r2(("language", "acoustic", "visual")) - both) < 0.01
    assert abs(r2(("language", "visual")) - language) < 0.01


def test_style_offsets_are_label_free_and_returned(data) -> None:
    split = data.splits["train"]
    for modality in data.modalities:
        style = split.extras[f"style/{modality}/offset"]
        assert style.shape == (len(split), data.shapes[modality][1])
        correlation = [abs(np.corrcoef(style[:, d], split.labels)[0, 1]) for d in range(style.shape[1])]
        assert max(correlation) < 0.2
    # visual = style + noise only: the time average recovers the style offset
    visual = split.inputs["visual"].mean(axis=1)
    assert np.corrcoef(visual.ravel(), split.extras["style/visual/offset"].ravel())[0, 1] > 0.9


def test_random_placement_is_the_negative_control() -> None:
    control = make_sentiment(0, sizes=(100, 10, 10), config=SentimentConfig(placement="random"))
    split = control.splits["train"]
    masks, types = split.extras["mask/language"], split.extras["speaker_type"]
    assert np.all(masks.sum(1) == 4)
    # the steps no longer follow the speaker type
    assert any(len({tuple(np.flatnonzero(m)) for m in masks[types == k]}) > 1 for k in range(5))


def test_progress_is_reported_and_load_dataset_uses_the_defaults() -> None:
    calls = []
    data = load_dataset("sentiment", seed=2, progress=lambda d, t, s: calls.append((d, t, s)))
    assert [len(data.splits[s]) for s in ("train", "valid", "test")] == [2000, 400, 600]
    assert calls[-1][:2] == (3000, 3000)
    assert data.info["seed"] == 2


def test_bad_generator_arguments_are_refused() -> None:
    with pytest.raises(DataError, match=r"sizes"):
        make_sentiment(0, sizes=(10, 0, 10))
    with pytest.raises(DataError, match=r"placement"):
        SentimentConfig(placement="everywhere")
