"""Report page: build and download the same HTML report and JSON summary as `python -m interpret report`."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from interpret.cli import report_command
from interpret.context import Context, recorded_data_options
from interpret.gradients import GRADIENT_METHODS
from interpret.report import CAPTUM_NAMES, ReportSettings, build_report
from mfm.errors import MFMError
from pages.bookkeeping import plain
from pages.common import (
    Selection,
    cached,
    current,
    default,
    default_choice,
    page_title,
    progress_bar,
    require_data,
)

DEFAULTS = ReportSettings().flat()
"""The form's first settings: the report's own defaults (`python -m interpret report` without options)."""
METHODS = {"exact": "Exact gradient flow (the paper's)"} | {m: f"Captum {n}" for m, n in CAPTUM_NAMES.items()}
"""`interpret.gradients.GRADIENT_METHODS` as the form names them (the report's own names for Captum's)."""


@cached(max_entries=8)
def report(selection: Selection, settings: ReportSettings) -> tuple[str, dict]:
    """`interpret.report.build_report` for the checkpoint and its data (cached per selection and settings)."""
    context = Context(selection.checkpoint, selection.dataset)
    with progress_bar("Building the report") as update:
        return build_report(context, settings, update)


selection = current()
page_title("Report", selection)
require_data(selection)
config = selection.checkpoint.config
st.markdown(
    "The HTML report and the JSON summary are exactly what the command under the settings writes: both "
    "interpretations, the faithfulness checks, the settings, the seed and the library versions. It embeds "
    "plotly.js, so it opens offline."
    + (
        f" Run it on {plain(selection.name)}, the converted checkpoint the sidebar offers for download."
        if selection.imported
        else ""
    )
)
if not config.surrogate:
    st.caption(
        "This model has no surrogate inference: the report's missing-modality section uses zero-filling (each "
        "modality replaced by zeros in turn), labelled as such, not the paper's surrogate inference."
    )
has_sequences = any(m.kind == "sequence" for m in config.modalities)
has_grids = config.kind == "image" and config.task == "classification"  # the report's style x label grids
methods = list(GRADIENT_METHODS) if has_sequences else ["exact"]  # Captum's profiles are per time step
with st.form("report_settings"):
    st.markdown("**Information**")
    columns = st.columns(4)
    estimator = columns[0].radio(
        "Estimator",
        ["ksg", "gaussian"],
        format_func={"ksg": "KSG", "gaussian": "Gaussian"}.get,
        key=default_choice("report_estimator", ["ksg", "gaussian"], DEFAULTS["estimator"]),
    )
    max_samples = columns[1].slider(
        "Samples (information)", 100, 3000, step=50, key=default("report_samples", DEFAULTS["max_samples"])
    )
    n_components = columns[2].slider(
        "Principal components a side",
        1,
        8,
        key=default("report_components", DEFAULTS["n_components"]),
        help="Above 4 a side the intervals' coverage was not met on non-Gaussian data (interpret.information).",
    )
    k = columns[3].slider("KSG neighbours k", 2, 10, key=default("report_k", DEFAULTS["k"]))
    columns = st.columns(4)
    n_bootstrap = columns[0].slider(
        "Subsampling rounds", 5, 200, key=default("report_bootstrap", DEFAULTS["n_bootstrap"])
    )
    n_null = columns[1].slider(
        "Shuffled-pairs rounds", 2, 100, key=default("report_null", DEFAULTS["n_null"])
    )
    faithfulness = columns[2].checkbox(
        "Faithfulness checks",
        key=default("report_faithfulness", DEFAULTS["faithfulness"]),
        help="Compares both interpretations with the data's planted truth (where the data has it) and with a copy "
        "of the model whose weights are re-initialised; doubles the time.",
    )
    seed = columns[3].number_input("Seed", 0, 2**31 - 1, step=1, key=default("report_seed", DEFAULTS["seed"]))
    st.markdown("**Gradients and generation**")
    columns = st.columns(4)
    gradient_method = columns[0].selectbox(
        "Gradient method",
        methods,
        format_func=METHODS.get,
        key=default_choice("report_gradient_method", methods, DEFAULTS["gradient_method"]),
        help="Captum's methods give per-step profiles of the sequence modalities; image models take the exact "
        "per-pixel flow.",
    )
    gradient_samples = columns[1].slider(
        "Samples (gradients)", 8, 512, key=default("report_gradient_samples", DEFAULTS["gradient_samples"])
    )
    gradient_scale = columns[2].radio(
        "Gradient-flow scale",
        ["std", "raw"],
        format_func={"std": "Per 1-sd change of each factor dimension", "raw": "Raw (the paper's)"}.get,
        key=default_choice("report_gradient_scale", ["std", "raw"], DEFAULTS["gradient_scale"]),
        help="For the exact flow and Saliency; Input × Gradient and Integrated Gradients are input-scaled.",
    )
    gradient_steps = columns[3].slider(
        "Integrated Gradients' steps",
        5,
        100,
        key=default("report_gradient_steps", DEFAULTS["gradient_steps"]),
        help="Used by Integrated Gradients only.",
    )
    styles = DEFAULTS["styles"]
    if has_grids:
        styles = st.slider(
            "Style columns of the style x label grids",
            2,
            12,
            key=default("report_styles", DEFAULTS["styles"]),
            help="The grids show this many seeded style sources of the split.",
        )
    build = st.form_submit_button("Build report", type="primary")

settings = ReportSettings.from_flat(
    split=selection.split,
    estimator=estimator,
    max_samples=int(max_samples),
    n_components=int(n_components),
    k=int(k),
    n_bootstrap=int(n_bootstrap),
    n_null=int(n_null),
    gradient_method=gradient_method,
    gradient_samples=int(gradient_samples),
    gradient_scale=gradient_scale,
    gradient_steps=int(gradient_steps),
    styles=int(styles),
    faithfulness=bool(faithfulness),
    seed=int(seed),
)
recorded = recorded_data_options(selection.checkpoint.metadata)["nonfinite"]
command = report_command(
    selection.path or selection.name,
    settings,
    config_json=Path(selection.name).with_suffix(".json").name if selection.source.config else None,
    data_dir=selection.data_key.data_dir,
    nonfinite=None if selection.data_key.nonfinite == recorded else selection.data_key.nonfinite,
)
st.code(command, language="bash", wrap_lines=True)
if build or st.session_state.get("report_built") == (selection.identity, settings):
    try:
        html, summary = report(selection, settings)
    except (MFMError, ValueError) as exc:  # e.g. too few samples for the chosen settings
        st.error(f"The report could not be built: {plain(exc)}")
        st.stop()
    st.session_state["report_built"] = (selection.identity, settings)
    stem = selection.name.rsplit(".", 1)[0]
    columns = st.columns(2)
    columns[0].download_button(
        "Download the HTML report", html, f"{stem}_report.html", "text/html", type="primary"
    )
    columns[1].download_button(
        "Download the JSON summary", json.dumps(summary, indent=2), f"{stem}_summary.json", "application/json"
    )
    with st.expander("Summary"):
        st.json(summary, expanded=False)
else:
    st.caption(
        "Building takes a little while (both interpretations on the chosen samples); press *Build report*."
    )
