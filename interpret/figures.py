"""Plotly figure builders: pure functions of interpretation results, shared by the app and the HTML report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interpret.gradients import GradientFlow
from interpret.information import RATIO_FLOOR, MIEstimate, ModalityInformation

SHARED_COLOR = "#d62728"  # F_y, the label factor
MODALITY_COLOR = "#1f77b4"  # F_i, the modality's own (style) factor
DEPENDENCE_COLOR = "#7f7f7f"  # I(F_y; F_i)

FLOW_SCALE_NAMES = {
    "std": "per 1-sd change of each factor dimension",
    "raw": "raw ‖∂X̂/∂F‖² (the paper's)",
    "input": "input-scaled (x · ∂)",
}
"""How each `GradientFlow.scale` is named in titles: "std" weights each factor dimension's squared derivative by
its variance over the analysed samples, "raw" is the paper's unweighted norm, "input" multiplies by the input."""
FLOW_SCALE_SYMBOLS = {"std": "Σ σ²(∂X̂/∂{f})²", "raw": "‖∂X̂/∂{f}‖²", "input": "‖{f} · ∂X̂/∂{f}‖²"}
"""The quantity of each scale with respect to factor {f}, for colour bars, axes and hover text."""


def flow_scale(flows: Mapping[str, GradientFlow] | Sequence[GradientFlow]) -> str:
    """The scale the flows share ("std", "raw" or "input"); several, joined by " + ", if they are mixed."""
    items = flows.values() if isinstance(flows, Mapping) else flows
    scales = list(dict.fromkeys(flow.scale for flow in items))
    return " + ".join(scales)


def _scale_name(scale: str) -> str:
    return " + ".join(FLOW_SCALE_NAMES.get(s, s) for s in scale.split(" + "))


def _scale_symbol(scale: str, factor: str = "F") -> str:
    return " + ".join(FLOW_SCALE_SYMBOLS.get(s, s).format(f=factor) for s in scale.split(" + "))


def log_ticks(low: float, high: float, most: int = 8) -> list[float]:
    """Tick values for a log axis spanning 10**low .. 10**high: 1-2-5 steps, or whole decades when those would
    be more than `most` (so a narrow range still has several labelled ticks, a wide one not too many)."""
    decades = range(int(np.floor(low)), int(np.ceil(high)) + 1)
    for mantissas in ((1, 2, 5), (1,)):
        ticks = [m * 10.0**e for e in decades for m in mantissas if low <= np.log10(m * 10.0**e) <= high]
        if len(ticks) <= most:
            break
    if len(ticks) > most:  # many decades: every k-th one
        ticks = ticks[:: int(np.ceil(len(ticks) / most))]
    return [float(f"{t:.12g}") for t in ticks]


def information_figure(
    info: Mapping[str, ModalityInformation],
    estimator: str = "KSG",
    *,
    title: str | None = None,
    mi_max: float | None = None,
) -> go.Figure:
    """Left: I(F_y; X̂_i) and I(F_i; X̂_i) per modality with intervals and the null; right: r_i with its interval.

    `title` names the version shown (observational or interventional); `mi_max` fixes the top of the mutual
    information axis, so that two versions drawn one above the other share it.
    """
    names = list(info)
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(f"Mutual information ({estimator}, nats)", "Ratio r_i = I(F_y; X̂_i) / I(F_i; X̂_i)"),
        column_widths=[0.6, 0.4],
    )
    for key, label, color in (
        ("shared", "I(F_y; X̂_i)", SHARED_COLOR),
        ("modality", "I(F_i; X̂_i)", MODALITY_COLOR),
    ):
        est = [getattr(info[n], key) for n in names]
        fig.add_trace(
            go.Bar(
                name=label,
                x=names,
                y=[e.value for e in est],
                marker_color=color,
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=[e.high - e.value for e in est],
                    arrayminus=[e.value - e.low for e in est],
                ),
                hovertemplate="%{x}: %{y:.3f} nats<extra>" + label + "</extra>",
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                name=f"{label}, shuffled null ({int(100 * 0.95)}% quantile)",
                x=names,
                y=[e.null_high for e in est],
                mode="markers",
                marker=dict(symbol="line-ew-open", size=28, color="black", line=dict(width=2)),
                showlegend=key == "shared",
                legendgroup="null",
                hovertemplate="%{x}: null %{y:.3f}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    for floored in (False, True):
        shown = [n for n in names if bool(info[n].floored) == floored]
        if not shown:
            continue
        fig.add_trace(
            go.Scatter(
                name=f"r_i, a term below {RATIO_FLOOR:g} nats counted as {RATIO_FLOOR:g}"
                if floored
                else "r_i",
                x=shown,
                y=[info[n].ratio for n in shown],
                mode="markers",
                marker=dict(size=12, color="black", symbol="circle-open" if floored else "circle"),
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=[info[n].ratio_high - info[n].ratio for n in shown],
                    arrayminus=[info[n].ratio - info[n].ratio_low for n in shown],
                ),
                customdata=[[f" ({info[n].floor_note})" if floored else ""] for n in shown],
                hovertemplate="%{x}: r = %{y:.3g}%{customdata[0]}<extra></extra>",
            ),
            row=1,
            col=2,
        )
    ends = [v for n in names for v in (info[n].ratio_low, info[n].ratio_high) if np.isfinite(v) and v > 0]
    log_axis = dict(type="log", exponentformat="power", title_text="r_i (log scale)")
    if ends:  # whole intervals in view, with a margin (the automatic range clips an end at the frame)
        low, high = np.log10(min(ends)) - 0.2, np.log10(max(ends)) + 0.2
        ticks = log_ticks(low, high)
        log_axis.update(range=[low, high], tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    fig.update_yaxes(**log_axis, row=1, col=2)
    # Floored points are another trace: keep both panels in the modalities' own order.
    fig.update_xaxes(categoryorder="array", categoryarray=names)
    fig.update_yaxes(title_text=f"mutual information ({estimator}, nats)", rangemode="tozero", row=1, col=1)
    fig.update_xaxes(title_text="modality")
    if mi_max is not None and np.isfinite(mi_max) and mi_max > 0:
        fig.update_yaxes(range=[0, mi_max], row=1, col=1)
    fig.update_layout(
        barmode="group",
        height=440 if title else 420,
        margin=dict(t=90 if title else 60, b=40),
        legend=dict(orientation="h", y=-0.25),
    )
    if title:
        fig.update_layout(title=dict(text=title, y=0.97, yanchor="top"))
    return fig


def information_axis_max(*versions: Mapping[str, ModalityInformation]) -> float:
    """A common top for the mutual-information axes of several versions: the largest interval end or null, +10 %."""
    ends = [
        v
        for info in versions
        for item in info.values()
        for term in (item.shared, item.modality)
        for v in (term.high, term.value, term.null_high)
        if np.isfinite(v)
    ]
    return 1.1 * max(ends) if ends and max(ends) > 0 else float("nan")


def dependence_figure(dependence: Mapping[str, MIEstimate], estimator: str = "KSG") -> go.Figure:
    """I(F_y; F_i) per modality with its interval and the shuffled-pairs null: why the two versions can differ."""
    names = list(dependence)
    est = [dependence[n] for n in names]
    fig = go.Figure(
        go.Bar(
            name="I(F_y; F_i)",
            x=names,
            y=[e.value for e in est],
            marker_color=DEPENDENCE_COLOR,
            error_y=dict(
                type="data",
                symmetric=False,
                array=[e.high - e.value for e in est],
                arrayminus=[e.value - e.low for e in est],
            ),
            hovertemplate="%{x}: I(F_y; F_i) = %{y:.3f} nats<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            name="shuffled null (95% quantile)",
            x=names,
            y=[e.null_high for e in est],
            mode="markers",
            marker=dict(symbol="line-ew-open", size=28, color="black", line=dict(width=2)),
            hovertemplate="%{x}: null %{y:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"Dependence of the factors: I(F_y; F_i) ({estimator}, nats)",
        height=300,
        margin=dict(t=60, b=40),
        legend=dict(orientation="h", y=-0.35),
        xaxis=dict(title="modality"),
        yaxis=dict(rangemode="tozero", title="I(F_y; F_i) (nats)"),
    )
    return fig


def step_labels(steps: int, words: Sequence[str] | None = None) -> list[str]:
    """Tick labels of a sequence's time axis: "t" or "t: word"."""
    return [f"{t}: {w}" for t, w in enumerate(words)] if words is not None else [str(t) for t in range(steps)]


def time_axis_title(words: Sequence[str] | None = None) -> str:
    return "time step t: word" if words is not None else "time step t"


def gradient_heatmap(
    flows: Mapping[str, GradientFlow],
    *,
    sample: int | None = None,
    sample_name: str | None = None,
    words: Sequence[str] | None = None,
    planted: Mapping[str, np.ndarray] | None = None,
    normalize: bool = True,
    title: str = "Gradient flow over time",
    quantity: str | None = None,
) -> go.Figure:
    """Rows = modality x factor, columns = time steps (labelled with words when given).

    `sample` picks one segment (None: the average over samples; `sample_name` says which segment it is in the
    subtitle, e.g. "row 17 of the test split"). With `normalize`, each modality's two rows are divided by their
    common maximum, so F_y and F_i compare within a modality while modalities of different scales stay readable;
    the colour bar then says so and the hover shows both the relative and the raw value. Planted label-bearing
    steps (`planted[m]`, (T,) bool) are marked with a dot. `quantity` names what is drawn (default: the flows'
    scale symbol, e.g. ‖∂X̂/∂F‖²); the title says the scale (`GradientFlow.scale`).
    """
    scale_of = flow_scale(flows)
    symbol = quantity or _scale_symbol(scale_of)
    rows, labels, raw = [], [], []
    for name, flow in flows.items():
        shared = flow.mean_shared if sample is None else flow.shared[sample]
        modal = flow.mean_modality if sample is None else flow.modality_flow[sample]
        scale = max(float(shared.max()), float(modal.max()), 1e-30) if normalize else 1.0
        rows += [shared / scale, modal / scale]
        raw += [shared, modal]
        labels += [f"{name} · F_y", f"{name} · F_{name}"]
    z = np.stack(rows)  # (2M, T)
    x = step_labels(z.shape[1], words)
    if normalize:
        bar = f"{symbol}<br>÷ the modality's<br>largest value"
        hover = "relative %{z:.2f}<br>" + symbol + " = %{customdata:.3g}"
    else:
        bar, hover = symbol, symbol + " = %{z:.3g}"
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=x,
            y=labels,
            customdata=np.stack(raw),
            colorscale="Viridis",
            zmin=0.0 if normalize else None,
            zmax=1.0 if normalize else None,
            colorbar=dict(title=dict(text=bar, side="top")),
            hovertemplate="%{y}<br>step %{x}<br>" + hover + "<extra></extra>",
        )
    )
    if planted:
        px, py = [], []
        for name, mask in planted.items():
            if name in flows:
                for t in np.flatnonzero(np.asarray(mask)):
                    px.append(x[t])
                    py.append(f"{name} · F_y")
        if px:
            fig.add_trace(
                go.Scatter(
                    x=px,
                    y=py,
                    mode="markers",
                    name="planted label-bearing step",
                    marker=dict(color="white", size=9, line=dict(color="black", width=2)),
                    hovertemplate="%{y}<br>step %{x}: planted<extra></extra>",
                )
            )
    shown = "average over the analysed samples" if sample is None else (sample_name or f"sample {sample}")
    fig.update_layout(
        title=f"{title}<br><sup>{shown} · scale: {_scale_name(scale_of)}</sup>",
        height=(260 if words is not None else 200) + 45 * len(labels),
        margin=dict(
            l=150, r=10, t=80, b=120 if words is not None else 60
        ),  # room for the row and step labels
        xaxis=dict(tickangle=-45, title=time_axis_title(words), type="category", automargin=True),
        yaxis=dict(autorange="reversed", title="modality · factor", automargin=True),
        legend=dict(orientation="h", y=1.12),
    )
    return fig


def gradient_curves(
    flows: Mapping[str, GradientFlow], *, sample: int | None = None, quantity: str | None = None
) -> go.Figure:
    """The paper's curves: ‖∂X̂_i^(t)/∂F_y‖² and ‖∂X̂_i^(t)/∂F_i‖² over t, one panel per modality, at the flows'
    scale (named in the title; `quantity`, default the scale's symbol, on every vertical axis)."""
    scale_of = flow_scale(flows)
    names = list(flows)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names)
    for col, name in enumerate(names, start=1):
        flow = flows[name]
        shared = flow.mean_shared if sample is None else flow.shared[sample]
        modal = flow.mean_modality if sample is None else flow.modality_flow[sample]
        for values, label, color in ((shared, "F_y", SHARED_COLOR), (modal, "F_i", MODALITY_COLOR)):
            fig.add_trace(
                go.Scatter(
                    y=values,
                    mode="lines+markers",
                    name=label,
                    line=dict(color=color),
                    showlegend=col == 1,
                    legendgroup=label,
                    hovertemplate=f"{name} · {label}<br>step %{{x}}: %{{y:.3g}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
        fig.update_yaxes(
            type="log", dtick=1, exponentformat="power", title_text=quantity or _scale_symbol(scale_of),
            row=1, col=col,
        )  # fmt: skip
    fig.update_xaxes(title_text="time step t")
    fig.update_layout(
        title=f"Per-step sensitivity to F_y and F_i · scale: {_scale_name(scale_of)}",
        height=380,
        margin=dict(t=80, b=30),
    )
    return fig


def pixel_maps(flow: GradientFlow, *, sample: int | None = None, title: str | None = None) -> go.Figure:
    """Per-pixel maps of an image modality: sensitivity to F_y, to F_i, and F_y's share of the two, at the flow's
    scale (the share depends on it: it is named in the panel titles and the colour bars). The three panels zoom
    together."""
    shared = flow.mean_shared if sample is None else flow.shared[sample]
    modal = flow.mean_modality if sample is None else flow.modality_flow[sample]
    total = shared + modal
    share = np.divide(shared, total, out=np.full_like(total, 0.5), where=total > 0)
    label_symbol, style_symbol = _scale_symbol(flow.scale, "F_y"), _scale_symbol(flow.scale, "F_i")
    share_name = "F_y share"
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=(f"{label_symbol} (label)", f"{style_symbol} (style)", f"F_y share ({flow.scale})"),
    )
    panels = (
        (shared, "Reds", 0.29, label_symbol),
        (modal, "Blues", 0.645, style_symbol),
        (share, "RdBu_r", 1.0, share_name),
    )
    for col, (z, scale, bar_x, name) in enumerate(panels, 1):
        fig.add_trace(
            go.Heatmap(
                z=z,
                colorscale=scale,
                colorbar=dict(x=bar_x, len=0.9, thickness=10, title=dict(text=name if col < 3 else "share")),
                zmin=0 if col == 3 else None,
                zmax=1 if col == 3 else None,
                hovertemplate="pixel row %{y}, column %{x}<br>" + name + " = %{z:.3g}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_yaxes(
            autorange="reversed", scaleanchor=f"x{col}", showticklabels=False, title_text="pixel row",
            row=1, col=col,
        )  # fmt: skip
        fig.update_xaxes(showticklabels=False, title_text="pixel column", row=1, col=col)
    fig.update_xaxes(matches="x")
    fig.update_yaxes(matches="y")
    fig.update_layout(
        title=(title or f"{flow.modality}: per-pixel sensitivity to the label and the style factor")
        + f"<br><sup>scale: {_scale_name(flow.scale)}</sup>",
        height=370,
        margin=dict(t=90, b=10, l=10, r=10),
    )
    return fig


def tile_images(images: np.ndarray, pad: int = 2) -> np.ndarray:
    """(L, S, C, H, W) images in [0, 1] -> one (L*(H+pad), S*(W+pad), 3) uint8 RGB mosaic (grey channels repeated)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 5:
        raise ValueError(f"expected (rows, columns, C, H, W) images, got shape {images.shape}")
    rows, cols, channels, h, w = images.shape
    if channels == 1:
        images = np.repeat(images, 3, axis=2)
    mosaic = np.full((rows * (h + pad), cols * (w + pad), 3), 255, dtype=np.uint8)
    for r in range(rows):
        for c in range(cols):
            tile = (np.clip(images[r, c], 0, 1).transpose(1, 2, 0) * 255).round().astype(np.uint8)
            mosaic[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = tile
    return mosaic


def image_grid(
    images: np.ndarray,
    *,
    x_title: str,
    y_title: str,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    title: str = "",
    pad: int = 2,
) -> go.Figure:
    """A grid of generated images (rows x columns x C x H x W) as one interactive figure; `x_title` says what the
    columns are, `y_title` what the rows are."""
    rows, cols, _, h, w = np.asarray(images).shape
    fig = go.Figure(go.Image(z=tile_images(images, pad), hoverinfo="skip"))
    fig.update_xaxes(
        tickvals=[c * (w + pad) + w / 2 for c in range(cols)],
        ticktext=list(column_labels) if column_labels is not None else [str(c) for c in range(cols)],
        side="top",
        title=dict(text=x_title, standoff=4),
    )
    fig.update_yaxes(
        tickvals=[r * (h + pad) + h / 2 for r in range(rows)],
        ticktext=list(row_labels) if row_labels is not None else [str(r) for r in range(rows)],
        title=dict(text=y_title, standoff=4),
    )
    fig.update_layout(title=title, height=max(280, 90 + rows * 44), margin=dict(l=10, r=10, t=90, b=10))
    return fig


def sequence_comparison(
    real: np.ndarray,
    generated: np.ndarray,
    *,
    title: str = "",
    words: Sequence[str] | None = None,
    generated_name: str = "generated",
) -> go.Figure:
    """A real and a generated (T, D) sequence as two heatmaps over time (features on the vertical axis), on one
    colour scale (the 1st to 99th percentile of both), named on the colour bar and in the hover."""
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, subplot_titles=("real", generated_name), vertical_spacing=0.12
    )
    x = step_labels(len(real), words)
    both = np.concatenate([np.asarray(real).ravel(), np.asarray(generated).ravel()])
    low, high = float(np.percentile(both, 1)), float(np.percentile(both, 99))
    for row, (data, name) in enumerate(((real, "real"), (generated, generated_name)), start=1):
        fig.add_trace(
            go.Heatmap(
                z=np.asarray(data).T,
                x=x,
                zmin=low,
                zmax=high,
                colorscale="RdBu_r",
                showscale=row == 1,
                colorbar=dict(title=dict(text="feature value<br>(clipped to 1–99 %)", side="top")),
                hovertemplate=f"{name}<br>step %{{x}}, feature %{{y}}<br>value %{{z:.3g}}<extra></extra>",
            ),
            row=row,
            col=1,
        )
        fig.update_yaxes(title_text="feature", row=row, col=1)
    fig.update_xaxes(title_text=time_axis_title(words), type="category", tickangle=-45, row=2, col=1)
    fig.update_layout(title=title, height=460, margin=dict(t=60, b=10))
    return fig


def line_colors(count: int, colorscale: str = "Viridis") -> list[str]:
    """`count` colours evenly along a sequential colour scale (first: low end), for ordered lines."""
    from plotly.colors import sample_colorscale

    return sample_colorscale(colorscale, [i / max(count - 1, 1) for i in range(count)])


def sequence_lines(
    curves: np.ndarray,
    features: Sequence[int],
    *,
    line_labels: Sequence[str],
    line_title: str,
    column_labels: Sequence[str],
    column_title: str,
    real: np.ndarray | None = None,
    feature_names: Sequence[str] | None = None,
    title: str = "",
) -> go.Figure:
    """Generated sequences as lines over time: one panel per chosen feature (rows) and column (e.g. style), one
    line per line label (e.g. label, traversal value), coloured in order along Viridis; the real sequence of each
    column dashed in black. Panels of one feature share their vertical axis, panels of one column the time axis.

    Args:
        curves: (L, S, T, D): line l of column s over T steps and D features.
        features: the K feature indices to draw.
        line_labels: L names (the legend), in the order of the colour scale; `line_title` heads the legend.
        column_labels: S names; `column_title` says what the columns are.
        real: optional (S, T, D) real sequences, drawn dashed.
        feature_names: optional names of all D features (default "feature j").
    """
    curves = np.asarray(curves, dtype=np.float64)
    if curves.ndim != 4:
        raise ValueError(f"expected (lines, columns, T, D) curves, got shape {curves.shape}")
    n_lines, n_columns, steps, _ = curves.shape
    if len(line_labels) != n_lines or len(column_labels) != n_columns:
        raise ValueError(
            f"{n_lines} lines and {n_columns} columns need as many labels, got {len(line_labels)} and "
            f"{len(column_labels)}"
        )
    features = [int(f) for f in features]
    names = [feature_names[f] if feature_names is not None else f"feature {f}" for f in features]
    fig = make_subplots(
        rows=len(features),
        cols=n_columns,
        shared_xaxes=True,
        shared_yaxes=True,
        column_titles=[f"{column_title} {c}" for c in column_labels] if n_columns > 1 else None,
        vertical_spacing=0.06,
        horizontal_spacing=0.02,
    )
    colors = line_colors(n_lines)
    t = np.arange(steps)
    for row, (feature, name) in enumerate(zip(features, names, strict=True), start=1):
        for col in range(1, n_columns + 1):
            first = row == 1 and col == 1
            if real is not None:
                fig.add_trace(
                    go.Scatter(
                        x=t, y=np.asarray(real)[col - 1, :, feature], mode="lines", name="real",
                        line=dict(color="black", dash="dash", width=1.5), legendgroup="real", showlegend=first,
                        hovertemplate=f"real · {name}<br>step %{{x}}: %{{y:.3g}}<extra></extra>",
                    ),
                    row=row, col=col,
                )  # fmt: skip
            for index, (label, color) in enumerate(zip(line_labels, colors, strict=True)):
                fig.add_trace(
                    go.Scatter(
                        x=t, y=curves[index, col - 1, :, feature], mode="lines", name=str(label),
                        line=dict(color=color, width=1.5), legendgroup=str(label), showlegend=first,
                        hovertemplate=f"{line_title} {label} · {name}<br>step %{{x}}: %{{y:.3g}}<extra></extra>",
                    ),
                    row=row, col=col,
                )  # fmt: skip
        fig.update_yaxes(title_text=name, row=row, col=1)
    fig.update_xaxes(title_text="time step t", row=len(features))
    fig.update_layout(
        title=title,
        height=110 + 150 * len(features),
        margin=dict(t=80 if n_columns > 1 else 60, b=10, l=10, r=10),
        legend=dict(title=dict(text=line_title)),
    )
    return fig


def changing_features(curves: np.ndarray, count: int = 3) -> np.ndarray:
    """Indices (sorted) of the `count` features of (L, S, T, D) generated sequences that change most between the
    L lines (variance over L, averaged over the S columns and T steps): what a label or traversal row changes."""
    curves = np.asarray(curves, dtype=np.float64)
    if curves.ndim != 4:
        raise ValueError(f"expected (lines, columns, T, D) sequences, got shape {curves.shape}")
    change = curves.var(axis=0).mean(axis=(0, 1))  # (D,)
    count = min(count, change.shape[0])
    return np.sort(np.argsort(-change, kind="stable")[:count])


SEQUENCE_FEATURES = 3
"""Features (panel rows) a generated-sequence figure shows: those that change most between its lines."""


def generation_figure(
    kind: str,
    generated: np.ndarray,
    *,
    line_labels: Sequence[str],
    line_title: str,
    column_labels: Sequence[str],
    column_title: str,
    title: str,
    real: np.ndarray | None = None,
) -> go.Figure:
    """Generated samples of one modality, (L, S, *shape): L rows (labels, interpolation or traversal steps) by
    S columns (styles), with the S real samples first when given ((S, *shape)).

    Images: one grid, the real samples as the top row. Sequences (`kind` "sequence", shape (T, D)): lines over
    time, one panel per feature among the `SEQUENCE_FEATURES` that change most between the rows
    (:func:`changing_features`) and per column, the real sequence dashed.
    """
    generated = np.asarray(generated)
    if kind == "image":
        tiles = generated if real is None else np.concatenate([np.asarray(real)[None], generated])
        return image_grid(
            tiles,
            x_title=column_title,
            y_title=line_title,
            row_labels=(["real"] if real is not None else []) + list(line_labels),
            column_labels=column_labels,
            title=title,
        )
    return sequence_lines(
        generated,
        changing_features(generated, SEQUENCE_FEATURES),
        line_labels=line_labels,
        line_title=line_title,
        column_labels=column_labels,
        column_title=column_title,
        real=real,
        title=title,
    )


def swatch_tiles(foreground: np.ndarray, background: np.ndarray, size: int = 32) -> np.ndarray:
    """(S, 3) foreground and background sRGB colours -> (S, 3, size, size) tiles: a square of the background
    colour holding a centred square of the foreground colour, half its side."""
    tiles = np.broadcast_to(np.asarray(background)[:, :, None, None], (len(background), 3, size, size)).copy()
    low, high = size // 4, size - size // 4
    tiles[:, :, low:high, low:high] = np.asarray(foreground)[:, :, None, None]
    return tiles


def colour_swatches(
    colours, column_labels: Sequence[str], *, title: str = "", size: int = 32, pad: int = 2
) -> go.Figure:
    """Each grid column's measured colours (`interpret.generation.column_colours`) as swatches (`swatch_tiles`),
    tiles of the grid's size so that they line up with its columns: the style source on top, the generated
    column (the mean over its rows) below, the CIEDE2000 differences written under each column."""
    tiles = np.stack(
        [
            swatch_tiles(colours.source_fg, colours.source_bg, size),
            swatch_tiles(colours.generated_fg, colours.generated_bg, size),
        ]
    )  # (2, S, 3, size, size)
    figure = image_grid(
        tiles,
        x_title="style of sample; under each: ΔE2000 digit / background",
        y_title="colours measured on",
        row_labels=["source", "generated"],
        column_labels=column_labels,
        title=title,
        pad=pad,
    )
    for c, (fg, bg) in enumerate(zip(colours.delta_e_fg, colours.delta_e_bg, strict=True)):
        figure.add_annotation(
            x=c * (size + pad) + size / 2,
            y=2 * (size + pad) + 4,
            text=f"{fg:.0f} / {bg:.0f}",
            showarrow=False,
            yanchor="top",
            font=dict(size=11),
        )
    figure.update_yaxes(range=[2 * (size + pad) + 18, -0.5])
    figure.update_layout(height=260)
    return figure
