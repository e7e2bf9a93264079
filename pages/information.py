"""Information page: I(F_y; X̂_i), I(F_i; X̂_i) and r_i per modality in two versions (the paper's observational one
and the interventional one), the factors' dependence I(F_y; F_i), and a planted-cut control."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from interpret.analysis import (
    INFORMATION_READINGS,
    InformationVersions,
    PlantedCut,
    factor_dependence,
    information_disagreements,
    information_versions,
    planted_cut,
)
from interpret.figures import dependence_figure, information_axis_max, information_figure
from interpret.information import InformationSettings, MIEstimate
from interpret.report import COMPARISON_LEGEND, information_comparison_rows
from pages.bookkeeping import information_rows, plain, planted_cut_reading, planted_cut_rows
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

ESTIMATORS = {"ksg": "KSG (k-nearest neighbours)", "gaussian": "Gaussian (covariance)"}
"""The estimators (`interpret.information.ESTIMATORS`) as the page names them."""
DEFAULTS = InformationSettings(max_samples=500, n_bootstrap=30, n_null=10)
"""The form's first settings: fewer samples and rounds than the library's defaults, for a first figure in seconds."""


@cached(max_entries=32)
def information(selection: Selection, settings: InformationSettings) -> InformationVersions:
    """`interpret.analysis.information_versions` on the split, without I(F_y; F_i): both versions from one pass
    over the same samples (the first two figures share their axis), cached per selection and settings. The
    dependence comes after them (`dependence`), so that the first figure does not wait for it."""
    inputs = selection.dataset.splits[selection.split].inputs
    with progress_bar(f"Estimating mutual information ({ESTIMATORS[settings.estimator]})") as update:
        return information_versions(selection.model, inputs, settings, dependence=False, progress=update)


@cached(max_entries=32)
def dependence(selection: Selection, settings: InformationSettings) -> dict[str, MIEstimate]:
    """`interpret.analysis.factor_dependence` on the same seeded samples and settings: the numbers
    `information_versions` gives with the versions."""
    inputs = selection.dataset.splits[selection.split].inputs
    with progress_bar("Estimating the factors' dependence I(F_y; F_i)") as update:
        return factor_dependence(selection.model, inputs, settings, progress=update)


@cached(max_entries=32)
def cut_control(selection: Selection, modality: str, settings: InformationSettings) -> PlantedCut:
    """`interpret.analysis.planted_cut` of one modality on the same samples and settings as the page's result."""
    inputs = selection.dataset.splits[selection.split].inputs
    with progress_bar(f"Measuring a copy whose {modality} decoder cannot see F_y") as update:
        return planted_cut(selection.model, inputs, modality, settings, progress=update)


selection = current()
page_title("Information-based interpretation", selection)
dataset = require_data(selection)
n_available = len(dataset.splits[selection.split])
st.markdown(
    "For each modality *i* the model generates X̂_i = G_i([F_y ; F_i]) from the label factor F_y and the "
    "modality's own factor F_i. The page estimates I(F_y; X̂_i), I(F_i; X̂_i) and their ratio "
    "**r_i = I(F_y; X̂_i) / I(F_i; X̂_i)** in two versions. The paper's **observational** one measures how much "
    "X̂_i depends on F_y: it is high whenever F_y predicts X̂_i, also through F_i when the two factors are "
    "dependent (they are computed from the same inputs), so even for a decoder that ignores F_y. The "
    "**interventional** one decodes X̂_i from F_y shuffled across samples, so it measures what the decoder "
    "takes from F_y. Neither is the modality's importance for the prediction Ŷ = D(F_y): the *Missing "
    "modality* page measures what the prediction loses without it."
)

with st.form("information_settings"):
    columns = st.columns(3)
    estimator = columns[0].radio(
        "Estimator",
        list(ESTIMATORS),
        format_func=ESTIMATORS.get,
        key=default_choice("info_estimator", list(ESTIMATORS), DEFAULTS.estimator),
    )
    max_samples = columns[1].slider(
        "Samples",
        50,
        3000,
        step=50,
        key=default("info_samples", DEFAULTS.max_samples),
        help=f"A seeded subsample of the {selection.split} split ({n_available} samples).",
    )
    n_bootstrap = columns[2].slider(
        "Subsampling rounds (interval)", 5, 200, key=default("info_bootstrap", DEFAULTS.n_bootstrap)
    )
    columns = st.columns(4)
    n_null = columns[0].slider(
        "Shuffled-pairs rounds (null)", 2, 100, key=default("info_null", DEFAULTS.n_null)
    )
    n_components = columns[1].slider(
        "Principal components a side",
        1,
        8,
        key=default("info_components", DEFAULTS.n_components),
        help="Above 4 a side the intervals' coverage was not met on non-Gaussian data (interpret.information).",
    )
    k = columns[2].slider("KSG neighbours k", 2, 10, key=default("info_k", DEFAULTS.k))
    seed = columns[3].number_input("Seed", 0, 2**31 - 1, step=1, key=default("info_seed", DEFAULTS.seed))
    st.form_submit_button("Estimate", type="primary")

settings = InformationSettings(
    estimator=estimator,
    max_samples=int(max_samples),
    n_components=int(n_components),
    k=int(k),
    n_bootstrap=int(n_bootstrap),
    n_null=int(n_null),
    seed=int(seed),
)
try:
    versions = information(selection, settings)
except ValueError as exc:  # e.g. too few samples for the chosen k
    st.error(f"The estimate could not be computed: {plain(exc)}")
    st.stop()

if n_components > 4:
    st.warning(
        f"{n_components} principal components a side: above 4 the intervals' coverage was measured to fall short "
        "on non-Gaussian data (69 % at 6+6, 31 % at 8+8 for a nominal 95 %); read them as too narrow."
    )
label = "KSG" if estimator == "ksg" else "Gaussian"
top = information_axis_max(versions.observational, versions.interventional)
first = next(iter(versions.observational.values()))
st.caption(
    f"Estimator: **{label}**, {versions.n_samples} samples of the {selection.split} split, "
    f"{n_components} principal components a side{f', k = {k}' if estimator == 'ksg' else ''}, in nats. "
    f"95 % intervals from {first.shared.n_bootstrap} half-samples, widened to include KSG's estimated bias: the "
    "value shown is the raw estimate, which reads low at several components a side (10-25 % at 3 components "
    "and 500 samples), so the truth usually lies in the upper part of its interval. The black bars mark the 95 % "
    "quantile of the "
    f"estimate after shuffling the pairs ({n_null} rounds): an estimate below it is indistinguishable from "
    "independence. Only comparisons made under one estimator and one set of settings mean anything: compare "
    "modalities within a version, not a KSG number with a Gaussian one. Both versions share one axis."
)

kept = "; ".join(
    f"{name}: F_y {v.variance_kept[0]:.0%}, F_i {v.variance_kept[1]:.0%}, X̂ {v.variance_kept[2]:.0%}"
    for name, v in versions.observational.items()
)
st.caption(
    f"Share of each variable's variance that its {n_components} principal components keep ({kept}): the "
    "estimates describe those components only; information carried by the rest is not counted."
)

st.subheader("Observational (the paper's)")
st.caption(INFORMATION_READINGS["observational"])
st.plotly_chart(
    information_figure(
        versions.observational, estimator=label, title="Observational: the model's own X̂_i", mi_max=top
    ),
    width="stretch",
    key="information_figure",
)

st.subheader("Interventional (F_y shuffled across samples)")
st.caption(INFORMATION_READINGS["interventional"])
st.plotly_chart(
    information_figure(
        versions.interventional,
        estimator=label,
        title="Interventional: X̂_i decoded from shuffled F_y",
        mi_max=top,
    ),
    width="stretch",
    key="information_figure_interventional",
)

st.subheader("Why they differ: the factors' dependence I(F_y; F_i)")
st.caption(INFORMATION_READINGS["dependence"])
try:
    versions = replace(versions, dependence=dependence(selection, settings))
except ValueError as exc:
    st.error(f"The dependence could not be estimated: {plain(exc)}")
    st.stop()
st.plotly_chart(dependence_figure(versions.dependence, label), width="stretch", key="dependence_figure")

st.subheader("Both versions, per modality")
st.dataframe(information_comparison_rows(versions), hide_index=True, width="stretch")
st.caption(COMPARISON_LEGEND)
notes = information_disagreements(versions)
for name, note in notes.items():
    st.warning(f"**{name}**: {note}")
if not notes:
    st.caption("The two versions agree on every modality: same side of their nulls, same ranking of r_i.")
with st.expander("Every estimate, with its interval"):
    st.markdown("**Observational**")
    st.dataframe(information_rows(versions.observational), hide_index=True, width="stretch")
    st.markdown("**Interventional**")
    st.dataframe(information_rows(versions.interventional), hide_index=True, width="stretch")

# ---------------------------------------------------------------------------------------------------------------
# Planted-cut control
# ---------------------------------------------------------------------------------------------------------------
st.subheader("Planted-cut control")
names = list(selection.checkpoint.config.modality_names)
st.caption(
    "A copy of this model whose decoder for one modality cannot see F_y (the weights by which it reads F_y set to "
    "0), measured on the same samples with the same settings. A measure of what the decoder uses must show that "
    "decoder's exact F_y gradient flow at 0 and its interventional I(F_y; X̂) within the null."
)
columns = st.columns([1, 3])
cut_modality = columns[0].selectbox(
    "Modality to cut", names, key=default_choice("info_cut_modality", names, names[0])
)
clicked = columns[1].button(
    f"What would a model whose {cut_modality} decoder ignores F_y show?", key="info_cut_button"
)
request = (selection.identity, cut_modality, settings)
if clicked or st.session_state.get("info_cut_shown") == request:
    try:
        cut = cut_control(selection, cut_modality, settings)
    except ValueError as exc:
        st.error(f"The control could not be computed: {plain(exc)}")
        st.stop()
    st.session_state["info_cut_shown"] = request
    st.dataframe(planted_cut_rows(versions, cut), hide_index=True, width="stretch")
    st.caption(
        f"{COMPARISON_LEGEND} Exact F_y flow: the raw ‖∂X̂/∂F_y‖² of the {cut_modality} decoder, mean over "
        f"{cut.flow_samples} samples and every step."
    )
    st.info(planted_cut_reading(cut))
