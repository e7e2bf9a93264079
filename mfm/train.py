"""Training and evaluation loops. They know nothing of the UI: progress goes through a callback.

`train_model` minimises the MFM objective (plus the surrogate objective when enabled) with Adam, optionally on
randomly shifted images (`TrainConfig.max_shift`), evaluates on the validation split after every epoch, and keeps
the weights of the best epoch (accuracy for classification, MAE for regression, or a metric the caller adds);
with `TrainConfig.ema_decay` it validates and keeps an exponential moving average of the weights instead. On CPU
it is deterministic for a seed. Under `torchrun` (torch.distributed initialised) every process takes its share of
each batch and gradients are averaged across processes with `all_reduce`; rank 0 reports.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from mfm.augment import random_shift
from mfm.config import PAPER_OBJECTIVE, MFMConfig, ObjectiveConfig
from mfm.inference import as_tensor, predict
from mfm.losses import total_loss
from mfm.metrics import SELECTION_METRIC, task_metrics
from mfm.model import MFM
from mfm.progress import Progress

LR_SCHEDULES = ("constant", "cosine")


def learning_rate_factor(schedule: str, step: int, total_steps: int) -> float:
    """The factor on the base learning rate at optimisation step `step` (from 0) of `total_steps`."""
    if schedule == "constant":
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (the official MOSI code: batch 32, Adam with learning rate 1e-3)."""

    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 5.0  # max gradient norm; 0 disables clipping
    max_shift: int = 0  # augmentation: shift each training image by up to this many pixels (0: none)
    seed: int = 0
    device: str = "cpu"
    eval_batch_size: int = 256
    # Exponential moving average of the weights (0: off): after every step, W_avg <- d W_avg + (1 - d) W
    # (torch.optim.swa_utils.AveragedModel; BatchNorm's running statistics are averaged too, its step counts
    # copied). Validation, selection and the returned model then use the average.
    ema_decay: float = 0.0
    # The learning rate over training: "constant", or "cosine": step s of S (counted from 0) takes
    # learning_rate · (1 + cos(π s / S)) / 2, from the full rate down toward 0 at the last step
    # (Loshchilov & Hutter 2017, without restarts).
    lr_schedule: str = "constant"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or self.eval_batch_size < 1:
            raise ValueError("epochs must be >= 1, batch_size >= 2 and eval_batch_size >= 1")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.max_shift < 0 or self.weight_decay < 0:
            raise ValueError("max_shift and weight_decay must not be negative")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay (--ema) must be in [0, 1) (0: no averaging), got {self.ema_decay}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}"
            )


@dataclass
class EpochRecord:
    """One epoch's mean training loss terms, validation metrics and wall time."""

    epoch: int
    train: dict[str, float]
    valid: dict[str, float]
    seconds: float


@dataclass
class TrainResult:
    """The best model (eval mode), its epoch and validation metrics, and the per-epoch history."""

    model: MFM
    best_epoch: int
    best_valid: dict[str, float]
    history: list[EpochRecord] = field(default_factory=list)


# `train_model(selection=KEEP_LAST)`: keep the last epoch, whatever validation reads.
KEEP_LAST = ("last epoch", True)


def _better(score: float, best: float | None, larger_is_better: bool) -> bool:
    """Whether `score` beats `best` (None: nothing yet); NaN is worse than any number, so it is kept only first."""
    if best is None or (math.isnan(best) and not math.isnan(score)):
        return True
    return score > best if larger_is_better else score < best


def _labels_tensor(labels: np.ndarray, task: str, device: str | torch.device) -> Tensor:
    dtype = torch.long if task == "classification" else torch.float32
    return torch.as_tensor(np.asarray(labels), dtype=dtype, device=device)


def _distributed() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def evaluate_model(
    model: MFM, inputs: Mapping[str, np.ndarray], labels: np.ndarray, *, batch_size: int = 256
) -> dict[str, dict[str, float]]:
    """Metrics on a split: "all" modalities, and "without_<m>" for each m when the model has surrogate inference."""
    task = model.config.task
    results = {"all": task_metrics(task, predict(model, inputs, batch_size=batch_size), labels)}
    if model.config.surrogate:
        for m in model.modality_names:
            results[f"without_{m}"] = task_metrics(
                task, predict(model, inputs, missing=m, batch_size=batch_size), labels
            )
    return results


def train_model(
    config: MFMConfig,
    train_inputs: Mapping[str, np.ndarray],
    train_labels: np.ndarray,
    valid_inputs: Mapping[str, np.ndarray],
    valid_labels: np.ndarray,
    train_config: TrainConfig = TrainConfig(),
    *,
    objective: ObjectiveConfig = PAPER_OBJECTIVE,
    progress: Progress | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    extra_metrics: Callable[[MFM, dict[str, float]], dict[str, float]] | None = None,
    selection: tuple[str, bool] | None = None,
) -> TrainResult:
    """Train an MFM from scratch under `objective` and return the weights of its best validation epoch.

    `progress(done, total, stage)` is called after every optimisation step; `on_epoch(record)` after every epoch.
    The best epoch is the one with the best validation metric `selection` = (name, larger is better), by default
    the task's (`mfm.metrics.SELECTION_METRIC`: accuracy, or MAE). `extra_metrics(model, metrics)`, when given,
    adds validation metrics after every epoch (the model in eval mode; `metrics` the task's), which `selection`
    may name: `python -m mfm train --select swaps` adds label swaps read right. An exception it raises ends the
    run. Under torchrun every process computes them on the whole validation split (rank 0's model is saved).
    `selection` = `KEEP_LAST` keeps the last epoch (`--select last`, e.g. the end of a cosine schedule's decay);
    validation still runs after every epoch, for the history.
    """
    objective.check_model(config)
    rank, world = _distributed()
    torch.manual_seed(train_config.seed)  # dropout and initialisation; explicit, at call time
    device = torch.device(train_config.device)
    model = MFM(config).to(device)
    # Adam's fused kernel (CPU and CUDA): the same update to float rounding, about a quarter of the for-loop
    # implementation's time on the sequence preset's million weights (issue 16).
    optimiser = torch.optim.Adam(
        model.parameters(), lr=train_config.learning_rate, weight_decay=train_config.weight_decay, fused=True
    )
    if world > 1:  # every process starts from rank 0's initial weights
        for p in model.parameters():
            dist.broadcast(p.data, src=0)
    shuffle = torch.Generator().manual_seed(train_config.seed)
    prior = torch.Generator(device=device).manual_seed(train_config.seed + 1)
    augment = torch.Generator().manual_seed(train_config.seed + 2)
    images = [m.name for m in config.modalities if m.kind == "image"] if train_config.max_shift else []
    inputs = {n: as_tensor(x, device) for n, x in train_inputs.items()}
    if config.standardize_inputs:  # every process sees the whole training split, so all agree
        model.set_input_statistics(inputs)
    labels = _labels_tensor(train_labels, config.task, device)
    n_samples = len(labels)
    # The optimisation steps an epoch takes: every batch but one too small to split (see the loop's skip).
    size, smallest = train_config.batch_size, 2 * world
    steps_per_epoch = max(1, (n_samples // size) * (size >= smallest) + (n_samples % size >= smallest))
    total_steps = steps_per_epoch * train_config.epochs
    metric, larger_is_better = selection or SELECTION_METRIC[config.task]
    keep_last = selection == KEEP_LAST
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: learning_rate_factor(train_config.lr_schedule, s, total_steps)
    )
    averaged = (
        AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(train_config.ema_decay), use_buffers=True)
        if train_config.ema_decay
        else None
    )
    evaluated = model if averaged is None else averaged.module  # what validation reads and training keeps
    best_state, best_epoch, best_valid, best_score = None, 0, {}, None
    history: list[EpochRecord] = []
    step = 0
    for epoch in range(1, train_config.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(n_samples, generator=shuffle).to(device)
        sums: dict[str, float] = {}
        epoch_steps = 0
        for start in range(0, n_samples, train_config.batch_size):
            index = order[start : start + train_config.batch_size]
            if len(index) < 2 * world:  # BatchNorm and the MMD need at least two samples per process
                continue
            index = index[rank::world]  # this process's share of the batch
            batch = {n: x[index] for n, x in inputs.items()}
            for n in images:  # the shifted image is both the input and the reconstruction target
                batch[n] = random_shift(batch[n].cpu(), train_config.max_shift, augment).to(device)
            ramp = min(1.0, epoch / objective.ramp_epochs) if objective.ramp_epochs else 1.0
            terms, _ = total_loss(model, batch, labels[index], prior, ramp, objective=objective)
            optimiser.zero_grad(set_to_none=True)
            terms["total"].backward()
            if world > 1:
                for p in model.parameters():
                    if p.grad is not None:
                        dist.all_reduce(p.grad)
                        p.grad /= world
            if train_config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), train_config.grad_clip)
            optimiser.step()
            schedule.step()
            if averaged is not None:
                averaged.update_parameters(model)
                for kept, current in zip(averaged.module.buffers(), model.buffers(), strict=True):
                    if not kept.is_floating_point():  # counts (BatchNorm's num_batches_tracked): not averaged
                        kept.copy_(current)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            step += 1
            epoch_steps += 1
            if progress is not None and rank == 0:
                progress(step, total_steps, f"epoch {epoch}/{train_config.epochs}")
        train_terms = {k: v / max(1, epoch_steps) for k, v in sums.items()}
        # Selection reads the all-modality metrics only: the per-missing-modality sets wait for the end.
        valid = task_metrics(
            config.task,
            predict(evaluated, valid_inputs, batch_size=train_config.eval_batch_size),
            valid_labels,
        )
        if extra_metrics is not None:
            evaluated.eval()
            valid.update(extra_metrics(evaluated, valid))
        if metric not in valid and not keep_last:
            raise ValueError(
                f"the selection metric {metric!r} is not among the validation metrics {sorted(valid)}"
            )
        record = EpochRecord(epoch, train_terms, valid, time.perf_counter() - started)
        history.append(record)
        score = float(epoch) if keep_last else valid[metric]
        if _better(score, best_score, larger_is_better):
            best_state = copy.deepcopy(evaluated.state_dict())
            best_epoch, best_valid, best_score = epoch, valid, score
        if on_epoch is not None and rank == 0:
            on_epoch(record)
    assert best_state is not None  # at least one epoch ran
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model=model, best_epoch=best_epoch, best_valid=best_valid, history=history)
