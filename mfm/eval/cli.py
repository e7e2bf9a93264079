"""`python -m mfm train-classifier`: train one independent digit classifier (:mod:`mfm.eval.classifiers`).

    python -m mfm train-classifier --dataset digits --modality mnist --epochs 20 --seed 0 --out FILE

`add_classifier_parser` registers the sub-command on `python -m mfm`'s parser, as `mfm.data.cli` does for `data`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

import torch

from mfm.augment import gaussian_blur
from mfm.errors import MFMError
from mfm.eval.classifiers import BLUR_CHECKS, accuracy, save_classifier, train_classifier
from mfm.progress import terminal_bar
from mfm.threads import threads_argument


def add_classifier_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the `train-classifier` sub-command on `subparsers` and return its parser (handler in `func`)."""
    parser = subparsers.add_parser(
        "train-classifier",
        help="train an independent digit classifier for one image modality (scores generated images)",
        description="Train a DigitClassifier on one image modality's training split, keep the best validation "
        "epoch, print its test accuracy and save it (command, seed, wall time and accuracies in its metadata).",
    )
    parser.add_argument("--dataset", default="digits", help="an image data set (default digits)")
    parser.add_argument(
        "--data-dir", help="folder with the real data files, for the data sets that need them"
    )
    parser.add_argument(
        "--data-seed", type=int, default=0, help="seed of the data generator and split (default 0)"
    )
    parser.add_argument(
        "--modality", required=True, help="the image modality to classify, e.g. svhn or mnist"
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of initialisation, dropout, shuffling, shifts"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument(
        "--max-shift",
        type=int,
        default=2,
        help="augmentation: random shifts up to this many pixels (default 2)",
    )
    parser.add_argument(
        "--max-blur",
        type=float,
        default=2.0,
        help="augmentation: random Gaussian blur with sigma up to this many pixels, so that smooth generated "
        "strokes are read by their shape (default 2; 0 disables)",
    )
    parser.add_argument(
        "--threads", type=threads_argument, default=0, help="CPU threads (default: every usable core)"
    )
    parser.add_argument("--out", required=True, help="classifier file to write (.pt)")
    parser.set_defaults(func=run_train_classifier)
    return parser


def run_train_classifier(args: argparse.Namespace) -> int:
    """Handle `train-classifier`: train, report test accuracy, save with metadata; returns the exit code."""
    from mfm.data import load_dataset
    from mfm.threads import apply_thread_policy

    apply_thread_policy(args.threads or None)
    data = load_dataset(args.dataset, data_dir=args.data_dir, seed=args.data_seed)
    if data.task != "classification" or args.modality not in data.modalities:
        raise MFMError(
            f"{args.dataset!r} has no image modality {args.modality!r} with class labels "
            f"(modalities: {', '.join(data.modalities)})"
        )
    if len(data.shapes[args.modality]) != 3:
        raise MFMError(f"{args.modality!r} is not an image modality (shape {data.shapes[args.modality]})")
    train, valid, test = (data.splits[s] for s in ("train", "valid", "test"))
    started = time.perf_counter()
    with terminal_bar(f"training the {args.modality} classifier") as update:
        model, metrics = train_classifier(
            train.inputs[args.modality],
            train.labels,
            valid.inputs[args.modality],
            valid.labels,
            epochs=args.epochs,
            seed=args.seed,
            num_classes=data.num_classes,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            max_shift=args.max_shift,
            max_blur=args.max_blur,
            progress=update,
        )
    wall = time.perf_counter() - started
    test_accuracy = accuracy(model, test.inputs[args.modality], test.labels)
    test_images = torch.as_tensor(test.inputs[args.modality], dtype=torch.float32)
    blurred = {  # robustness: accuracy on the real test images blurred by a Gaussian of this sigma
        f"test_accuracy_blur_{sigma:g}": accuracy(
            model, gaussian_blur(test_images, torch.full((len(test),), sigma)), test.labels
        )
        for sigma in BLUR_CHECKS
    }
    argv = getattr(args, "argv", None)
    command = "python -m mfm " + shlex.join(argv) if argv is not None else shlex.join(sys.argv)
    metadata = {
        "dataset": data.name,
        "data_dir": args.data_dir,
        "data_seed": args.data_seed,
        "modality": args.modality,
        "split_sizes": {"train": len(train), "valid": len(valid), "test": len(test)},
        "seed": args.seed,
        "command": command,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "max_shift": args.max_shift,
        "max_blur": args.max_blur,
        "threads": torch.get_num_threads(),
        "wall_seconds": round(wall, 1),
        "best_epoch": metrics["best_epoch"],
        "metrics": {
            "train_accuracy": metrics["train_accuracy"],
            "valid_accuracy": metrics["valid_accuracy"],
            "test_accuracy": test_accuracy,
            **blurred,
        },
        "history": metrics["history"],
    }
    path = save_classifier(args.out, model, metadata)
    print(
        f"{args.modality}: best epoch {metrics['best_epoch']}; accuracy train {metrics['train_accuracy']:.4f}, "
        f"valid {metrics['valid_accuracy']:.4f}, test {test_accuracy:.4f}; blurred test "
        + ", ".join(f"{k.rsplit('_', 1)[1]}: {v:.4f}" for k, v in blurred.items())
    )
    print(f"saved {path} ({path.stat().st_size / 2**20:.2f} MiB, {wall:.0f} s)")
    return 0
