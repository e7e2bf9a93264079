"""Style & label page: decode chosen label factors F_y with chosen style factors F_i (rows = label, columns = style).

The factors of the split are encoded once and cached; every slider move below only runs the decoder.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from interpret.app_support import SHOWN_FEATURES, GridFactors, describe_label, grid_factors
from interpret.figures import image_grid, sequence_comparison
from interpret.generation import factor_range, interpolate_labels, style_label_grid, traverse_factor
from pages.common import Selection, current, default, default_choice, forget_invalid, page_title, require_data


@st.cache_data(show_spinner="Encoding the split's factors (once per checkpoint and split)…", max_entries=16)
def factors(key: str, data: tuple, split: str, _selection: Selection) -> GridFactors:
    """`interpret.app_support.grid_factors` of the split: F_y, every F_i and the label prototypes (cached)."""
    return grid_factors(_selection.model, _selection.dataset.splits[split])


selection = current()
page_title("Style & label", selection)
dataset = require_data(selection)
split = dataset.splits[selection.split]
config = selection.checkpoint.config
model = selection.model
grid = factors(selection.key, selection.data_key, selection.split, _selection=selection)
n_samples = len(split)
names = list(config.modality_names)

st.markdown(
    "MFM generates each modality from the **label factor F_y** and the modality's own **style factor F_i**. "
    "Rows hold one label (the mean F_y of the split's samples with that label), columns one style (F_i of a real "
    "sample, shown in the top row). Every slider below only re-runs the decoder."
)
if config.kind != "image":
    st.caption(
        f"Sequence tiles: the {SHOWN_FEATURES} features that vary most in the real data (down) over time (across); "
        "blue is low, red high, on one scale per modality."
    )

columns = st.columns([3, 1])
style_start = columns[0].slider(
    "Style source sample (first column)", 0, n_samples - 1, key=default("style_sample", 0, 0, n_samples - 1)
)
n_styles = columns[1].slider("Styles (columns)", 2, 12, key=default("style_columns", 10))
style_rows = np.arange(style_start, min(style_start + n_styles, n_samples))

st.subheader("Label × style grid")
grid_columns = st.columns(len(names)) if len(names) <= 2 else [st.container() for _ in names]
for slot, name in zip(grid_columns, names, strict=True):
    styles = grid.factors.modality[name][style_rows]  # (S, fi)
    generated = style_label_grid(model, name, styles, grid.prototypes)  # (L, S, *shape)
    real = split.inputs[name][style_rows][None]  # (1, S, *shape)
    tiles = np.concatenate([grid.as_images(name, real), grid.as_images(name, generated)])
    figure = image_grid(
        tiles,
        row_labels=["real"] + [f"label {n}" for n in grid.label_names],
        column_labels=[f"#{r}" for r in style_rows],
        title=f"{name}: rows = label, columns = style",
    )
    slot.plotly_chart(figure, width="stretch", key=f"grid_{name}")

st.subheader("One style, any label")
columns = st.columns([1, 2])
modality = columns[0].selectbox(
    "Modality to generate", names, key=default_choice("style_modality", names, names[0])
)
label = columns[1].select_slider(
    "Label", grid.label_names, key=default_choice("style_label", grid.label_names, grid.label_names[-1])
)
label_index = grid.label_names.index(label)
style = grid.factors.modality[modality][style_start]  # (fi,)
own = style_label_grid(model, modality, style, grid.factors.shared[style_start])[0, 0]
swapped = style_label_grid(model, modality, style, grid.prototypes[label_index])[0, 0]
real_sample = split.inputs[modality][style_start]
st.caption(f"Sample #{style_start}: {describe_label(split.labels[style_start], config.task)}")
if modality in grid.features:
    words = [str(w) for w in split.extras["words"][style_start]] if "words" in split.extras else None
    figure = sequence_comparison(
        real_sample, swapped, words=words, title=f"{modality}: real vs. label {label}"
    )
else:
    figure = image_grid(
        np.stack([real_sample, own, swapped])[None],
        row_labels=[f"#{style_start}"],
        column_labels=["real", "reconstruction", f"label {label}"],
        title=f"{modality}: sample #{style_start} with label {label}",
    )
st.plotly_chart(figure, width="stretch", key="swap")

st.subheader("Interpolate between two labels")
columns = st.columns([2, 1])
start_label, end_label = columns[0].select_slider(
    "From label … to label",
    grid.label_names,
    value=(grid.label_names[0], grid.label_names[-1]),
    key=forget_invalid("style_interpolation", grid.label_names),
)
steps = columns[1].slider("Steps", 2, 12, key=default("style_steps", 8))
line = interpolate_labels(
    model,
    modality,
    style,
    grid.prototypes[grid.label_names.index(start_label)],
    grid.prototypes[grid.label_names.index(end_label)],
    int(steps),
)  # (steps, *shape)
weights = np.linspace(0.0, 1.0, int(steps))
st.plotly_chart(
    image_grid(
        grid.as_images(modality, line[None]),
        row_labels=[f"#{style_start}"],
        column_labels=[f"{w:.2f}" for w in weights],
        title=f"{modality}: label {start_label} → {end_label} in the style of sample #{style_start}",
    ),
    width="stretch",
    key="interpolation",
)

st.subheader("Traverse one factor dimension")
columns = st.columns([1, 2])
which = columns[0].radio(
    "Factor",
    ["shared", "modality"],
    format_func={"shared": "label factor F_y", "modality": f"style factor F_{modality}"}.get,
    key=default_choice("style_which", ["shared", "modality"], "shared"),
)
source = grid.factors.shared if which == "shared" else grid.factors.modality[modality]
width = source.shape[1]
dim = columns[1].slider("Dimension", 0, width - 1, key=default("style_dim", 0, 0, width - 1))
low, high = factor_range(source, int(dim), quantiles=(0.01, 0.99))
values = np.linspace(low, high, 9)
traversal = traverse_factor(model, modality, grid.prototypes[label_index], style, which, int(dim), values)
st.plotly_chart(
    image_grid(
        grid.as_images(modality, traversal[None]),
        row_labels=[f"dim {dim}"],
        column_labels=[f"{v:.2f}" for v in values],
        title=f"{modality}: dimension {dim} of {'F_y' if which == 'shared' else 'F_' + modality} from "
        f"{low:.2f} to {high:.2f} (1–99 % of the split), label {label}, style of sample #{style_start}",
    ),
    width="stretch",
    key="traversal",
)
if high - low < 1e-6:
    st.caption(
        "This dimension is (almost) constant over the split — a dead unit: the decoder never sees it move."
    )
