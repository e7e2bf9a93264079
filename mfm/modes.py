"""Running a model without side effects: every interpretation leaves the model's modes as it found them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for the block; every submodule's train/eval flag is restored afterwards, also after an exception.

    Flags are saved per submodule (not just the top-level one), so a model that was deliberately half in eval mode
    (say, frozen BatchNorm inside a training model) comes back exactly as it was. Gradients stay enabled: Captum and
    forward-mode differentiation need them.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


@contextmanager
def inference(model: nn.Module) -> Iterator[None]:
    """`eval_mode` plus `torch.no_grad()`: for generation and prediction."""
    with eval_mode(model), torch.no_grad():
        yield


@contextmanager
def frozen(model: nn.Module) -> Iterator[None]:
    """`eval_mode` with every parameter held fixed: the model as a critic that gradients pass through to its inputs.

    Inside the block no parameter requires a gradient (so a loss computed on the model's outputs trains only what
    produced its inputs) and BatchNorm uses its running statistics (the critic reads a batch of generated images
    as it reads real ones, and those images do not enter the statistics). Flags are restored afterwards.
    """
    parameters = [(p, p.requires_grad) for p in model.parameters()]
    with eval_mode(model):
        try:
            for p, _ in parameters:
                p.requires_grad_(False)
            yield
        finally:
            for p, requires_grad in parameters:
                p.requires_grad_(requires_grad)
