"""The interpretation report: one self-contained HTML page and a JSON summary, from the CLI or the app.

    python -m interpret report FILE.pt --out report.html --json summary.json

The HTML embeds plotly.js once, inline, so it opens offline. The JSON holds every number the page shows:
`checkpoint.sha256`, `information.<modality>.{shared_mi, modality_mi, ratio, ratio_low, ratio_high, ...}`,
`gradients.<modality>.{shared, modality}` (mean over segments, per time step, for sequence models),
`faithfulness` (when the data has planted truth), `missing_modality` (each modality dropped and inferred by
surrogate inference, paper Eq. 5, when the model has it) or else `missing_modality_zero_fill` (each modality
replaced by zeros and the unchanged model run on it: zero-filling, not the paper's method; imported models have no
surrogate), each entry naming its `method`, and the settings, seed and library versions that reproduce them.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import numpy as np
import plotly.io as pio

from interpret.analysis import faithfulness, gradient_flow_by_modality, information_by_modality
from interpret.context import Context
from interpret.figures import gradient_curves, gradient_heatmap, image_grid, information_figure, pixel_maps
from mfm.checkpoint import library_versions

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ReportSettings:
    """What the report computes, and on how much data. Defaults suit a laptop: about a minute on 2 CPU cores."""

    split: str = "test"
    estimator: str = "ksg"
    max_samples: int = 600
    n_components: int = 3
    n_bootstrap: int = 30
    n_null: int = 10
    gradient_samples: int = 128
    faithfulness: bool = True
    seed: int = 0


def _json_float(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def build_report(
    context: Context, settings: ReportSettings = ReportSettings(), progress: Progress | None = None
) -> tuple[str, dict]:
    """Compute every interpretation of `context` and return (HTML page, JSON-ready summary)."""
    model, dataset, loaded = context.model, context.dataset, context.checkpoint
    split = dataset.splits[settings.split]
    stages = 3 + int(settings.faithfulness)  # information, gradients, (faithfulness), missing modality
    done = 0

    def stage(name: str) -> Progress:
        def update(d: int, total: int, what: str) -> None:
            if progress is not None:
                progress(done * 1000 + int(1000 * d / max(total, 1)), stages * 1000, f"{name}: {what}")

        return update

    summary: dict = {
        "checkpoint": {
            "sha256": loaded.sha256,
            "source": loaded.source,
            "kind": loaded.config.kind,
            "task": loaded.config.task,
            "modalities": list(loaded.config.modality_names),
            "dataset": dataset.name,
            "training_command": loaded.metadata.get("command"),
            "metrics": loaded.metadata.get("metrics"),
            "surrogate_inference": loaded.config.surrogate,
            "imported_from": _provenance(loaded.metadata.get("imported_from")),
        },
        "settings": asdict(settings),
        "versions": library_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }

    info = information_by_modality(
        model, split.inputs, estimator=settings.estimator, max_samples=settings.max_samples,
        n_components=settings.n_components, n_bootstrap=settings.n_bootstrap, n_null=settings.n_null,
        seed=settings.seed, progress=stage("information"),
    )  # fmt: skip
    done += 1
    summary["information"] = {
        m: {
            "shared_mi": v.shared.value, "shared_low": v.shared.low, "shared_high": v.shared.high,
            "shared_null_high": v.shared.null_high,
            "modality_mi": v.modality.value, "modality_low": v.modality.low, "modality_high": v.modality.high,
            "modality_null_high": v.modality.null_high,
            "ratio": v.ratio, "ratio_low": v.ratio_low, "ratio_high": v.ratio_high,
        }
        for m, v in info.items()
    }  # fmt: skip

    flows = gradient_flow_by_modality(
        model,
        split.inputs,
        max_samples=settings.gradient_samples,
        seed=settings.seed,
        progress=stage("gradients"),
    )
    done += 1
    summary["gradients"] = {
        m: {"shared": f.mean_shared.tolist(), "modality": f.mean_modality.tolist()}
        if f.shared.ndim == 2
        else {"shared_total": float(f.mean_shared.sum()), "modality_total": float(f.mean_modality.sum())}
        for m, f in flows.items()
    }

    expected = dataset.info.get("modality_order_expected")
    has_masks = any(k.startswith("mask/") for k in split.extras)
    if settings.faithfulness and (expected or has_masks):
        summary["faithfulness"] = faithfulness(
            model, split.inputs, split.extras, expected, max_samples=settings.max_samples, seed=settings.seed,
            information_settings={"estimator": settings.estimator, "n_components": settings.n_components,
                                  "n_bootstrap": settings.n_bootstrap, "n_null": settings.n_null},
            progress=stage("faithfulness"),
        )  # fmt: skip
        summary["faithfulness"]["expected_order"] = expected
        done += 1

    if loaded.config.kind == "image" and loaded.config.task == "classification":
        # The same function and settings as `python -m mfm evaluate`, so both show the same numbers.
        from mfm.swap_metrics import image_generation_metrics

        generation = image_generation_metrics(model, dataset)
        if generation:
            summary["generation"] = {
                "label_swap_accuracy": {m: v["label_swap_prototype"] for m, v in generation.items()},
                "by_modality": generation,
            }

    from interpret.whatif import missing_modality_summary, zero_fill_summary

    # The paper's surrogate inference where the model has it; otherwise zero-filling, under its own key.
    n = min(len(split.labels), settings.max_samples)
    what_if, key = (
        (missing_modality_summary, "missing_modality")
        if model.config.surrogate
        else (zero_fill_summary, "missing_modality_zero_fill")
    )
    summary[key] = what_if(
        model,
        {k: v[:n] for k, v in split.inputs.items()},
        split.labels[:n],
        progress=stage("missing modality"),
    )
    done += 1
    if progress is not None:
        progress(stages * 1000, stages * 1000, "done")

    figures = [("Information-based interpretation", information_figure(info, settings.estimator.upper()))]
    if all(f.shared.ndim == 2 for f in flows.values()):
        words = split.extras.get("words")
        figures.append(("Gradient flow over time (mean over segments)", gradient_heatmap(flows)))
        figures.append(("Gradient flow curves", gradient_curves(flows)))
        if words is not None:
            planted = {k.split("/", 1)[1]: v[0] for k, v in split.extras.items() if k.startswith("mask/")}
            figures.append(
                (
                    "One segment, with its words and planted steps",
                    gradient_heatmap(flows, sample=0, words=list(words[0]), planted=planted),
                )
            )
    else:
        figures += [(f"Per-pixel gradient flow: {m}", pixel_maps(f)) for m, f in flows.items()]
        if loaded.config.task == "classification":
            figures += _style_label_figures(context, split, settings.seed)
    summary = _clean(summary)
    return render_html(summary, figures), summary


def _provenance(source) -> dict | None:
    """What the report says about an imported checkpoint's origin (not the producer's whole config)."""
    if not isinstance(source, dict):
        return None
    keys = ("producer", "producer_name", "file", "sha256", "sizes_from", "dropped")
    return {k: source.get(k) for k in keys}


def _style_label_figures(context: Context, split, seed: int, styles: int = 8) -> list:
    """Rows = class prototypes (label factor), columns = test samples (style factor), for every image modality."""
    from interpret.analysis import collect
    from interpret.generation import class_prototypes, style_label_grid

    model, dataset = context.model, context.dataset
    train = collect(model, dataset.splits["train"].inputs)
    prototypes = class_prototypes(train.shared, dataset.splits["train"].labels, model.config.num_classes)
    index = np.random.default_rng(seed).choice(len(split.labels), size=styles, replace=False)
    sources = collect(model, {k: v[index] for k, v in split.inputs.items()})
    labels = [f"label {c}" for c in range(model.config.num_classes)]
    columns = [f"style {i}" for i in index]
    return [
        (
            f"Style x label: {m}",
            image_grid(
                style_label_grid(model, m, sources.modality[m], prototypes),
                row_labels=labels,
                column_labels=columns,
            ),
        )
        for m in model.modality_names
    ]


def _clean(value):
    """JSON-safe copy: numpy scalars to floats, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return _json_float(float(value))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def render_html(summary: dict, figures: list) -> str:
    """A self-contained page: plotly.js inline once, then every figure, then the summary as a table of JSON."""
    parts = []
    for i, (title, fig) in enumerate(figures):
        body = pio.to_html(fig, full_html=False, include_plotlyjs="inline" if i == 0 else False)
        parts.append(f"<h2>{html.escape(title)}</h2>\n{body}")
    ckpt = summary["checkpoint"]
    faith = summary.get("faithfulness")
    faith_html = ""
    if faith:
        rows = "".join(
            f"<tr><td>{k}</td><td>{html.escape(json.dumps(v['ratios']))}</td><td>{_fmt(v['ranking_margin'])}</td>"
            f"<td>{html.escape(json.dumps(v['auroc']))}</td></tr>"
            for k, v in faith.items()
            if isinstance(v, dict)
        )
        faith_html = (
            "<h2>Faithfulness against planted truth</h2><table><tr><th>model</th><th>ratios r_i</th>"
            f"<th>ranking margin (log)</th><th>F_y gradient-flow AUROC</th></tr>{rows}</table>"
        )
    what_if_html = _what_if_html(summary)
    origin = ckpt.get("imported_from")
    origin_html = (
        f"<br>Imported from {html.escape(str(origin.get('producer_name')))}: "
        f"<code>{html.escape(str(origin.get('file')))}</code>, SHA-256 <code>{html.escape(str(origin.get('sha256')))}</code>."
        if origin
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MFM interpretation report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px}}
pre{{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}}</style></head><body>
<h1>MFM interpretation report</h1>
<p>Checkpoint <code>{html.escape(str(ckpt["source"]))}</code>, SHA-256 <code>{ckpt["sha256"]}</code><br>
{html.escape(ckpt["kind"])} model ({html.escape(ckpt["task"])}) on <b>{html.escape(ckpt["dataset"])}</b>,
modalities {html.escape(", ".join(ckpt["modalities"]))}. Estimator: {html.escape(summary["settings"]["estimator"])};
seed {summary["settings"]["seed"]}; created {summary["created"]}.{origin_html}</p>
{faith_html}
{"".join(parts)}
{what_if_html}
<h2>Summary (JSON)</h2><pre>{html.escape(json.dumps(summary, indent=2))}</pre>
</body></html>"""


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _what_if_html(summary: dict) -> str:
    """The missing-modality section, headed by the method that gave its numbers."""
    if "missing_modality" in summary:
        entries, zero_fill = summary["missing_modality"], False
        title = "Missing modality: surrogate inference (paper Eq. 5)"
        note = "Each modality dropped in turn; its codes inferred from the others by the surrogate network."
    elif "missing_modality_zero_fill" in summary:
        entries, zero_fill = summary["missing_modality_zero_fill"], True
        title = "Missing modality by zero-filling (not the paper's surrogate inference)"
        note = (
            "This model has no surrogate inference. Each modality's input was replaced by zeros in turn and the "
            "unchanged model run on it."
        )
    else:
        return ""
    headline = "accuracy" if summary["checkpoint"]["task"] == "classification" else "mae"
    recon = "reconstruction_mse_zero_fill" if zero_fill else "reconstruction_mse_surrogate"
    without = "zero-filled" if zero_fill else "without"
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{_fmt(e['metrics_full'].get(headline))}</td>"
        f"<td>{_fmt(e['metrics_without'].get(headline))}</td><td>{_fmt(e['prediction_change'])}</td>"
        f"<td>{_fmt(e['reconstruction_mse_full'])}</td><td>{_fmt(e[recon])}</td></tr>"
        for name, e in entries.items()
    )
    return (
        f"<h2>{html.escape(title)}</h2><p>{html.escape(note)}</p><table><tr>"
        f"<th>{'zero-filled' if zero_fill else 'dropped'}</th><th>{headline} (all)</th>"
        f"<th>{headline} ({without})</th><th>prediction change</th><th>recon MSE with X_m</th>"
        f"<th>recon MSE {'from zeros' if zero_fill else 'inferred'}</th></tr>{rows}</table>"
    )
