"""Model page: config, metrics from the metadata, parameter counts, modalities and factor sizes, training command."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from mfm.model import parameter_counts
from pages.bookkeeping import history_series, metric_rows, modality_rows, plain, pretty_json
from pages.common import current, page_title

selection = current()
page_title("Model", selection)
checkpoint = selection.checkpoint
config, meta = checkpoint.config, checkpoint.metadata
counts = parameter_counts(checkpoint.model)

columns = st.columns(5)
columns[0].metric("Kind", f"{config.kind}")
columns[1].metric("Task", f"{config.num_classes} classes" if config.task == "classification" else config.task)
columns[2].metric("Parameters", f"{counts['total']:,}")
columns[3].metric("Fusion", config.fusion.upper() if config.fusion == "mfn" else "concat")
columns[4].metric("Surrogate inference", "on" if config.surrogate else "off")

source = meta.get("imported_from")
if isinstance(source, dict):
    dropped = source.get("dropped") or []
    st.info(
        f"Imported from **{plain(source.get('producer_name', source.get('producer')))}**: "
        f"{plain(source.get('file'))} (SHA-256 {plain(str(source.get('sha256'))[:16])}…), sizes from the "
        f"{plain(source.get('sizes_from'))}"
        + (f"; dropped, unused by MFM's forward: {plain(', '.join(map(str, dropped)))}" if dropped else "")
        + ". No surrogate inference and no input standardisation, as in the producer's MFM; the producer's "
        "config is kept verbatim in the metadata below."
    )

st.subheader("Modalities and factor sizes")
st.markdown(
    f"Shared discriminative code **z_y = {config.shared_code_dim}**, label factor **F_y = {config.shared_factor_dim}**; "
    "each modality *i* is generated as X̂_i = G_i([F_y ; F_i]) from F_y and its own factor F_i."
)
st.dataframe(modality_rows(checkpoint), hide_index=True, width="stretch")

left, right = st.columns(2)
with left:
    st.subheader("Parameters by part")
    st.dataframe(
        [{"part": name, "parameters": value} for name, value in counts.items() if name != "total"],
        hide_index=True,
        width="stretch",
        column_config={"parameters": st.column_config.NumberColumn(format="localized")},
    )
with right:
    st.subheader("Data")
    st.markdown(
        f"Data set **{plain(meta.get('dataset', '?'))}** (seed {plain(meta.get('data_seed', 0))}"
        + (
            f", generator version {plain(meta['data_generator_version'])})"
            if meta.get("data_generator_version") is not None
            else ")"
        )
        + (f", folder {plain(meta['data_dir'])}" if meta.get("data_dir") else "")
    )
    if isinstance(meta.get("split_sizes"), dict):
        sizes = " · ".join(
            f"{plain(split)} {plain(f'{size:,}' if isinstance(size, int) else size)}"
            for split, size in meta["split_sizes"].items()
        )
        st.markdown(
            f"Trained with {sizes} samples"
            + (f" (--limit {plain(meta['limit'])})" if meta.get("limit") else "")
        )
    if selection.data_error:
        st.warning(f"The data could not be loaded: {plain(selection.data_error)}")
    elif selection.dataset is not None:
        st.caption(selection.dataset.info.get("description", ""))

st.subheader("Metrics from training")
rows = metric_rows(meta)
if rows:
    st.dataframe(rows, hide_index=True, width="stretch")
else:
    st.info(
        "This checkpoint's metadata holds no metrics"
        + (" (an import carries none: `python -m mfm evaluate` measures them)." if source else ".")
    )

series = history_series(meta)
if series and len(series.get("epoch", [])) > 1:
    # The training loss and the validation metrics live on different scales: one y-axis each.
    figure = go.Figure()
    # valid swap_score: what `python -m mfm train --select swaps` selects by.
    plotted = ("train total", "valid mae", "valid accuracy", "valid pearson_r", "valid swap_score")
    for name, values in series.items():
        if name in plotted:
            axis = "y" if name.startswith("train") else "y2"
            figure.add_trace(
                go.Scatter(x=series["epoch"], y=values, mode="lines+markers", name=name, yaxis=axis)
            )
    figure.update_layout(
        title="Training history",
        xaxis_title="epoch",
        yaxis=dict(title="training loss (total)"),
        yaxis2=dict(title="validation metric", overlaying="y", side="right", showgrid=False),
        legend=dict(orientation="h", y=-0.25),
        height=340,
        margin=dict(t=50, b=40),
    )
    st.plotly_chart(figure, width="stretch")

st.subheader("Import command" if isinstance(source, dict) else "Training command")
command = meta.get("command")
if command:
    st.code(command, language="bash", wrap_lines=True)
else:
    st.info("The metadata does not record the command that made this checkpoint.")
if meta.get("best_epoch") is not None:
    st.caption(
        f"Best validation epoch {plain(meta.get('best_epoch'))}"
        + (" by label swaps and accuracy (--select swaps)" if meta.get("selection") == "swaps" else "")
        + (f", trained in {plain(meta['wall_seconds'])} s" if meta.get("wall_seconds") is not None else "")
        + (f", created {plain(meta['created'])}" if meta.get("created") else "")
    )

with st.expander("Full config"):
    st.code(pretty_json(config.to_dict()), language="json")
with st.expander("Metadata"):
    st.code(pretty_json({k: v for k, v in meta.items() if k != "history"}), language="json")
