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
