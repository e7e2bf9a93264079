"""Report page: build and download the same HTML report and JSON summary as `python -m interpret report`."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import streamlit as st

from interpret.context import Context
from interpret.report import ReportSettings, build_report
from mfm.errors import MFMError
from pages.bookkeeping import plain
from pages.common import Selection, current, default, default_choice, page_title, progress_bar, require_data


@st.cache_data(show_spinner=False, max_entries=8)
def report(key: str, data: tuple, settings: dict[str, Any], _selection: Selection) -> tuple[str, dict]:
    """`interpret.report.build_report` for the checkpoint and its data (cached per checkpoint and settings)."""
    context = Context(_selection.checkpoint, _selection.dataset)
    with progress_bar("Building the report") as update:
        return build_report(context, ReportSettings(**settings), update)


selection = current()
page_title("Report", selection)
command = f"python -m interpret report {selection.path or selection.name}"
require_data(selection)
st.markdown(
    "The HTML report and the JSON summary are exactly what the command below writes: both interpretations, the "
    "faithfulness checks, the settings, the seed and the library versions. It embeds plotly.js, so it opens "
    "offline."
    + (
        f" Run it on {plain(selection.name)}, the converted checkpoint the sidebar offers for download."
        if selection.imported
        else ""
    )
)
st.code(command, language="bash", wrap_lines=True)
if not selection.checkpoint.config.surrogate:
    st.caption(
        "This model has no surrogate inference: the report's missing-modality section uses zero-filling (each "
        "modality replaced by zeros in turn), labelled as such, not the paper's surrogate inference."
    )
with st.form("report_settings"):
    columns = st.columns(4)
    estimator = columns[0].radio(
        "Estimator",
        ["ksg", "gaussian"],
        format_func={"ksg": "KSG", "gaussian": "Gaussian"}.get,
        key=default_choice("report_estimator", ["ksg", "gaussian"], "ksg"),
    )
    max_samples = columns[1].slider(
        "Samples (information)", 100, 3000, step=50, key=default("report_samples", 600)
    )
    gradient_samples = columns[2].slider(
        "Samples (gradients)", 8, 512, key=default("report_gradient_samples", 128)
    )
    seed = columns[3].number_input("Seed", 0, 2**31 - 1, step=1, key=default("report_seed", 0))
    columns = st.columns(4)
    n_bootstrap = columns[0].slider("Subsampling rounds", 5, 200, key=default("report_bootstrap", 30))
    n_null = columns[1].slider("Shuffled-pairs rounds", 2, 100, key=default("report_null", 10))
    faithfulness = columns[2].checkbox(
        "Faithfulness checks",
        key=default("report_faithfulness", True),
        help="Compares both interpretations with the data's planted truth (where the data has it) and with a copy "
        "of the model whose weights are re-initialised; doubles the time.",
    )
    gradient_scale = columns[3].radio(
        "Gradient-flow scale",
        ["std", "raw"],
        format_func={"std": "Per 1-sd change of each factor dimension", "raw": "Raw (the paper's)"}.get,
        key=default_choice("report_gradient_scale", ["std", "raw"], "std"),
    )
    build = st.form_submit_button("Build report", type="primary")

settings = asdict(
    ReportSettings(
        split=selection.split,
        estimator=estimator,
        max_samples=int(max_samples),
        n_bootstrap=int(n_bootstrap),
        n_null=int(n_null),
        gradient_samples=int(gradient_samples),
        gradient_scale=gradient_scale,
        faithfulness=bool(faithfulness),
        seed=int(seed),
    )
)
if build or st.session_state.get("report_built") == (selection.key, json.dumps(settings)):
    try:
        html, summary = report(selection.key, selection.data_key, settings, _selection=selection)
    except (MFMError, ValueError) as exc:  # e.g. too few samples for the chosen settings
        st.error(f"The report could not be built: {plain(exc)}")
        st.stop()
    st.session_state["report_built"] = (selection.key, json.dumps(settings))
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
