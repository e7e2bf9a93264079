"""Missing-modality page: drop one modality, see what the surrogate network infers for it and how the prediction moves."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from interpret.analysis import sample_indices, take
from interpret.app_support import describe_label, describe_prediction, softmax, what_if_rows
from interpret.figures import image_grid, sequence_comparison
from interpret.whatif import WhatIf, missing_modality, missing_modality_summary
from pages.common import Selection, current, default, default_choice, page_title, progress_bar, require_data


@st.cache_data(show_spinner=False, max_entries=16)
def summary(
    key: str, data: tuple, split: str, max_samples: int, seed: int, _selection: Selection
) -> dict[str, Any]:
    """`missing_modality_summary` (every modality dropped in turn) on a seeded subsample of the split (cached)."""
    part = _selection.dataset.splits[split]
    index = sample_indices(len(part), max_samples, seed)
    with progress_bar("Dropping each modality in turn") as update:
        return missing_modality_summary(
            _selection.model, take(part.inputs, index), part.labels[index], progress=update
        )


selection = current()
page_title("Missing modality", selection)
config = selection.checkpoint.config
if not config.surrogate:
    st.info(
        "This checkpoint was trained without surrogate inference (`config.surrogate` is false), so it cannot infer "
        "a missing modality: this page does not apply. Train with surrogate inference (the default of "
        "`python -m mfm train`) to use it."
    )
    st.stop()
dataset = require_data(selection)
split = dataset.splits[selection.split]
names = list(config.modality_names)
st.markdown(
    "With a modality *m* missing, MFM's surrogate network infers the shared code and *m*'s own code from the other "
    "modalities (paper Eq. 5) and generates X̂_m without ever reading X_m. Compare it with the full-data pass."
)

columns = st.columns([1, 1, 2])
missing = columns[0].selectbox(
    "Drop modality", names, key=default_choice("missing_modality", names, names[0])
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

st.subheader("Over the split")
table = summary(selection.key, selection.data_key, selection.split, int(max_samples), 0, _selection=selection)
st.dataframe(what_if_rows(table, config.task), hide_index=True, width="stretch")
st.caption(
    "Prediction change: total-variation distance between the class distributions (classification) or mean "
    "|ŷ without − ŷ all| (regression). Reconstruction MSE of X̂_m inferred without X_m beside the full-data one, "
    "in each modality's own units (compare a row's two values, not rows: e.g. COVAREP-like audio is about ten "
    "times larger than the other streams)."
)

st.subheader(f"Sample #{row} without {missing}")
# One sample: a forward pass with and one without the modality, cheap enough to run on every slider move.
sample: WhatIf = missing_modality(selection.model, take(split.inputs, np.array([row])), missing)
real, full, inferred = sample.target[0], sample.full.reconstructions[missing][0], sample.reconstruction[0]
modality = config.modality(missing)
if modality.kind == "image":
    figure = image_grid(
        np.stack([real, full, inferred])[None],
        row_labels=[f"#{row}"],
        column_labels=["real X_m", "generated with X_m", f"generated without {missing}"],
        title=f"{missing}: the real sample, its reconstruction, and what the other modalities imply",
    )
else:
    words = [str(w) for w in split.extras["words"][row]] if "words" in split.extras else None
    figure = sequence_comparison(
        real,
        inferred,
        words=words,
        title=f"{missing}: real vs. generated without it (from the other modalities)",
    )
st.plotly_chart(figure, width="stretch", key="missing_reconstruction")

with_all, without = sample.full.prediction[0], sample.inferred.prediction[0]
columns = st.columns(3)
columns[0].metric("True label", describe_label(split.labels[row], config.task))
columns[1].metric("Prediction, all modalities", describe_prediction(with_all, config.task))
columns[2].metric(f"Prediction without {missing}", describe_prediction(without, config.task))
if config.task == "classification":
    classes = [str(c) for c in range(config.num_classes)]
    bars = go.Figure(
        [
            go.Bar(name="all modalities", x=classes, y=softmax(with_all)),
            go.Bar(name=f"without {missing}", x=classes, y=softmax(without)),
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
