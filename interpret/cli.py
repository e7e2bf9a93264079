"""`python -m interpret report FILE.pt --out report.html --json summary.json`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from mfm.data.cli import add_data_options
from mfm.files import atomic_write_text
from mfm.threads import threads_argument


def cmd_report(args: argparse.Namespace) -> int:
    """Write the HTML report and the JSON summary of one checkpoint."""
    from interpret.context import open_checkpoint
    from interpret.report import ReportSettings, build_report, report_splits
    from mfm.progress import terminal_bar
    from mfm.threads import apply_thread_policy

    apply_thread_policy(args.threads or None)

    settings = ReportSettings.from_flat(**{key: getattr(args, key) for key in _setting_flags()})
    context = open_checkpoint(
        args.checkpoint,
        config_json=args.config_json,
        data_dir=args.data_dir,
        nonfinite=args.nonfinite,
        align=args.align,
    )
    # The splits the report does not read are freed (issue 16: on the sequence demo, 63 MB of the peak's 657).
    context = context.keep_splits(report_splits(context, settings))
    with terminal_bar("report") as progress:
        page, summary = build_report(context, settings, progress)
    atomic_write_text(args.out, page)
    print(f"wrote {args.out} ({len(page) / 2**20:.1f} MiB)")
    if args.json:
        atomic_write_text(args.json, json.dumps(summary, indent=2))
        print(f"wrote {args.json}")
    for name, v in summary["information"].items():
        print(
            f"  {name:<10} I(F_y;X̂) {v['shared_mi']:.3f}  I(F_i;X̂) {v['modality_mi']:.3f}  "
            f"r {v['ratio']:.3g} [{v['ratio_low']:.3g}, {v['ratio_high']:.3g}]"
        )
    return 0


def _setting_flags() -> dict[str, tuple[str, dict]]:
    """Each report setting (a key of `ReportSettings.flat`) -> its command-line flag and argparse options: the one
    table behind the parser and `report_command`."""
    from interpret.gradients import FLOW_SCALES, GRADIENT_METHODS
    from interpret.information import ESTIMATORS

    return {
        "split": ("--split", {"choices": ["train", "valid", "test"]}),
        "estimator": ("--estimator", {"choices": list(ESTIMATORS)}),
        "max_samples": ("--samples", {"type": int, "help": "samples for the information estimates"}),
        "n_components": ("--components", {"type": int, "help": "principal components a side for the "
                         "information estimates (above 4 the intervals are not to be trusted for non-Gaussian "
                         "data)"}),
        "k": ("--k", {"type": int, "help": "KSG's neighbours"}),
        "n_bootstrap": ("--bootstrap", {"type": int, "help": "subsample rounds for the intervals"}),
        "n_null": ("--null", {"type": int, "help": "permutations for the shuffled-pairs null"}),
        "gradient_method": ("--gradient-method", {"choices": list(GRADIENT_METHODS), "help": "the exact "
                            "gradient flow (default) or a Captum method's per-step profile (sequence models)"}),
        "gradient_samples": ("--gradient-samples", {"type": int, "help": "samples for the gradient flow"}),
        "gradient_scale": ("--gradient-scale", {"choices": list(FLOW_SCALES), "help": "gradient flow per "
                           "one-sd change of each factor dimension (std, default) or the paper's raw norm"}),
        "gradient_steps": ("--gradient-steps", {"type": int, "help": "Integrated Gradients' steps (with "
                           "--gradient-method integrated_gradients)"}),
        "styles": ("--styles", {"type": int, "help": "style columns of the image models' grids"}),
        "faithfulness": ("--no-faithfulness", {"help": "skip the planted-truth checks"}),
        "seed": ("--seed", {"type": int}),
    }  # fmt: skip


def report_command(
    checkpoint: str,
    settings,
    *,
    config_json: str | None = None,
    data_dir: str | None = None,
    nonfinite: str | None = None,
) -> str:
    """The `python -m interpret report` command line that builds the report of `checkpoint` with `settings`
    (an `interpret.report.ReportSettings`): the flags of the settings that differ from the defaults, and the
    data options given (a safetensors file's config elsewhere than beside it, the data folder, the treatment of
    non-finite values when it is not the one the checkpoint records)."""
    import shlex

    from interpret.report import ReportSettings

    default, chosen = ReportSettings().flat(), settings.flat()
    words = ["python", "-m", "interpret", "report", checkpoint]
    for flag, value in (("--config-json", config_json), ("--data-dir", data_dir), ("--nonfinite", nonfinite)):
        words += [flag, value] if value else []
    for key, (flag, _) in _setting_flags().items():
        if chosen[key] != default[key]:
            words += [flag] if key == "faithfulness" else [flag, str(chosen[key])]
    return shlex.join(words)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m interpret`."""
    from interpret.report import ReportSettings

    parser = argparse.ArgumentParser(prog="python -m interpret", description="Interpret MFM checkpoints.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("report", help="write the HTML report and JSON summary of a checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("--out", default="report.html", help="HTML file to write (default report.html)")
    p.add_argument("--json", help="JSON summary file to write")
    p.add_argument("--config-json", help="the JSON config of a .safetensors checkpoint, when not beside it")
    p.add_argument("--data-dir", help="folder of the real data files, for checkpoints trained on them")
    default = ReportSettings().flat()  # the defaults live in ReportSettings alone
    for key, (flag, options) in _setting_flags().items():
        if key == "faithfulness":
            p.add_argument(flag, dest=key, action="store_false", help=options["help"])
        else:
            metavar = {"metavar": "N"} if options.get("type") is int else {}
            p.add_argument(flag, dest=key, default=default[key], **metavar, **options)
    p.add_argument(
        "--threads",
        type=threads_argument,
        default=0,
        help="CPU threads (default: every usable core; see mfm/threads.py)",
    )
    add_data_options(p)
    p.set_defaults(func=cmd_report, nonfinite=None, align=None)  # None: what the checkpoint recorded
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; project errors print one line, not a traceback."""
    from mfm.cli import guarded

    args = build_parser().parse_args(argv)
    return guarded(lambda: int(args.func(args) or 0))
