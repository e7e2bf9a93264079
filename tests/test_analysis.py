"""The gather-then-measure layer: collection, planted-step AUROC, randomisation and the ranking margin."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import random_batch, tiny_sequence_config

from interpret.analysis import (
    gradient_flow_by_modality,
    planted_step_auroc,
    randomized_copy,
    ranking_margin,
)
from mfm.model import MFM


def test_planted_step_auroc_known_answers():
    mask = np.array([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=bool)
    perfect = np.array([[9, 8, 1, 2], [0, 1, 7, 8]], dtype=float)
    assert planted_step_auroc(perfect, mask) == 1.0
    assert planted_step_auroc(-perfect, mask) == 0.0
    # First segment perfect, second inverted: the mean of the per-segment AUROCs.
    assert planted_step_auroc(np.stack([perfect[0], -perfect[1]]), mask) == 0.5
    # Segments with no planted step (or only planted steps) are skipped; none left -> NaN.
    assert planted_step_auroc(perfect, np.stack([mask[0], np.zeros(4, bool)])) == 1.0
    assert np.isnan(planted_step_auroc(perfect, np.zeros((2, 4), bool)))
    with pytest.raises(ValueError, match=r"\(N, T\)"):
        planted_step_auroc(perfect[0], mask[0])
    with pytest.raises(ValueError, match="finite"):
        planted_step_auroc(np.where(mask, np.nan, perfect), mask)


def test_planted_step_auroc_equals_scikit_learns_per_segment_mean_with_ties():
    """The rank form (all segments at once) against roc_auc_score segment by segment, ties included."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(5)
    scores = rng.integers(0, 4, size=(200, 12)).astype(float)  # few values: many ties
    mask = rng.random((200, 12)) < 0.3
    mask[:3] = [True] * 12, [False] * 12, [True] + [False] * 11  # all, none, one planted step
    expected = np.mean(
        [roc_auc_score(m, s) for s, m in zip(scores, mask, strict=True) if 0 < m.sum() < m.size]
    )
    assert planted_step_auroc(scores, mask) == pytest.approx(expected, rel=1e-12)


def test_ranking_margin():
    assert ranking_margin({"a": 4.0, "b": 2.0, "c": 1.0}, ["a", "b", "c"]) == pytest.approx(np.log(2))
    assert ranking_margin({"a": 1.0, "b": 2.0, "c": 0.5}, ["a", "b", "c"]) < 0


def test_randomized_copy_changes_weights_not_the_original():
    torch.manual_seed(0)
    model = MFM(tiny_sequence_config()).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    clone = randomized_copy(model, seed=1)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    changed = [
        k for k, v in clone.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])
    ]
    assert len(changed) > 0.9 * sum(v.is_floating_point() for v in before.values())


def test_gradient_flow_by_modality_shapes():
    torch.manual_seed(0)
    model = MFM(tiny_sequence_config()).eval()
    inputs, _ = random_batch(model.config, batch=6)
    flows = gradient_flow_by_modality(model, {k: v.numpy() for k, v in inputs.items()}, max_samples=4)
    assert set(flows) == set(model.modality_names)
    assert all(f.shared.shape == (4, 6) for f in flows.values())


@pytest.mark.parametrize("method", ["exact", "saliency"])
def test_gradient_flows_of_some_modalities_equal_those_of_all(method):
    """A page draws one modality's figure before computing the next: its numbers must not depend on the others."""
    from conftest import tiny_image_config

    from interpret.analysis import gradient_flows
    from interpret.gradients import GradientSettings

    torch.manual_seed(0)
    for config in (tiny_sequence_config(), tiny_image_config()):
        model = MFM(config).eval()
        inputs = {k: v.numpy() for k, v in random_batch(model.config, batch=9)[0].items()}
        settings = GradientSettings(method=method, max_samples=6, seed=2)
        rows, every = gradient_flows(model, inputs, settings)
        for name in model.modality_names:
            own_rows, own = gradient_flows(model, inputs, settings, names=(name,))
            np.testing.assert_array_equal(own_rows, rows)
            assert set(own) == ({name} & set(every))  # a Captum method leaves image modalities out
            if name in own:
                np.testing.assert_array_equal(own[name].shared, every[name].shared)
                np.testing.assert_array_equal(own[name].modality_flow, every[name].modality_flow)
        none_rows, nothing = gradient_flows(model, inputs, settings, names=())
        np.testing.assert_array_equal(none_rows, rows)
        assert nothing == {}


def test_faithfulness_ratios_are_the_information_ratios_without_rounds():
    """The faithfulness check reads r_i only, so it skips the subsample and null rounds (issue 16): its ratios
    equal those of `information_by_modality` with the rounds, on the same seeded samples."""
    from dataclasses import replace

    from interpret.analysis import faithfulness, information_by_modality
    from interpret.information import InformationSettings
    from mfm.inference import sample_indices, take

    torch.manual_seed(0)
    model = MFM(tiny_sequence_config()).eval()
    inputs = {k: v.numpy() for k, v in random_batch(model.config, 90)[0].items()}
    settings = InformationSettings(max_samples=70, n_bootstrap=6, n_null=4, seed=3)
    names = list(model.modality_names)
    result = faithfulness(model, inputs, {}, names, settings)
    subset = take(inputs, sample_indices(90, 70, 3))
    full = information_by_modality(model, subset, replace(settings, max_samples=None))
    assert result["trained"]["ratios"] == {m: float(v.ratio) for m, v in full.items()}
    assert result["trained"]["ratios"] != result["randomized"]["ratios"]
