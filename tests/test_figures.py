"""Figure builders: every axis titled, colour bars that match the hover, the floored r_i drawn and named, readable
log ticks, intervals that stay where the quantity can be, and the sequence-lines contract."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
import pytest
from figure_checks import untitled_axes
from plotly.subplots import make_subplots
from test_information import brute_force_ksg

from interpret.analysis import InformationVersions
from interpret.figures import (
    FLOW_SCALE_SYMBOLS,
    changing_features,
    dependence_figure,
    generation_figure,
    gradient_curves,
    gradient_heatmap,
    image_grid,
    information_figure,
    line_colors,
    log_ticks,
    pixel_maps,
    sequence_comparison,
    sequence_lines,
)
from interpret.gradients import GradientFlow
from interpret.information import (
    RATIO_FLOOR,
    MIEstimate,
    ModalityInformation,
    estimate_mi,
    information_ratio,
    modality_information,
)
from interpret.report import information_comparison_rows
from pages.bookkeeping import information_rows


# ---------------------------------------------------------------------------------------------------------------
# Hand-made inputs
# ---------------------------------------------------------------------------------------------------------------
def estimate(
    value: float, low: float | None = None, high: float | None = None, null: float = 0.02
) -> MIEstimate:
    """An MIEstimate by hand: interval value ± 0.1 (clipped at 0) unless given, null mean null / 2."""
    return MIEstimate(
        value=value,
        low=max(value - 0.1, 0.0) if low is None else low,
        high=value + 0.1 if high is None else high,
        null_mean=null / 2,
        null_high=null,
        estimator="ksg",
        n_samples=100,
        n_bootstrap=10,
    )


def information(shared: float, modality: float, **fields) -> ModalityInformation:
    """A ModalityInformation whose ratio is the floored ratio of the two values, interval ×/÷ 1.5."""
    ratio = information_ratio(shared, modality)
    return ModalityInformation(
        shared=estimate(shared, **fields),
        modality=estimate(modality),
        ratio=ratio,
        ratio_low=ratio / 1.5,
        ratio_high=ratio * 1.5,
    )


def sequence_flows(seed: int = 0) -> dict[str, GradientFlow]:
    """Two sequence modalities, (N=4, T=6) flows, on scales 1000 times apart."""
    rng = np.random.default_rng(seed)
    return {
        "language": GradientFlow("language", rng.uniform(0, 1, (4, 6)), rng.uniform(0, 3, (4, 6))),
        "acoustic": GradientFlow("acoustic", rng.uniform(0, 1e-3, (4, 6)), rng.uniform(0, 2e-3, (4, 6))),
    }


def layout(fig: go.Figure) -> dict:
    return fig.to_plotly_json()["layout"]


# ---------------------------------------------------------------------------------------------------------------
# Every visible axis is titled
# ---------------------------------------------------------------------------------------------------------------
def test_modality_rows_name_each_decoder(tmp_path):
    import dataclasses

    from conftest import tiny_image_config, tiny_sequence_config

    from mfm.checkpoint import load_checkpoint, save_checkpoint
    from mfm.model import MFM
    from pages.bookkeeping import modality_rows

    base = tiny_image_config()
    svhn, mnist = base.modalities
    config = base.replace(modalities=(svhn, dataclasses.replace(mnist, upsampling="resize", refine_layers=2)))
    cases = ((config, ["transposed", "resize + 2 refine"]), (tiny_sequence_config(), ["LSTM"] * 3))
    for i, (model_config, wanted) in enumerate(cases):
        path = save_checkpoint(tmp_path / f"m{i}.pt", MFM(model_config))
        assert [row["decoder"] for row in modality_rows(load_checkpoint(path))] == wanted


def test_untitled_axes_reports_a_figure_built_to_fail():
    bare = go.Figure(go.Scatter(x=[0, 1], y=[1, 2]))
    assert untitled_axes(layout(bare)) == ["xaxis", "yaxis"]
    bare.update_xaxes(title_text="x")
    assert untitled_axes(layout(bare)) == ["yaxis"]
    bare.update_yaxes(visible=False)  # a hidden axis needs no title
    assert untitled_axes(layout(bare)) == []


def test_untitled_axes_follows_matching_axes_one_way_only():
    shared = make_subplots(rows=3, cols=1, shared_xaxes=True)
    for row in (1, 2, 3):
        shared.add_trace(go.Scatter(x=[0, 1], y=[0, row]), row=row, col=1)
    shared.update_xaxes(title_text="time", row=3, col=1)  # the bottom axis, which the upper ones match
    # The upper x axes are titled through the bottom one; no y axis is.
    assert untitled_axes(layout(shared)) == ["yaxis", "yaxis2", "yaxis3"]

    top_only = make_subplots(rows=2, cols=1, shared_xaxes=True)
    for row in (1, 2):
        top_only.add_trace(go.Scatter(x=[0, 1], y=[0, row]), row=row, col=1)
    top_only.update_xaxes(title_text="time", row=1, col=1)
    top_only.update_yaxes(title_text="value")
    # The bottom axis matches nothing, so a title on an upper one does not reach it.
    assert untitled_axes(layout(top_only)) == ["xaxis2"]


def _image_inputs(rows: int = 2, cols: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.uniform(0, 1, (rows, cols, 3, 8, 8)), rng.uniform(0, 1, (cols, 3, 8, 8))


def _sequence_inputs(lines: int = 3, cols: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    return rng.standard_normal((lines, cols, 6, 5)), rng.standard_normal((cols, 6, 5))


def _every_figure() -> dict[str, Callable[[], go.Figure]]:
    """Every builder, with and without its optional parts, by name (built when called)."""
    info = {"language": information(0.8, 0.2), "acoustic": information(0.0, 0.4)}
    flows = sequence_flows()
    rng = np.random.default_rng(3)
    pixels = GradientFlow("svhn", rng.uniform(0, 1, (3, 8, 8)), rng.uniform(0, 1, (3, 8, 8)), scale="std")
    images, real_images = _image_inputs()
    curves, real_curves = _sequence_inputs()
    words = ["w0", "w1", "w2", "w3", "w4", "w5"]
    labels = dict(
        line_labels=["a", "b", "c"], line_title="label", column_labels=["s0", "s1"], column_title="style"
    )
    image_labels = {**labels, "line_labels": ["a", "b"], "column_labels": ["s0", "s1", "s2"]}
    one_column = {**labels, "column_labels": ["s0"]}
    return {
        "information": lambda: information_figure(info, title="Observational", mi_max=1.5),
        "information without title": lambda: information_figure(info),
        "dependence": lambda: dependence_figure({"language": estimate(0.3), "acoustic": estimate(0.0)}),
        "heatmap": lambda: gradient_heatmap(flows, planted={"language": np.arange(6) < 2}),
        "heatmap with words": lambda: gradient_heatmap(flows, sample=1, words=words, normalize=False),
        "curves": lambda: gradient_curves(flows),
        "curves of one sample": lambda: gradient_curves(flows, sample=2, quantity="q"),
        "pixel maps": lambda: pixel_maps(pixels),
        "pixel maps of one sample": lambda: pixel_maps(pixels, sample=0, title="t"),
        "image grid": lambda: image_grid(images, x_title="style", y_title="label"),
        "sequence comparison": lambda: sequence_comparison(curves[0, 0], curves[1, 0], title="t"),
        "sequence comparison with words": lambda: sequence_comparison(
            curves[0, 0], curves[1, 0], words=words
        ),
        "sequence lines": lambda: sequence_lines(curves, [0, 2], real=real_curves, **labels),
        "sequence lines, one column": lambda: sequence_lines(curves[:, :1], [1], **one_column),
        "generation, image": lambda: generation_figure(
            "image", images, real=real_images, title="g", **image_labels
        ),
        "generation, image without real": lambda: generation_figure(
            "image", images, title="g", **image_labels
        ),
        "generation, sequence": lambda: generation_figure(
            "sequence", curves, real=real_curves, title="g", **labels
        ),
        "generation, sequence without real": lambda: generation_figure(
            "sequence", curves, title="g", **labels
        ),
    }


@pytest.mark.parametrize("name", list(_every_figure()))
def test_every_visible_axis_of_every_figure_is_titled(name):
    fig = _every_figure()[name]()
    axes = [key for key in layout(fig) if key.startswith(("xaxis", "yaxis"))]
    assert axes, "the figure should lay out at least one axis"
    assert untitled_axes(layout(fig)) == []


# ---------------------------------------------------------------------------------------------------------------
# Gradient heatmap: colour bar, hover and z agree
# ---------------------------------------------------------------------------------------------------------------
def test_normalized_heatmap_divides_each_modality_by_its_own_largest_value():
    flows = sequence_flows()
    trace = gradient_heatmap(flows, normalize=True).data[0]
    z, raw = np.asarray(trace.z, dtype=float), np.asarray(trace.customdata, dtype=float)
    assert z.shape == raw.shape == (4, 6)
    for index, flow in enumerate(flows.values()):
        pair = np.stack([flow.shared.mean(axis=0), flow.modality_flow.mean(axis=0)])  # (2, T)
        np.testing.assert_allclose(raw[2 * index : 2 * index + 2], pair, rtol=1e-12)
        np.testing.assert_allclose(z[2 * index : 2 * index + 2], pair / pair.max(), rtol=1e-12)
        assert z[2 * index : 2 * index + 2].max() == pytest.approx(1.0)  # each modality reaches the top
    assert list(trace.y) == [
        "language · F_y",
        "language · F_language",
        "acoustic · F_y",
        "acoustic · F_acoustic",
    ]
    assert (trace.zmin, trace.zmax) == (0.0, 1.0)
    bar = trace.colorbar.title.text
    assert "largest value" in bar and "÷" in bar
    assert FLOW_SCALE_SYMBOLS["raw"].format(f="F") in bar
    assert "%{z" in trace.hovertemplate and "%{customdata" in trace.hovertemplate
    assert "relative" in trace.hovertemplate


def test_raw_heatmap_shows_the_raw_values_on_a_free_scale():
    flows = sequence_flows()
    trace = gradient_heatmap(flows, sample=2, normalize=False).data[0]
    expected = np.concatenate([np.stack([f.shared[2], f.modality_flow[2]]) for f in flows.values()])
    np.testing.assert_array_equal(np.asarray(trace.z, dtype=float), expected)
    assert trace.zmin is None and trace.zmax is None
    assert "largest value" not in trace.colorbar.title.text
    assert "%{z" in trace.hovertemplate and "relative" not in trace.hovertemplate


def test_heatmap_quantity_replaces_the_symbol_in_colour_bar_and_hover():
    flows = sequence_flows()
    symbol = FLOW_SCALE_SYMBOLS["raw"].format(f="F")
    for normalize in (True, False):
        trace = gradient_heatmap(flows, normalize=normalize, quantity="attribution²").data[0]
        assert trace.colorbar.title.text.startswith("attribution²")
        assert "attribution² = " in trace.hovertemplate
        assert symbol not in trace.colorbar.title.text and symbol not in trace.hovertemplate


def test_heatmap_title_names_the_sample_or_the_average():
    flows = sequence_flows()
    named = gradient_heatmap(flows, sample=1, sample_name="row 17 of the test split").layout.title.text
    assert "row 17 of the test split" in named and "average" not in named
    assert "sample 3" in gradient_heatmap(flows, sample=3).layout.title.text
    assert "average" in gradient_heatmap(flows).layout.title.text


# ---------------------------------------------------------------------------------------------------------------
# The floored r_i: said in the properties, the tables and the figure
# ---------------------------------------------------------------------------------------------------------------
def test_floored_names_the_terms_below_the_floor():
    assert information(0.0, 0.5).floored == ("shared",)
    assert information(0.5, 0.004).floored == ("modality",)
    assert information(0.0, 0.0).floored == ("shared", "modality")
    assert information(0.5, 0.3).floored == ()
    assert information(RATIO_FLOOR, 0.3).floored == ()  # at the floor, the ratio is the plain ratio


def test_floor_note_names_the_term_its_value_and_the_floor():
    note = information(0.0, 0.5).floor_note
    assert "I(F_y; X̂_i) = 0 counted" in note and f"{RATIO_FLOOR:g} nats" in note
    # Three significant digits: a value just under the floor does not read as the floor itself.
    assert "= 0.0096 counted" in information(0.0096, 0.5).floor_note
    assert "I(F_i; X̂_i)" not in note
    other = information(0.5, 0.004).floor_note
    assert "I(F_i; X̂_i) = 0.004" in other and "I(F_y; X̂_i)" not in other
    both = information(0.0, 0.0).floor_note
    assert "I(F_y; X̂_i)" in both and "I(F_i; X̂_i)" in both
    assert information(0.5, 0.3).floor_note == ""


def _ratio_traces(fig: go.Figure) -> list:
    return [t for t in fig.data if t.name is not None and t.name.startswith("r_i")]


def test_information_figure_draws_floored_ratios_open_and_named():
    info = {
        "floored": information(0.0, 0.5),
        "measured": information(0.6, 0.3),
        "other floored": information(0.4, 0.003),
    }
    traces = _ratio_traces(information_figure(info))
    assert len(traces) == 2
    plain, floored = traces
    assert list(plain.x) == ["measured"] and plain.marker.symbol == "circle" and plain.name == "r_i"
    assert list(floored.x) == ["floored", "other floored"] and floored.marker.symbol == "circle-open"
    assert f"below {RATIO_FLOOR:g} nats counted as {RATIO_FLOOR:g}" in floored.name  # names the floor
    assert f"{RATIO_FLOOR:g}" not in plain.name
    for name, data in zip(floored.x, floored.customdata, strict=True):  # each point's own note in its hover
        assert data[0] == f" ({info[name].floor_note})"
    assert [list(d) for d in plain.customdata] == [[""]]
    assert "%{customdata[0]}" in floored.hovertemplate
    assert list(floored.y) == [info[n].ratio for n in floored.x] and list(plain.y) == [info["measured"].ratio]


def test_information_figure_without_a_floored_ratio_has_one_filled_trace():
    traces = _ratio_traces(information_figure({"a": information(0.6, 0.3), "b": information(0.2, 0.4)}))
    assert [(t.name, t.marker.symbol, list(t.x)) for t in traces] == [("r_i", "circle", ["a", "b"])]


def test_information_rows_show_the_floor_note():
    rows = {
        r["modality"]: r for r in information_rows({"f": information(0.0, 0.5), "m": information(0.6, 0.3)})
    }
    assert rows["f"]["r_i floor"] == information(0.0, 0.5).floor_note
    assert rows["m"]["r_i floor"] == "none"


def test_information_comparison_rows_name_the_version_that_is_floored():
    floored, measured = information(0.0, 0.5), information(0.6, 0.3)
    versions = InformationVersions(
        observational={"obs_only": floored, "int_only": measured, "both": floored, "neither": measured},
        interventional={"obs_only": measured, "int_only": floored, "both": floored, "neither": measured},
        dependence={},
        n_samples=100,
    )
    rows = {r["modality"]: r["r_i floor"] for r in information_comparison_rows(versions)}
    assert rows["obs_only"] == f"obs.: {floored.floor_note}"
    assert rows["int_only"] == f"int.: {floored.floor_note}"
    assert rows["both"] == f"obs.: {floored.floor_note}; int.: {floored.floor_note}"
    assert rows["neither"] == "none"


# ---------------------------------------------------------------------------------------------------------------
# Log ticks
# ---------------------------------------------------------------------------------------------------------------
def test_log_ticks_of_a_narrow_range_are_one_two_five():
    # 10^-1.2 = 0.063 .. 10^0.3 = 1.995: 0.05 is below, 2 (log10 2 = 0.30103) just above; 0.1, 0.2, 0.5, 1 inside.
    assert log_ticks(-1.2, 0.3) == [0.1, 0.2, 0.5, 1.0]
    # 1 .. 10^2.5 = 316: 1, 2, 5, 10, 20, 50, 100, 200 is eight ticks, as many as allowed.
    assert log_ticks(0.0, 2.5) == [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0]


def test_log_ticks_fall_back_to_decades_beyond_the_allowed_count():
    # 1 .. 10^2.7 = 501 adds 500: nine 1-2-5 ticks are too many, so decades.
    assert log_ticks(0.0, 2.7) == [1.0, 10.0, 100.0]
    # Ten decades (1e-6 .. 1e3) are still more than eight: every second one.
    wide = log_ticks(-6.0, 3.0)
    assert wide == [1e-6, 1e-4, 1e-2, 1.0, 100.0]
    assert log_ticks(-6.0, 3.0, most=20) == [10.0**e for e in range(-6, 4)]


@pytest.mark.parametrize(("low", "high"), [(-1.2, 0.3), (0.0, 2.7), (-6.0, 3.0), (-0.35, 0.41), (-12.5, 9.9)])
def test_log_ticks_lie_inside_the_range_and_are_few(low, high):
    ticks = log_ticks(low, high)
    assert 1 <= len(ticks) <= 8
    assert ticks == sorted(ticks)
    assert all(low <= np.log10(t) <= high for t in ticks)
    mantissas = {round(t / 10.0 ** np.floor(np.log10(t)), 9) for t in ticks}
    assert mantissas <= {1.0, 2.0, 5.0}


def test_information_figure_ratio_axis_spans_the_intervals_with_its_ticks():
    info = {"a": information(0.6, 0.3), "b": information(0.0, 0.5)}
    axis = information_figure(info).layout.yaxis2
    ends = [v for item in info.values() for v in (item.ratio_low, item.ratio_high)]
    low, high = axis.range
    assert low < np.log10(min(ends)) and np.log10(max(ends)) < high
    assert list(axis.tickvals) == log_ticks(low, high)
    assert list(axis.ticktext) == [f"{t:g}" for t in axis.tickvals]


# ---------------------------------------------------------------------------------------------------------------
# Intervals never cross impossible values
# ---------------------------------------------------------------------------------------------------------------
def test_mi_error_bars_stop_at_zero():
    info = {"zero": information(0.0, 0.5, low=0.0, high=0.05), "small": information(0.03, 0.2, low=0.0)}
    fig = information_figure(info)
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert len(bars) == 2
    for bar in bars:
        key = "shared" if bar.name == "I(F_y; X̂_i)" else "modality"
        for name, value, minus, plus in zip(
            bar.x, bar.y, bar.error_y.arrayminus, bar.error_y.array, strict=True
        ):
            term = getattr(info[name], key)
            assert value - minus >= 0.0
            assert value - minus == pytest.approx(term.low, abs=1e-15)
            assert value + plus == pytest.approx(term.high)
    shared = next(b for b in bars if b.name == "I(F_y; X̂_i)")
    assert shared.y[0] - shared.error_y.arrayminus[0] == 0.0  # reaches exactly 0, not below
    for trace in _ratio_traces(fig):  # the ratio's bars stay positive (a log axis)
        assert all(y - m > 0 for y, m in zip(trace.y, trace.error_y.arrayminus, strict=True))


def test_dependence_error_bars_stop_at_zero():
    fig = dependence_figure({"a": estimate(0.0, low=0.0, high=0.04), "b": estimate(0.05, low=0.0)})
    bar = fig.data[0]
    lows = [y - m for y, m in zip(bar.y, bar.error_y.arrayminus, strict=True)]
    assert lows == [0.0, 0.0]


def test_estimate_on_independent_data_is_clipped_at_zero_with_its_interval_and_null():
    negative = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        x, y = rng.standard_normal((200, 2)), rng.standard_normal((200, 2))
        result = estimate_mi(x, y, n_bootstrap=20, n_null=5, seed=seed)
        assert 0.0 <= result.low <= result.value <= result.high
        assert result.null_mean >= 0.0 and result.null_high >= result.null_mean
        raw = brute_force_ksg(x, y, 3)  # the unclipped KSG of the same data
        if raw < 0:
            negative += 1
            assert result.value == 0.0 and result.low == 0.0
        else:
            assert result.value == pytest.approx(raw, rel=1e-9, abs=1e-12)
    assert negative >= 1  # the case built to fail: without the clip some of these would be negative


def test_ratio_interval_of_independent_factors_is_positive_and_brackets_the_ratio():
    for seed in range(3):
        rng = np.random.default_rng(10 + seed)
        f_y, f_a, x = (
            rng.standard_normal((200, 3)),
            rng.standard_normal((200, 2)),
            rng.standard_normal((200, 4)),
        )
        info = modality_information(f_y, f_a, x, n_bootstrap=20, n_null=5, seed=seed)
        assert 0.0 < info.ratio_low <= info.ratio <= info.ratio_high
        assert np.isfinite(info.ratio_high)
        assert info.ratio == pytest.approx(information_ratio(info.shared.value, info.modality.value))
        for term in (info.shared, info.modality):
            assert 0.0 <= term.low <= term.value <= term.high and term.null_mean >= 0.0


# ---------------------------------------------------------------------------------------------------------------
# Generated sequences as lines
# ---------------------------------------------------------------------------------------------------------------
def test_changing_features_finds_the_features_that_vary_between_lines():
    t = np.linspace(0, 1, 4)
    curves = np.zeros((3, 2, 4, 5))  # (L, S, T, D)
    curves[..., 0] = 10 * t  # changes over time, the same for every line
    curves[:, 1, :, 2] = 7.0  # differs between columns, the same for every line
    lines = np.array([-1.0, 0.0, 1.0])[:, None, None]  # (L, 1, 1)
    curves[..., 1] = 0.1 * lines
    curves[..., 3] = 2.0 * lines
    curves[..., 4] = 0.01 * lines
    np.testing.assert_array_equal(changing_features(curves, 2), [1, 3])
    np.testing.assert_array_equal(changing_features(curves, 1), [3])
    np.testing.assert_array_equal(changing_features(curves, 3), [1, 3, 4])
    np.testing.assert_array_equal(changing_features(curves, 9), [0, 1, 2, 3, 4])  # clipped to D
    with pytest.raises(ValueError, match="lines, columns, T, D"):
        changing_features(curves[0])


def test_generation_figure_shows_the_features_that_change():
    curves, real = _sequence_inputs()
    curves[..., :] = real[None]  # every line equal to the real one ...
    curves[0, :, :, 4] += 3.0  # ... except features 4, 1 and 2 of the first line (in that order of change)
    curves[0, :, :, 1] -= 1.0
    curves[0, :, :, 2] += 0.5
    fig = generation_figure(
        "sequence", curves, line_labels=["a", "b", "c"], line_title="label", column_labels=["s0", "s1"],
        column_title="style", title="g",
    )  # fmt: skip
    titles = [layout(fig)[key]["title"]["text"] for key in ("yaxis", "yaxis3", "yaxis5")]
    assert titles == ["feature 1", "feature 2", "feature 4"]  # the three that change, in feature order
    assert "yaxis7" not in layout(fig)  # SEQUENCE_FEATURES = 3 panel rows of 2 columns


@pytest.mark.parametrize("with_real", [True, False])
def test_sequence_lines_draws_one_trace_per_line_and_panel(with_real):
    curves, real = _sequence_inputs(lines=4, cols=2)
    labels = ["l0", "l1", "l2", "l3"]
    fig = sequence_lines(
        curves, [0, 3, 4], line_labels=labels, line_title="label", column_labels=["s0", "s1"],
        column_title="style", real=real if with_real else None,
    )  # fmt: skip
    panels = 3 * 2
    assert len(fig.data) == panels * (len(labels) + with_real)
    colors = line_colors(len(labels))
    lines = [t for t in fig.data if t.name != "real"]
    assert len(lines) == panels * len(labels)
    for panel in range(panels):
        drawn = lines[panel * len(labels) : (panel + 1) * len(labels)]
        assert [t.name for t in drawn] == labels
        assert [t.line.color for t in drawn] == colors
    shown = [t.name for t in fig.data if t.showlegend]
    assert sorted(shown) == sorted(labels + ["real"] * with_real)  # each legend entry once
    # The values drawn are the curves' (line 2, column 1, feature 3 is panel row 2, column 2).
    trace = next(t for t in fig.data if t.name == "l2" and t.xaxis == "x4")
    np.testing.assert_array_equal(trace.y, curves[2, 1, :, 3])
    if with_real:
        dashed = [t for t in fig.data if t.name == "real"]
        assert len(dashed) == panels and all(t.line.dash == "dash" for t in dashed)


def test_line_colors_run_along_the_scale_in_order():
    colors = line_colors(3)
    assert len(colors) == 3 and len(set(colors)) == 3
    from plotly.colors import sample_colorscale

    assert colors == sample_colorscale("Viridis", [0.0, 0.5, 1.0])
    assert line_colors(1) == sample_colorscale("Viridis", [0.0])


def test_sequence_lines_refuses_mismatched_labels():
    curves, _ = _sequence_inputs(lines=3, cols=2)
    common = dict(line_title="label", column_title="style")
    with pytest.raises(ValueError, match="3 lines and 2 columns"):
        sequence_lines(curves, [0], line_labels=["a", "b"], column_labels=["s0", "s1"], **common)
    with pytest.raises(ValueError, match="3 lines and 2 columns"):
        sequence_lines(curves, [0], line_labels=["a", "b", "c"], column_labels=["s0"], **common)
    with pytest.raises(ValueError, match="lines, columns, T, D"):
        sequence_lines(curves[0], [0], line_labels=["a", "b"], column_labels=["s0"], **common)
