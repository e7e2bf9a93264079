"""Gradients page: how strongly each generated step (or pixel) responds to the label factor F_y and to F_i (a
per-step sensitivity at the analysed samples), at a chosen scale: per one-standard-deviation change of each factor
dimension (default) or the paper's raw norm."""

from __future__ import annotations

import numpy as np
import streamlit as st

from interpret.analysis import gradient_flows
from interpret.figures import FLOW_SCALE_NAMES, gradient_curves, gradient_heatmap, pixel_maps
from interpret.gradients import GradientFlow, GradientSettings
from pages.bookkeeping import describe_label
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

METHODS = {
    "exact": "Exact gradient flow ‖∂X̂_i/∂F‖²",
    "saliency": "Captum Saliency (∂)",
    "input_x_gradient": "Captum Input × Gradient (x · ∂)",
    "integrated_gradients": "Captum Integrated Gradients (x · ∂, slow)",
}
"""The exact flow is the paper's measure; Saliency takes the chosen scale; the two "x · ∂" methods are
input-scaled."""
SCALES = {
    "std": "Per 1-sd change of each factor dimension",
    "raw": "Raw ‖∂X̂/∂F‖² (the paper's)",
}


@cached(max_entries=64)
def flows(
    selection: Selection, settings: GradientSettings, names: tuple[str, ...]
) -> tuple[np.ndarray, dict[str, GradientFlow]]:
    """`interpret.analysis.gradient_flows` of the split for the modalities `names`: (the analysed rows of the
    split, per-sample flows of those the method applies to), cached per selection, settings and names."""
    inputs = selection.dataset.splits[selection.split].inputs
    with progress_bar(METHODS[settings.method]) as update:
        return gradient_flows(selection.model, inputs, settings, update, names=names)


selection = current()
page_title("Gradient-based interpretation", selection)
dataset = require_data(selection)
split = dataset.splits[selection.split]
config = selection.checkpoint.config
sequence_names = [m.name for m in config.modalities if m.kind == "sequence"]
image_names = [m.name for m in config.modalities if m.kind == "image"]
st.markdown(
    "For every generated step *t* of modality *i*: **‖∂X̂_i⁽ᵗ⁾/∂F_y‖²** (how strongly the step responds to a change "
    "of the label factor) beside **‖∂X̂_i⁽ᵗ⁾/∂F_i‖²** (to a change of the modality's own factor). These are "
    "per-step sensitivities of the decoder, to first order at the analysed samples: not the step's, or the "
    "modality's, importance for the prediction."
    + (" For images the steps are pixels." if image_names else "")
)

columns = st.columns([2, 1, 1, 1])
if sequence_names:
    method = columns[0].selectbox(
        "Method",
        list(METHODS),
        format_func=METHODS.get,
        key=default_choice("grad_method", list(METHODS), "exact"),
        help="The exact gradient flow is the paper's measure; Captum's Saliency is the gradient of each step's "
        "frame sum, at the chosen scale; Input × Gradient and Integrated Gradients multiply it by the factor's "
        "value (x · ∂), so they are input-scaled and the scale control does not apply.",
    )
else:
    method = "exact"
    columns[0].info(
        "Captum's per-step profiles apply to sequences; image models show the exact per-pixel maps."
    )
# Fixed bounds (not the split's size): a slider whose bounds change is a new widget and forgets its value.
max_samples = columns[1].slider(
    "Samples",
    8,
    512,
    step=8,
    key=default("grad_samples", 64),
    help="A seeded subsample of the split (all of it when the split is smaller). Captum's methods run one "
    "attribution per time step: Integrated Gradients is slow with many samples.",
)
seed = columns[2].number_input("Seed", 0, 2**31 - 1, step=1, key=default("grad_seed", 0))
scaled = not GradientSettings(method=method).input_scaled  # the scale control applies
chosen_scale = columns[3].radio(
    "Scale",
    list(SCALES),
    format_func=SCALES.get,
    key=default_choice("grad_scale", list(SCALES), "std"),
    disabled=not scaled,
    help="Per 1-sd: each factor dimension's squared derivative weighted by its variance over the analysed "
    "samples, the effect of moving every dimension by one standard deviation; factors that spread widely and "
    "factors that barely vary then compare. Raw: the paper's unweighted norm, which can favour a factor whose "
    "dimensions barely vary (it needs larger derivatives for the same effect). Input × Gradient and Integrated "
    "Gradients are input-scaled (x · ∂): the control does not apply to them.",
)
scale = chosen_scale if scaled else "input"

n_steps = GradientSettings.n_steps
if method == "integrated_gradients":
    n_steps = st.slider(
        "Integrated Gradients' steps",
        5,
        100,
        key=default("grad_ig_steps", GradientSettings.n_steps),
        help="Points on the path from the zero baseline to the factors at which the gradient is averaged; more "
        "is more exact and slower (`--gradient-steps` of the report).",
    )
settings = GradientSettings(
    method=method,
    scale=chosen_scale,  # an input-scaled method ignores it (GradientSettings keeps one value)
    max_samples=int(max_samples),
    seed=int(seed),
    n_steps=int(n_steps),
)
# The sequence modalities share one heatmap; each image modality has its own figure, computed just before it is
# drawn, so the first does not wait for the others (an image model has no sequences: rows only, nothing computed).
index, result = flows(selection, settings, tuple(sequence_names))

columns = st.columns([1, 3, 1])
view = columns[0].radio(
    "Show", ["Average", "One sample"], key=default_choice("grad_view", ["Average", "One sample"], "Average")
)
sample = None
sample_name = None
if view == "One sample":
    rows = sorted(int(r) for r in index)  # the split's own row numbers, as everywhere else in the app
    row = columns[1].select_slider(
        f"Sample (row of the {selection.split} split, among the {len(rows)} analysed)",
        rows,
        key=default_choice("grad_row", rows, rows[0]),
    )
    sample = int(np.flatnonzero(index == row)[0])  # its position in the flows
    sample_name = f"sample #{row} of the {selection.split} split"
    columns[1].caption(f"Sample #{row} · {describe_label(split.labels[row], config.task)}")
normalize = columns[2].checkbox(
    "Scale per modality",
    help="Divide each modality's two rows by their common maximum, so F_y and F_i compare within a modality.",
    key=default("grad_normalize", True),
)

sequence_flows = {name: result[name] for name in sequence_names if name in result}
if sequence_flows:
    words = None
    planted = None
    if sample is not None:
        if "words" in split.extras:
            words = [str(w) for w in split.extras["words"][row]]
        planted = {
            name: split.extras[f"mask/{name}"][row]
            for name in sequence_flows
            if f"mask/{name}" in split.extras and split.extras[f"mask/{name}"][row].any()
        }
    elif any(f"mask/{name}" in split.extras for name in sequence_flows):
        st.caption("Planted label-bearing steps differ between samples: pick one sample to see them marked.")
    lengths = {flow.shared.shape[1] for flow in sequence_flows.values()}
    groups = (
        [sequence_flows] if len(lengths) == 1 else [{name: flow} for name, flow in sequence_flows.items()]
    )
    method_name = METHODS[method].split(" (")[0]
    quantity = None if method == "exact" else f"({method_name.removeprefix('Captum ')} attribution)²"
    for number, group in enumerate(groups):
        title = (
            "Gradient flow over time: per-step sensitivity"
            if method == "exact"
            else f"{method_name}: squared attribution per step"
        )
        heatmap = gradient_heatmap(
            group,
            sample=sample,
            sample_name=sample_name,
            words=words,
            planted=planted,
            normalize=normalize,
            title=title,
            quantity=quantity,
        )
        st.plotly_chart(heatmap, width="stretch", key=f"gradient_heatmap_{number}")
    with st.expander("Curves per modality (log scale)", expanded=False):
        st.plotly_chart(
            gradient_curves(sequence_flows, sample=sample, quantity=quantity),
            width="stretch",
            key="gradient_curves",
        )
    if method != "exact":
        st.caption(
            "Captum attributes the sum of each step's frame to (F_y, F_i) and squares the attributions; with "
            "Saliency this is the squared gradient of the frame sum, not the paper's Frobenius norm (choose the "
            "exact gradient flow for that). "
            + (
                f"Saliency is shown at the chosen scale ({scale}: {FLOW_SCALE_NAMES[scale]})."
                if scaled
                else "Input × Gradient and Integrated Gradients multiply each gradient by the factor's own value "
                "(against a zero baseline): they are input-scaled (scale “input”), and the scale control does not "
                "apply."
            )
        )

for name in image_names:
    _, image_flow = flows(selection, settings, (name,))
    if name in image_flow:
        pixel_title = f"{name}: per-pixel sensitivity to the label and the style factor" + (
            f", {sample_name}" if sample_name else ", average over the analysed samples"
        )
        st.plotly_chart(
            pixel_maps(image_flow[name], sample=sample, title=pixel_title),
            width="stretch",
            key=f"pixel_maps_{name}",
        )
if image_names:
    st.caption(
        "Red: how strongly each pixel responds to the label factor F_y; blue: to the modality's style factor F_i; "
        f"right: F_y's share of the two (1 = label only, 0 = style only), which depends on the scale ({scale}). "
        "Sensitivities at the analysed samples, not importances."
    )
st.caption(
    f"{len(index)} samples of the {selection.split} split, chosen with seed {seed}. Scale: **{scale}**, "
    f"{FLOW_SCALE_NAMES[scale]}"
    + (f" (standard deviations over these {len(index)} samples)." if scale == "std" else ".")
)
