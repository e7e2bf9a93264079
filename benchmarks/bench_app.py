"""Server-side time of one slider move on the Style & label page: a 10 x 10 style-label grid.

    python benchmarks/bench_app.py [--checkpoint FILE.pt ...] [--repeats 50] [--threads N] [--page]
                                   [--gradients [--scale std|raw]] [--upload-check] [--first-figures]

For every checkpoint (default: the demo checkpoints in assets/checkpoints/, and an untrained model of the
digits preset, the architecture `python -m mfm train --dataset digits` trains: the cost depends on the sizes, not
the weights), and every modality, the median and 95th percentile over `--repeats` moves of:

- decoder: `style_label_grid` on 10 cached style factors x 10 label prototypes (one batched decoder call of 100);
- + figure: the same and the Plotly figure the page draws (tiling to one RGB mosaic, or lines over time of the
  features that change most), i.e. everything the page computes for one grid after a slider move (the factors
  are cached);

and, with `--page`, the wall time of a whole Style & label page rerun in Streamlit's AppTest after moving the
style slider (every grid, the swap, the interpolation and the traversal, plus Streamlit's own work). None of this
computes a gradient flow. With `--gradients`, also the Gradients page's computation at its default 64 samples:
the exact gradient flow of every modality at `--scale` (default "std", the page's default: per one-standard-
deviation change of each factor dimension, the spread taken over those samples; "raw": the paper's norm). With
`--upload-check`, what the app's isolation adds to an upload: the parse in-process (`open_source`) against the
same parse first in the limited worker (`mfm.isolation.preflight`) and then in-process, as the app does it; the
first check also starts the forkserver and is reported apart. With `--first-figures` (and nothing else), each
page's first run at its defaults once the model and data are cached (`bench_first_figures`).

On a machine whose cores are busy with other work, torch's multi-threaded kernels can wait on descheduled threads
and run tens of times slower than on one thread: compare `--threads 1` with the default there.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interpret.analysis import gradient_flows
from interpret.figures import generation_figure
from interpret.generation import grid_factors, style_label_grid
from interpret.gradients import FLOW_SCALES, GradientSettings
from mfm.checkpoint import load_checkpoint
from mfm.data import load_dataset
from mfm.model import MFM
from mfm.presets import config_for_dataset
from pages.bookkeeping import demo_checkpoints

ROOT = Path(__file__).resolve().parents[1]


def timings(work: Callable[[int], object], repeats: int) -> tuple[float, float]:
    """(median, 95th percentile) in milliseconds of `work(move)` over `repeats` moves, after one warm-up."""
    work(0)
    samples = []
    for move in range(repeats):
        started = time.perf_counter()
        work(move)
        samples.append(1000 * (time.perf_counter() - started))
    return statistics.median(samples), float(np.percentile(samples, 95))


def digits_preset_model() -> tuple[str, MFM, str]:
    """An untrained model of the digits preset (what `python -m mfm train --dataset digits` builds)."""
    torch.manual_seed(0)
    shapes = {"svhn": (3, 32, 32), "mnist": (1, 28, 28)}
    model = MFM(config_for_dataset(tuple(shapes), shapes, "classification", 10)).eval()
    return "digits preset (untrained)", model, "digits"


def bench_model(label: str, model: MFM, dataset_name: str, repeats: int) -> None:
    """Time a 10 x 10 grid per modality of one model."""
    split = load_dataset(dataset_name).splits["test"]
    grid = grid_factors(model, split)  # cached by the page: encoded once per checkpoint and split
    labels = grid.prototypes[:10]
    for modality in model.config.modality_names:
        styles = grid.factors.modality_factors[modality]

        def decode(move: int, modality: str = modality, styles: np.ndarray = styles) -> np.ndarray:
            start = move % (len(styles) - 10)  # the slider picks the first of 10 style columns
            return style_label_grid(model, modality, styles[start : start + 10], labels)

        def decode_and_draw(move: int, modality: str = modality) -> object:
            kind = model.config.modality(modality).kind
            return generation_figure(
                kind,
                decode(move),
                line_labels=grid.label_names[:10],
                line_title="label",
                column_labels=[str(c) for c in range(10)],
                column_title="style",
                title=modality,
            )

        decoder = timings(decode, repeats)
        with_figure = timings(decode_and_draw, repeats)
        shape = "x".join(str(s) for s in model.config.modality(modality).shape)
        print(
            f"{label:<28} {modality:<9} {len(labels)}x10 of {shape:<9} "
            f"decoder {decoder[0]:7.1f} ms (p95 {decoder[1]:6.1f})   "
            f"+ figure {with_figure[0]:7.1f} ms (p95 {with_figure[1]:6.1f})"
        )


def bench_gradient_flow(label: str, model: MFM, dataset_name: str, repeats: int, scale: str) -> None:
    """Time what the Gradients page computes for its default 64 samples: the exact flow of every modality."""
    split = load_dataset(dataset_name).splits["test"]
    settings = GradientSettings(scale=scale, max_samples=64, seed=0)  # the page's defaults

    def flows(move: int) -> object:
        return gradient_flows(model, split.inputs, settings)

    median, p95 = timings(flows, repeats)
    n = min(len(split), 64)
    print(
        f"{label:<28} gradient flow, scale {scale!r}, {n} samples, every modality: "
        f"{median:7.1f} ms (p95 {p95:6.1f})"
    )


def bench_page(checkpoint: Path, repeats: int) -> None:
    """Wall time of a Style & label page rerun in AppTest after each move of the style slider."""
    at = _app_test(checkpoint)
    at.run()
    at.switch_page("pages/style_label.py").run()
    samples = []
    for move in range(1, repeats + 1):
        slider = at.slider(key="style_sample")
        started = time.perf_counter()
        slider.set_value(move).run()
        samples.append(1000 * (time.perf_counter() - started))
        assert not at.exception, [e.value for e in at.exception]
    print(
        f"page rerun (AppTest)         {checkpoint.name}: median {statistics.median(samples):.0f} ms, "
        f"p95 {np.percentile(samples, 95):.0f} ms over {repeats} moves"
    )


PAGES = (
    "pages/model.py",
    "pages/information.py",
    "pages/gradients.py",
    "pages/style_label.py",
    "pages/missing_modality.py",
    "pages/report.py",
)


def _app_test(checkpoint: Path):
    """An AppTest of app.py on demo `checkpoint`, each run going through app.py as the server's runs do."""
    import os
    import runpy

    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.testing.v1 import AppTest

    # As in tests/test_app.py: AppTest resets Streamlit's "pages/ folder" switch before every run.
    script_runner._mpa_v1 = lambda main_script_path: runpy.run_path(main_script_path)
    os.environ["MFM_DEMO_DIR"] = str(checkpoint.parent)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.session_state["demo_checkpoint"] = checkpoint.name
    return at


def bench_first_figures(checkpoint: Path, repeats: int) -> None:
    """Server-side time of each page's first figure at its defaults once the model and data are cached.

    Every page is run once (loading the model and data into the app's resource caches), then, `repeats` times,
    the page results' caches (`st.cache_data`: every figure's computation) are cleared and the page is run again.
    "first figure": from the run's start to its first `plotly_chart` call (sent to the browser as it is made;
    what the page computes after it does not delay it); "page": the whole run, Streamlit's own work included.
    The Report page computes nothing until its button is pressed, and the Model page draws no figure for a model
    without training curves: their rows are the page alone."""
    import streamlit as st
    from streamlit.delta_generator import DeltaGenerator

    first: list[float] = []
    plotly_chart = DeltaGenerator.plotly_chart

    def timed_chart(self, *args, **kwargs):
        if not first:
            first.append(time.perf_counter())
        return plotly_chart(self, *args, **kwargs)

    module_chart = st.plotly_chart  # bound to the main container when Streamlit was imported
    DeltaGenerator.plotly_chart = timed_chart
    st.plotly_chart = functools.partial(timed_chart, module_chart.__self__)
    at = _app_test(checkpoint)
    at.run()
    for page in PAGES:
        at.switch_page(page).run()  # warm: model, data and the page's own first-call costs
        assert not at.exception, (page, [e.value for e in at.exception])
        to_figure, whole = [], []
        for _ in range(repeats):
            st.cache_data.clear()
            first.clear()
            started = time.perf_counter()
            at.switch_page(page).run()
            whole.append(time.perf_counter() - started)
            to_figure.append(first[0] - started if first else float("nan"))
            assert not at.exception, (page, [e.value for e in at.exception])
        print(
            f"{checkpoint.name:<28} {Path(page).stem:<18} first figure: median {statistics.median(to_figure):6.2f} s "
            f"(max {max(to_figure):5.2f}); page: median {statistics.median(whole):6.2f} s over {repeats} runs",
            flush=True,
        )
    DeltaGenerator.plotly_chart, st.plotly_chart = plotly_chart, module_chart


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", action="append", default=[], help="checkpoint file (repeatable)")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--page", action="store_true", help="also time whole page reruns in AppTest")
    parser.add_argument(
        "--gradients", action="store_true", help="also time the Gradients page's exact gradient flow"
    )
    parser.add_argument(
        "--scale", choices=FLOW_SCALES, default="std", help="scale of the timed gradient flow (default std)"
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="torch intra-op threads (default: torch's choice)"
    )
    parser.add_argument(
        "--upload-check", action="store_true", help="also time the isolation worker's check of each upload"
    )
    parser.add_argument(
        "--first-figures",
        action="store_true",
        help="only time each page's first run at its defaults, model and data cached (AppTest)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    paths = [Path(p) for p in args.checkpoint] or demo_checkpoints()
    if args.first_figures:
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads; each page's first run, model cached"
        )
        for path in paths:
            bench_first_figures(path, min(args.repeats, 3))
        return
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; times per slider move (Style & label: no "
        "gradient flow)" + (f"; gradient flow at scale {args.scale!r}" if args.gradients else "")
    )
    models = [(p.name, *_loaded(p)) for p in paths]
    if not any(model.config.kind == "image" for _, model, _ in models):
        models.append(digits_preset_model())
    for label, model, dataset_name in models:
        bench_model(label, model, dataset_name, args.repeats)
        if args.gradients:
            bench_gradient_flow(label, model, dataset_name, min(args.repeats, 10), args.scale)
    if args.page:
        for path in paths:
            bench_page(path, min(args.repeats, 20))
    if args.upload_check:
        for path in paths:
            bench_upload_check(path, min(args.repeats, 10))


def bench_upload_check(path: Path, repeats: int) -> None:
    """Time an upload's parse in-process and with the worker check before it (what the app does)."""
    from mfm import isolation
    from pages.bookkeeping import open_source as parse
    from pages.bookkeeping import upload_source

    isolation.preload("pages.bookkeeping")
    source = upload_source(
        [(path.name, path.read_bytes())]
    )  # the bytes, as an upload: nothing read from disk
    assert source is not None
    started = time.perf_counter()
    isolation.preflight(path.name, parse, source)
    first = 1000 * (time.perf_counter() - started)

    def checked(move: int) -> object:
        isolation.preflight(path.name, parse, source)
        return parse(source)

    plain = timings(lambda move: parse(source), repeats)
    both = timings(checked, repeats)
    print(
        f"{path.name:<28} upload of {path.stat().st_size / 2**20:5.1f} MiB: parse {plain[0]:7.1f} ms (p95 "
        f"{plain[1]:6.1f}); worker check + parse {both[0]:7.1f} ms (p95 {both[1]:6.1f}), x{both[0] / plain[0]:.1f}; "
        f"its first check {first:7.1f} ms (the run's very first starts the forkserver)"
    )


def _loaded(path: Path) -> tuple[MFM, str]:
    loaded = load_checkpoint(path)
    return loaded.model, str(loaded.metadata.get("dataset"))


if __name__ == "__main__":
    main()
