"""Missing-modality page: drop one modality, see what the model makes of the rest and how the prediction moves.

Two methods, always labelled: the paper's surrogate inference (models trained with surrogate networks), and
zero-filling (X_m replaced by zeros, the unchanged model run on it) for models without them, such as imports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from interpret.abilities import Abilities
from interpret.figures import image_grid, sequence_comparison
from interpret.whatif import (
    METHODS,
    SURROGATE,
    ZERO_FILL,
    WhatIf,
    missing_modality,
    missing_modality_summary,
    zero_fill_missing_modality,
    zero_fill_summary,
)
from mfm.inference import sample_indices, take
from pages.bookkeeping import (
    describe_label,
    describe_prediction,
    missing_image_abilities,
    missing_warnings,
    softmax,
    what_if_rows,
)
from pages.common import (
    Selection,
    cached,
    current,
    default,
    default_choice,
    page_title,
    progress_bar,
    require_data,
    show_abilities,
)

SHORT = {SURROGATE: "Surrogate inference (paper Eq. 5)", ZERO_FILL: "Zero-filling (X_m = 0)"}


@cached(max_entries=16)
def summary(selection: Selection, max_samples: int, seed: int, method: str) -> dict[str, Any]:
    """`missing_modality_summary` or `zero_fill_summary` (every modality in turn) on a seeded subsample (cached)."""
    part = selection.dataset.splits[selection.split]
    index = sample_indices(len(part), max_samples, seed)
    run = missing_modality_summary if method == SURROGATE else zero_fill_summary
    text = "Dropping each modality in turn" if method == SURROGATE else "Zero-filling each modality in turn"
    with progress_bar(text) as update:
        return run(selection.model, take(part.inputs, index), part.labels[index], progress=update)


@cached(show_spinner="Reading generated images with the independent classifiers…", max_entries=16)
def image_abilities(selection: Selection) -> Abilities:
    """`pages.bookkeeping.missing_image_abilities` on the data set's test split (cached; pass the selection
    `on_split("test")`)."""
    return missing_image_abilities(selection.model, selection.dataset)


selection = current()
page_title("Missing modality", selection)
config = selection.checkpoint.config
if config.surrogate:
    methods = [SURROGATE, ZERO_FILL]
else:
    methods = [ZERO_FILL]
    origin = (
        f"was imported from {selection.imported.producer_name}, whose MFM has none"
        if selection.imported
        else "was trained without it (`config.surrogate` is false)"
    )
    st.info(
        f"**No surrogate inference:** this model {origin}, so it cannot infer a missing modality the paper's way "
        "(Eq. 5). Offered instead: **zero-filling**, X_m replaced by zeros and the unchanged model run on it. "
        "It shows how the model reacts to a blank modality; it is not the paper's surrogate inference."
    )
dataset = require_data(selection)
split = dataset.splits[selection.split]
names = list(config.modality_names)
method = st.radio(
    "Method",
    methods,
    format_func=SHORT.get,
    horizontal=True,
    key=default_choice("missing_method", methods, methods[0]),
    help="; ".join(f"{SHORT[m]}: {METHODS[m]}" for m in methods),
)
zero_fill = method == ZERO_FILL
if zero_fill:
    st.markdown(
        "**Zero-filling** (not the paper's surrogate inference): modality *m*'s input X_m is replaced by zeros "
        "and the unchanged model runs on it. Compare what it generates and predicts with the full-data pass."
    )
else:
    st.markdown(
        "With a modality *m* missing, MFM's surrogate network infers the shared code and *m*'s own code from "
        "the other modalities (paper Eq. 5) and generates X̂_m without ever reading X_m. Compare it with the "
        "full-data pass."
    )
without_words = "zero-filled" if zero_fill else "without"

columns = st.columns([1, 1, 2])
missing = columns[0].selectbox(
    "Zero-fill modality" if zero_fill else "Drop modality",
    names,
    key=default_choice("missing_modality", names, names[0]),
)
max_samples = columns[1].slider(
    "Samples for the table",
    16,
    1000,
    step=8,
    key=default("missing_samples", 200),
    help=f"A seeded subsample of the {selection.split} split ({len(split)} samples).",
)
row = columns[2].slider("Sample", 0, len(split) - 1, key=default("missing_sample", 0, 0, len(split) - 1))

st.subheader("Over the split" + (" (zero-filling)" if zero_fill else " (surrogate inference)"))
table = summary(selection, int(max_samples), 0, method)
st.dataframe(what_if_rows(table, config.task), hide_index=True, width="stretch")
for warning in missing_warnings(table):
    st.warning(warning, icon=":material/warning:")
# Drawn here, measured after the sample's figure (it reads 500 generated test images with the classifiers), so
# that figure does not wait for it.
abilities_slot = st.container()
st.caption(
    f"Prediction change: total-variation distance between the class distributions (classification) or mean "
    f"|ŷ {without_words} − ŷ all| (regression). Reconstruction MSE of X̂_m "
    + ("generated from the zero-filled input" if zero_fill else "inferred without X_m")
    + " beside the full-data one and the MSE of the samples' mean X_m (what a generator that ignores its sample "
    "would score), in each modality's own units (compare a row's values, not rows: e.g. COVAREP-like audio is "
    "about ten times larger than the other streams)."
)

st.subheader(f"Sample #{row} " + (f"with {missing} zero-filled" if zero_fill else f"without {missing}"))
# One sample: a forward pass with and one without the modality, cheap enough to run on every slider move.
what_if = zero_fill_missing_modality if zero_fill else missing_modality
sample: WhatIf = what_if(selection.model, take(split.inputs, np.array([row])), missing)
real, full, inferred = sample.target[0], sample.full.reconstructions[missing][0], sample.reconstruction[0]
modality = config.modality(missing)
if modality.kind == "image":
    figure = image_grid(
        np.stack([real, full, inferred])[None],
        x_title="image",
        y_title="sample",
        row_labels=[f"#{row}"],
        column_labels=[
            "real X_m",
            "generated with X_m",
            f"generated from zeros for {missing}" if zero_fill else f"generated without {missing}",
        ],
        title=f"{missing}: the real sample, its reconstruction, and "
        + (
            "what the model generates with this input zero-filled"
            if zero_fill
            else "what the other modalities imply"
        ),
    )
else:
    words = [str(w) for w in split.extras["words"][row]] if "words" in split.extras else None
    figure = sequence_comparison(
        real,
        inferred,
        words=words,
        generated_name="generated from zeros" if zero_fill else f"generated without {missing}",
        title=f"{missing}: real vs. generated with it zero-filled (zero-filling, not surrogate inference)"
        if zero_fill
        else f"{missing}: real vs. generated without it (from the other modalities)",
    )
st.plotly_chart(figure, width="stretch", key="missing_reconstruction")
with abilities_slot:
    show_abilities(
        image_abilities(selection.on_split("test")),
        "Does a generated missing image show its label?",
        note_when_unmeasured=False,
    )

with_all, without = sample.full.prediction[0], sample.inferred.prediction[0]
columns = st.columns(3)
columns[0].metric("True label", describe_label(split.labels[row], config.task))
columns[1].metric("Prediction, all modalities", describe_prediction(with_all, config.task))
columns[2].metric(
    f"Prediction, {missing} zero-filled" if zero_fill else f"Prediction without {missing}",
    describe_prediction(without, config.task),
)
if config.task == "classification":
    classes = [str(c) for c in range(config.num_classes)]
    bars = go.Figure(
        [
            go.Bar(name="all modalities", x=classes, y=softmax(with_all)),
            go.Bar(
                name=f"{missing} zero-filled" if zero_fill else f"without {missing}",
                x=classes,
                y=softmax(without),
            ),
        ]
    )
    bars.update_layout(
        barmode="group",
        height=300,
        title="Class probabilities",
        xaxis=dict(type="category", title="class"),
        yaxis_title="p",
        margin=dict(t=50, b=30),
    )
    st.plotly_chart(bars, width="stretch", key="missing_prediction")
