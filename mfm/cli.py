"""`python -m mfm`: train, evaluate and check MFM checkpoints, and list the data sets.

python -m mfm train --dataset sentiment --epochs 30 --seed 0 --out runs/sentiment.pt
python -m mfm evaluate runs/sentiment.pt --json
python -m mfm check runs/sentiment.pt
python -m mfm data sentiment --json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from typing import Any

from mfm.data.cli import add_data_options
from mfm.errors import MFMError
from mfm.progress import terminal_bar
from mfm.threads import threads_argument


def _subset(split: Any, limit: int | None) -> tuple[dict, Any]:
    """(inputs, labels) of a split, keeping only its first `limit` samples when given."""
    if limit is None:
        return dict(split.inputs), split.labels
    return {n: x[:limit] for n, x in split.inputs.items()}, split.labels[:limit]


def _load_data(name: str, data_dir: str | None, seed: int, options: dict[str, str] | None = None):
    from mfm.data import load_dataset

    with terminal_bar(f"loading {name}") as update:
        return load_dataset(name, data_dir=data_dir, seed=seed, progress=update, **(options or {}))


def _recorded_options(args: argparse.Namespace, meta: dict[str, Any]) -> dict[str, str]:
    """The data-loading options: those given on the command line, else those the checkpoint recorded."""
    recorded = meta.get("data_options") if isinstance(meta.get("data_options"), dict) else {}
    return {
        key: getattr(args, key) or recorded.get(key) or default
        for key, default in (("nonfinite", "refuse"), ("align", "none"))
    }


def _format_metrics(results: dict[str, dict[str, float]]) -> str:
    """A table: one row per result set and one column per metric, transposed when there are many metrics."""
    columns = sorted({k for row in results.values() for k in row})
    if len(columns) > 8:  # too wide: one metric per row, one result set per column
        results = {c: {r: row.get(c, float("nan")) for r, row in results.items()} for c in columns}
        columns = list(next(iter(results.values())))
    width = max(len(r) for r in results) + 2
    cell = max(14, *(len(c) + 2 for c in columns))
    lines = [" " * width + "".join(f"{c:>{cell}}" for c in columns)]
    for row_name, row in results.items():
        lines.append(
            f"{row_name:<{width}}" + "".join(f"{row.get(c, float('nan')):>{cell}.4f}" for c in columns)
        )
    return "\n".join(lines)


def _init_distributed(device: str) -> int:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); returns this process's rank."""
    import os

    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return dist.get_rank()


# -- commands ----------------------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    """Train a model on a data set and save the best validation epoch as a checkpoint."""
    import torch

    from mfm.checkpoint import save_checkpoint
    from mfm.presets import fusion_note, setup_for_dataset
    from mfm.threads import apply_thread_policy, local_processes
    from mfm.train import KEEP_LAST, TrainConfig, evaluate_model, train_model

    # torchrun's processes on this machine share its cores: each takes its part unless --threads or MFM_THREADS
    # says otherwise.
    apply_thread_policy(args.threads or None, share=local_processes())
    rank = _init_distributed(args.device)
    from mfm.data.cli import data_options

    options = data_options(args)
    data = _load_data(args.dataset, args.data_dir, args.data_seed, options)
    overrides = json.loads(args.config) if args.config else {}
    config, objective = setup_for_dataset(
        data.modalities,
        data.shapes,
        data.task,
        data.num_classes,
        surrogate=not args.no_surrogate,
        **overrides,
    )
    note = fusion_note(config)
    if note:
        print(f"note: {note}", file=sys.stderr)
    train_config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        max_shift=args.max_shift,
        seed=args.seed,
        device=args.device,
        ema_decay=args.ema,
        lr_schedule=args.lr_schedule,
    )
    train_x, train_y = _subset(data.splits["train"], args.limit)
    valid_x, valid_y = _subset(data.splits["valid"], args.limit)
    test_x, test_y = _subset(data.splits["test"], args.limit)
    extra_metrics, selection = None, None
    if args.classifiers and args.select != "swaps":
        raise MFMError("--classifiers is read only with --select swaps")
    if args.select == "swaps":  # refused here, before any training, for a model without digit classifiers
        from mfm.eval.swap_metrics import swap_selection

        extra_metrics, selection = swap_selection(config, valid_x, valid_y, args.classifiers)
    elif args.select == "last":
        selection = KEEP_LAST

    def report(record) -> None:
        from tqdm import tqdm

        valid = ", ".join(f"{k} {v:.4f}" for k, v in record.valid.items())
        tqdm.write(
            f"epoch {record.epoch:3d}  loss {record.train.get('total', float('nan')):.4f}  valid: {valid}  "
            f"({record.seconds:.1f} s)"
        )

    started = time.perf_counter()
    with terminal_bar("training") as update:
        result = train_model(
            config,
            train_x,
            train_y,
            valid_x,
            valid_y,
            train_config,
            objective=objective,
            progress=update,
            on_epoch=report,
            extra_metrics=extra_metrics,
            selection=selection,
        )
    wall = time.perf_counter() - started
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    if rank != 0:  # under torchrun, rank 0 evaluates and writes the checkpoint
        return 0
    test = evaluate_model(result.model, test_x, test_y)
    metadata = {
        "dataset": data.name,
        "data_dir": args.data_dir,
        "data_seed": args.data_seed,
        "data_generator_version": data.info.get("generator_version"),  # None for real data
        "data_options": options,
        "limit": args.limit,
        "split_sizes": {"train": len(train_y), "valid": len(valid_y), "test": len(test_y)},
        "seed": args.seed,
        "command": "python -m mfm " + shlex.join(args.argv),
        "train_config": {k: getattr(train_config, k) for k in train_config.__dataclass_fields__},
        "best_epoch": result.best_epoch,
        "selection": args.select,
        "wall_seconds": round(wall, 1),
        "metrics": {"valid": result.best_valid, "test": test},
        "history": [{"epoch": r.epoch, "train": r.train, "valid": r.valid} for r in result.history],
    }
    path = save_checkpoint(args.out, result.model.cpu(), metadata, objective)
    print(f"best epoch {result.best_epoch}; test metrics:\n{_format_metrics(test)}")
    print(f"saved {path} ({path.stat().st_size / 2**20:.2f} MiB, {wall:.0f} s)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Test-split metrics of a checkpoint (per modality subset too when it has surrogate inference)."""
    from mfm.checkpoint import load_checkpoint
    from mfm.data import check_data_version
    from mfm.threads import apply_thread_policy
    from mfm.train import evaluate_model

    apply_thread_policy(args.threads or None)
    loaded = load_checkpoint(args.checkpoint, device=args.device)
    meta = loaded.metadata
    name = args.dataset or meta.get("dataset")
    if not name:
        raise MFMError("the checkpoint's metadata names no data set; pass --dataset NAME")
    data = _load_data(
        name, args.data_dir or meta.get("data_dir"), meta.get("data_seed", 0), _recorded_options(args, meta)
    )
    check_data_version(meta, data)
    limit = args.limit if args.limit is not None else meta.get("limit")
    test_x, test_y = _subset(data.splits["test"], limit)
    results = evaluate_model(loaded.model, test_x, test_y)
    from mfm.eval.swap_metrics import image_generation_metrics

    generation = image_generation_metrics(loaded.model, data, args.classifiers)
    if args.json:
        summary = {"checkpoint": str(args.checkpoint), "sha256": loaded.sha256, "dataset": name,
                   "test_samples": len(test_y), "metrics": results, "generation": generation}  # fmt: skip
        print(json.dumps(summary, indent=2))
    else:
        print(f"{args.checkpoint}  ({name}, {len(test_y)} test samples)\n{_format_metrics(results)}")
        if generation:
            print("\nlabel swap and style preservation (independent classifiers, test split):")
            print(_format_metrics(generation))
    return 0


def _named_weights_text(label: str, weight: float, per_modality: tuple[tuple[str, float], ...]) -> str:
    """'edge weight 0.3' or, with per-modality weights, 'edge weight 0 (mnist 1)'."""
    named = ", ".join(f"{n} {w:g}" for n, w in per_modality)
    return f"{label} {weight:g}" + (f" ({named})" if named else "")


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a checkpoint and print a one-screen summary; exit status 1 when it is not valid."""
    from mfm.checkpoint import load_checkpoint
    from mfm.model import parameter_counts

    try:
        loaded = load_checkpoint(args.checkpoint, config_json=args.config_json)
    except MFMError as exc:
        print(f"INVALID: {exc}")
        return 1
    cfg, meta, objective = loaded.config, loaded.metadata, loaded.objective
    print(f"valid MFM checkpoint: {loaded.source}")
    print(f"  format      version {loaded.version}" + (" (read as version 2)" if loaded.version == 1 else ""))
    print(f"  sha256      {loaded.sha256}")
    source = meta.get("imported_from")
    if isinstance(source, dict):
        print(
            f"  imported    from {source.get('producer')} weights {source.get('file')} (sha256 {source.get('sha256')})"
        )
    print(
        f"  kind        {cfg.kind} model, task {cfg.task}"
        + (f" ({cfg.num_classes} classes)" if cfg.task == "classification" else "")
    )
    print(f"  fusion      {cfg.fusion}; surrogate inference {'on' if cfg.surrogate else 'off'}")
    print(f"  shared      z_y {cfg.shared_code_dim}, F_y {cfg.shared_factor_dim}")
    extras = {"inputs standardised": cfg.standardize_inputs}
    if objective is not None:
        extras.update(
            {
                f"style adversary {objective.style_adversary_weight:g}": objective.style_adversary_weight > 0,
                f"swap cycle {objective.swap_weight:g}": objective.swap_weight > 0,
                _named_weights_text(
                    "foreground weight", objective.foreground_weight, objective.foreground_weights
                ): objective.uses_foreground,
                f"chroma weight {objective.chroma_weight:g}": objective.chroma_weight > 0,
                f"colour weight {objective.colour_weight:g}": objective.colour_weight > 0,
                f"tone weight {objective.tone_weight:g}": objective.tone_weight > 0,
                f"thickness weight {objective.thickness_weight:g}": objective.thickness_weight > 0,
                _named_weights_text("edge weight", objective.edge_weight, objective.edge_weights): (
                    objective.uses_edges
                ),
            }
        )
    if any(extras.values()):
        print(f"  extras      {'; '.join(k for k, on in extras.items() if on)}")
    if objective is None:
        print("  objective   not recorded")
    else:
        print(
            f"  objective   λ_mmd {objective.mmd_weight:g}"
            + (f", surrogate {objective.surrogate_weight:g}" if cfg.surrogate else "")
        )
    for m in cfg.modalities:
        weight = f", λ {objective.recon_weight(m.name):g}" if objective is not None else ""
        encoder = f", encoder {m.encoder_width}" if m.encoder_width != m.hidden_dim else ""
        decoder = f", decoder {m.decoder_name}" if m.kind == "image" else ""
        print(
            f"  {m.name:<11} {m.kind} {tuple(m.shape)}: z {m.code_dim}, F {m.factor_dim}, hidden {m.hidden_dim}"
            f"{encoder}{decoder}{weight}"
        )
    print(f"  parameters  {parameter_counts(loaded.model)['total']:,}")
    for key in ("dataset", "seed", "best_epoch", "wall_seconds", "created", "command"):
        if key in meta:
            print(f"  {key:<11} {meta[key]}")
            if key == "dataset" and meta.get("data_generator_version") is not None:
                print(f"  {'generator':<11} version {meta['data_generator_version']} of the generated data")
    test = meta.get("metrics", {}).get("test", {}).get("all")
    if test:
        print("  test        " + ", ".join(f"{k} {v:.4f}" for k, v in test.items()))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Import a state_dict saved by the authors' code or MMSA as a version-2 checkpoint."""
    from mfm.checkpoint import save_checkpoint
    from mfm.importers import PRODUCER_NAMES, import_model, parse_config_json
    from mfm.model import parameter_counts

    config = parse_config_json(args.config) if args.config else None
    result = import_model(
        args.producer, args.weights, config, steps=args.steps, dataset=args.dataset, data_dir=args.data_dir
    )
    metadata = dict(result.metadata)
    metadata["data_options"] = {"nonfinite": args.nonfinite or "refuse", "align": args.align or "none"}
    if args.data_generator_version is not None:  # the user states it read this program's generated data
        metadata["data_generator_version"] = args.data_generator_version
    metadata["command"] = "python -m mfm " + shlex.join(args.argv)
    path = save_checkpoint(args.out, result.model, metadata, result.objective)
    cfg = result.model.config
    print(f"imported {args.weights} ({PRODUCER_NAMES[args.producer]}) -> {path}")
    print(
        f"  sizes from {metadata['imported_from']['sizes_from']}; T {cfg.modalities[0].shape[0]}; "
        f"z_y {cfg.shared_code_dim}, F_y {cfg.shared_factor_dim}; {parameter_counts(result.model)['total']:,} parameters"
    )
    for m in cfg.modalities:
        print(f"  {m.name:<9} D {m.shape[1]}: z {m.code_dim}, F {m.factor_dim}, MFN cell {m.hidden_dim}")
    if result.dropped:
        print(f"  dropped (unused by MFM's forward): {', '.join(result.dropped)}")
    print("  no input standardisation, no surrogate inference (the producers' MFM has none)")
    if result.objective is None:
        print("  the producer's loss weights are not recorded (no config given)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m mfm`."""
    parser = argparse.ArgumentParser(
        prog="python -m mfm", description="Multimodal Factorization Model tools."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a model and save its best validation epoch")
    p.add_argument("--dataset", required=True, help="data set name (see `python -m mfm data`)")
    p.add_argument("--data-dir", help="folder with the real data files, for the data sets that need them")
    p.add_argument(
        "--data-seed", type=int, default=0, help="seed of the data generator and split (default 0)"
    )
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument(
        "--seed", type=int, default=0, help="seed of initialisation, dropout, shuffling and the MMD prior"
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.0, help="Adam's L2 weight decay (default 0)")
    p.add_argument(
        "--max-shift",
        type=int,
        default=0,
        help="augmentation: shift training images by up to this many pixels (default 0: none)",
    )
    p.add_argument("--limit", type=int, help="use only the first N samples of each split (quick runs)")
    p.add_argument("--no-surrogate", action="store_true", help="build the model without surrogate inference")
    p.add_argument(
        "--config",
        help="JSON object of MFMConfig or ObjectiveConfig fields to override, e.g. '{\"mmd_weight\": 0.5}'; "
        'per modality by name: \'{"modalities": {"svhn": {"hidden_dim": 32, "recon_weight": 2}}}\'',
    )
    p.add_argument(
        "--threads",
        type=threads_argument,
        default=0,
        help="CPU threads (default: every usable core, shared among torchrun's processes; see mfm/threads.py)",
    )
    p.add_argument(
        "--ema",
        type=float,
        default=0.0,
        metavar="DECAY",
        help="validate and keep an exponential moving average of the weights, updated after every step with "
        "this decay, e.g. 0.998 (default 0: the weights themselves)",
    )
    p.add_argument(
        "--lr-schedule",
        choices=["constant", "cosine"],
        default="constant",
        help="the learning rate over training: constant (default), or cosine, from --lr down toward 0 at the "
        "last step",
    )
    p.add_argument(
        "--select",
        choices=["task", "swaps", "last"],
        default="task",
        help="which epoch to keep: the best validation accuracy (MAE for regression; default), or for an image "
        "classifier 'swaps': the best mean of the validation accuracy and the label swaps that the digit "
        "classifiers read right on the validation split; 'last': the last epoch (e.g. with --lr-schedule cosine)",
    )
    p.add_argument(
        "--classifiers",
        help="folder of <modality>.pt digit classifiers for --select swaps (default: the shipped)",
    )
    p.add_argument("--out", required=True, help="checkpoint file to write (.pt or .safetensors)")
    add_data_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="test-split metrics of a checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("--dataset", help="data set name (default: the one in the checkpoint's metadata)")
    p.add_argument("--data-dir")
    p.add_argument("--limit", type=int, help="evaluate on the first N test samples only")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--classifiers", help="folder of independent digit classifiers (default: the shipped ones)"
    )
    p.add_argument(
        "--threads", type=threads_argument, default=0, help="CPU threads (default: every usable core)"
    )
    add_data_options(p)
    p.set_defaults(func=cmd_evaluate, nonfinite=None, align=None)  # None: what the checkpoint recorded

    from mfm.importers import PRODUCERS

    p = sub.add_parser(
        "import",
        help="import an MFM trained with the authors' code or MMSA (a state_dict) as a checkpoint",
        description="Read a state_dict saved by pliang279/factorized or MMSA (.pt/.pth/.bin, zip or legacy "
        "format, with or without MMSA's 'Model.' prefix) without running anything from it, map it onto this "
        "project's MFM and write a version-2 checkpoint.",
    )
    p.add_argument("weights", help="the state_dict file")
    p.add_argument("--from", dest="producer", required=True, choices=PRODUCERS, help="who trained it")
    p.add_argument(
        "--config",
        help="the producer's config as JSON: official, the list [config, NN1Config, NN2Config, gamma1Config, "
        "gamma2Config, outConfig]; mmsa, its argument dict (get_config_regression('mfm', DATASET)). Without it "
        "every size is inferred from the weights' shapes and --steps is needed",
    )
    p.add_argument("--steps", type=int, help="sequence length T (when the config does not say)")
    p.add_argument(
        "--dataset", help="the data set it reads, recorded for the interpretations (mosi, mosi-pickle)"
    )
    p.add_argument("--data-dir", help="folder (or pickle) of that data set, recorded too")
    p.add_argument(
        "--data-generator-version",
        type=int,
        help="only for a model trained on this program's generated data (sentiment): the generator version it "
        "read; without it such data is refused, since its planted truth may differ",
    )
    p.add_argument("--out", required=True, help="checkpoint file to write (.pt or .safetensors)")
    add_data_options(p)
    p.set_defaults(func=cmd_import, nonfinite=None, align=None)

    p = sub.add_parser("check", help="validate a checkpoint and summarise it")
    p.add_argument("checkpoint")
    p.add_argument("--config-json", help="the JSON config of a .safetensors file, when not beside it")
    p.set_defaults(func=cmd_check)

    from mfm.data.cli import add_data_parser
    from mfm.eval.cli import add_classifier_parser

    add_data_parser(sub)
    add_classifier_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status. Every failure prints one line, not a traceback (see `guarded`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    return guarded(lambda: int(args.func(args) or 0))


def guarded(command) -> int:
    """Run `command()` behind the CLI's one exception boundary: project errors (bad files, bad settings) print
    their message and return 2; anything else (a bug, or input no check foresaw) prints one line naming the
    exception type and returns 3. MFM_DEBUG=1 re-raises instead, for the traceback."""
    import os

    try:
        return command()
    except (MFMError, ValueError) as exc:  # ValueError: e.g. malformed JSON given on the command line
        if os.environ.get("MFM_DEBUG"):
            raise
        print(f"error: {str(exc)[:2000]}", file=sys.stderr)
        return 2
    except (Exception, RecursionError, MemoryError) as exc:
        if os.environ.get("MFM_DEBUG"):
            raise
        print(
            f"error: unexpected {type(exc).__name__} (set MFM_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
