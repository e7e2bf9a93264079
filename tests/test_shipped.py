"""The shipped demo checkpoints and classifiers: valid, and their recorded figures re-measured.

Evaluation is deterministic on CPU, so the test split's metrics must reproduce the numbers stored at training time
to 1e-6 (float summation order is the only tolerance needed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mfm.checkpoint import load_checkpoint
from mfm.cli import main
from mfm.data import load_dataset
from mfm.eval.classifiers import SHIPPED_CLASSIFIERS, accuracy, load_classifier
from mfm.train import evaluate_model

CHECKPOINTS = sorted((Path(__file__).resolve().parents[1] / "assets" / "checkpoints").glob("*.pt"))


def test_demo_checkpoints_are_shipped():
    names = {p.name for p in CHECKPOINTS}
    assert {"sentiment_mfm.pt", "digits_mfm_paper.pt"} <= names
    assert all(p.stat().st_size < 10 * 2**20 for p in CHECKPOINTS)


@pytest.mark.parametrize("path", CHECKPOINTS, ids=lambda p: p.name)
def test_shipped_checkpoint_reproduces_its_recorded_test_metrics(path, data_cache):
    assert main(["check", str(path)]) == 0
    loaded = load_checkpoint(path)
    meta = loaded.metadata
    assert meta["command"].startswith("python -m mfm train") and meta["wall_seconds"] > 0
    data = load_dataset(meta["dataset"], seed=meta["data_seed"])
    test = data.splits["test"]
    assert meta["split_sizes"]["test"] == len(test.labels)
    results = evaluate_model(loaded.model, test.inputs, test.labels)
    recorded = meta["metrics"]["test"]
    assert set(results) == set(recorded)
    for subset, metrics in recorded.items():
        for name, value in metrics.items():
            assert results[subset][name] == pytest.approx(value, abs=1e-6), (subset, name)


@pytest.mark.parametrize("modality", ["svhn", "mnist"])
def test_shipped_classifiers_reproduce_their_test_accuracy(modality, data_cache):
    model, meta = load_classifier(SHIPPED_CLASSIFIERS / f"{modality}.pt")
    test = load_dataset("digits").splits["test"]
    measured = accuracy(model, test.inputs[modality], test.labels)
    assert measured == pytest.approx(meta["metrics"]["test_accuracy"], abs=1e-6)
    assert measured >= 0.97


def shipped(name: str) -> Path:
    path = next((p for p in CHECKPOINTS if p.name == name), None)
    assert path is not None, f"{name} is not shipped"
    return path


def test_sequence_demo_interpretations_recover_the_planted_truth(data_cache):
    """Issue 5's bars on the shipped sequence demo (300 test segments; 600 in assets/README.md)."""
    from interpret.analysis import faithfulness
    from interpret.context import open_checkpoint
    from interpret.information import InformationSettings

    context = open_checkpoint(shipped("sentiment_mfm.pt"))
    test = context.dataset.splits["test"]
    order = context.dataset.info["modality_order_expected"]
    assert order == ["language", "acoustic", "visual"]
    result = faithfulness(context.model, test.inputs, test.extras, order,
                          InformationSettings(max_samples=300, seed=0, n_bootstrap=2, n_null=2))  # fmt: skip
    trained, randomized = result["trained"], result["randomized"]
    r = trained["ratios"]
    assert r["language"] > r["acoustic"] > r["visual"] and r["visual"] < 0.1, r
    # smallest log-ratio gap (language / acoustic): measured 0.28-0.49 over sample seeds 0-2 at 300 segments, 0.48
    # at 600 with disjoint intervals (assets/README.md); narrower than on generator version 2 (1.5), where the
    # acoustic stream stated nothing the language did not
    assert trained["ranking_margin"] > 0.2
    assert randomized["ranking_margin"] < 0, randomized["ratios"]  # the structure is lost with random weights
    assert trained["auroc"]["language"] >= 0.9
    assert randomized["auroc"]["language"] <= 0.6


def test_report_label_swap_equals_evaluate(data_cache, capsys):
    """The report and `python -m mfm evaluate` show the same label-swap accuracy on the image demo."""
    import json

    from interpret.context import open_checkpoint
    from interpret.report import ReportSettings, build_report

    path = shipped("digits_mfm_paper.pt")
    assert main(["evaluate", str(path), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)["generation"]
    settings = ReportSettings.from_flat(
        max_samples=100, n_bootstrap=2, n_null=2, gradient_samples=4, faithfulness=False
    )
    page, summary = build_report(open_checkpoint(path), settings)
    # Each style x label grid shows its real style sources on top, to judge a column against its source.
    assert page.count('"ticktext":["real","label 0",') == 2  # street-view and MNIST
    reported = summary["generation"]["label_swap_accuracy"]
    assert set(reported) == {"svhn", "mnist"}
    for modality, value in reported.items():
        assert value == evaluated[modality]["label_swap_prototype"]


def test_sequence_demo_missing_modality_order_follows_the_planted_information():
    """Issue 4: without visual (no label planted) the metrics drop the least, without language the most.

    Checked on the recorded test metrics (the test above re-measures them), every metric: the acoustic stream
    states the label with an error of its own (generator version 3), so it also improves the ranking (Pearson r).
    """
    from mfm.data.sentiment import GENERATOR_VERSION

    meta = load_checkpoint(shipped("sentiment_mfm.pt")).metadata
    assert meta["data_generator_version"] == GENERATOR_VERSION
    test = meta["metrics"]["test"]
    mae = {m: test[f"without_{m}"]["mae"] for m in ("language", "acoustic", "visual")}
    assert mae["visual"] < mae["acoustic"] < mae["language"], mae
    for name in ("pearson_r", "acc2", "f1", "acc7"):
        score = {m: test[f"without_{m}"][name] for m in ("language", "acoustic", "visual")}
        assert score["visual"] > score["acoustic"] > score["language"], (name, score)
    assert test["all"]["acc2"] >= 0.9 and test["all"]["pearson_r"] >= 0.8


EVALUATIONS = Path(__file__).resolve().parents[1] / "assets" / "evaluations"


@pytest.fixture(scope="module")
def generation_of():
    """`image_generation_metrics` of a shipped image checkpoint, measured once per module."""
    from mfm.eval.swap_metrics import image_generation_metrics

    measured = {}

    def measure(name: str) -> dict:
        if name not in measured:
            measured[name] = image_generation_metrics(
                load_checkpoint(shipped(name)).model, load_dataset("digits")
            )
        return measured[name]

    return measure


@pytest.mark.parametrize("name", ["digits_mfm_paper.pt", "digits_mfm_improved.pt"])
def test_shipped_image_models_reproduce_their_documented_generation_figures(name, generation_of, data_cache):
    """assets/evaluations/<name>.json is `python -m mfm evaluate <file> --json` of the shipped file, the source of
    the figures in assets/README.md: label swaps, colours (CIELAB), contrast and MNIST moments come back to 1e-5
    (relative, or absolute near 0): float32 kernels differ in the last digits between CPUs (AVX2, AVX-512, AMD
    EPYC), which moved a colour difference of 14.382046 by 1.4e-6 on one machine and a contrast ceiling of
    0.9246827 by 1.5e-6 on another; a real change moves a figure far more."""
    import json
    import math

    recorded = json.loads((EVALUATIONS / f"{Path(name).stem}.json").read_text())
    assert recorded["sha256"] == load_checkpoint(shipped(name)).sha256, "the evaluation is of another file"
    measured = generation_of(name)
    assert set(measured) == set(recorded["generation"])
    for modality, figures in recorded["generation"].items():
        assert set(measured[modality]) == set(figures), modality
        for key, value in figures.items():
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(measured[modality][key]), (modality, key)
            else:
                assert measured[modality][key] == pytest.approx(value, rel=1e-5, abs=1e-5), (modality, key)


def test_improved_image_demo_meets_the_issue_4_bars(generation_of, data_cache):
    """Accuracy with all and with each missing modality, label swap to class prototypes judged by the independent
    classifiers, and style preservation as issue 4 measured it (the RGB r, mostly lightness)."""
    loaded = load_checkpoint(shipped("digits_mfm_improved.pt"))
    test = loaded.metadata["metrics"]["test"]
    assert test["all"]["accuracy"] >= 0.98
    assert test["without_svhn"]["accuracy"] >= 0.95 and test["without_mnist"]["accuracy"] >= 0.95
    generation = generation_of("digits_mfm_improved.pt")
    svhn, mnist = generation["svhn"], generation["mnist"]
    assert mnist["label_swap_prototype"] >= 0.90 and svhn["label_swap_prototype"] >= 0.85
    assert svhn["bg_rgb_r"] >= 0.9 and svhn["fg_rgb_r"] >= 0.7 and mnist["slant_r"] >= 0.7


def test_improved_image_demo_meets_the_issue_15_bars(generation_of, data_cache):
    """Issue 15: the improved model keeps the digit's and the background's colour (a*b* agreement >= 0.8 of the
    real images') and lightness (r >= 0.9), draws street-view digits the independent classifier reads after a
    label swap (>= 90 % to a class prototype, >= 85 % to a single sample), keeps MNIST's slant (r >= 0.8) and
    stroke thickness (r >= 0.7) without drawing texture or specks to meet the thickness measure, and meets the
    accuracy and MNIST swap bars."""
    loaded = load_checkpoint(shipped("digits_mfm_improved.pt"))
    assert (
        loaded.objective.chroma_weight > 0 and loaded.objective.tone_weight > 0
    )  # the colour-keeping recipe
    assert loaded.model.config.modality("svhn").composite == "two_tone"
    assert loaded.objective.thickness_weight > 0 and loaded.objective.modality_edge_weight("mnist") > 0
    assert loaded.model.config.modality("mnist").upsampling == "resize"  # the sharper MNIST decoder
    test = loaded.metadata["metrics"]["test"]
    assert test["all"]["accuracy"] >= 0.98
    assert test["without_svhn"]["accuracy"] >= 0.95 and test["without_mnist"]["accuracy"] >= 0.95
    generation = generation_of("digits_mfm_improved.pt")
    svhn, mnist = generation["svhn"], generation["mnist"]
    assert svhn["label_swap_prototype"] >= 0.90 and svhn["label_swap_sample"] >= 0.85
    assert mnist["label_swap_prototype"] >= 0.90 and mnist["label_swap_sample"] >= 0.85
    assert mnist["slant_r"] >= 0.8 and mnist["thickness_r"] >= 0.7
    assert mnist["width_r"] >= 0.7  # the independent check of thickness, on the binarised ink
    for artefact in ("pinholes", "specks"):  # no more texture or islands of ink than the real digits
        assert mnist[artefact] <= mnist[f"{artefact}_ceiling"], artefact
    for part in ("fg", "bg"):
        assert svhn[f"{part}_lightness_r"] >= 0.9, part
        assert svhn[f"{part}_chroma_agreement"] >= 0.8 * svhn[f"{part}_chroma_agreement_ceiling"], part
    # The digit's colour, which the grey paper model does not keep at all (0.003).
    paper = generation_of("digits_mfm_paper.pt")["svhn"]
    assert abs(paper["fg_chroma_agreement"]) < 0.05


def test_the_paper_model_draws_grey_and_the_colour_metric_says_so(generation_of, data_cache):
    """The failure issue 15 names, on the shipped paper-objective model: street-view digits come out grey. The
    old pooled RGB r passed it (0.91 background); the a*/b* agreement does not."""
    svhn = generation_of("digits_mfm_paper.pt")["svhn"]
    assert svhn["bg_rgb_r"] > 0.9 and svhn["bg_lightness_r"] > 0.9  # the grey level survives
    assert svhn["bg_chroma_agreement"] < 0.1 and svhn["fg_chroma_agreement"] < 0.1  # the colour does not
    assert svhn["bg_chroma_agreement_ceiling"] > 0.95  # while real images score near 1
