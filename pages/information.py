"""Information page: I(F_y; X̂_i), I(F_i; X̂_i) and r_i per modality, with intervals and the shuffled-pairs null."""

from __future__ import annotations

import streamlit as st

from interpret.analysis import information_by_modality
from interpret.app_support import information_rows
from interpret.figures import information_figure
from interpret.information import ModalityInformation
from pages.common import Selection, current, default, default_choice, page_title, progress_bar, require_data

ESTIMATORS = {"ksg": "KSG (k-nearest neighbours)", "gaussian": "Gaussian (covariance)"}


@st.cache_data(show_spinner=False, max_entries=32)
def information(
    key: str,
    data: tuple,
    split: str,
    estimator: str,
    max_samples: int,
    n_components: int,
    k: int,
    n_bootstrap: int,
    n_null: int,
    seed: int,
    _selection: Selection,
) -> dict[str, ModalityInformation]:
    """`interpret.analysis.information_by_modality` on the split, cached per checkpoint, data and settings."""
    inputs = _selection.dataset.splits[split].inputs
    with progress_bar(f"Estimating mutual information ({ESTIMATORS[estimator]})") as update:
        return information_by_modality(
            _selection.model,
            inputs,
            estimator=estimator,
            max_samples=max_samples,
            n_components=n_components,
            k=k,
            n_bootstrap=n_bootstrap,
            n_null=n_null,
            seed=seed,
            progress=update,
        )


selection = current()
page_title("Information-based interpretation", selection)
dataset = require_data(selection)
n_available = len(dataset.splits[selection.split])
st.markdown(
    "For each modality *i* the model generates X̂_i from the label factor F_y and its own factor F_i. "
    "The ratio **r_i = I(F_y; X̂_i) / I(F_i; X̂_i)** says how much of what the model generates for that modality "
    "is tied to the label: a larger r_i means the modality matters more for the prediction."
)

with st.form("information_settings"):
    columns = st.columns(3)
    estimator = columns[0].radio(
        "Estimator",
        list(ESTIMATORS),
        format_func=ESTIMATORS.get,
        key=default_choice("info_estimator", list(ESTIMATORS), "ksg"),
    )
    max_samples = columns[1].slider(
        "Samples",
        50,
        3000,
        step=50,
        key=default("info_samples", 500),
        help=f"A seeded subsample of the {selection.split} split ({n_available} samples).",
    )
    n_bootstrap = columns[2].slider(
        "Subsampling rounds (interval)", 5, 200, key=default("info_bootstrap", 30)
    )
    columns = st.columns(4)
    n_null = columns[0].slider("Shuffled-pairs rounds (null)", 2, 100, key=default("info_null", 10))
    n_components = columns[1].slider("Principal components a side", 1, 8, key=default("info_components", 3))
    k = columns[2].slider("KSG neighbours k", 2, 10, key=default("info_k", 3))
    seed = columns[3].number_input("Seed", 0, 2**31 - 1, step=1, key=default("info_seed", 0))
    st.form_submit_button("Estimate", type="primary")

try:
    info = information(
        selection.key,
        selection.data_key,
        selection.split,
        estimator,
        int(max_samples),
        int(n_components),
        int(k),
        int(n_bootstrap),
        int(n_null),
        int(seed),
        _selection=selection,
    )
except ValueError as exc:  # e.g. too few samples for the chosen k
    st.error(f"The estimate could not be computed: {exc}")
    st.stop()

label = "KSG" if estimator == "ksg" else "Gaussian"
st.plotly_chart(information_figure(info, estimator=label), width="stretch", key="information_figure")
st.dataframe(information_rows(info), hide_index=True, width="stretch")
first = next(iter(info.values()))
st.caption(
    f"Estimator: **{label}**, {first.shared.n_samples} samples of the {selection.split} split, "
    f"{n_components} principal components a side{f', k = {k}' if estimator == 'ksg' else ''}, in nats. "
    f"Intervals: {first.shared.n_bootstrap} half-samples (95 %). The black bars mark the 95 % quantile of the "
    f"estimate after shuffling the pairs ({n_null} rounds): an estimate below it is indistinguishable from "
    "independence. Only comparisons made under one estimator and one set of settings mean anything: compare r_i "
    "across modalities, not a KSG number with a Gaussian one."
)
