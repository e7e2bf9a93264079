"""The Streamlit app through `streamlit.testing.v1.AppTest`: every page with every checkpoint, uploads, sessions.

Checkpoints: the bundled demos in `assets/checkpoints/` plus tiny untrained models of both kinds built here in
milliseconds (the app must work for any valid checkpoint, and tiny models keep the suite fast). Analysis settings
are preset small through Session State, the way the app's widgets take their defaults.
"""

from __future__ import annotations

import gc
import io
import json
import os
import pickle
import re
import runpy
import shutil
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from unittest.mock import MagicMock, patch

import numpy as np
import pytest
import streamlit as st
import torch
from conftest import tiny_image_config, tiny_sequence_config
from figure_checks import untitled_axes
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest
from test_import import official_state
from test_report import small_mmsa_files

from interpret.analysis import (
    INFORMATION_READINGS,
    InformationVersions,
    information_disagreements,
    information_versions,
    planted_cut,
)
from interpret.information import InformationSettings, MIEstimate, ModalityInformation
from interpret.report import information_comparison_rows
from mfm.checkpoint import load_checkpoint, save_checkpoint
from mfm.config import MFMConfig, ModalityConfig
from mfm.errors import CheckpointError
from mfm.eval.prototypes import label_prototypes
from mfm.model import MFM
from pages.bookkeeping import (
    active_uploads,
    data_key,
    demo_checkpoints,
    metric_rows,
    plain,
    split_command,
    upload_source,
    what_if_rows,
)

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TIMEOUT = 240
PAGES = ("model", "information", "gradients", "style_label", "missing_modality", "report")
# Small analysis settings (the app's defaults are larger); keys are the widgets' keys.
FAST_SETTINGS = {
    "info_samples": 100,
    "info_bootstrap": 5,
    "info_null": 2,
    "grad_samples": 8,
    "missing_samples": 32,
    "style_columns": 4,
    "report_samples": 100,
    "report_bootstrap": 5,
    "report_null": 2,
    "report_gradient_samples": 8,
    "report_faithfulness": False,
}


# ---------------------------------------------------------------------------------------------------------------
# Tiny checkpoints
# ---------------------------------------------------------------------------------------------------------------
def tiny_config(dataset: str, surrogate: bool = True) -> MFMConfig:
    """A very small model for the shapes of one of the offline data sets (the shared tiny configs of conftest)."""
    if dataset == "sentiment":
        modalities = (
            ModalityConfig("language", "sequence", (20, 300), code_dim=4, factor_dim=4, hidden_dim=8),
            ModalityConfig("acoustic", "sequence", (20, 5), code_dim=3, factor_dim=3, hidden_dim=4),
            ModalityConfig("visual", "sequence", (20, 20), code_dim=3, factor_dim=3, hidden_dim=4),
        )
        return tiny_sequence_config(modalities=modalities, surrogate=surrogate)
    return tiny_image_config(surrogate=surrogate)


def tiny_checkpoint(path: Path, shapes_of: str, *, surrogate: bool = True, seed: int = 0, **metadata) -> Path:
    """Save an untrained tiny model for the data set `shapes_of` ("sentiment" or "digits") at `path`.

    `metadata` overrides the metadata written (e.g. `dataset="mosi"` for a model of real data).

    Its weight matrices are scaled up 3x: at the default initialisation an untrained model's outputs barely depend
    on its inputs and factors, so every label would decode to the same picture and no slider could change one.
    """
    torch.manual_seed(seed)
    model = MFM(tiny_config(shapes_of, surrogate)).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.mul_(3.0)
    from mfm.data import sentiment, streetview

    meta = {
        "dataset": shapes_of,
        "data_seed": 0,
        "data_generator_version": (sentiment if shapes_of == "sentiment" else streetview).GENERATOR_VERSION,
        "seed": seed,
        "command": f"(tests) an untrained tiny {shapes_of} model",
        "metrics": {"test": {"all": {"accuracy": 0.1} if shapes_of == "digits" else {"mae": 1.5}}},
        "history": [
            {"epoch": 1, "train": {"total": 2.0}, "valid": {}},
            {"epoch": 2, "train": {"total": 1.5}},
        ],
    }
    meta.update(metadata)
    return save_checkpoint(path, model, meta)


@pytest.fixture(scope="session")
def checkpoint_dir(tmp_path_factory) -> Path:
    """A demo folder: the bundled demo checkpoints (copied) and two tiny ones."""
    folder = tmp_path_factory.mktemp("demos")
    for path in demo_checkpoints():
        shutil.copy(path, folder / path.name)
        if path.suffix == ".safetensors":
            shutil.copy(path.with_suffix(".json"), folder / path.with_suffix(".json").name)
    tiny_checkpoint(folder / "tiny_digits.pt", "digits")
    tiny_checkpoint(folder / "tiny_sentiment.pt", "sentiment")
    return folder


@pytest.fixture(scope="module", autouse=True)
def release_streamlit_caches() -> Iterator[None]:
    """Drop the app's cached models, data sets and results when this module is done (they are process-wide)."""
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
    gc.collect()


@pytest.fixture(autouse=True)
def demo_dir(checkpoint_dir, monkeypatch) -> Path:
    """Point the app at the test demo folder, and run app.py on every AppTest run as the server does.

    A Streamlit server treats a `pages/` folder beside the entry script as a folder of stand-alone pages until
    the entry script's first `st.navigation` call; from then on every run goes through `app.py`. AppTest resets
    that process-wide switch before each run, so from its second run on it would run a page script without
    `app.py` (no sidebar). The patch makes AppTest run the entry script, as the server does after its first run.
    """
    monkeypatch.setenv("MFM_DEMO_DIR", str(checkpoint_dir))
    monkeypatch.setattr(script_runner, "_mpa_v1", lambda main_script_path: runpy.run_path(main_script_path))
    return checkpoint_dir


def checkpoint_names() -> list[str]:
    """Demo checkpoints bundled with the project, and the tiny ones every run has."""
    return sorted({p.name for p in demo_checkpoints()} | {"tiny_digits.pt", "tiny_sentiment.pt"})


# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------
def new_app(checkpoint: str | None = None, **state) -> AppTest:
    """An AppTest of app.py with small analysis settings and, optionally, a chosen demo checkpoint."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in {**FAST_SETTINGS, **state}.items():
        at.session_state[key] = value
    if checkpoint is not None:
        at.session_state["demo_checkpoint"] = checkpoint
    return at


def open_page(at: AppTest, page: str) -> AppTest:
    """Switch an app that has run once to `page` and run it."""
    at.switch_page(f"pages/{page}.py").run()
    assert_healthy(at)
    return at


def shown(markdown: str) -> str:
    """What a reader sees of an element's Markdown source where file-provided text went through `plain`: the
    backslash escapes and the colon entity undone."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace("&#58;", ":")


def assert_healthy(at: AppTest) -> None:
    """No uncaught exception in the last run."""
    assert not at.exception, [e.value for e in at.exception]


def figures(at: AppTest) -> list[dict]:
    """The Plotly figures on the page, as dicts."""
    return [json.loads(element.proto.spec) for element in at.get("plotly_chart")]


def trace_types(at: AppTest) -> set[str]:
    """Plotly trace types on the page (Image traces have no "type" key by default in some versions)."""
    return {trace.get("type", "scatter") for figure in figures(at) for trace in figure["data"]}


def figure_data(at: AppTest, title_part: str | None = None) -> str:
    """The data of the page's figures (or of the ones whose title contains `title_part`), for comparisons."""
    chosen = [
        f["data"]
        for f in figures(at)
        if title_part is None
        or title_part in json.dumps(f.get("layout", {}).get("title", ""), ensure_ascii=False)
    ]
    assert chosen, f"no figure with {title_part!r} in its title"
    return json.dumps(chosen, sort_keys=True)


def assert_axes_titled(at: AppTest) -> None:
    """Every visible axis of every figure on the page has a title (its own or the one of the axis it matches)."""
    missing = {
        json.dumps(f.get("layout", {}).get("title", ""), ensure_ascii=False)[:80]: untitled_axes(
            f.get("layout", {})
        )
        for f in figures(at)
    }
    missing = {title: axes for title, axes in missing.items() if axes}
    assert not missing, f"axes without a title: {missing}"


def kind_of(name: str) -> str:
    """'image' or 'sequence' for a demo checkpoint name, read from the file."""
    from mfm.checkpoint import load_checkpoint

    return load_checkpoint(Path(os.environ["MFM_DEMO_DIR"]) / name).config.kind


def good_upload_bytes(tmp_path: Path, dataset: str = "digits", seed: int = 1) -> bytes:
    return tiny_checkpoint(tmp_path / f"upload_{dataset}.pt", dataset, seed=seed).read_bytes()


# ---------------------------------------------------------------------------------------------------------------
# Every page with every checkpoint
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", checkpoint_names())
def test_every_page_with_every_checkpoint(name):
    at = new_app(name)
    at.run()
    assert_healthy(at)
    kind = kind_of(name)
    sidebar_code = [c.value for c in at.sidebar.code]
    assert any(len(v) == 64 for v in sidebar_code), "the SHA-256 is shown in the sidebar"
    assert any(name in shown(m.value) for m in at.sidebar.markdown), (
        "the checkpoint's name is shown in the sidebar"
    )

    # Model: tables of modalities, parameters and metrics; the training command.
    open_page(at, "model")
    assert at.title[0].value == "Model"
    assert len(at.dataframe) >= 2
    assert at.code, "the training command and config are shown"

    # Information: the MI figure; changing the number of samples (and pressing Estimate) changes it.
    open_page(at, "information")
    assert {"bar", "scatter"} <= trace_types(at)
    before = figure_data(at)
    at.slider(key="info_samples").set_value(150)
    at.button[0].click()
    at.run()
    assert_healthy(at)
    assert figure_data(at) != before
    assert_axes_titled(at)

    # Gradients: a heatmap over time (sequences) or per-pixel maps (images); picking a sample changes it.
    open_page(at, "gradients")
    assert "heatmap" in trace_types(at)
    before = figure_data(at)
    at.radio(key="grad_view").set_value("One sample").run()
    rows = at.select_slider(key="grad_row").options  # the analysed samples, by their row of the split
    row = int(rows[3])
    at.select_slider(key="grad_row").set_value(row).run()
    assert_healthy(at)
    assert figure_data(at) != before
    assert any(f"Sample #{row}" in c.value for c in at.caption)
    assert f"sample #{row} of the test split" in figure_data_titles(at)
    if kind == "sequence":
        # The columns carry the words of that same row of the split: the numbering is the split's own.
        heatmap = next(t for f in figures(at) for t in f["data"] if t.get("type") == "heatmap")
        words = at.session_state["mfm_selection"].dataset.splits["test"].extras["words"][row]
        assert heatmap["x"] == [f"{t}: {w}" for t, w in enumerate(words)]
    assert_axes_titled(at)

    # Style & label: image grids; the style slider changes the grid, the label slider the single swap and the
    # traversal (not the interpolation, whose ends have their own slider), the dimension slider the traversal.
    open_page(at, "style_label")
    assert ("image" if kind == "image" else "scatter") in trace_types(at)
    assert_axes_titled(at)
    dimension = at.selectbox(key="style_dim")
    assert dimension.value == int(dimension.options[0].split()[1])  # the largest effect is offered first
    before = figure_data(at, "rows = label")
    colours = figure_data(at, "did the colour survive") if kind == "image" else None  # svhn only (issue 15)
    at.slider(key="style_sample").set_value(5).run()
    assert_healthy(at)
    assert figure_data(at, "rows = label") != before
    if kind == "image":
        assert figure_data(at, "did the colour survive") != colours  # the swatches follow the columns
        assert "mnist: did the colour survive" not in figure_data_titles(at)  # grey-scale: no colours
    # The paper's cross-modal figure: rows take F_y from other samples (the other modalities alone by default).
    crossed = figure_data(at, "own style, label of")
    assert at.radio(key="cross_source").options[0].endswith("alone")
    at.slider(key="cross_label_sample").set_value(3).run()
    assert_healthy(at)
    assert figure_data(at, "own style, label of") != crossed
    crossed = figure_data(at, "own style, label of")
    at.radio(key="cross_source").set_value("all").run()
    assert_healthy(at)
    assert figure_data(at, "own style, label of") != crossed
    interpolation, traversal = figure_data(at, "→"), figure_data(at, "dimension")
    options = at.select_slider(key="style_label").options
    at.select_slider(key="style_label").set_value(options[0]).run()
    assert_healthy(at)
    assert figure_data(at, "→") == interpolation
    assert figure_data(at, "dimension") != traversal
    traversal = figure_data(at, "dimension")
    dimension = at.selectbox(key="style_dim")  # keeps its dimension across the label change: pick another
    other = next(int(o.split()[1]) for o in dimension.options if int(o.split()[1]) != dimension.value)
    at.selectbox(key="style_dim").set_value(other).run()
    assert_healthy(at)
    assert figure_data(at, "dimension") != traversal

    # Missing modality: the summary table and the reconstruction without the dropped modality.
    open_page(at, "missing_modality")
    assert at.dataframe
    before = figure_data(at)
    at.slider(key="missing_sample").set_value(7).run()
    assert_healthy(at)
    assert figure_data(at) != before
    assert_axes_titled(at)

    # Report: the download buttons when the report builder exists, an explanation otherwise.
    open_page(at, "report")
    assert at.title[0].value == "Report"


# ---------------------------------------------------------------------------------------------------------------
# Information: both versions and the planted-cut control; Gradients: the scale control
# ---------------------------------------------------------------------------------------------------------------
def texts(at: AppTest) -> str:
    """Every markdown, caption, info, warning and subheader text on the page, joined."""
    parts = [
        e.value for kind in ("markdown", "caption", "info", "warning", "subheader") for e in at.get(kind)
    ]
    return "\n".join(str(p) for p in parts)


def figure_titles(at: AppTest) -> list[str]:
    """The title text of every figure on the page."""
    return [str(f.get("layout", {}).get("title", {}).get("text", "")) for f in figures(at)]


def test_information_page_shows_both_versions_and_the_planted_cut():
    at = new_app("sentiment_mfm.pt", info_samples=200, info_null=10)
    at.run()
    open_page(at, "information")
    titles = figure_titles(at)
    assert any(t.startswith("Observational") for t in titles) and any(
        t.startswith("Interventional") for t in titles
    )
    assert any("I(F_y; F_i)" in t for t in titles)
    words = texts(at)
    for reading in INFORMATION_READINGS.values():
        assert reading in words, reading
    assert "matters more for the prediction" not in words  # the old reading of r_i is gone
    table = at.dataframe[0].value
    assert list(table["modality"]) == ["language", "acoustic", "visual"]
    assert {"obs. I(F_y; X̂_i)", "int. I(F_y; X̂_i)", "I(F_y; F_i)", "versions"} <= set(table)
    # The shipped demo: F_y and F_language are dependent, and the interventional value is the smaller one.
    language = table.set_index("modality").loc["language"]
    assert language["I(F_y; F_i)"] > language["I(F_y; F_i) null"]
    assert language["int. I(F_y; X̂_i)"] < language["obs. I(F_y; X̂_i)"]
    # The library's numbers: the page computes I(F_y; F_i) after its first two figures, on the same samples.
    selection = at.session_state["mfm_selection"]
    library = information_versions(
        selection.model,
        selection.dataset.splits[selection.split].inputs,
        InformationSettings(max_samples=200, n_bootstrap=30, n_null=10),  # the page's, with the state above
    )
    assert table.to_dict("records") == information_comparison_rows(library)

    # The planted-cut control: a copy whose language decoder cannot see F_y, next to the model.
    assert at.selectbox(key="info_cut_modality").value == "language"
    button = at.button(key="info_cut_button")
    assert button.label == "What would a model whose language decoder ignores F_y show?"
    button.click().run()
    assert_healthy(at)
    rows = at.dataframe[-1].value.set_index("model")
    model, cut = rows.loc["this model"], rows.loc["cut copy: language decoder blind to F_y"]
    assert cut["exact F_y flow"] == 0.0 and model["exact F_y flow"] > 0
    assert cut["int. I(F_y; X̂)"] <= cut["int. null"]
    assert cut["int. above null"] == "no" and model["int. above null"] == "yes"
    # The paper's version still reports dependence on the cut copy (measured 0.165 against a null of 0.036).
    assert cut["obs. above null"] == "yes"
    assert any(
        "its exact F_y gradient flow is 0" in i.value and "lies within its null" in i.value for i in at.info
    )
    # The result stays on the next run (cached, no recomputation), and goes when another modality is chosen.
    at.run()
    assert len(at.dataframe) == 4 and "cut copy: language decoder blind to F_y" in set(
        at.dataframe[-1].value["model"]
    )
    at.selectbox(key="info_cut_modality").set_value("acoustic").run()
    assert_healthy(at)
    assert (
        at.button(key="info_cut_button").label
        == "What would a model whose acoustic decoder ignores F_y show?"
    )
    assert len(at.dataframe) == 3


def _estimate(value: float, null_high: float) -> MIEstimate:
    return MIEstimate(value, value, value, 0.0, null_high, "ksg", 100, 0)


def _information(shared: float, shared_null: float, ratio: float) -> ModalityInformation:
    return ModalityInformation(_estimate(shared, shared_null), _estimate(1.0, 0.1), ratio, ratio, ratio)


def test_information_disagreements_name_the_modality_and_why():
    versions = InformationVersions(
        observational={
            "a": _information(0.5, 0.1, 0.5),  # above null in both: agree
            "b": _information(0.3, 0.1, 0.3),  # above null, then within it
            "c": _information(0.05, 0.1, 0.05),  # within, then above; ranked 3rd then 2nd
        },
        interventional={
            "a": _information(0.4, 0.1, 0.4),
            "b": _information(0.01, 0.1, 0.01),
            "c": _information(0.2, 0.1, 0.2),
        },
        dependence={"a": _estimate(0.1, 0.2), "b": _estimate(0.8, 0.1), "c": _estimate(0.0, 0.1)},
        n_samples=100,
    )
    notes = information_disagreements(versions)
    assert set(notes) == {"b", "c"}
    assert "observational I(F_y; X̂) = 0.300 is above its null (0.100)" in notes["b"]
    assert "interventional 0.010 is within its null" in notes["b"] and "I(F_y; F_b) = 0.800" in notes["b"]
    assert "ranks 2nd of 3 under the observational version and 3rd under the interventional" in notes["b"]
    assert "the decoder reads F_y" in notes["c"] and "ranks 3rd of 3" in notes["c"]
    # Without a null (0 shuffled-pairs rounds) nothing is called above or within it.
    nan = float("nan")
    blind = InformationVersions(
        {"a": _information(0.5, nan, 0.5)}, {"a": _information(0.0, nan, 0.1)}, {}, n_samples=100
    )
    assert information_disagreements(blind) == {}


def test_information_versions_and_the_planted_cut_are_the_library_numbers():
    from interpret.analysis import cut_shared_factor, factor_dependence, information_by_modality

    torch.manual_seed(0)
    model = MFM(tiny_sequence_config()).eval()
    g = torch.Generator().manual_seed(1)
    inputs = {m.name: torch.randn(80, *m.shape, generator=g).numpy() for m in model.config.modalities}
    settings = InformationSettings(max_samples=60, n_bootstrap=4, n_null=5, seed=2)
    versions = information_versions(model, inputs, settings)
    assert versions.n_samples == 60
    observed = information_by_modality(model, inputs, settings)
    intervened = information_by_modality(model, inputs, settings, intervention="shuffle_shared")
    dependence = factor_dependence(model, inputs, settings)
    for name in model.modality_names:
        assert versions.observational[name] == observed[name]
        assert versions.interventional[name] == intervened[name]
        assert versions.dependence[name] == dependence[name]
    control = planted_cut(model, inputs, "acoustic", settings)
    cut = cut_shared_factor(model, "acoustic")
    assert control.observational == information_by_modality(cut, inputs, settings)["acoustic"]
    assert (
        control.interventional
        == information_by_modality(cut, inputs, settings, intervention="shuffle_shared")["acoustic"]
    )
    assert control.shared_flow == control.shared_flow_max == 0.0 and control.model_shared_flow > 0
    with pytest.raises(ValueError, match="unknown modality 'speech'"):
        planted_cut(model, inputs, "speech", settings)


def heatmap_of(at: AppTest) -> dict:
    """The first heatmap trace of the page, with its figure's title."""
    for figure in figures(at):
        for trace in figure["data"]:
            if trace.get("type") == "heatmap":
                return {"title": figure["layout"]["title"]["text"], **trace}
    raise AssertionError("no heatmap on the page")


def test_the_gradient_scale_control_changes_titles_colour_bars_and_values():
    at = new_app("tiny_sentiment.pt")
    at.run()
    open_page(at, "gradients")
    assert at.radio(key="grad_scale").value == "std"
    std = heatmap_of(at)
    assert "per 1-sd change of each factor dimension" in std["title"]
    assert std["colorbar"]["title"]["text"].startswith("Σ σ²(∂X̂/∂F)²")
    curves = figure_titles(at)
    assert any("Per-step sensitivity" in t and "per 1-sd change" in t for t in curves)
    assert "per-step sensitivities of the decoder" in texts(at) and "not the step's, or the" in texts(at)
    at.radio(key="grad_scale").set_value("raw").run()
    assert_healthy(at)
    raw = heatmap_of(at)
    assert "raw ‖∂X̂/∂F‖² (the paper's)" in raw["title"]
    assert raw["colorbar"]["title"]["text"].startswith("‖∂X̂/∂F‖²")
    assert json.dumps(raw["customdata"]) != json.dumps(std["customdata"])  # the values change
    assert json.dumps(raw["z"]) != json.dumps(std["z"])
    # Captum: Saliency takes the chosen scale; Input x Gradient is input-scaled and the control is disabled.
    at.selectbox(key="grad_method").set_value("saliency").run()
    assert "raw ‖∂X̂/∂F‖²" in heatmap_of(at)["title"]
    at.selectbox(key="grad_method").set_value("input_x_gradient").run()
    assert_healthy(at)
    assert "input-scaled (x · ∂)" in heatmap_of(at)["title"] and at.radio(key="grad_scale").disabled
    assert any("scale “input”" in c.value for c in at.caption)
    # Integrated Gradients' steps (the report's --gradient-steps) show with that method and reach it.
    assert not [s for s in at.slider if s.key == "grad_ig_steps"]
    at.selectbox(key="grad_method").set_value("integrated_gradients").run()
    assert_healthy(at)
    before = json.dumps(heatmap_of(at)["z"])
    at.slider(key="grad_ig_steps").set_value(5).run()
    assert_healthy(at)
    assert json.dumps(heatmap_of(at)["z"]) != before


def test_the_gradient_scale_reaches_the_pixel_maps_and_their_share():
    at = new_app("tiny_digits.pt")
    at.run()
    open_page(at, "gradients")
    before = figure_data(at)
    first = figures(at)[0]
    panels = [a["text"] for a in first["layout"]["annotations"]]
    assert "F_y share (std)" in panels and "Σ σ²(∂X̂/∂F_y)² (label)" in panels
    at.radio(key="grad_scale").set_value("raw").run()
    assert_healthy(at)
    panels = [a["text"] for a in figures(at)[0]["layout"]["annotations"]]
    assert "F_y share (raw)" in panels and "‖∂X̂/∂F_y‖² (label)" in panels
    assert figure_data(at) != before


def test_report_page_builds():
    at = new_app("tiny_sentiment.pt")
    at.run()
    open_page(at, "report")
    command = next(c.value for c in at.code if c.value.startswith("python -m interpret report "))
    assert command.split()[4].endswith("tiny_sentiment.pt")
    at.button[0].click().run()
    assert_healthy(at)
    assert len(at.get("download_button")) == 2


def test_the_report_page_offers_every_report_setting_and_shows_the_command_that_reproduces_them():
    from interpret.cli import build_parser

    at = new_app("tiny_sentiment.pt", report_samples=150, report_bootstrap=5, report_null=2,
                 report_gradient_samples=8, report_faithfulness=False)  # fmt: skip
    at.run()
    open_page(at, "report")
    at.slider(key="report_k").set_value(5)
    at.slider(key="report_components").set_value(2)
    at.selectbox(key="report_gradient_method").set_value("saliency")
    at.slider(key="report_gradient_steps").set_value(40)  # not Integrated Gradients: keeps its default
    at.button[0].click().run()
    assert_healthy(at)
    command = next(c.value for c in at.code if c.value.startswith("python -m interpret report "))
    assert "--k 5" in command and "--components 2" in command and "--gradient-method saliency" in command
    assert "--gradient-steps" not in command and "--styles" not in command  # they do not apply here
    assert not [s for s in at.slider if s.key == "report_styles"]  # a sequence model has no image grids
    args = build_parser().parse_args(command.split()[3:])
    settings = at.session_state["report_built"][1]
    assert {key: getattr(args, key) for key in settings.flat()} == settings.flat()
    assert settings.information.k == 5 and settings.gradients.method == "saliency"


def test_a_model_without_surrogate_gets_zero_filling_labelled_as_such(tmp_path, demo_dir):
    tiny_checkpoint(demo_dir / "zz_no_surrogate.pt", "sentiment", surrogate=False)
    try:
        at = new_app("zz_no_surrogate.pt")
        at.run()
        open_page(at, "missing_modality")
        assert any("No surrogate inference" in i.value and "zero-filling" in i.value for i in at.info)
        assert at.radio(key="missing_method").options == ["Zero-filling (X_m = 0)"]
        assert any("not the paper's surrogate inference" in m.value for m in at.markdown)
        assert "zero-filled" in at.dataframe[0].value.columns
        assert any("zero-filling" in h.value for h in at.subheader)
        assert "zero-filled" in figure_data_titles(at)
    finally:
        (demo_dir / "zz_no_surrogate.pt").unlink()


def test_a_surrogate_model_offers_both_methods_and_labels_each():
    at = new_app("tiny_sentiment.pt")
    at.run()
    open_page(at, "missing_modality")
    assert at.radio(key="missing_method").value == "surrogate"
    assert (
        "dropped" in at.dataframe[0].value.columns and "recon MSE inferred" in at.dataframe[0].value.columns
    )
    at.radio(key="missing_method").set_value("zero_fill").run()
    assert_healthy(at)
    columns = at.dataframe[0].value.columns
    assert "zero-filled" in columns and "recon MSE from zeros" in columns
    assert "zero-filled" in figure_data_titles(at)


def figure_data_titles(at: AppTest) -> str:
    """The titles of the page's figures, joined."""
    return " | ".join(
        json.dumps(f.get("layout", {}).get("title", ""), ensure_ascii=False) for f in figures(at)
    )


def test_real_data_checkpoint_without_a_folder_explains_what_is_needed(tmp_path):
    data = tiny_checkpoint(tmp_path / "mosi.pt", "sentiment", dataset="mosi").read_bytes()
    at = new_app("tiny_sentiment.pt")
    at.run()
    at.sidebar.file_uploader[0].set_value(("mosi.pt", data, "application/octet-stream")).run()
    assert_healthy(at)
    assert any("folder" in w.value for w in at.sidebar.warning), "the sidebar says a data folder is needed"
    open_page(at, "model")  # the Model page needs no data
    assert at.title[0].value == "Model"
    open_page(at, "information")
    assert any("could not be loaded" in e.value and "mosi" in e.value for e in at.error)
    # A folder that does not hold the files gets a message naming the problem, and the app keeps working.
    at.sidebar.text_input(key="data_dir").set_value(str(tmp_path / "nowhere")).run()
    assert_healthy(at)
    assert at.error


def test_the_model_page_names_how_the_kept_epoch_was_chosen(tmp_path):
    history = [{"epoch": e, "train": {"total": 3.0 - e}, "valid": {"accuracy": 0.5, "swap_score": 0.1 * e}}
               for e in (1, 2, 3)]  # fmt: skip

    def page(**metadata) -> tuple[str, str]:
        """(the caption about the kept epoch, the history figure's trace names)."""
        data = tiny_checkpoint(tmp_path / "d.pt", "digits", best_epoch=7, **metadata).read_bytes()
        at = new_app("tiny_digits.pt")
        at.run()
        at.sidebar.file_uploader[0].set_value(("d.pt", data, "application/octet-stream")).run()
        open_page(at, "model")
        caption = " ".join(shown(c.value) for c in at.caption if "Best validation epoch" in c.value)
        return caption, " ".join(trace.get("name", "") for f in figures(at) for trace in f.get("data", []))

    caption, traces = page(selection="swaps", history=history)
    assert "Best validation epoch 7 by label swaps and accuracy (--select swaps)" in caption
    assert "valid swap_score" in traces and "valid accuracy" in traces  # the curve it selected by
    caption, _ = page(selection="task")
    assert "Best validation epoch 7" in caption and "label swaps" not in caption


def test_a_checkpoint_of_older_generated_data_is_refused_after_the_current_one_loaded_that_data(tmp_path):
    from mfm.data.sentiment import GENERATOR_VERSION

    older = GENERATOR_VERSION - 1
    data = tiny_checkpoint(tmp_path / "old.pt", "sentiment", data_generator_version=older).read_bytes()
    at = new_app("tiny_sentiment.pt")
    at.run()
    open_page(at, "information")
    assert not at.error  # the sentiment data is loaded (and cached) for the current demo
    at.sidebar.file_uploader[0].set_value(("old.pt", data, "application/octet-stream")).run()
    assert_healthy(at)
    assert any(f"version {older} of the generated data set" in e.value for e in at.error)


# ---------------------------------------------------------------------------------------------------------------
# Uploads
# ---------------------------------------------------------------------------------------------------------------
def test_a_good_upload_is_used_and_shown(tmp_path):
    data = good_upload_bytes(tmp_path)
    at = new_app("tiny_sentiment.pt")
    at.run()
    at.sidebar.file_uploader[0].set_value(("my_model.pt", data, "application/octet-stream")).run()
    assert_healthy(at)
    assert not at.error
    import hashlib

    assert hashlib.sha256(data).hexdigest() in [c.value for c in at.sidebar.code]
    assert any("my_model.pt" in shown(m.value) and "uploaded" in m.value for m in at.sidebar.markdown)
    open_page(at, "style_label")
    assert "image" in trace_types(at)  # the uploaded digits model, not the sentiment demo


def test_a_safetensors_upload_with_its_config(tmp_path):
    torch.manual_seed(0)
    path = save_checkpoint(
        tmp_path / "weights.safetensors", MFM(tiny_config("digits")).eval(), {"dataset": "digits"}
    )
    at = new_app("tiny_sentiment.pt")
    at.run()
    uploader = at.sidebar.file_uploader[0]
    uploader.set_value(("weights.safetensors", path.read_bytes(), "application/octet-stream")).run()
    assert any("needs its JSON config" in e.value for e in at.error), "weights alone are refused clearly"
    at.sidebar.file_uploader[0].set_value(
        [
            ("weights.safetensors", path.read_bytes(), "application/octet-stream"),
            ("weights.json", path.with_suffix(".json").read_bytes(), "application/json"),
        ]
    ).run()
    assert_healthy(at)
    assert not at.error
    assert any("weights.safetensors" in shown(m.value) for m in at.sidebar.markdown)


class _Payload:
    """Unpickling this would create the sentinel file: the loader must never do it."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def bad_uploads(tmp_path: Path) -> dict[str, bytes]:
    """Files that are not valid checkpoints, each with the piece of the message it must produce."""
    sentinel = tmp_path / "PWNED"
    good = good_upload_bytes(tmp_path)
    torch_pickle = io.BytesIO()
    torch.save({"format": "mfm-checkpoint", "payload": _Payload(sentinel)}, torch_pickle)
    compressed = io.BytesIO()
    with zipfile.ZipFile(compressed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"x" * 1000)
    return {
        "random.pt": np.random.default_rng(0).bytes(4096),
        "plain_pickle.pt": pickle.dumps(_Payload(sentinel)),
        "torch_pickle_payload.pt": torch_pickle.getvalue(),
        "truncated.pt": good[: len(good) // 2],
        "empty.pt": b"",
        "compressed.pt": compressed.getvalue(),
        "not_a_checkpoint.pt": (lambda b: (torch.save({"a": torch.ones(2)}, b), b.getvalue())[1])(
            io.BytesIO()
        ),
    }


def test_bad_uploads_show_an_error_and_the_app_keeps_working(tmp_path):
    at = new_app("tiny_sentiment.pt")
    at.run()
    demo_sha = next(c.value for c in at.sidebar.code if len(c.value) == 64)
    for name, data in bad_uploads(tmp_path).items():
        at.sidebar.file_uploader[0].set_value((name, data, "application/octet-stream")).run()
        assert_healthy(at)
        errors = [shown(e.value) for e in at.error]
        assert any("Upload refused" in e for e in errors), (name, errors)
        assert any(name in e or "empty" in e for e in errors), (name, errors)
        # The app falls back to the demo checkpoint and still renders the page.
        assert demo_sha in [c.value for c in at.sidebar.code]
        assert at.title[0].value == "Model"
    assert not (tmp_path / "PWNED").exists(), "a payload ran"
    # A JSON file alone, and two checkpoints at once, are explained.
    at.sidebar.file_uploader[0].set_value(("config.json", b"{}", "application/json")).run()
    assert any("alone is not a checkpoint" in e.value for e in at.error)
    good = good_upload_bytes(tmp_path)
    at.sidebar.file_uploader[0].set_value(
        [("a.pt", good, "application/octet-stream"), ("b.pt", good, "application/octet-stream")]
    ).run()
    assert any("one checkpoint at a time" in e.value for e in at.error)
    # And a good upload afterwards works.
    at.sidebar.file_uploader[0].set_value(("good.pt", good, "application/octet-stream")).run()
    assert_healthy(at)
    assert not at.error
    open_page(at, "gradients")
    assert "heatmap" in trace_types(at)


# ---------------------------------------------------------------------------------------------------------------
# Bring your own MFM: producers' state_dicts imported in memory
# ---------------------------------------------------------------------------------------------------------------
IMPORT_PAGES = ("model", "information", "gradients", "style_label", "missing_modality", "report")


@contextmanager
def captured_media() -> Iterator[list[tuple[bytes, str | None]]]:
    """The (bytes, file name) of every file the app hands to Streamlit's media storage (downloads), in order."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    kept: list[tuple[bytes, str | None]] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        kept.append((path_or_data, filename))
        return original(self, path_or_data, mimetype, kind, filename)

    with patch.object(MemoryMediaFileStorage, "load_and_get_id", keep):
        yield kept


def walk_import_pages(at: AppTest) -> None:
    """Every interpretation page on the imported model: no exception, no error box, each shows its result."""
    for page in IMPORT_PAGES:
        open_page(at, page)
        assert not at.error, (page, [e.value for e in at.error])
        if page == "model":
            assert any("python -m mfm import --from" in c.value for c in at.code), (
                "the import command is shown"
            )
        elif page in ("information", "gradients", "style_label"):
            assert at.get("plotly_chart"), page
        elif page == "missing_modality":
            assert any("No surrogate inference" in i.value and "imported from" in i.value for i in at.info)
            assert "zero-filled" in at.dataframe[0].value.columns
            assert at.get("plotly_chart")
        elif page == "report":
            at.button[0].click().run()
            assert_healthy(at)
            assert (
                len(at.get("download_button")) >= 2 + 1
            )  # HTML, JSON, and the sidebar's converted checkpoint


def test_an_mmsa_state_dict_with_its_config_is_imported_and_used_on_every_page():
    weights, config = small_mmsa_files()
    at = new_app("tiny_sentiment.pt", import_dataset="sentiment", import_generated=True)
    at.run()
    with captured_media() as media:
        at.sidebar.file_uploader[0].set_value(
            [
                ("mfm-small.pth", weights, "application/octet-stream"),
                ("mfm-small.json", config, "application/json"),
            ]
        ).run()
    assert_healthy(at)
    assert not at.error, [e.value for e in at.error]
    assert any(
        "MMSA (thuiar/MMSA)" in shown(i.value) and "mfm-small.pth" in shown(i.value) for i in at.sidebar.info
    )
    assert any("Config: mfm-small.json (T = 20)" in shown(c.value) for c in at.sidebar.caption)
    assert not at.sidebar.number_input, "the config gives T: it is not asked for"
    assert any(
        "Imported as mfm-small_mfm.pt (format version 2)" in shown(s.value) for s in at.sidebar.success
    )
    assert any(
        "mfm-small_mfm.pt" in shown(m.value) and "imported from" in shown(m.value)
        for m in at.sidebar.markdown
    )
    selection = at.session_state["mfm_selection"]
    assert selection.imported.producer == "mmsa" and not selection.checkpoint.config.surrogate
    assert selection.checkpoint.sha256 in [c.value for c in at.sidebar.code]

    # The download offers the converted version-2 checkpoint, which the ordinary loader accepts.
    offered = [data for data, name in media if name == "mfm-small_mfm.pt"]
    assert offered and offered[-1] == selection.imported.data
    loaded = load_checkpoint(io.BytesIO(offered[-1]))
    assert loaded.version == 2 and loaded.metadata["imported_from"]["producer"] == "mmsa"
    assert loaded.metadata["dataset"] == "sentiment" and loaded.metadata["data_generator_version"] == 3
    assert loaded.metadata["command"].startswith("python -m mfm import --from mmsa mfm-small.pth --config")
    assert all(torch.equal(v, selection.model.state_dict()[k]) for k, v in loaded.model.state_dict().items())
    walk_import_pages(at)

    # Without the statement that it read this program's generated data, the data set is refused and says why.
    at.sidebar.checkbox(key="import_generated").uncheck().run()
    assert_healthy(at)
    assert any("generated data set 'sentiment'" in shown(w.value) for w in at.sidebar.warning)


def _tiny_pickle(path: Path, steps: int = 20, seed: int = 0) -> Path:
    """An MMSA-layout aligned pickle of T steps (300/5/20 features), with one -inf in the training audio."""
    rng = np.random.default_rng(seed)
    contents = {}
    for split, n in (("train", 24), ("valid", 12), ("test", 24)):
        contents[split] = {
            "text": rng.normal(size=(n, steps, 300)).astype(np.float32),
            "audio": rng.normal(size=(n, steps, 5)).astype(np.float32),
            "vision": rng.normal(size=(n, steps, 20)).astype(np.float32),
            "regression_labels": rng.uniform(-3, 3, size=n),
        }
    contents["train"]["audio"][1, 2, 3] = -np.inf
    path.write_bytes(pickle.dumps(contents))
    return path


def test_an_official_state_dict_without_config_asks_for_t_and_reads_the_users_pickle(tmp_path):
    buffer = io.BytesIO()
    torch.save(official_state(), buffer, _use_new_zipfile_serialization=False)  # legacy, as PyTorch 0.4 wrote
    data = _tiny_pickle(tmp_path / "aligned_20.pkl")
    at = new_app("tiny_sentiment.pt", import_dataset="mosi-pickle", data_dir=str(data))
    at.run()
    at.sidebar.file_uploader[0].set_value(
        ("mfn_official.pt", buffer.getvalue(), "application/octet-stream")
    ).run()
    assert_healthy(at)
    assert any("the authors' code (pliang279/factorized)" in i.value for i in at.sidebar.info)
    assert at.sidebar.number_input(key="import_steps").value == 20
    selection = at.session_state["mfm_selection"]
    assert selection.imported.producer == "official"
    assert [m.hidden_dim for m in selection.checkpoint.config.modalities] == [88, 64, 48]  # from the shapes
    assert "--steps 20" in selection.imported.command
    # The pickle holds -inf: refused, with the count, until the sidebar says to replace it by 0.
    assert any("non-finite" in shown(w.value) for w in at.sidebar.warning), [
        w.value for w in at.sidebar.warning
    ]
    at.sidebar.selectbox(key="nonfinite").set_value("zero").run()
    assert_healthy(at)
    assert not at.sidebar.warning, [w.value for w in at.sidebar.warning]
    selection = at.session_state["mfm_selection"]
    assert selection.dataset.info["replaced_nonfinite"]["train"] == {"acoustic": 1}
    assert selection.checkpoint.metadata["data_options"]["nonfinite"] == "zero"  # recorded in the download
    assert "--nonfinite zero" in selection.imported.command
    walk_import_pages(at)


@pytest.mark.filterwarnings("ignore:Couldn.t retrieve source code")
def test_a_pickled_module_upload_shows_the_command_that_resaves_it(tmp_path):
    import sys
    import types

    module = types.ModuleType("mfm_model")

    class MFMModule(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fy_to_y_fc1 = torch.nn.Linear(2, 2)

    MFMModule.__module__, MFMModule.__qualname__ = "mfm_model", "MFM"
    module.MFM = MFMModule
    sys.modules["mfm_model"] = module
    try:
        buffer = io.BytesIO()
        torch.save(MFMModule(), buffer, _use_new_zipfile_serialization=False)
    finally:
        del sys.modules["mfm_model"]
    at = new_app("tiny_sentiment.pt")
    at.run()
    at.sidebar.file_uploader[0].set_value(
        ("mfn_123.pth", buffer.getvalue(), "application/octet-stream")
    ).run()
    assert_healthy(at)
    assert any("whole pickled model (mfm_model.MFM)" in shown(e.value) for e in at.sidebar.error)
    command = (
        "python -c \"from mfm_model import *; import torch; torch.save(torch.load('mfn_123.pth').state_dict(), "
        "'mfn_123_state_dict.pt')\""
    )
    assert command in [c.value for c in at.sidebar.code], "the command is shown on its own, to copy"
    assert command in [c.value for c in at.code]
    assert at.session_state["mfm_selection"].name == "tiny_sentiment.pt"  # the demo is still shown


def test_a_state_dict_of_no_known_layout_and_hostile_pth_files_are_refused_clearly(tmp_path):
    at = new_app("tiny_sentiment.pt")
    at.run()
    buffer = io.BytesIO()
    torch.save({"encoder.weight": torch.zeros(2, 2), "head.bias": torch.zeros(2)}, buffer)
    at.sidebar.file_uploader[0].set_value(("model.pth", buffer.getvalue(), "application/octet-stream")).run()
    assert_healthy(at)
    assert any(
        "neither an MFM checkpoint nor an MFM state_dict of a known producer" in shown(e.value)
        and "encoder.weight" in shown(e.value)
        for e in at.sidebar.error
    ), [e.value for e in at.sidebar.error]
    # Every hostile file of the .pt corpus is refused under the producers' extensions too, and runs nothing.
    for name, data in bad_uploads(tmp_path).items():
        for suffix in (".pth", ".bin"):
            at.sidebar.file_uploader[0].set_value(
                (name.replace(".pt", suffix), data, "application/octet-stream")
            ).run()
            assert_healthy(at)
            assert any("Upload refused" in e.value for e in at.error), (name, suffix)
            assert at.session_state["mfm_selection"].name == "tiny_sentiment.pt"
    assert not (tmp_path / "PWNED").exists(), "a payload ran"
    # A producer's state_dict missing a weight is refused naming it.
    state = {f"Model.{k}": v for k, v in official_state().items() if k != "decoder_v.fc1.bias"}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    at.sidebar.file_uploader[0].set_value(("broken.pth", buffer.getvalue(), "application/octet-stream")).run()
    assert_healthy(at)
    assert any(
        "could not be imported" in shown(e.value) and "decoder_v.fc1.bias" in shown(e.value)
        for e in at.sidebar.error
    ), [e.value for e in at.sidebar.error]


def test_a_new_upload_replaces_the_earlier_one(tmp_path):
    first = good_upload_bytes(tmp_path, seed=1)
    second = good_upload_bytes(tmp_path, "sentiment", seed=2)
    at = new_app("tiny_sentiment.pt")
    at.run()
    at.sidebar.file_uploader[0].upload("first.pt", first).run()
    assert at.session_state["mfm_selection"].name == "first.pt"
    # A browser's uploader keeps the earlier file when another is added; AppTest's `upload` would start from an
    # empty list, so the earlier file (with its id) is put back first.
    uploader = at.sidebar.file_uploader[0]
    uploader._files = [(f.file_id, f.name, f.getvalue(), f.type) for f in uploader.value]
    uploader.upload("second.pt", second).run()
    assert_healthy(at)
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["mfm_selection"].name == "second.pt"
    assert any("first\\.pt is not used" in c.value for c in at.sidebar.caption)
    at.run()  # and it stays so on the next run
    assert at.session_state["mfm_selection"].name == "second.pt"
    # The demo box says it is not in use while an upload is loaded, and comes back when the upload is removed.
    demo = at.sidebar.selectbox(key="demo_checkpoint")
    assert demo.disabled and "not used while an upload is loaded" in demo.label
    at.sidebar.file_uploader[0].set_value(None).run()
    demo = at.sidebar.selectbox(key="demo_checkpoint")
    assert not demo.disabled and demo.value == "tiny_sentiment.pt"
    assert at.session_state["mfm_selection"].name == "tiny_sentiment.pt"


HOSTILE_NAME = "![x](http://127.0.0.2/leak.png) :material/star: `a` $x$ <b>b</b> [l](http://127.0.0.2/)"


def test_file_names_and_metadata_are_shown_as_plain_text(tmp_path):
    """Issue 14, point 6: an upload's name and its metadata's data set and folder were rendered as Markdown, so
    an image link in them made every viewer's browser fetch it. Every element that renders Markdown must carry
    them escaped (the browser test checks that nothing is fetched)."""
    path = tiny_checkpoint(
        tmp_path / "hostile.pt", "sentiment", data_dir=HOSTILE_NAME, data_options={"nonfinite": HOSTILE_NAME}
    )
    at = new_app("tiny_sentiment.pt")
    at.run()
    at.sidebar.file_uploader[0].set_value(
        (HOSTILE_NAME + ".pt", path.read_bytes(), "application/octet-stream")
    )
    at.run()
    assert_healthy(at)
    open_page(at, "model")
    rendered = [
        e.value
        for kind in ("markdown", "caption", "error", "warning", "info", "success")
        for e in list(getattr(at, kind)) + list(getattr(at.sidebar, kind))
    ]
    shown = [text for text in rendered if "leak" in text]
    assert len(shown) >= 4, rendered  # the sidebar's name and non-finite option, the page caption, the folder
    for text in shown:
        assert "](http" not in text and "![x]" not in text and ":material/star:" not in text, text
        assert plain(HOSTILE_NAME) in text, text


# ---------------------------------------------------------------------------------------------------------------
# Several sessions at once share one model
# ---------------------------------------------------------------------------------------------------------------
SESSIONS = [
    ("tiny_sentiment.pt", "gradients", {"grad_view": "One sample"}),
    ("tiny_sentiment.pt", "style_label", {"style_sample": 4, "style_dim": 2}),
    ("tiny_sentiment.pt", "information", {"info_estimator": "gaussian"}),
    ("tiny_sentiment.pt", "missing_modality", {"missing_sample": 5, "missing_modality": "acoustic"}),
    ("tiny_digits.pt", "style_label", {"style_sample": 9}),
    ("tiny_digits.pt", "gradients", {"grad_view": "One sample"}),
]


def run_session(spec: tuple[str, str, dict]) -> tuple[str, object]:
    """One session on one page with its own widget values: (figure data, the shared model it used)."""
    name, page, state = spec
    at = new_app(name, **state)
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert_healthy(at)
    return figure_data(at), at.session_state["mfm_selection"].model


@contextmanager
def one_runtime_for_all_threads():
    """Let AppTests run in parallel threads, as a server's sessions do.

    AppTest swaps a process-global mock Runtime in before each run and sets it to None after, and patches the
    "global.appTest" option in and out; two AppTests in two threads would pull these from under each other. Here
    every run sees one mock Runtime (with the parts AppTest gives it) and the option stays on throughout.
    """
    from streamlit.runtime import Runtime
    from streamlit.runtime.caching.storage.dummy_cache_storage import MemoryCacheStorageManager
    from streamlit.runtime.dataframe_source_manager import DataframeSourceManager
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.testing.v1.util import patch_config_options

    runtime = MagicMock(spec=Runtime)
    runtime.media_file_mgr = MediaFileManager(MemoryMediaFileStorage("/mock/media"))
    runtime.dataframe_source_mgr = DataframeSourceManager()
    runtime.cache_storage_manager = MemoryCacheStorageManager()
    with (
        patch.object(Runtime, "instance", classmethod(lambda cls: runtime)),
        patch.object(Runtime, "exists", classmethod(lambda cls: True)),
        patch_config_options({"global.appTest": True}),
    ):
        yield


def test_concurrent_sessions_share_the_model_and_leave_it_in_eval_mode():
    expected = [run_session(spec)[0] for spec in SESSIONS]  # one after the other
    # Forget the cached results (not the models), so the sessions below compute on the shared models at once.
    st.cache_data.clear()
    grad_enabled = torch.is_grad_enabled()
    with one_runtime_for_all_threads(), ThreadPoolExecutor(max_workers=len(SESSIONS)) as pool:
        results = list(pool.map(run_session, SESSIONS * 2))
    assert [figure for figure, _ in results] == expected * 2, (
        "every session gets the figures of its own settings"
    )
    models = {}
    for (name, _, _), (_, model) in zip(SESSIONS * 2, results, strict=True):
        models.setdefault(name, set()).add(id(model))
        assert not any(module.training for module in model.modules()), f"{name} was left in train mode"
        assert all(p.grad is None for p in model.parameters()), f"{name} holds gradients"
        assert all(p.requires_grad for p in model.parameters()), "requires_grad flags are unchanged"
    assert all(len(ids) == 1 for ids in models.values()), "sessions share one cached model per checkpoint"
    assert torch.is_grad_enabled() == grad_enabled


# ---------------------------------------------------------------------------------------------------------------
# Helpers (the layering checks are tests/test_layering.py)
# ---------------------------------------------------------------------------------------------------------------
def test_upload_source_picks_the_checkpoint_and_explains_mistakes():
    assert upload_source([]) is None
    source = upload_source([("m.pt", b"abc")])
    assert source.name == "m.pt" and source.config is None and len(source.key) == 64
    pair = upload_source([("m.json", b"{}"), ("m.safetensors", b"w")])
    assert pair.config == b"{}" and pair.key.startswith(pair.sha256 + ":")
    for files, message in [
        ([("m.safetensors", b"w")], "needs its JSON config"),
        ([("m.json", b"{}")], "alone is not a checkpoint"),
        ([("a.pt", b"1"), ("b.pt", b"2")], "one checkpoint at a time"),
        ([("m.pkl", b"1")], "unsupported file type"),
    ]:
        with pytest.raises(CheckpointError, match=message):
            upload_source(files)


def test_an_upload_is_hashed_once_and_reaches_the_loader_as_bytes_with_its_name(tmp_path, monkeypatch):
    import hashlib

    import mfm.safe_load as safe_load
    import pages.bookkeeping as bookkeeping

    data = good_upload_bytes(tmp_path)
    calls = []
    real = hashlib.sha256

    def counted(*args):
        calls.append(len(args[0]) if args else 0)
        return real(*args)

    monkeypatch.setattr(bookkeeping.hashlib, "sha256", counted)
    monkeypatch.setattr(safe_load.hashlib, "sha256", counted)
    source = upload_source([("mine.pt", data)])
    loaded = bookkeeping.open_source(source)
    assert calls == [len(data)], "one hash of the upload's bytes, from upload to loaded checkpoint"
    assert loaded.sha256 == source.sha256 == source.key == real(data).hexdigest()
    assert loaded.source == "mine.pt"  # the loader names the user's file
    with pytest.raises(CheckpointError, match=r"^mine\.pt is not a PyTorch checkpoint"):
        bookkeeping.open_source(upload_source([("mine.pt", b"not a zip archive")]))


def test_active_uploads_let_the_newest_weights_replace_the_earlier_upload():
    assert active_uploads([("a", "a.pt")], seen=(), active=()) == ["a"]
    # A new weights file (with the JSON uploaded with it) replaces the earlier upload ...
    files = [("a", "a.pt"), ("b", "b.pth"), ("c", "b.json")]
    assert active_uploads(files, seen=["a"], active=["a"]) == ["b", "c"]
    # ... stays chosen on the next run, and a JSON added later joins it.
    assert active_uploads(files, seen=["a", "b", "c"], active=["b", "c"]) == ["b", "c"]
    assert active_uploads([("b", "b.pth"), ("d", "b.json")], seen=["b"], active=["b"]) == ["b", "d"]
    # Weights uploaded together are all taken (upload_source then explains); removed weights fall back to all.
    assert active_uploads([("a", "a.pt"), ("b", "b.pt")], seen=(), active=()) == ["a", "b"]
    assert active_uploads([("a", "a.pt"), ("c", "b.json")], seen=["a", "b", "c"], active=["b", "c"]) == [
        "a",
        "c",
    ]


def test_upload_source_keeps_a_json_beside_torch_weights_as_the_producers_config():
    source = upload_source([("mfm-mosi.pth", b"w"), ("mfm-mosi.json", b"{}")])
    assert (
        source.producer_config == ("mfm-mosi.json", b"{}") and source.config is None and source.torch_weights
    )
    assert upload_source([("m.bin", b"w")]).producer_config is None
    with pytest.raises(CheckpointError, match=r"at most one \.json"):
        upload_source([("m.pth", b"w"), ("a.json", b"{}"), ("b.json", b"{}")])


def test_split_command_takes_the_command_lines_out_of_a_message():
    text, command = split_command('x.pt is a whole pickled model. Re-save:\n  python -c "import torch"')
    assert text == "x.pt is a whole pickled model. Re-save:" and command == 'python -c "import torch"'
    assert split_command("no command here") == ("no command here", None)


def test_data_key_includes_the_non_finite_choice(tmp_path):
    checkpoint = load_checkpoint(tiny_checkpoint(tmp_path / "m.pt", "sentiment"))
    assert data_key(checkpoint, None).nonfinite == "refuse"  # what it records (nothing: the default)
    assert data_key(checkpoint, None, "zero") != data_key(checkpoint, None)
    assert data_key(checkpoint, None, "refuse") == data_key(checkpoint, None)


def test_what_if_rows_name_the_method():
    entry = {
        "metrics_full": {"mae": 1.0},
        "metrics_without": {"mae": 1.5},
        "prediction_change": 0.2,
        "reconstruction_mse_full": 0.1,
        "shared_code_mse": 0.3,
    }
    surrogate = what_if_rows({"visual": {**entry, "reconstruction_mse_surrogate": 0.4}}, "regression")[0]
    zero = what_if_rows(
        {"visual": {**entry, "method": "zero_fill", "reconstruction_mse_zero_fill": 0.5}}, "regression"
    )[0]
    assert surrogate["dropped"] == "visual" and surrogate["recon MSE inferred"] == 0.4
    assert (
        zero["zero-filled"] == "visual"
        and zero["recon MSE from zeros"] == 0.5
        and zero["mae (zero-filled)"] == 1.5
    )


def test_label_prototypes_average_the_label_factor_per_group():
    shared = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    prototypes, names = label_prototypes(shared, np.array([1, 1, 0]), "classification", 3)
    assert names == ["0", "1"]  # class 2 has no sample
    np.testing.assert_allclose(prototypes, [[4.0, 5.0], [1.0, 2.0]])
    prototypes, names = label_prototypes(shared, np.array([-2.9, 0.2, 2.6]), "regression", 1)
    assert names == ["-3", "0", "+3"]
    np.testing.assert_allclose(prototypes, shared)


def test_metric_rows_flatten_the_metadata():
    rows = metric_rows(
        {"metrics": {"valid": {"mae": 0.5}, "test": {"all": {"mae": 0.6}, "without_language": {"mae": 1.0}}}}
    )
    assert rows == [
        {"split": "valid", "modalities": "all", "mae": 0.5},
        {"split": "test", "modalities": "all", "mae": 0.6},
        {"split": "test", "modalities": "without language", "mae": 1.0},
    ]


def test_a_session_holding_too_many_bytes_is_asked_to_remove_files(tmp_path, monkeypatch):
    data = good_upload_bytes(tmp_path, seed=1)
    monkeypatch.setenv("MFM_APP_SESSION_UPLOAD_BYTES", str(len(data) - 1))
    at = new_app("tiny_sentiment.pt")
    at.run()
    at.sidebar.file_uploader[0].set_value(("big.pt", data, "application/octet-stream")).run()
    assert_healthy(at)
    assert any(
        "per session" in shown(e.value) and "Remove the earlier files" in shown(e.value) for e in at.error
    )
    assert at.session_state["mfm_selection"].name == "tiny_sentiment.pt"  # the demo stays in use
    monkeypatch.setenv("MFM_APP_SESSION_UPLOAD_BYTES", str(len(data)))
    at.run()
    assert at.session_state["mfm_selection"].name == "big.pt"


def test_a_recorded_data_folder_is_read_only_once_confirmed(tmp_path):
    """Issue 14, point 5: a checkpoint's metadata made the server open any path it named."""
    folder = tmp_path / "their_folder"
    folder.mkdir()
    data = tiny_checkpoint(
        tmp_path / "mosi.pt", "sentiment", dataset="mosi", data_dir=str(folder)
    ).read_bytes()
    at = new_app("tiny_sentiment.pt")
    at.run()
    at.sidebar.file_uploader[0].set_value(("mosi.pt", data, "application/octet-stream")).run()
    assert_healthy(at)
    selection = at.session_state["mfm_selection"]
    assert selection.data_key.data_dir is None and "name the folder" in selection.data_error  # nothing opened
    confirm = next(c for c in at.sidebar.checkbox if c.key.startswith("confirm_data_dir_"))
    assert str(folder) in shown(confirm.label) and not confirm.value
    confirm.check().run()
    assert_healthy(at)
    selection = at.session_state["mfm_selection"]
    assert selection.data_key.data_dir == str(folder.resolve())  # now it is the folder read
    assert "name the folder" not in selection.data_error  # (it holds no MOSI files: another message)


def test_served_beyond_localhost_typed_folders_need_a_data_root(tmp_path, monkeypatch):
    """Issue 14, point 5: the data-folder box made the server open any path; served to others, no typed path is
    opened unless it lies in MFM_DATA_ROOT."""
    original = st.get_option
    monkeypatch.setattr(st, "get_option", lambda key: "0.0.0.0" if key == "server.address" else original(key))
    data = tiny_checkpoint(tmp_path / "mosi.pt", "sentiment", dataset="mosi").read_bytes()
    at = new_app("tiny_sentiment.pt")
    at.run()
    at.sidebar.file_uploader[0].set_value(("mosi.pt", data, "application/octet-stream")).run()
    at.sidebar.text_input(key="data_dir").set_value("/etc").run()
    assert_healthy(at)
    error = at.session_state["mfm_selection"].data_error
    assert "served on 0.0.0.0" in error and "MFM_DATA_ROOT" in error
    assert at.session_state["mfm_selection"].data_key.data_dir is None
    root = tmp_path / "root"
    (root / "mosi").mkdir(parents=True)
    monkeypatch.setenv("MFM_DATA_ROOT", str(root))
    at.sidebar.text_input(key="data_dir").set_value("/etc").run()
    assert "outside the data root" in at.session_state["mfm_selection"].data_error
    at.sidebar.text_input(key="data_dir").set_value("mosi").run()  # relative: inside the root
    assert at.session_state["mfm_selection"].data_key.data_dir == str((root / "mosi").resolve())
