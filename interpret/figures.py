"""Plotly figure builders: pure functions of interpretation results, shared by the app and the HTML report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interpret.gradients import GradientFlow
from interpret.information import MIEstimate, ModalityInformation

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
    fig.add_trace(
        go.Scatter(
            name="r_i",
            x=names,
            y=[info[n].ratio for n in names],
            mode="markers",
            marker=dict(size=12, color="black"),
            error_y=dict(
                type="data",
                symmetric=False,
                array=[info[n].ratio_high - info[n].ratio for n in names],
                arrayminus=[info[n].ratio - info[n].ratio_low for n in names],
            ),
            hovertemplate="%{x}: r = %{y:.3g}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.update_yaxes(type="log", dtick=1, exponentformat="power", row=1, col=2)  # decades only
    ends = [v for n in names for v in (info[n].ratio_low, info[n].ratio_high) if np.isfinite(v) and v > 0]
    if ends:  # whole intervals in view, with a margin (the automatic range clips an end at the frame)
        fig.update_yaxes(range=[np.log10(min(ends)) - 0.2, np.log10(max(ends)) + 0.2], row=1, col=2)
    if mi_max is not None and np.isfinite(mi_max) and mi_max > 0:
        fig.update_yaxes(range=[0, mi_max], row=1, col=1)
    fig.update_layout(
        barmode="group",
        height=440 if title else 420,
        margin=dict(t=90 if title else 60, b=40),
        legend=dict(orientation="h", y=-0.15),
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
        legend=dict(orientation="h", y=-0.2),
        yaxis=dict(rangemode="tozero"),
    )
    return fig


def gradient_heatmap(
    flows: Mapping[str, GradientFlow],
    *,
    sample: int | None = None,
    words: Sequence[str] | None = None,
    planted: Mapping[str, np.ndarray] | None = None,
    normalize: bool = True,
    title: str = "Gradient flow over time",
) -> go.Figure:
    """Rows = modality x factor, columns = time steps (labelled with words when given).

    `sample` picks one segment (None: the average over samples). With `normalize`, each modality's two rows are
    divided by their common maximum, so F_y and F_i compare within a modality while modalities of different
    scales stay readable. Planted label-bearing steps (`planted[m]`, (T,) bool) are marked with a black dot.
    The title and the colour bar say the flows' scale (`GradientFlow.scale`).
    """
    scale_of = flow_scale(flows)
    symbol = _scale_symbol(scale_of)
    rows, labels, raw = [], [], []
    for name, flow in flows.items():
        shared = flow.mean_shared if sample is None else flow.shared[sample]
        modal = flow.mean_modality if sample is None else flow.modality_flow[sample]
        scale = max(float(shared.max()), float(modal.max()), 1e-30) if normalize else 1.0
        rows += [shared / scale, modal / scale]
        raw += [shared, modal]
        labels += [f"{name} · F_y", f"{name} · F_{name}"]
    z = np.stack(rows)  # (2M, T)
    steps = z.shape[1]
    x = [f"{t}: {w}" for t, w in enumerate(words)] if words is not None else [str(t) for t in range(steps)]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=x,
            y=labels,
            customdata=np.stack(raw),
            colorscale="Viridis",
            colorbar=dict(title=f"{symbol}<br>relative" if normalize else symbol),
            hovertemplate="%{y}<br>step %{x}<br>" + symbol + " = %{customdata:.3g}<extra></extra>",
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
                    name="planted step",
                    marker=dict(color="white", size=9, line=dict(color="black", width=2)),
                )
            )
    fig.update_layout(
        title=f"{title}<br><sup>scale: {_scale_name(scale_of)}</sup>",
        height=150 + 45 * len(labels),
        margin=dict(l=10, r=10, t=80, b=10),
        xaxis=dict(tickangle=-45),
        yaxis=dict(autorange="reversed"),
        legend=dict(orientation="h", y=1.12),
    )
    return fig


def gradient_curves(flows: Mapping[str, GradientFlow], *, sample: int | None = None) -> go.Figure:
    """The paper's curves: ‖∂X̂_i^(t)/∂F_y‖² and ‖∂X̂_i^(t)/∂F_i‖² over t, one panel per modality, at the flows'
    scale (named in the title and on the first vertical axis)."""
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
                ),
                row=1,
                col=col,
            )
        fig.update_yaxes(type="log", dtick=1, exponentformat="power", row=1, col=col)
    fig.update_yaxes(title_text=_scale_symbol(scale_of), row=1, col=1)
    fig.update_xaxes(title_text="step t")
    fig.update_layout(
        title=f"Per-step sensitivity to F_y and F_i · scale: {_scale_name(scale_of)}",
        height=360,
        margin=dict(t=80, b=30),
    )
    return fig


def pixel_maps(flow: GradientFlow, *, sample: int | None = None, title: str | None = None) -> go.Figure:
    """Per-pixel maps of an image modality: sensitivity to F_y, to F_i, and F_y's share of the two, at the flow's
    scale (the share depends on it: it is named in the panel titles and the colour bars)."""
    shared = flow.mean_shared if sample is None else flow.shared[sample]
    modal = flow.mean_modality if sample is None else flow.modality_flow[sample]
    total = shared + modal
    share = np.divide(shared, total, out=np.full_like(total, 0.5), where=total > 0)
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=(
            f"{_scale_symbol(flow.scale, 'F_y')} (label)",
            f"{_scale_symbol(flow.scale, 'F_i')} (style)",
            f"F_y share ({flow.scale})",
        ),
    )
    for col, (z, scale, bar_x) in enumerate(
        ((shared, "Reds", 0.29), (modal, "Blues", 0.645), (share, "RdBu_r", 1.0)), 1
    ):
        fig.add_trace(
            go.Heatmap(
                z=z,
                colorscale=scale,
                colorbar=dict(
                    x=bar_x, len=0.9, thickness=10, title=dict(text=flow.scale if col < 3 else "share")
                ),
                zmin=0 if col == 3 else None,
                zmax=1 if col == 3 else None,
            ),
            row=1,
            col=col,
        )
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{col}", showticklabels=False, row=1, col=col)
        fig.update_xaxes(showticklabels=False, row=1, col=col)
    fig.update_layout(
        title=(title or f"{flow.modality}: per-pixel sensitivity to the label and the style factor")
        + f"<br><sup>scale: {_scale_name(flow.scale)}</sup>",
        height=350,
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
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    title: str = "",
    pad: int = 2,
) -> go.Figure:
    """A grid of generated images (rows x columns x C x H x W) as one interactive figure with labelled axes."""
    rows, cols, _, h, w = np.asarray(images).shape
    fig = go.Figure(go.Image(z=tile_images(images, pad), hoverinfo="skip"))
    fig.update_xaxes(
        tickvals=[c * (w + pad) + w / 2 for c in range(cols)],
        ticktext=list(column_labels) if column_labels is not None else [str(c) for c in range(cols)],
        side="top",
    )
    fig.update_yaxes(
        tickvals=[r * (h + pad) + h / 2 for r in range(rows)],
        ticktext=list(row_labels) if row_labels is not None else [str(r) for r in range(rows)],
    )
    fig.update_layout(title=title, height=max(260, 60 + rows * 44), margin=dict(l=10, r=10, t=60, b=10))
    return fig


def sequence_comparison(
    real: np.ndarray, generated: np.ndarray, *, title: str = "", words: Sequence[str] | None = None
) -> go.Figure:
    """A real and a generated (T, D) sequence as two heatmaps over time (features on the vertical axis)."""
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, subplot_titles=("real", "generated"), vertical_spacing=0.12
    )
    x = [f"{t}: {w}" for t, w in enumerate(words)] if words is not None else list(range(len(real)))
    both = np.concatenate([np.asarray(real).ravel(), np.asarray(generated).ravel()])
    low, high = float(np.percentile(both, 1)), float(np.percentile(both, 99))
    for row, data in enumerate((real, generated), start=1):
        fig.add_trace(
            go.Heatmap(
                z=np.asarray(data).T, x=x, zmin=low, zmax=high, colorscale="RdBu_r", showscale=row == 1
            ),
            row=row,
            col=1,
        )
    fig.update_layout(title=title, height=420, margin=dict(t=60, b=10))
    return fig
