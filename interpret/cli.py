"""`python -m interpret report FILE.pt --out report.html --json summary.json`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from mfm.data.cli import add_data_options
from mfm.files import atomic_write_text
from mfm.threads import threads_argument


def cmd_report(args: argparse.Namespace) -> int:
    """Write the HTML report and the JSON summary of one checkpoint."""
    from tqdm import tqdm

    from interpret.context import open_checkpoint
    from interpret.report import ReportSettings, build_report
    from mfm.threads import apply_thread_policy

    apply_thread_policy(args.threads or None)

    settings = ReportSettings(
        split=args.split,
        estimator=args.estimator,
        max_samples=args.samples,
        n_bootstrap=args.bootstrap,
        n_null=args.null,
        gradient_samples=args.gradient_samples,
        gradient_scale=args.gradient_scale,
        faithfulness=not args.no_faithfulness,
        seed=args.seed,
    )
    bar = tqdm(
        total=1,
        desc="report",
        unit="",
        dynamic_ncols=True,
        file=sys.stderr,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}",
    )

    def progress(done: int, total: int, stage: str) -> None:
        bar.total = total
        bar.n = done
        bar.set_postfix_str(stage[:60], refresh=False)
        bar.refresh()

    try:
        context = open_checkpoint(
            args.checkpoint,
            config_json=args.config_json,
            data_dir=args.data_dir,
            nonfinite=args.nonfinite,
            align=args.align,
        )
        page, summary = build_report(context, settings, progress)
    finally:
        bar.close()
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m interpret`."""
    parser = argparse.ArgumentParser(prog="python -m interpret", description="Interpret MFM checkpoints.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("report", help="write the HTML report and JSON summary of a checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("--out", default="report.html", help="HTML file to write (default report.html)")
    p.add_argument("--json", help="JSON summary file to write")
    p.add_argument("--config-json", help="the JSON config of a .safetensors checkpoint, when not beside it")
    p.add_argument("--data-dir", help="folder of the real data files, for checkpoints trained on them")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"])
    p.add_argument("--estimator", default="ksg", choices=["ksg", "gaussian"])
    p.add_argument("--samples", type=int, default=600, help="samples for the information estimates")
    p.add_argument("--bootstrap", type=int, default=30, help="subsample rounds for the intervals")
    p.add_argument("--null", type=int, default=10, help="permutations for the shuffled-pairs null")
    p.add_argument("--gradient-samples", type=int, default=128)
    p.add_argument(
        "--gradient-scale",
        default="std",
        choices=["std", "raw"],
        help="gradient flow per one-sd change of each factor dimension (std, default) or the paper's raw norm",
    )
    p.add_argument("--no-faithfulness", action="store_true", help="skip the planted-truth checks")
    p.add_argument("--seed", type=int, default=0)
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
