"""The `data` sub-command: list the data sets, describe one (--json), or write a preview image (--preview).

`add_data_parser(subparsers)` registers it on an argparse sub-parsers object; the handler returns an exit code.
`add_data_options(parser)` adds the loading policies `--nonfinite` and `--align` to any parser, and
`data_options(args)` turns the parsed values into `load_dataset` keyword arguments, so every command that loads
a data set offers the same options:

    add_data_options(parser)
    ...
    load_dataset(args.dataset, data_dir=args.data_dir, seed=..., **data_options(args))
"""

from __future__ import annotations

import argparse
import json
import sys

from mfm.data.align import ALIGN_MODES
from mfm.data.readers import NONFINITE_POLICIES
from mfm.data.registry import ALIGNABLE, list_datasets, load_dataset
from mfm.data.types import SPLIT_NAMES
from mfm.errors import DataError
from mfm.progress import terminal_bar


def add_data_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add `--nonfinite refuse|zero` and `--align none|avg_pool` (load_dataset's policies) to `parser`."""
    parser.add_argument(
        "--nonfinite",
        choices=NONFINITE_POLICIES,
        default="refuse",
        help="NaN / inf in a real data file's features: 'refuse' (default) stops with an error naming the file, "
        "the array and the count; 'zero' replaces them by 0, as MMSA's loader does with the -inf in MOSI's "
        "audio, and counts them (info: replaced_nonfinite)",
    )
    parser.add_argument(
        "--align",
        choices=ALIGN_MODES,
        default="none",
        help="sequence lengths of a real sequence data set ("
        + ", ".join(ALIGNABLE)
        + "): 'none' (default) keeps "
        "each modality's length; 'avg_pool' average-pools every modality to the language length, as MMSA's "
        "AlignSubNet does for its unaligned pickles (info: align, original_lengths)",
    )
    return parser


def data_options(args: argparse.Namespace) -> dict[str, str]:
    """The `load_dataset` keyword arguments (nonfinite, align) from a namespace parsed with add_data_options."""
    return {"nonfinite": getattr(args, "nonfinite", "refuse"), "align": getattr(args, "align", "none")}


def add_data_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the `data` sub-command on `subparsers` and return its parser (handler in `func`)."""
    names = ", ".join(spec.name for spec in list_datasets())
    parser = subparsers.add_parser(
        "data",
        help="list the data sets, describe one, or preview it",
        description=f"Without NAME: list the data sets ({names}). With NAME: load it and describe its splits.",
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="a data set name")
    parser.add_argument("--json", action="store_true", help="print the description as JSON")
    parser.add_argument("--preview", metavar="FILE.png", help="write a preview image of samples to FILE.png")
    parser.add_argument("--data-dir", metavar="DIR", help="folder (or file) holding a real data set's files")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the split and of generated data (default 0)"
    )
    parser.add_argument(
        "--split", choices=SPLIT_NAMES, default="test", help="split to preview (default test)"
    )
    parser.add_argument(
        "--index", type=int, default=0, help="segment to preview for sequence data (default 0)"
    )
    add_data_options(parser)
    parser.set_defaults(func=run_data_command)
    return parser


def run_data_command(args: argparse.Namespace) -> int:
    """Handle `data [NAME] [--json] [--preview FILE] [--data-dir DIR] [--seed N] [--nonfinite P] [--align A]`.

    Returns the exit code: 0, or 1 after printing the DataError to stderr.
    """
    if args.name is None:
        specs = list_datasets()
        if args.json:
            rows = [
                {
                    "name": s.name,
                    "description": s.description,
                    "needs_data_dir": s.needs_data_dir,
                    "task": s.task,
                    "modalities": list(s.modalities),
                }
                for s in specs
            ]
            print(json.dumps(rows, indent=2))
        else:
            width = max(len(s.name) for s in specs)
            for s in specs:
                where = "needs --data-dir" if s.needs_data_dir else "offline"
                print(f"{s.name:<{width}}  {s.task:<14}  {where:<16}  {s.description}")
        return 0
    try:
        with terminal_bar(f"loading {args.name}") as update:
            dataset = load_dataset(
                args.name, data_dir=args.data_dir, seed=args.seed, progress=update, **data_options(args)
            )
        if args.preview:
            from mfm.data.preview import write_preview

            write_preview(dataset, args.preview, split=args.split, index=args.index)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    summary = dataset.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        if dataset.task == "classification":
            label = f"int64 class id in 0..{dataset.num_classes - 1}"
        else:
            label = "float32 sentiment in [-3, 3]"
        print(f"{dataset.name}: {dataset.task}, label {label}")
        for modality in dataset.modalities:
            print(f"  {modality:<9} per-sample shape {tuple(dataset.shapes[modality])}")
        for split in SPLIT_NAMES:
            print(f"  {split:<5} {len(dataset.splits[split]):>6} samples")
        print(f"  extras: {', '.join(dataset.splits['train'].extras)}")
        _print_policies(dataset.info)
    if args.preview:
        print(f"wrote {args.preview}", file=sys.stderr)
    return 0


def _print_policies(info: dict) -> None:
    """The lines of the text description that say what the loading policies did (real sequence files only)."""
    if "nonfinite" in info:
        counts = info.get("replaced_nonfinite", {})
        done = [f"{split} {what} {n}" for split, per in counts.items() for what, n in per.items()]
        replaced = f"; replaced by 0: {', '.join(done)}" if done else ""
        print(f"  nonfinite: {info['nonfinite']}{replaced}")
    if "align" in info:
        lengths = ", ".join(f"{m} {t}" for m, t in info.get("original_lengths", {}).items())
        print(f"  align: {info['align']} (lengths in the file: {lengths})")
