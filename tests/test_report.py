"""The report: the JSON keys the issue promises, an HTML page that opens offline, CLI and library agree; on an
imported model (no surrogate inference) it labels its missing-modality numbers as zero-filling; both versions of
the information (observational and interventional), the factors' dependence and the gradient-flow scale, and on a
model with a planted cut (a decoder that cannot see F_y) the interventional value within its null.

Also the small MMSA-layout model the app tests upload: MMSA's own `MFM` (from its wheel, see test_import.py) with
a small argument dict whose inputs have the shapes of the offline `sentiment` data (T 20; 300, 5, 20 features).
"""

from __future__ import annotations

import html
import io
import json
import re
import shlex
import types

import pytest
import torch
from test_import import _load_mmsa_mfm, mmsa_mosi_args

from interpret.analysis import INFORMATION_READINGS
from interpret.cli import main
from interpret.context import open_checkpoint
from interpret.report import ReportSettings, build_report, report_splits

SMALL = ReportSettings.from_flat(max_samples=96, n_bootstrap=4, n_null=3, gradient_samples=16)
INFORMATION_FIELDS = {
    "shared_mi", "shared_low", "shared_high", "shared_null_high",
    "modality_mi", "modality_low", "modality_high", "modality_null_high",
    "ratio", "ratio_low", "ratio_high",
}  # fmt: skip
# Beside them: the bias-corrected estimates (shown, not used for the value) and the interval method's name.
EXTRA_FIELDS = {"shared_corrected", "modality_corrected", "ratio_corrected", "interval", "variance_kept"}


def small_mmsa_args() -> dict:
    """MMSA's MOSI argument dict for MFM with small sizes and the sentiment data's shapes (T = 20)."""
    args = mmsa_mosi_args()
    args.update(
        feature_dims=[300, 5, 20],
        seq_lens=[20, 20, 20],
        hidden_dims=[8, 4, 6],
        zy_size=6,
        zl_size=5,
        za_size=3,
        zv_size=4,
        fy_size=4,
        fl_size=3,
        fa_size=2,
        fv_size=3,
        memsize=6,
        NN1Config={"drop": 0.7, "shapes": 8},
        NN2Config={"drop": 0.0, "shapes": 8},
        gamma1Config={"drop": 0.0, "shapes": 8},
        gamma2Config={"drop": 0.5, "shapes": 8},
        outConfig={"drop": 0.2, "shapes": 8},
        dataset_name="sentiment",
    )
    return args


def small_mmsa_files(seed: int = 0) -> tuple[bytes, bytes]:
    """(weights, config): a random small MMSA MFM saved as MMSA saves it (`Model.` prefix), and its args as JSON."""
    args = small_mmsa_args()
    torch.manual_seed(seed)
    model = _load_mmsa_mfm()(types.SimpleNamespace(**args)).eval()
    buffer = io.BytesIO()
    torch.save({f"Model.{k}": v for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue(), json.dumps(args).encode()


def test_report_summary_and_page(sentiment_checkpoint, tmp_path):
    context = open_checkpoint(sentiment_checkpoint)
    page, summary = build_report(context, SMALL)
    assert summary["checkpoint"]["sha256"] == context.checkpoint.sha256
    for name in ("language", "acoustic", "visual"):
        info = summary["information"][name]
        assert set(info) == INFORMATION_FIELDS | EXTRA_FIELDS  # the paper's version keeps its fields
        assert (
            info["interval"] == "bias-aware"
            and info["shared_low"] <= info["shared_mi"] <= info["shared_high"]
        )
        assert info["ratio_low"] <= info["ratio"] <= info["ratio_high"]
        # The interventional version: the same fields, its own numbers (X̂_i decoded from shuffled F_y).
        intervened = summary["information_interventional"][name]
        assert set(intervened) == INFORMATION_FIELDS | EXTRA_FIELDS
        assert (
            intervened["shared_low"] <= intervened["shared_high"]
            and intervened["shared_null_high"] is not None
        )
        assert intervened["ratio_low"] <= intervened["ratio"] <= intervened["ratio_high"]
        dependence = summary["dependence"][name]
        assert {"mi", "low", "high", "null_mean", "null_high", "corrected", "interval"} == set(dependence)
        assert 0 <= dependence["low"] <= dependence["high"]
        assert len(summary["gradients"][name]["shared"]) == 20
        fraction = summary["gradients"][name]["shared_fraction"]
        assert len(fraction) == 20 and all(0 <= f <= 1 for f in fraction)
        assert summary["missing_modality"][name]["method"] == "surrogate"
    assert summary["information_interventional"] != summary["information"]
    assert summary["gradients"]["scale"] == "std" and summary["settings"]["gradient_scale"] == "std"
    assert set(summary["information_disagreements"]) <= {"language", "acoustic", "visual"}
    # The page shows both versions and the dependence, each with its reading, and says the gradients' scale.
    for reading in INFORMATION_READINGS.values():
        assert html.escape(reading) in page
    assert "Information, interventional (F_y shuffled across samples)" in page
    assert "scale std: per 1-sd change of each factor dimension" in page
    assert "matters more for the prediction" not in page
    assert "missing_modality_zero_fill" not in summary and summary["checkpoint"]["surrogate_inference"]
    assert "Missing modality: surrogate inference (paper Eq. 5)" in page and "zero-filling" not in page
    assert set(summary["faithfulness"]["trained"]["auroc"]) == {"language", "acoustic"}
    assert summary["settings"]["seed"] == 0 and "torch" in summary["versions"]
    # Self-contained: no script is fetched from the network.
    assert not re.search(r"<script[^>]+src=", page)
    assert "plotly" in page.lower() and context.checkpoint.sha256 in page
    json.dumps(summary)  # JSON-ready


def test_cli_writes_the_same_numbers(sentiment_checkpoint, tmp_path):
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    args = [
        str(sentiment_checkpoint),
        "--out",
        str(out),
        "--json",
        str(js),
        "--samples",
        "96",
        "--bootstrap",
        "4",
        "--null",
        "3",
        "--gradient-samples",
        "16",
    ]
    assert main(["report", *args]) == 0
    written = json.loads(js.read_text())
    _, summary = build_report(open_checkpoint(sentiment_checkpoint), SMALL)
    assert written["information"] == summary["information"]  # bit-identical for one seed
    assert written["information_interventional"] == summary["information_interventional"]
    assert written["dependence"] == summary["dependence"]
    assert written["gradients"] == summary["gradients"]
    assert out.read_text().startswith("<!doctype html>")


def test_a_checkpoint_trained_on_another_version_of_the_generated_data_is_refused(
    sentiment_checkpoint, tmp_path, capsys
):
    from mfm.checkpoint import load_checkpoint, save_checkpoint
    from mfm.cli import main as mfm_main
    from mfm.data.registry import FIRST_RECORDED_VERSION
    from mfm.data.sentiment import GENERATOR_VERSION
    from mfm.errors import CheckpointError, DataError

    loaded = load_checkpoint(sentiment_checkpoint)
    assert loaded.metadata["data_generator_version"] == GENERATOR_VERSION  # `train` records it

    def saved(name: str, **changes) -> str:
        metadata = {k: v for k, v in {**loaded.metadata, **changes}.items() if v is not None}
        return str(save_checkpoint(tmp_path / name, loaded.model, metadata))

    older = saved("older.pt", data_generator_version=GENERATOR_VERSION - 1)
    with pytest.raises(
        DataError, match=rf"version {GENERATOR_VERSION - 1} of the generated data set 'sentiment'"
    ):
        open_checkpoint(older)
    assert mfm_main(["evaluate", older, "--limit", "8"]) == 2  # `evaluate` checks it too
    assert f"version {GENERATOR_VERSION - 1} of the generated data set" in capsys.readouterr().err
    # no version recorded: trained before `train` recorded it, so on an older version
    first = FIRST_RECORDED_VERSION["sentiment"]
    with pytest.raises(DataError, match=rf"a version before {first} of the generated data set 'sentiment'"):
        open_checkpoint(saved("unrecorded.pt", data_generator_version=None))
    # A version that is not a whole number is refused by the loader itself, naming the field.
    with pytest.raises(CheckpointError, match=r"metadata 'data_generator_version' must be a whole number"):
        open_checkpoint(saved("odd.pt", data_generator_version="three"))
    open_checkpoint(saved("as_text.pt", data_generator_version=str(GENERATOR_VERSION)))  # a JSON config's "3"


def test_report_on_an_imported_mmsa_model_labels_zero_filling(tmp_path, data_cache):
    from mfm.checkpoint import save_checkpoint
    from mfm.data.sentiment import GENERATOR_VERSION
    from mfm.importers import import_model, parse_config_json

    weights, config = small_mmsa_files()
    result = import_model("mmsa", weights, parse_config_json(config), dataset="sentiment")
    assert not result.model.config.surrogate
    # The fixture states what a user would have to: the model reads this program's generated data, this version
    # (without it the data's version check refuses the pairing; `import` cannot know it).
    metadata = {**result.metadata, "data_generator_version": GENERATOR_VERSION}
    path = save_checkpoint(tmp_path / "imported.pt", result.model, metadata, result.objective)
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    options = ["--samples", "96", "--bootstrap", "4", "--null", "3", "--gradient-samples", "16"]
    assert main(["report", str(path), "--out", str(out), "--json", str(js), *options]) == 0
    summary = json.loads(js.read_text())
    assert summary["checkpoint"]["imported_from"]["producer"] == "mmsa"
    assert summary["checkpoint"]["surrogate_inference"] is False
    for name in ("language", "acoustic", "visual"):
        assert summary["information"][name]["ratio_low"] <= summary["information"][name]["ratio_high"]
        assert len(summary["gradients"][name]["shared"]) == 20
    # No surrogate: the missing-modality numbers come from zero-filling, and say so.
    assert "missing_modality" not in summary
    zero_fill = summary["missing_modality_zero_fill"]
    assert set(zero_fill) == {"language", "acoustic", "visual"}
    assert all(e["method"] == "zero_fill" and "reconstruction_mse_zero_fill" in e for e in zero_fill.values())
    page = out.read_text()
    assert "Missing modality by zero-filling (not the paper&#x27;s surrogate inference)" in page
    assert "Imported from MMSA (thuiar/MMSA)" in page


def test_the_observational_version_is_the_papers_information_by_modality(sentiment_checkpoint):
    from interpret.analysis import information_by_modality
    from interpret.information import InformationSettings

    context = open_checkpoint(sentiment_checkpoint)
    _, summary = build_report(context, SMALL)
    direct = information_by_modality(
        context.model, context.dataset.splits["test"].inputs,
        InformationSettings(estimator="ksg", max_samples=96, n_components=3, n_bootstrap=4, n_null=3, seed=0),
    )  # fmt: skip
    for name, v in direct.items():
        assert summary["information"][name]["shared_mi"] == v.shared.value
        assert summary["information"][name]["ratio_high"] == v.ratio_high


def test_a_report_on_a_model_with_a_planted_cut(sentiment_checkpoint, tmp_path):
    """A copy whose acoustic decoder cannot see F_y, saved and reported like any checkpoint, at the raw scale."""
    from interpret.analysis import cut_shared_factor
    from mfm.checkpoint import load_checkpoint, save_checkpoint

    loaded = load_checkpoint(sentiment_checkpoint)
    cut = cut_shared_factor(loaded.model, "acoustic")
    path = save_checkpoint(tmp_path / "cut_acoustic.pt", cut, loaded.metadata)
    settings = ReportSettings.from_flat(
        max_samples=96,
        n_bootstrap=4,
        n_null=10,
        gradient_samples=16,
        faithfulness=False,
        gradient_scale="raw",
    )
    page, summary = build_report(open_checkpoint(path), settings)
    assert summary["gradients"]["scale"] == "raw" and "scale raw: raw" in page
    # The exact F_y flow of the cut decoder is 0 at every step; the others' is not.
    assert summary["gradients"]["acoustic"]["shared"] == [0.0] * 20
    assert summary["gradients"]["acoustic"]["shared_fraction"] == [0.0] * 20
    assert max(summary["gradients"]["language"]["shared"]) > 0
    # Interventional: within the null for the cut modality (measured 0.003 against 0.044); the paper's
    # observational value stays above its null (0.343 against 0.094), because F_y and F_acoustic are dependent.
    intervened = summary["information_interventional"]["acoustic"]
    observed = summary["information"]["acoustic"]
    assert intervened["shared_mi"] <= intervened["shared_null_high"]
    assert observed["shared_mi"] > observed["shared_null_high"]
    assert summary["dependence"]["acoustic"]["mi"] > summary["dependence"]["acoustic"]["null_high"]
    # ... and the report says so on that modality.
    note = summary["information_disagreements"]["acoustic"]
    assert "is above its null" in note and "within its null" in note
    assert html.escape(note) in page


def test_an_unknown_gradient_scale_is_refused_before_any_work(sentiment_checkpoint):
    with pytest.raises(ValueError, match=r"unknown gradient-flow scale 'log'; choose one of std, raw"):
        build_report(open_checkpoint(sentiment_checkpoint), ReportSettings.from_flat(gradient_scale="log"))


def test_one_segment_chart_takes_words_and_planted_steps_from_the_segment_it_shows(sentiment_checkpoint):
    """Issue 18: the chart once showed one segment's gradients (the subsample's first row) under another's words
    and planted steps (the split's row 0)."""
    from mfm.inference import sample_indices

    context = open_checkpoint(sentiment_checkpoint)
    settings = ReportSettings.from_flat(
        max_samples=64, n_bootstrap=2, n_null=2, gradient_samples=16, faithfulness=False
    )
    page, summary = build_report(context, settings)
    split = context.dataset.splits[settings.split]
    segment = int(sample_indices(len(split.labels), 16, settings.seed)[0])
    assert segment != 0  # the case that shows the bug: the gradient subsample does not start at row 0
    assert summary["gradients"]["segment"] == segment
    assert f"Segment #{segment} of the test split" in page
    labels = [f"{t}: {w}" for t, w in enumerate(split.extras["words"][segment])]  # the chart's x axis
    assert json.dumps(labels, separators=(",", ":")) in page or json.dumps(labels) in page


def test_the_page_formats_its_tables_and_keeps_the_json_out_of_the_body(sentiment_checkpoint):
    """Issue 18: the faithfulness table printed raw dicts with 16-digit floats, and the JSON was half the page."""
    context = open_checkpoint(sentiment_checkpoint)
    page, summary = build_report(context, SMALL)
    table = page[page.index("Faithfulness against planted truth") : page.index("</table>")]
    assert "{" not in table and "&quot;" not in table  # no JSON dicts in the cells
    ratios = summary["faithfulness"]["trained"]["ratios"]
    for name, value in ratios.items():
        assert f"{name} {value:.3g}" in table
    assert not re.search(r"\d\.\d{5,}", table)  # no long floats
    # The JSON is in a collapsed section after everything else, not the body.
    details = page.index("<details>")
    assert page.index("<pre>") > details and "<details open" not in page
    assert page.index("Missing modality: surrogate inference") < details
    assert "recon MSE of the samples' mean" in page


def test_report_progress_names_every_step_and_only_moves_forward(sentiment_checkpoint):
    """Issue 18: the progress text stalled on one step ("faithfulness: faithfulness: trained") for most of a
    minute; each part of the faithfulness check now reports its own steps."""
    context = open_checkpoint(sentiment_checkpoint)
    calls = []
    build_report(context, SMALL, lambda done, total, stage: calls.append((done, total, stage)))
    fractions = [done / total for done, total, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    stages = [stage for *_, stage in calls]
    assert not any("faithfulness: faithfulness" in s for s in stages)
    for part in (
        "the trained model, information",
        "the trained model, gradients",
        "a randomised copy, information",
        "a randomised copy, gradients",
    ):
        assert sum(f"faithfulness: {part}" in s for s in stages) >= 3, part  # several updates per part


def test_the_page_shows_label_swaps_and_colours_with_their_ceilings():
    """Issue 15: the generation figures were in the JSON only; colours are shown as colour, beside the real
    images' figure, with the Style & label page's warnings."""
    from interpret.report import render_html

    svhn = {
        "samples": 500,
        "label_swap_prototype": 0.866,
        "label_swap_sample": 0.808,
        "classifier_accuracy_real": 0.99,
        "reconstruction_accuracy": 0.84,
        "fg_chroma_agreement": 0.038,
        "fg_chroma_agreement_ceiling": 0.98,
        "fg_lightness_r": 0.913,
        "fg_lightness_r_ceiling": 0.987,
        "fg_delta_e": None,  # a NaN after _clean
    }
    summary = {
        "checkpoint": {
            "source": "x.pt",
            "sha256": "0" * 64,
            "kind": "image",
            "task": "classification",
            "dataset": "digits",
            "modalities": ["svhn"],
        },
        "settings": {"estimator": "ksg", "seed": 0},
        "created": "now",
        "generation": {"label_swap_accuracy": {"svhn": 0.866}, "by_modality": {"svhn": svhn}},
    }
    page = render_html(summary, [])
    section = page[page.index("Label swap and style preservation") : page.index("Summary (JSON)")]
    assert "0.038 (real 0.980)" in section and "0.913 (real 0.987)" in section and "86.6%" in section
    assert "foreground colour" in section and "0.04 only (real images: 0.98)" in section  # the warning
    assert "—" in section  # the missing ΔE
    assert "<code>python -m mfm evaluate</code>" in section and "`" not in section
    assert "Label swap and style preservation" not in render_html({**summary, "generation": {}}, [])
    # A measure that could not be computed (NaN, None after the JSON cleaning) is shown as such, never warned on.
    unmeasured = {**svhn, "fg_chroma_agreement": None, "label_swap_prototype": None}
    page = render_html({**summary, "generation": {"by_modality": {"svhn": unmeasured}}}, [])
    assert "foreground colour of a swapped image" not in page and "label swaps are read" not in page


# ---------------------------------------------------------------------------------------------------------------
# Settings as values (issue 17, point 4)
# ---------------------------------------------------------------------------------------------------------------
def test_report_settings_round_trip_through_flat_keys_and_the_command_line():
    from interpret.cli import build_parser, report_command

    chosen = ReportSettings.from_flat(
        split="valid", estimator="gaussian", max_samples=250, n_components=4, k=5, n_bootstrap=7, n_null=6,
        gradient_method="integrated_gradients", gradient_samples=24, gradient_scale="raw", gradient_steps=9,
        styles=5, faithfulness=False, seed=3,
    )  # fmt: skip
    assert ReportSettings.from_flat(**chosen.flat()) == chosen
    assert chosen.information.k == 5 and chosen.gradients.n_steps == 9 and chosen.generation.styles == 5
    assert {chosen.information.seed, chosen.gradients.seed, chosen.generation.seed} == {3}
    # The command the app shows parses back to the same settings: every setting has its flag.
    command = report_command("model.pt", chosen)
    args = build_parser().parse_args(command.split()[3:])
    assert args.checkpoint == "model.pt"
    assert ReportSettings.from_flat(**{key: getattr(args, key) for key in chosen.flat()}) == chosen
    assert report_command("model.pt", ReportSettings()) == "python -m interpret report model.pt"
    assert len(set(chosen.flat().values())) > 10 and chosen.flat() != ReportSettings().flat()


def test_report_settings_refuse_unknown_keys_mixed_seeds_and_bad_names():
    from interpret.generation import GenerationSettings
    from interpret.gradients import GradientSettings
    from interpret.information import InformationSettings

    with pytest.raises(ValueError, match=r"unknown report settings \['samples'\]"):
        ReportSettings.from_flat(samples=10)
    with pytest.raises(ValueError, match="the report runs on one seed"):
        ReportSettings(information=InformationSettings(seed=1), gradients=GradientSettings(seed=2))
    assert ReportSettings().with_seed(4).seed == 4 and ReportSettings().with_seed(4).gradients.seed == 4
    with pytest.raises(ValueError, match="unknown estimator 'kde'"):
        InformationSettings(estimator="kde")
    with pytest.raises(ValueError, match="unknown gradient method 'lime'"):
        GradientSettings(method="lime")
    with pytest.raises(ValueError, match="styles must be a positive integer"):
        GenerationSettings(styles=0)
    # Frozen values: usable as cache keys.
    assert hash(ReportSettings()) == hash(ReportSettings()) and ReportSettings() == ReportSettings()


def test_a_captum_method_on_a_model_without_sequences_is_refused_before_any_work(tmp_path):
    from test_app import tiny_checkpoint

    path = tiny_checkpoint(tmp_path / "digits.pt", "digits")
    with pytest.raises(ValueError, match=r"Captum method 'saliency'.*this model has none"):
        build_report(open_checkpoint(path), ReportSettings.from_flat(gradient_method="saliency"))


def test_the_report_names_the_splits_it_reads_and_refuses_an_empty_one(sentiment_checkpoint, tmp_path):
    from test_app import tiny_checkpoint

    sequence = open_checkpoint(sentiment_checkpoint)
    image = open_checkpoint(tiny_checkpoint(tmp_path / "digits.pt", "digits"))
    valid = ReportSettings.from_flat(split="valid")
    assert report_splits(sequence, ReportSettings()) == {"test"}
    assert report_splits(sequence, valid) == {"valid"}
    # An image classifier's report also reads the test split (generation metrics) and train (class-mean F_y).
    assert report_splits(image, valid) == {"valid", "train", "test"}
    # What the CLI drops is what the report does not read: a report from the narrowed context is the same...
    narrowed = sequence.keep_splits(report_splits(sequence, SMALL))
    assert len(narrowed.dataset.splits["train"]) == 0
    assert build_report(narrowed, SMALL)[1]["information"] == build_report(sequence, SMALL)[1]["information"]
    # ...and a context without a split the report reads is refused before any work, naming the split.
    with pytest.raises(ValueError, match=r"reads the train split of 'digits', which holds no samples"):
        build_report(image.keep_splits({"test"}), ReportSettings())


def test_the_report_with_a_captum_method_reports_its_profiles_at_its_scale(sentiment_checkpoint):
    from interpret.analysis import gradient_flows
    from interpret.gradients import GradientSettings

    context = open_checkpoint(sentiment_checkpoint)
    settings = ReportSettings.from_flat(
        max_samples=64, n_bootstrap=2, n_null=2, gradient_samples=8, faithfulness=False,
        gradient_method="input_x_gradient",
    )  # fmt: skip
    _, summary = build_report(context, settings)
    assert summary["gradients"]["scale"] == "input"  # input-scaled: not the "std" the settings name
    rows, flows = gradient_flows(
        context.model, context.dataset.splits["test"].inputs,
        GradientSettings(method="input_x_gradient", max_samples=8),
    )  # fmt: skip
    assert summary["gradients"]["segment"] == int(rows[0])
    for name, flow in flows.items():
        assert summary["gradients"][name]["shared"] == flow.mean_shared.tolist()


def test_the_command_line_carries_the_data_options_and_the_settings_refuse_bad_counts():
    from interpret.cli import build_parser, report_command
    from interpret.gradients import GradientSettings
    from interpret.information import InformationSettings

    command = report_command(
        "weights.safetensors",
        ReportSettings(),
        config_json="cfg.json",
        data_dir="/data/MOSI dir",
        nonfinite="zero",
    )
    args = build_parser().parse_args(shlex.split(command)[3:])
    assert (args.config_json, args.data_dir, args.nonfinite) == ("cfg.json", "/data/MOSI dir", "zero")
    for bad in (0, -3, True, 2.5):
        with pytest.raises(ValueError, match="max_samples must be a positive integer or None"):
            InformationSettings(max_samples=bad)
        with pytest.raises(ValueError, match="max_samples must be a positive integer or None"):
            GradientSettings(max_samples=bad)
    with pytest.raises(ValueError, match="n_steps must be a positive integer"):
        GradientSettings(n_steps=0)
    with pytest.raises(ValueError, match="faithfulness must be true or false"):
        ReportSettings.from_flat(faithfulness="false")
    assert InformationSettings(max_samples=None).max_samples is None


def test_gradient_settings_that_the_method_does_not_read_take_their_defaults():
    from interpret.gradients import GradientSettings

    # An input-scaled method ignores the scale; only Integrated Gradients reads its steps: one value each.
    assert GradientSettings(method="input_x_gradient", scale="raw") == GradientSettings(
        method="input_x_gradient"
    )
    assert GradientSettings(n_steps=7) == GradientSettings()
    assert GradientSettings(method="saliency", scale="raw").scale == "raw"
    assert GradientSettings(method="integrated_gradients", n_steps=7).n_steps == 7
