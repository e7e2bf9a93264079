"""The interpretation report: one self-contained HTML page and a JSON summary, from the CLI or the app.

    python -m interpret report FILE.pt --out report.html --json summary.json

The HTML embeds plotly.js once, inline, so it opens offline. The JSON holds every number the page shows:
`checkpoint.sha256`; `information.<modality>.{shared_mi, modality_mi, ratio, ratio_low, ratio_high, ...}` (the
paper's observational version: dependence between F_y and X̂_i); `information_interventional.<modality>` with the
same fields (X̂_i decoded from F_y shuffled across samples: what the decoder takes from F_y); `dependence.<modality>`
(I(F_y; F_i) with interval and null, why the two can differ); `information_disagreements.<modality>` (a sentence
where the versions disagree); `gradients.scale` ("std": per one-standard-deviation change of each factor
dimension, or "raw": the paper's norm) and `gradients.<modality>.{shared, modality, shared_fraction}` (mean over
segments, per time step, for sequence models; totals for images), all at that scale;
`faithfulness` (when the data has planted truth), `missing_modality` (each modality dropped and inferred by
surrogate inference, paper Eq. 5, when the model has it) or else `missing_modality_zero_fill` (each modality
replaced by zeros and the unchanged model run on it: zero-filling, not the paper's method; imported models have no
surrogate), each entry naming its `method`, and the settings, seed and library versions that reproduce them.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np
import plotly.io as pio

from interpret.abilities import swap_abilities
from interpret.analysis import (
    INFORMATION_READINGS,
    InformationVersions,
    faithfulness,
    gradient_flows,
    information_disagreements,
    information_versions,
)
from interpret.context import Context
from interpret.figures import (
    FLOW_SCALE_NAMES,
    dependence_figure,
    gradient_curves,
    gradient_heatmap,
    image_grid,
    information_axis_max,
    information_figure,
    pixel_maps,
)
from interpret.generation import GenerationSettings
from interpret.gradients import GradientSettings
from interpret.information import InformationSettings, MIEstimate, ModalityInformation
from mfm.checkpoint import library_versions
from mfm.memory import release_free_memory
from mfm.progress import RESOLUTION, Progress, stage


@dataclass(frozen=True)
class ReportSettings:
    """What the report computes, and on how much data. Defaults suit a laptop: about a minute on 2 CPU cores.

    The information, gradient and generation settings are the values the Information and Gradients pages and the
    report's CLI use (`interpret.information.InformationSettings`, `interpret.gradients.GradientSettings`,
    `interpret.generation.GenerationSettings`). The report runs on one seed: theirs must agree (`with_seed`).
    The missing-modality section reads the first `information.max_samples` samples of the split.
    """

    split: str = "test"
    information: InformationSettings = field(
        default_factory=lambda: InformationSettings(max_samples=600, n_bootstrap=30, n_null=10)
    )
    gradients: GradientSettings = field(default_factory=lambda: GradientSettings(max_samples=128))
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    faithfulness: bool = True

    def __post_init__(self) -> None:
        seeds = {self.information.seed, self.gradients.seed, self.generation.seed}
        if len(seeds) != 1:
            raise ValueError(
                f"the report runs on one seed; its settings name {sorted(seeds)} (use with_seed)"
            )

    @property
    def seed(self) -> int:
        """The one seed of every part of the report."""
        return self.information.seed

    def with_seed(self, seed: int) -> ReportSettings:
        """These settings with `seed` in every part."""
        return ReportSettings(
            split=self.split,
            information=replace(self.information, seed=seed),
            gradients=replace(self.gradients, seed=seed),
            generation=replace(self.generation, seed=seed),
            faithfulness=self.faithfulness,
        )

    def flat(self) -> dict[str, Any]:
        """The settings as one flat dict, one key per control of the report's CLI: the JSON summary's "settings"."""
        info, grad = self.information, self.gradients
        return {
            "split": self.split,
            "estimator": info.estimator,
            "max_samples": info.max_samples,
            "n_components": info.n_components,
            "k": info.k,
            "n_bootstrap": info.n_bootstrap,
            "n_null": info.n_null,
            "gradient_method": grad.method,
            "gradient_samples": grad.max_samples,
            "gradient_scale": grad.scale,
            "gradient_steps": grad.n_steps,
            "styles": self.generation.styles,
            "faithfulness": self.faithfulness,
            "seed": self.seed,
        }

    @classmethod
    def from_flat(cls, **data: Any) -> ReportSettings:
        """The settings of flat keys (`flat`, a JSON summary's "settings"); keys not given take their defaults."""
        default = cls().flat()
        unknown = sorted(set(data) - set(default))
        if unknown:
            raise ValueError(f"unknown report settings {unknown}; known: {', '.join(default)}")
        flat = {**default, **data}
        seed = flat["seed"]
        return cls(
            split=flat["split"],
            information=InformationSettings(
                estimator=flat["estimator"], max_samples=flat["max_samples"], n_components=flat["n_components"],
                k=flat["k"], n_bootstrap=flat["n_bootstrap"], n_null=flat["n_null"], seed=seed,
            ),
            gradients=GradientSettings(
                method=flat["gradient_method"], scale=flat["gradient_scale"], max_samples=flat["gradient_samples"],
                n_steps=flat["gradient_steps"], seed=seed,
            ),
            generation=GenerationSettings(styles=flat["styles"], seed=seed),
            faithfulness=_flag("faithfulness", flat["faithfulness"]),
        )  # fmt: skip


CAPTUM_NAMES = {
    "saliency": "Saliency",
    "input_x_gradient": "Input × Gradient",
    "integrated_gradients": "Integrated Gradients",
}
CAPTUM_READING = (
    "A Captum method's profile: for each step, the squared attribution of the step's summed frame to F_y and to "
    "F_i (Saliency: its gradient; Input × Gradient and Integrated Gradients: times the factor's value, so "
    "input-scaled). A per-step sensitivity of the decoder, not an importance for the prediction; the exact "
    "gradient flow (the default method) is the paper's measure."
)
"""The reading of the gradient figures when the report runs a Captum method (`--gradient-method`)."""
GRADIENT_READING = (
    "The gradient flow is a per-step sensitivity: how strongly each generated step (or pixel) of X̂_i responds, to "
    "first order at these samples, to a change of F_y or of F_i; it is not the step's, or the modality's, "
    "importance for the prediction."
)
"""The one-line reading of the gradient-flow figures (the report's; the Gradients page says the same)."""


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def round_significant(value: float, digits: int = 4) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


COMPARISON_LEGEND = (
    "obs.: observational (the paper's); int.: interventional (F_y shuffled across samples); null: the 95 % quantile "
    "of the estimate after shuffling the pairs (below it, indistinguishable from independence); in nats. r_i floor: "
    "a term below 0.01 nats enters r_i as 0.01 (so that r_i stays finite): that r_i is a bound, not a measured ratio."
)
"""The legend of `information_comparison_rows` and `planted_cut_rows`."""


def information_comparison_rows(versions: InformationVersions) -> list[dict[str, Any]]:
    """One row per modality: I(F_y; F_i), both versions of I(F_y; X̂_i) with their nulls, both r_i, and whether the
    two versions agree (the sentences of `information_disagreements` say how they differ).

    Column names are short ("obs." the paper's observational version, "int." the interventional one, "null" the
    95 % quantile of the shuffled-pairs null): `COMPARISON_LEGEND` spells them out under the table."""
    notes = information_disagreements(versions)
    rows = []
    for name, observed in versions.observational.items():
        intervened = versions.interventional[name]
        dependence = versions.dependence.get(name)
        row: dict[str, Any] = {"modality": name}
        if dependence is not None:
            row["I(F_y; F_i)"] = round(dependence.value, 4)
            row["I(F_y; F_i) null"] = round(dependence.null_high, 4)
        row.update(
            {
                "obs. I(F_y; X̂_i)": round(observed.shared.value, 4),
                "obs. null": round(observed.shared.null_high, 4),
                "int. I(F_y; X̂_i)": round(intervened.shared.value, 4),
                "int. null": round(intervened.shared.null_high, 4),
                "obs. r_i": round_significant(observed.ratio),
                "int. r_i": round_significant(intervened.ratio),
                "r_i floor": "; ".join(
                    f"{version}: {item.floor_note}"
                    for version, item in (("obs.", observed), ("int.", intervened))
                    if item.floored
                )
                or "none",
                "versions": "disagree (see below)" if name in notes else "agree",
            }
        )
        rows.append(row)
    return rows


def _json_float(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def report_splits(context: Context, settings: ReportSettings) -> set[str]:
    """The splits `build_report` reads: the settings' split; for a classifier with an image modality also the
    train split (the class-mean label factors of the style grids), and for an image-only classifier the test split
    (the generation metrics, computed as `python -m mfm evaluate` computes them). A caller may drop the others
    (`Context.keep_splits`) to free their memory."""
    config = context.checkpoint.config
    splits = {settings.split}
    if config.task == "classification" and any(m.kind == "image" for m in config.modalities):
        splits.add("train")  # the style grids, drawn for any image modality of a classifier
        if config.kind == "image":
            splits.add("test")  # the generation metrics, for an image-only classifier
    return splits


def build_report(
    context: Context, settings: ReportSettings = ReportSettings(), progress: Progress | None = None
) -> tuple[str, dict]:
    """Compute every interpretation of `context` and return (HTML page, JSON-ready summary)."""
    model, dataset, loaded = context.model, context.dataset, context.checkpoint
    if settings.gradients.method != "exact" and not any(
        m.kind == "sequence" for m in loaded.config.modalities
    ):
        raise ValueError(  # before the long computations
            f"the Captum method {settings.gradients.method!r} gives per-step profiles of sequence modalities and "
            "this model has none: use the exact gradient flow"
        )
    for name in sorted(report_splits(context, settings)):
        if not len(dataset.splits[name]):
            raise ValueError(f"the report reads the {name} split of {dataset.name!r}, which holds no samples")
    split = dataset.splits[settings.split]
    stages = 3 + int(settings.faithfulness)  # information, gradients, (faithfulness), missing modality
    done = 0

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
        "settings": settings.flat(),
        "versions": library_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }

    versions = information_versions(
        model, split.inputs, settings.information, progress=stage(progress, done, 1, stages, "information: ")
    )
    done += 1
    release_free_memory()  # each stage's freed temporaries (mfm.memory)
    summary["information"] = _information_json(versions.observational)
    summary["information_interventional"] = _information_json(versions.interventional)
    summary["dependence"] = {m: _estimate_json(e) for m, e in versions.dependence.items()}
    notes = information_disagreements(versions)
    summary["information_disagreements"] = notes

    rows, flows = gradient_flows(
        model, split.inputs, settings.gradients, stage(progress, done, 1, stages, "gradients: ")
    )
    done += 1
    release_free_memory()  # each stage's freed temporaries (mfm.memory)
    scale = next(iter(flows.values())).scale  # "input" for the input-scaled Captum methods
    # The split's index of the flows' first row (the segment the one-segment chart shows).
    summary["gradients"] = {"scale": scale, "segment": int(rows[0])}
    summary["gradients"].update(
        {
            m: {
                "shared": f.mean_shared.tolist(),
                "modality": f.mean_modality.tolist(),
                "shared_fraction": f.shared_fraction.mean(axis=0).tolist(),
            }
            if f.shared.ndim == 2
            else {
                "shared_total": float(f.mean_shared.sum()),
                "modality_total": float(f.mean_modality.sum()),
                "shared_fraction": float(f.shared_fraction.mean()),
            }
            for m, f in flows.items()
        }
    )

    expected = dataset.info.get("modality_order_expected")
    has_masks = any(k.startswith("mask/") for k in split.extras)
    if settings.faithfulness and (expected or has_masks):
        summary["faithfulness"] = faithfulness(
            model, split.inputs, split.extras, expected, settings.information,
            stage(progress, done, 1, stages, "faithfulness: "),
        )  # fmt: skip
        summary["faithfulness"]["expected_order"] = expected
        done += 1
        release_free_memory()  # each stage's freed temporaries (mfm.memory)

    if loaded.config.kind == "image" and loaded.config.task == "classification":
        # The same function and settings as `python -m mfm evaluate`, so both show the same numbers.
        from mfm.eval.swap_metrics import image_generation_metrics

        generation = image_generation_metrics(model, dataset)
        if generation:
            summary["generation"] = {
                "label_swap_accuracy": {m: v["label_swap_prototype"] for m, v in generation.items()},
                "by_modality": generation,
            }

    from interpret.whatif import missing_modality_summary, zero_fill_summary

    # The paper's surrogate inference where the model has it; otherwise zero-filling, under its own key.
    n = min(len(split.labels), settings.information.max_samples or len(split.labels))
    what_if, key = (
        (missing_modality_summary, "missing_modality")
        if model.config.surrogate
        else (zero_fill_summary, "missing_modality_zero_fill")
    )
    summary[key] = what_if(
        model,
        {k: v[:n] for k, v in split.inputs.items()},
        split.labels[:n],
        progress=stage(progress, done, 1, stages, "missing modality: "),
    )
    done += 1
    release_free_memory()  # each stage's freed temporaries (mfm.memory)
    if progress is not None:
        progress(stages * RESOLUTION, stages * RESOLUTION, "done")

    figures = _information_sections(versions, notes, settings, split_name=settings.split)
    method = settings.gradients.method
    scale_title = f"scale {scale}: {FLOW_SCALE_NAMES[scale]}"
    if method != "exact":  # a Captum method's per-step profile, not the exact flow
        scale_title = f"by Captum's {CAPTUM_NAMES[method]} (squared attribution per step), {scale_title}"
    if all(f.shared.ndim == 2 for f in flows.values()):
        words = split.extras.get("words")
        # A Captum method's figures name what they show, as the Gradients page does.
        drawn = (
            {}
            if method == "exact"
            else {"title": f"{CAPTUM_NAMES[method]}: squared attribution per step",
                  "quantity": f"({CAPTUM_NAMES[method]} attribution)²"}
        )  # fmt: skip
        figures.append(
            (
                f"Gradient flow over time (mean over segments), {scale_title}",
                gradient_heatmap(flows, **drawn),
                GRADIENT_READING if method == "exact" else CAPTUM_READING,
            )
        )
        figures.append(
            (f"Gradient flow curves, {scale_title}", gradient_curves(flows, quantity=drawn.get("quantity")))
        )
        if words is not None:
            # The flows' row 0 is the first sample of the gradient subsample, not the split's row 0: take the
            # words and planted steps of that same segment.
            segment = summary["gradients"]["segment"]
            planted = {
                k.split("/", 1)[1]: v[segment] for k, v in split.extras.items() if k.startswith("mask/")
            }
            figures.append(
                (
                    f"Segment #{segment} of the {settings.split} split, with its words and planted steps "
                    f"({scale_title})",
                    gradient_heatmap(
                        flows,
                        sample=0,
                        sample_name=f"segment #{segment} of the {settings.split} split",
                        words=list(words[segment]),
                        planted=planted,
                        **drawn,
                    ),
                )
            )
    else:
        figures += [
            (f"Per-pixel gradient flow: {m}, {scale_title}", pixel_maps(f), GRADIENT_READING)
            for m, f in flows.items()
        ]
        if loaded.config.task == "classification":
            figures += _style_label_figures(context, split, settings.generation)
    summary = _clean(summary)
    return render_html(summary, figures), summary


def _estimate_json(e: MIEstimate) -> dict:
    """One MI estimate: value, interval and null (the dependence entries)."""
    return {"mi": e.value, "low": e.low, "high": e.high, "null_mean": e.null_mean, "null_high": e.null_high,
            "corrected": e.corrected, "interval": e.interval}  # fmt: skip


def _information_json(info: dict[str, ModalityInformation]) -> dict:
    """`information.<modality>` fields, the same for both versions."""
    return {
        m: {
            "shared_mi": v.shared.value, "shared_low": v.shared.low, "shared_high": v.shared.high,
            "shared_null_high": v.shared.null_high,
            "modality_mi": v.modality.value, "modality_low": v.modality.low, "modality_high": v.modality.high,
            "modality_null_high": v.modality.null_high,
            "ratio": v.ratio, "ratio_low": v.ratio_low, "ratio_high": v.ratio_high,
            # The intervals are widened by KSG's estimated bias (interpret.information); the values stay raw.
            "shared_corrected": v.shared.corrected, "modality_corrected": v.modality.corrected,
            "ratio_corrected": v.ratio_corrected, "interval": v.shared.interval,
            "variance_kept": dict(zip(("shared_factor", "modality_factor", "reconstruction"), v.variance_kept, strict=True)),
        }
        for m, v in info.items()
    }  # fmt: skip


def _information_sections(
    versions: InformationVersions, notes: dict[str, str], settings: ReportSettings, split_name: str
) -> list:
    """The information part of the page: both versions (one axis), the factors' dependence, the table, the notes."""
    info = settings.information
    label = info.estimator.upper()
    top = information_axis_max(versions.observational, versions.interventional)
    first = next(iter(versions.observational.values())).shared
    setup = (
        f"{label}, {versions.n_samples} samples of the {split_name} split, {info.n_components} principal "
        f"components a side{f', k = {info.k}' if info.estimator == 'ksg' else ''}, in nats; intervals from "
        f"{first.n_bootstrap} subsamples (95 %); black bars: the 95 % quantile of the estimate after shuffling the "
        f"pairs ({info.n_null} rounds), below which an estimate "
        "is indistinguishable from independence."
    )
    rows = information_comparison_rows(versions)
    table = _table_html(rows) + f'<p class="reading">{html.escape(COMPARISON_LEGEND)}</p>'
    if notes:
        table += (
            "<ul>"
            + "".join(f"<li><b>{html.escape(m)}</b>: {html.escape(n)}</li>" for m, n in notes.items())
            + "</ul>"
        )
    else:
        table += (
            "<p>The two versions agree on every modality (same side of their nulls, same ranking of r_i).</p>"
        )
    return [
        (
            "Information, observational (the paper's)",
            information_figure(
                versions.observational, label, title="Observational: the model's own X̂_i", mi_max=top
            ),
            INFORMATION_READINGS["observational"] + " " + setup,
        ),
        (
            "Information, interventional (F_y shuffled across samples)",
            information_figure(
                versions.interventional,
                label,
                title="Interventional: X̂_i decoded from shuffled F_y",
                mi_max=top,
            ),
            INFORMATION_READINGS["interventional"],
        ),
        (
            "Dependence of the factors, I(F_y; F_i)",
            dependence_figure(versions.dependence, label),
            INFORMATION_READINGS["dependence"],
        ),
        ("Both versions, per modality", table, None),
    ]


def _table_html(rows: list[dict]) -> str:
    """A plain HTML table of rows of the same keys."""
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row.values()) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value) -> str:
    if isinstance(value, float):
        return "n/a" if not np.isfinite(value) else f"{value:.4g}"
    return str(value)


def _provenance(source) -> dict | None:
    """What the report says about an imported checkpoint's origin (not the producer's whole config)."""
    if not isinstance(source, dict):
        return None
    keys = ("producer", "producer_name", "file", "sha256", "sizes_from", "dropped")
    return {k: source.get(k) for k in keys}


def _style_label_figures(context: Context, split, settings: GenerationSettings) -> list:
    """Rows = the real style sources, then the class prototypes (label factor); columns = test samples (style
    factor); for every image modality."""
    from interpret.generation import style_label_grid
    from mfm.eval.prototypes import class_prototypes
    from mfm.inference import FACTORS, run

    model, dataset = context.model, context.dataset
    train = run(model, dataset.splits["train"].inputs, keep=FACTORS)
    prototypes = class_prototypes(
        train.shared_factor, dataset.splits["train"].labels, model.config.num_classes
    )
    index = settings.style_rows(len(split.labels))
    sources = run(model, {k: v[index] for k, v in split.inputs.items()}, keep=FACTORS)
    labels = ["real", *(f"label {c}" for c in range(model.config.num_classes))]
    columns = [f"#{i}" for i in index]
    return [
        (
            f"Style x label: {m}",
            image_grid(
                np.concatenate(  # the style sources on top, so that a column can be judged against its source
                    [
                        split.inputs[m][index][None],
                        style_label_grid(model, m, sources.modality_factors[m], prototypes),
                    ]
                ),
                x_title="style of sample (row of the split)",
                y_title="top: the real sample; below: label factor F_y (class mean over the train split)",
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
    """A self-contained page: plotly.js inline once, then every section, then the summary as a table of JSON.

    `figures`: (title, content) or (title, content, reading) entries, where content is a Plotly figure or a piece
    of HTML, and the reading a line of text shown under the title (what the numbers measure, and what not).
    """
    parts = []
    inline = True
    for title, content, *rest in figures:
        reading = rest[0] if rest else None
        if isinstance(content, str):
            body = content
        else:
            body = pio.to_html(content, full_html=False, include_plotlyjs="inline" if inline else False)
            inline = False
        note = f'<p class="reading">{html.escape(reading)}</p>\n' if reading else ""
        parts.append(f"<h2>{html.escape(title)}</h2>\n{note}{body}")
    ckpt = summary["checkpoint"]
    faith = summary.get("faithfulness")
    faith_html = ""
    if faith:
        rows = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{_named_values(v['ratios'])}</td>"
            f"<td>{_fmt(v['ranking_margin'])}</td><td>{_named_values(v['auroc'])}</td></tr>"
            for k, v in faith.items()
            if isinstance(v, dict)
        )
        faith_html = (
            "<h2>Faithfulness against planted truth</h2><table><tr><th>model</th><th>ratios r_i (observational)</th>"
            f"<th>ranking margin (log)</th><th>F_y gradient-flow AUROC (scale std)</th></tr>{rows}</table>"
        )
    what_if_html = _what_if_html(summary)
    generation_html = _generation_html(summary)
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
pre{{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}}
.reading{{color:#444;font-size:14px;max-width:900px}}</style></head><body>
<h1>MFM interpretation report</h1>
<p>Checkpoint <code>{html.escape(str(ckpt["source"]))}</code>, SHA-256 <code>{ckpt["sha256"]}</code><br>
{html.escape(ckpt["kind"])} model ({html.escape(ckpt["task"])}) on <b>{html.escape(ckpt["dataset"])}</b>,
modalities {html.escape(", ".join(ckpt["modalities"]))}. Estimator: {html.escape(summary["settings"]["estimator"])};
seed {summary["settings"]["seed"]}; created {summary["created"]}.{origin_html}</p>
{faith_html}
{"".join(parts)}
{generation_html}
{what_if_html}
<h2>Summary (JSON)</h2>
<details><summary>Every number above, and the settings, as JSON (what <code>--json FILE</code> writes and the app offers for download)</summary>
<pre>{html.escape(json.dumps(summary, indent=2))}</pre></details>
</body></html>"""


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _named_values(values) -> str:
    """{name: number} as "name 0.123 · name 0.456" (3 significant digits), escaped for HTML."""
    if not isinstance(values, dict):
        return html.escape(str(values))
    return " · ".join(
        f"{html.escape(str(name))} {'n/a' if v is None else format(v, '.3g')}" for name, v in values.items()
    )


def _code_spans(escaped: str) -> str:
    """Markdown `code` spans of already escaped text as <code> elements (the app's notes are Markdown)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _generation_html(summary: dict) -> str:
    """Label-swap fidelity and style preservation (`mfm evaluate`'s numbers) as the Style & label page shows them:
    one row per measure, a column per modality, the real images' figure in brackets, and its warnings."""
    generation = summary.get("generation")
    if not generation:
        return ""
    abilities = swap_abilities(generation["by_modality"])
    names = list(generation["by_modality"])
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = "".join(
        f"<tr><td>{html.escape(row['measure'])}</td>"
        + "".join(f"<td>{html.escape(str(row[n]))}</td>" for n in names)
        + "</tr>"
        for row in abilities.rows
    )
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in abilities.warnings)
    return (
        f"<h2>Label swap and style preservation</h2><p>{_code_spans(html.escape(abilities.note))}</p>"
        + (f'<ul class="warnings">{warnings}</ul>' if warnings else "")
        + f"<table><tr><th>measure</th>{head}</tr>{rows}</table>"
    )


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
        f"<td>{_fmt(e['reconstruction_mse_full'])}</td><td>{_fmt(e[recon])}</td>"
        f"<td>{_fmt(e.get('reconstruction_mse_mean'))}</td></tr>"
        for name, e in entries.items()
    )
    return (
        f"<h2>{html.escape(title)}</h2><p>{html.escape(note)}</p><table><tr>"
        f"<th>{'zero-filled' if zero_fill else 'dropped'}</th><th>{headline} (all)</th>"
        f"<th>{headline} ({without})</th><th>prediction change</th><th>recon MSE with X_m</th>"
        f"<th>recon MSE {'from zeros' if zero_fill else 'inferred'}</th><th>recon MSE of the samples' mean</th>"
        f"</tr>{rows}</table>"
    )
