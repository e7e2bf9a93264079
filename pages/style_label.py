"""Style & label page: decode chosen label factors F_y with chosen style factors F_i (rows = label, columns = style).

The factors of the split are encoded once and cached; every slider move below only runs the decoder. Images are
drawn as grids, sequences as lines over time of the features that change most between the rows.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from interpret.abilities import Abilities
from interpret.figures import colour_swatches, generation_figure, sequence_comparison
from interpret.generation import (
    GridFactors,
    column_colours,
    cross_modal_grid,
    factor_effects,
    grid_factors,
    interpolate_labels,
    style_label_grid,
    traversal_span,
    traverse_factor,
)
from pages.bookkeeping import describe_label, generation_abilities
from pages.common import (
    Selection,
    cached,
    current,
    default,
    default_choice,
    forget_invalid,
    page_title,
    require_data,
    show_abilities,
)

SEQUENCE_STYLES = 4
"""Style columns of a sequence grid (each column is a panel of lines: more would be too narrow to read)."""
CROSS_MODAL_ROWS = 6
"""Label-source samples (rows) of the cross-modal grid."""


@cached(show_spinner="Encoding the split's factors (once per checkpoint and split)…", max_entries=16)
def factors(selection: Selection) -> GridFactors:
    """`interpret.generation.grid_factors` of the split: F_y, every F_i and the label prototypes (cached)."""
    return grid_factors(selection.model, selection.dataset.splits[selection.split])


@cached(
    show_spinner="Measuring label swaps and style preservation (500 test samples, as `mfm evaluate`)…",
    max_entries=16,
)
def abilities(selection: Selection) -> Abilities:
    """`pages.bookkeeping.generation_abilities` of the model on its data set's test split (cached; pass the
    selection `on_split("test")`)."""
    return generation_abilities(selection.model, selection.dataset)


@cached(show_spinner="Measuring each dimension's effect…", max_entries=64)
def effects(selection: Selection, modality: str, which: str, label: int, style: int) -> np.ndarray:
    """`interpret.generation.factor_effects` at one label prototype and one sample's style (cached)."""
    grid = factors(selection)
    source = grid.factors.shared_factor if which == "shared" else grid.factors.modality_factors[modality]
    style_factor = grid.factors.modality_factors[modality][style]
    return factor_effects(selection.model, modality, grid.prototypes[label], style_factor, which, source)


selection = current()
page_title("Style & label", selection)
dataset = require_data(selection)
split = dataset.splits[selection.split]
config = selection.checkpoint.config
model = selection.model
grid = factors(selection)
n_samples = len(split)
names = list(config.modality_names)
kinds = {m.name: m.kind for m in config.modalities}

st.markdown(
    "MFM generates each modality from the **label factor F_y** and the modality's own **style factor F_i**. "
    "Rows hold one label (the mean F_y of the split's samples with that label), columns one style (F_i of a real "
    "sample, shown in the top row). Every slider below only re-runs the decoder."
)
if "sequence" in kinds.values():
    st.caption(
        "Sequences are drawn as lines over time, one colour per row (label or step), the real sequence dashed; "
        "each panel row is one of the three features that change most between the rows."
    )

# Drawn here, measured after the grids (it reads hundreds of generated test images with the classifiers), so the
# first grid does not wait for it.
abilities_slot = st.container()

columns = st.columns([3, 1])
style_start = columns[0].slider(
    "Style source sample (first column)", 0, n_samples - 1, key=default("style_sample", 0, 0, n_samples - 1)
)
n_styles = columns[1].slider("Styles (columns)", 2, 12, key=default("style_columns", 10))
style_rows = np.arange(style_start, min(style_start + n_styles, n_samples))

st.subheader("Label × style grid")
grid_columns = st.columns(len(names)) if len(names) <= 2 and "sequence" not in kinds.values() else None
with st.spinner("Decoding the grid…"):
    for number, name in enumerate(names):
        rows = style_rows if kinds[name] == "image" else style_rows[:SEQUENCE_STYLES]
        styles = grid.factors.modality_factors[name][rows]  # (S, fi)
        generated = style_label_grid(model, name, styles, grid.prototypes)  # (L, S, *shape)
        figure = generation_figure(
            kinds[name],
            generated,
            real=split.inputs[name][rows],
            line_labels=grid.label_names,
            line_title="label",
            column_labels=[f"#{r}" for r in rows],
            column_title="style of sample",
            title=f"{name}: rows = label, columns = style"
            + (
                f" (the first {len(rows)} of the {len(style_rows)} styles)"
                if len(rows) < len(style_rows)
                else ""
            ),
        )
        slot = grid_columns[number] if grid_columns else st.container()
        slot.plotly_chart(figure, width="stretch", key=f"grid_{name}")
        if kinds[name] == "image" and generated.shape[2] == 3:
            slot.plotly_chart(
                colour_swatches(
                    column_colours(split.inputs[name][rows], generated),
                    [f"#{r}" for r in rows],
                    title=f"{name}: did the colour survive? Source vs. generated, per column",
                ),
                width="stretch",
                key=f"colours_{name}",
            )
            slot.caption(
                "Each swatch is a background square holding the digit's colour, measured on the image (the "
                "background from its border, the digit from its pixels furthest from it). Top: the real style "
                "source; bottom: the mean over the column's generated images. ΔE2000: the mean colour difference "
                "of the column's images from their source (about 1 is just noticeable, above 10 another colour)."
            )

with abilities_slot:
    show_abilities(abilities(selection.on_split("test")), "What this model's controls can do")

if len(names) >= 2:
    st.subheader("Cross-modal: one modality's style, the label read from the others")
    columns = st.columns([1, 2, 1])
    target = columns[0].selectbox(
        "Modality to generate", names, key=default_choice("cross_modality", names, names[0])
    )
    others = [n for n in names if n != target]
    label_start = columns[1].slider(
        "Label source sample (first row)",
        0,
        n_samples - 1,
        key=default("cross_label_sample", n_samples // 2, 0, n_samples - 1),
    )
    sources = ["others", "all"] if config.surrogate else ["all"]
    label_source = columns[2].radio(
        "Label factor F_y from",
        sources,
        format_func={"others": ", ".join(others) + " alone", "all": "every modality"}.get,
        key=default_choice("cross_source", sources, sources[0]),
        help="The other modalities alone: F_y from the surrogate network of the generated modality (paper Eq. 5, "
        "the generated modality treated as missing), so the label is what those samples say by themselves. "
        "Every modality: F_y of the complete samples (a swap of label factors between samples).",
    )
    label_rows = np.arange(label_start, min(label_start + CROSS_MODAL_ROWS, n_samples))
    cross_styles = style_rows if kinds[target] == "image" else style_rows[:SEQUENCE_STYLES]
    with st.spinner("Decoding the cross-modal grid…"):
        crossed = cross_modal_grid(
            model,
            target,
            split.inputs[target][cross_styles],
            {n: split.inputs[n][label_rows] for n in names},
            label_source=label_source,
        )  # (L, S, *shape)
    row_names = [f"#{r} ({describe_label(split.labels[r], config.task)})" for r in label_rows]
    figure = generation_figure(
        kinds[target],
        crossed,
        real=split.inputs[target][cross_styles],
        line_labels=row_names,
        line_title=f"label of sample ({', '.join(others) if label_source == 'others' else 'every modality'})",
        column_labels=[f"#{r}" for r in cross_styles],
        column_title=f"style of {target} sample",
        title=f"{target}: own style, label of "
        + (f"{', '.join(others)} alone" if label_source == "others" else "complete samples"),
    )
    for name in [n for n in others if kinds[n] == "image"] if kinds[target] == "image" else []:
        st.columns([2, 3])[0].plotly_chart(  # a strip of small tiles, not stretched to the page's width
            generation_figure(
                "image",
                split.inputs[name][label_rows][None],
                line_labels=[name],
                line_title="modality",
                column_labels=[f"#{r}" for r in label_rows],
                column_title="sample: the rows below, top to bottom",
                title=f"The rows' {name} label sources",
            ),
            width="stretch",
            key=f"cross_sources_{name}",
        )
    st.plotly_chart(figure, width="stretch", key="cross_grid")
    st.caption(
        "The paper's cross-modal generation: each row takes F_y from one label-source sample, each column F_i "
        f"from one {target} sample ("
        + ("the top row shows it" if kinds[target] == "image" else "drawn dashed: the real sequence")
        + "). A row that shows its label source's label in every column shows that the label reached the "
        "generated modality through F_y alone."
    )

st.subheader("One style, any label")
columns = st.columns([1, 2])
modality = columns[0].selectbox(
    "Modality to generate", names, key=default_choice("style_modality", names, names[0])
)
label = columns[1].select_slider(
    "Label", grid.label_names, key=default_choice("style_label", grid.label_names, grid.label_names[-1])
)
label_index = grid.label_names.index(label)
style = grid.factors.modality_factors[modality][style_start]  # (fi,)
own = style_label_grid(model, modality, style, grid.factors.shared_factor[style_start])[0, 0]
swapped = style_label_grid(model, modality, style, grid.prototypes[label_index])[0, 0]
real_sample = split.inputs[modality][style_start]
st.caption(f"Sample #{style_start}: {describe_label(split.labels[style_start], config.task)}")
if kinds[modality] == "sequence":
    words = [str(w) for w in split.extras["words"][style_start]] if "words" in split.extras else None
    figure = sequence_comparison(
        real_sample,
        swapped,
        words=words,
        generated_name=f"generated with label {label}",
        title=f"{modality}: sample #{style_start}, real vs. generated with label {label}",
    )
else:
    figure = generation_figure(
        "image",
        np.stack([real_sample, own, swapped])[None],
        line_labels=[f"#{style_start}"],
        line_title="sample",
        column_labels=["real", "reconstruction", f"label {label}"],
        column_title="generated from",
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
interpolation_title = f"{modality}: label {start_label} → {end_label} in the style of sample #{style_start}"
if kinds[modality] == "image":
    figure = generation_figure(
        "image",
        line[None],
        line_labels=[f"#{style_start}"],
        line_title="style of sample",
        column_labels=[f"{w:.2f}" for w in weights],
        column_title=f"weight t of label {end_label} (F_y = (1 − t)·start + t·end)",
        title=interpolation_title,
    )
else:
    figure = generation_figure(
        "sequence",
        line[:, None],
        real=real_sample[None],
        line_labels=[f"{w:.2f}" for w in weights],
        line_title=f"weight of label {end_label}",
        column_labels=[f"#{style_start}"],
        column_title="style of sample",
        title=interpolation_title,
    )
st.plotly_chart(figure, width="stretch", key="interpolation")

st.subheader("Traverse one factor dimension")
columns = st.columns([1, 2])
which = columns[0].radio(
    "Factor",
    ["shared", "modality"],
    format_func={"shared": "label factor F_y", "modality": f"style factor F_{modality}"}.get,
    key=default_choice("style_which", ["shared", "modality"], "shared"),
)
factor_name = "F_y" if which == "shared" else f"F_{modality}"
source = grid.factors.shared_factor if which == "shared" else grid.factors.modality_factors[modality]
effect = effects(selection, modality, which, label_index, int(style_start))
order = [int(d) for d in np.argsort(-effect, kind="stable")]  # most effect first
dim = columns[1].selectbox(
    "Dimension (largest effect on the output first)",
    order,
    format_func=lambda d: f"dimension {d} · effect {effect[d]:.3g}",
    key=default_choice("style_dim", order, order[0]),
    help=f"Effect: root-mean-square change of the generated {modality} when the dimension moves across its span "
    "(mean ± 2 standard deviations over the split, within what the split shows), every other dimension fixed, at "
    "this label and style. A dimension with effect 0 is dead (constant over the split) or ignored by the decoder.",
)
span = traversal_span(source, int(dim))
traversal = traverse_factor(
    model, modality, grid.prototypes[label_index], style, which, int(dim), span.values
)
steps_named = [f"{round(s, 1) + 0.0:+.1f}σ ({v:.2f})" for s, v in zip(span.sigmas, span.values, strict=True)]
clipped = span.low > span.mean - 2 * span.sd + 1e-9 or span.high < span.mean + 2 * span.sd - 1e-9
traversal_title = (
    f"{modality}: dimension {dim} of {factor_name} from {span.low:.2f} to {span.high:.2f} (mean {span.mean:.2f} ± "
    f"2σ, σ = {span.sd:.2g}" + (", clipped to the split's range" if clipped else "") + f"), label {label}, "
    f"style of sample #{style_start}"
)
if kinds[modality] == "image":
    figure = generation_figure(
        "image",
        traversal[None],
        line_labels=[f"dim {dim}"],
        line_title="dimension",
        column_labels=steps_named,
        column_title="value of the dimension: distance from its mean over the split, in standard deviations σ",
        title=traversal_title,
    )
else:
    figure = generation_figure(
        "sequence",
        traversal[:, None],
        line_labels=steps_named,
        line_title=f"dimension {dim}",
        column_labels=[f"#{style_start}"],
        column_title="style of sample",
        title=traversal_title,
    )
st.plotly_chart(figure, width="stretch", key="traversal")
if span.sd < 1e-6:
    st.caption(
        "This dimension is (almost) constant over the split — a dead unit: the decoder never sees it move."
    )
elif effect[dim] == 0:
    st.caption("Moving this dimension changes nothing the decoder generates at this label and style.")
