"""Gradient-based interpretation: how strongly each generated step (or pixel) depends on each factor.

The paper's measure, for modality i and time step t:

    shared flow   ‖∂X̂_i^(t) / ∂F_y‖²_F        modality flow   ‖∂X̂_i^(t) / ∂F_{a_i}‖²_F

Raw, these are not comparable across factors: a factor whose dimensions spread widely over the data moves X̂_i
more per unit of gradient than one that barely varies (on the sequence demo the per-dimension variance of F_y is
0.39, of F_acoustic 11.9). So by default (`scale="std"`) each input dimension's squared derivative is weighted by
that dimension's variance over the analysed samples, Σ_j σ_j² (∂X̂_i^(t)/∂u_j)²: the squared effect on step t of
moving every factor dimension by one standard deviation (a first-order, per-step sensitivity, not an importance
or a share of the prediction). `scale="raw"` gives the paper's unweighted norms.

Both come from one Jacobian of decoder G_i with respect to its input u = [F_y ; F_i]. We compute it exactly with
forward-mode differentiation: one Jacobian-vector product per input dimension (F_y + F_i of them, e.g. 104 for the
MOSI language decoder), vectorised with `torch.func.vmap` over those directions and batched over samples, instead of
one backward pass per generated number (T x D of them, 6,000 for language). The squares are summed inside the
vectorised map, a chunk of directions at a time, so the Jacobian itself is never held (`squared_derivatives`); a
sequence decoder's frames are a linear read-out of its hidden states, so its flow differentiates those and squares
them through that read-out's QR factor (`sequence_readout`). For images the "steps" are pixels: the flow is summed
over colour channels, giving one map per factor of shape (H, W).

Beside it, Captum's attribution methods (Saliency, InputXGradient, IntegratedGradients) attribute a chosen generated
quantity to the factors. Every function here leaves the model as it found it: its train/eval
mode, its parameters' `requires_grad` and `.grad`, and its hooks (tests check this).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mfm.inference import as_tensor, check_count, device_of
from mfm.memory import release_free_memory
from mfm.model import MFM, ImageDecoder, SequenceDecoder
from mfm.modes import eval_mode
from mfm.progress import Progress

CAPTUM_METHODS = ("saliency", "input_x_gradient", "integrated_gradients")
FLOW_SCALES = ("std", "raw")
"""`scale=` of the gradient flow: "std" weights each factor dimension by its spread (default), "raw" does not."""
GRADIENT_METHODS = ("exact", *CAPTUM_METHODS)
"""The exact gradient flow (the paper's measure), then Captum's per-step attributions (sequences only)."""


@dataclass(frozen=True)
class GradientSettings:
    """How the gradient flow of a model is computed: one value for the Gradients page's controls, the report and
    its CLI (`interpret.report.ReportSettings.gradients`), and the cache key of a page's result.

    `method`: "exact" (:func:`gradient_flow`) or a Captum method (:func:`captum_time_profile`, sequence
    modalities only); `scale`: "std" or "raw" (the input-scaled Captum methods ignore it, and say scale "input");
    `max_samples`: a seeded subsample of the split (None: all of it); `seed` fixes it; `n_steps`: Integrated
    Gradients' steps. A setting the method does not read takes its default (the scale of an input-scaled method,
    the steps of any method but Integrated Gradients), so that two settings naming one computation are equal: one
    cache entry, one command line.
    """

    method: str = "exact"
    scale: str = "std"
    max_samples: int | None = 256
    seed: int = 0
    n_steps: int = 20

    def __post_init__(self) -> None:
        check_count("max_samples", self.max_samples, allow_none=True)
        check_count("n_steps", self.n_steps)
        if self.method not in GRADIENT_METHODS:
            raise ValueError(
                f"unknown gradient method {self.method!r}; choose one of {', '.join(GRADIENT_METHODS)}"
            )
        if self.scale not in FLOW_SCALES:
            raise ValueError(
                f"unknown gradient-flow scale {self.scale!r}; choose one of {', '.join(FLOW_SCALES)}"
            )
        defaults = {f.name: f.default for f in fields(self)}
        if self.input_scaled:
            object.__setattr__(self, "scale", defaults["scale"])
        if self.method != "integrated_gradients":
            object.__setattr__(self, "n_steps", defaults["n_steps"])

    @property
    def input_scaled(self) -> bool:
        """Whether the method multiplies by the factor's value (Input x Gradient, Integrated Gradients), so that
        `scale` does not apply."""
        return self.method not in ("exact", "saliency")


# torch's forward-mode AD levels are process-global, not per thread: two threads (e.g. two app sessions) running
# torch.func.jvp at once fail with "Trying to access a forward AD level with an invalid index". Take turns.
_FORWARD_AD_LOCK = threading.Lock()


def _as_tensor(x: np.ndarray | Tensor, like: torch.nn.Module, requires_grad: bool = False) -> Tensor:
    """A float32 copy of `x` on the model's device (`mfm.inference.as_tensor`), a new leaf detached from any graph
    the caller holds, so that attributions never write into the caller's tensors."""
    return as_tensor(x, device_of(like)).clone().requires_grad_(requires_grad)


# ---------------------------------------------------------------------------------------------------------------
# Exact Jacobian of a decoder
# ---------------------------------------------------------------------------------------------------------------
def decoder_jacobian(decoder: Callable[[Tensor], Tensor], inputs: Tensor) -> Tensor:
    """∂ decoder(u) / ∂u for a batch u (B, n), by forward mode: (B, *output_shape, n).

    One Jacobian-vector product per input direction, all n of them vectorised with `torch.func.vmap`. The decoder
    must treat samples independently (true in eval mode: BatchNorm then uses its running statistics).
    """
    n = inputs.shape[-1]
    basis = torch.eye(n, dtype=inputs.dtype, device=inputs.device)  # (n, n)

    def along(direction: Tensor) -> Tensor:
        return torch.func.jvp(decoder, (inputs,), (direction.expand_as(inputs),))[1]  # (B, *out)

    with _FORWARD_AD_LOCK, torch.no_grad():  # forward mode needs no graph (and no_grad keeps the step form)
        jac = torch.func.vmap(along)(basis)  # (n, B, *out)
    return jac.movedim(0, -1)  # (B, *out, n)


# Elements of one chunk's tangents (directions x batch x what is differentiated: a sequence decoder's hidden
# states, an image decoder's output): about 8 MB of float32 at a time. On the sequence demo's language decoder
# (batch 64) a batch then added about 60 MB of peak memory, against 110-120 MB at twice that, in the same time;
# the street-view decoder's flow (10 directions a chunk instead of 21) took no longer either.
_CHUNK_ELEMENTS = 1 << 21


def squared_derivatives(
    decoder: Callable[[Tensor], Tensor],
    inputs: Tensor,
    reduce_dim: int,
    weights: Tensor | None = None,
    directions: int | None = None,
    readout: Tensor | None = None,
) -> Tensor:
    """Σ over output dimension `reduce_dim` of (∂ decoder(u) / ∂u_j)², per input direction j: (n, B, *rest).

    The squares of `decoder_jacobian`, summed over one output axis (a step's features, a pixel's channels) and
    weighted by `weights` (n,) when given, computed without holding the Jacobian: the reduction runs inside the
    vectorised map, which takes the input directions a chunk at a time (`torch.func.vmap(chunk_size=...)`), so
    memory is a few chunks' tangents, not n of them. `reduce_dim` counts the output's axes, batch first.
    `directions`: only the first that many input directions (e.g. F_y's), n of them then.
    `readout` (r, m): a linear map applied to the last axis of the tangents before they are squared, for a
    `decoder` that gives what the real decoder reads out linearly (`sequence_readout`).
    """
    n = inputs.shape[-1] if directions is None else directions
    basis = torch.eye(inputs.shape[-1], dtype=inputs.dtype, device=inputs.device)[:n]  # (n, n_in)
    weights = None if weights is None else weights[:n]

    def along(direction: Tensor) -> Tensor:
        tangent = torch.func.jvp(decoder, (inputs,), (direction.expand_as(inputs),))[1]  # (B, *out)
        if readout is not None:
            tangent = tangent @ readout.T  # (B, ..., r)
        return tangent.square().sum(dim=reduce_dim)

    with _FORWARD_AD_LOCK, torch.no_grad():
        out_elements = decoder(inputs[:1]).numel() * len(inputs)
        chunk = max(1, min(n, _CHUNK_ELEMENTS // max(out_elements, 1)))
        squared = torch.func.vmap(along, chunk_size=chunk)(basis)  # (n, B, *rest)
    if weights is not None:
        squared = squared * weights.reshape(n, *([1] * (squared.ndim - 1)))
    return squared


def sequence_readout(decoder: SequenceDecoder) -> tuple[Callable[[Tensor], Tensor], Tensor | None]:
    """What `squared_derivatives` differentiates for a sequence decoder, and the read-out it squares through.

    Frame t is W h_t + b, so Σ_d (∂X̂_t,d / ∂u_j)² = ‖W q‖² with q = ∂h_t / ∂u_j. When the frame has more
    features D than the hidden state has numbers F (300 against 88 for MOSI's language decoder), W = Q R with Q's
    columns orthonormal gives ‖W q‖ = ‖R q‖, R (F, F): the flow then differentiates the hidden states and squares
    R q, and neither the frames nor their D-wide tangents are computed. Otherwise the decoder itself, no read-out.
    """
    weight = decoder.out.weight.detach()  # (D, F)
    if weight.shape[0] <= weight.shape[1]:
        return decoder, None
    return decoder.hidden_states, torch.linalg.qr(weight, mode="r")[1]  # R: (F, F)


def _differentiated(decoder: nn.Module) -> tuple[Callable[[Tensor], Tensor], Tensor | None]:
    """What `_flows` differentiates, and the read-out it squares through.

    A sequence decoder: its hidden states (`sequence_readout`). An image decoder: a copy whose convolution
    weights are in channels-last memory, so that oneDNN's CPU kernels run in that layout (the street-view
    decoder's flow about 1.5x faster; outputs equal to about 1e-7). A copy, so that the model's own outputs, and
    the information estimates read from them, stay as they were: KSG's neighbour counts can turn on a float's
    last bit.
    """
    if isinstance(decoder, SequenceDecoder):
        return sequence_readout(decoder)
    if isinstance(decoder, ImageDecoder):
        return copy.deepcopy(decoder).to(memory_format=torch.channels_last), None
    return decoder, None


@dataclass(frozen=True)
class GradientFlow:
    """Per-sample gradient flow of one modality.

    `shared` and `modality` hold ‖∂X̂^(t)/∂F_y‖² and ‖∂X̂^(t)/∂F_i‖²: (N, T) for a sequence modality, (N, H, W) for
    an image modality (summed over channels).
    """

    modality: str
    shared: np.ndarray
    modality_flow: np.ndarray
    scale: str = "raw"  # "std": per one-standard-deviation change of each factor dimension; "raw"; or "input"

    @property
    def mean_shared(self) -> np.ndarray:
        """The shared flow averaged over samples: (T,) or (H, W)."""
        return self.shared.mean(axis=0)

    @property
    def mean_modality(self) -> np.ndarray:
        """The modality flow averaged over samples: (T,) or (H, W)."""
        return self.modality_flow.mean(axis=0)

    @property
    def shared_fraction(self) -> np.ndarray:
        """shared / (shared + modality) per sample and step or pixel, in [0, 1] (0.5 where both are zero)."""
        total = self.shared + self.modality_flow
        return np.divide(self.shared, total, out=np.full_like(total, 0.5), where=total > 0)


def factor_spread(
    shared_factor: np.ndarray | Tensor, modality_factor: np.ndarray | Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """The standard deviation of every dimension of F_y (N, a) and F_i (N, b) over the samples: (a,), (b,).

    These weight the scale-free gradient flow; a dimension that never varies (a dead ReLU unit) weighs 0.
    """
    as_numpy = lambda x: np.asarray(x.detach().cpu() if isinstance(x, Tensor) else x, dtype=np.float64)  # noqa: E731
    return as_numpy(shared_factor).std(axis=0), as_numpy(modality_factor).std(axis=0)


def _input_weights(
    scale: str,
    spread: tuple[np.ndarray, np.ndarray] | None,
    shared_factor: Tensor,
    modality_factor: Tensor,
) -> Tensor | None:
    """Per-input-dimension weights of the squared Jacobian: σ_j² for "std", None for "raw"."""
    if scale not in FLOW_SCALES:
        raise ValueError(f"unknown gradient-flow scale {scale!r}; choose one of {', '.join(FLOW_SCALES)}")
    if scale == "raw":
        return None
    if spread is None:
        if len(shared_factor) < 2:
            raise ValueError(
                "the scale-free flow needs the factors' spread: pass spread=factor_spread(...) of the analysed "
                "samples when computing it for fewer than two samples"
            )
        spread = factor_spread(shared_factor, modality_factor)
    sigma = np.concatenate([np.asarray(spread[0], dtype=np.float64), np.asarray(spread[1], dtype=np.float64)])
    if sigma.shape != (shared_factor.shape[-1] + modality_factor.shape[-1],):
        raise ValueError(
            f"spread has {sigma.shape[0]} dimensions, the factors {shared_factor.shape[-1]} + {modality_factor.shape[-1]}"
        )
    return torch.as_tensor(sigma**2, dtype=shared_factor.dtype, device=shared_factor.device)


def gradient_flow(
    model: MFM,
    modality: str,
    shared_factor: np.ndarray | Tensor,
    modality_factor: np.ndarray | Tensor,
    *,
    scale: str = "std",
    spread: tuple[np.ndarray, np.ndarray] | None = None,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> GradientFlow:
    """The gradient flow of modality `modality` at the given factors F_y (N, a) and F_i (N, b).

    Exact (no sampling): each sample's decoder derivatives are computed by forward-mode differentiation; squares
    are summed over the generated features of each step (sequences) or over channels (images), inside the
    vectorised map (`squared_derivatives`), so a batch needs memory for a few chunks of tangents only.
    `scale="std"` (the default) weights each factor dimension's squared derivative by its variance, from
    `spread` (per-dimension standard deviations of F_y and F_i, see `factor_spread`) or else over the given
    samples; `scale="raw"` is the paper's unweighted ‖∂X̂_i^(t)/∂F‖².
    """
    shared, modal = _flows(
        model, modality, shared_factor, modality_factor, scale=scale, spread=spread, batch_size=batch_size,
        progress=progress, with_modality=True,
    )  # fmt: skip
    return GradientFlow(modality, shared, modal, scale)


def shared_gradient_flow(
    model: MFM,
    modality: str,
    shared_factor: np.ndarray | Tensor,
    modality_factor: np.ndarray | Tensor,
    **options: Any,
) -> np.ndarray:
    """`gradient_flow(...).shared` alone, (N, T) or (N, H, W), for `gradient_flow`'s keyword `options`: only
    F_y's directions are differentiated (16 of the MOSI language decoder's 104), with the same numbers, for checks
    that read the shared flow only."""
    return _flows(model, modality, shared_factor, modality_factor, with_modality=False, **options)[0]


def _flows(
    model: MFM,
    modality: str,
    shared_factor: np.ndarray | Tensor,
    modality_factor: np.ndarray | Tensor,
    *,
    with_modality: bool,
    scale: str = "std",
    spread: tuple[np.ndarray, np.ndarray] | None = None,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The shared flow and (`with_modality`) the modality flow, batch by batch."""
    config = model.config.modality(modality)
    shared_factor = _as_tensor(shared_factor, model)
    modality_factor = _as_tensor(modality_factor, model)
    weights = _input_weights(scale, spread, shared_factor, modality_factor)  # (n,) or None
    n_shared = shared_factor.shape[-1]
    n = len(shared_factor)
    shared_out, modality_out = [], []
    with eval_mode(model), torch.no_grad():
        decoder, readout = _differentiated(model.decoders[modality])
        for start in range(0, n, batch_size):
            u = model.decoder_input(
                shared_factor[start : start + batch_size], modality_factor[start : start + batch_size]
            )
            # Summed over what is not a position: the features of a step, or the channels of a pixel;
            # σ_j² (∂X̂/∂u_j)² for the scale-free flow. (n, B, T) or (n, B, H, W).
            squared = squared_derivatives(
                decoder,
                u,
                2 if config.kind == "sequence" else 1,
                weights,
                None if with_modality else n_shared,
                readout,
            )
            shared_out.append(squared[:n_shared].sum(dim=0).cpu().numpy())
            if with_modality:
                modality_out.append(squared[n_shared:].sum(dim=0).cpu().numpy())
            del squared
            release_free_memory()  # or the heap grows with the number of batches (mfm.memory)
            if progress is not None:
                progress(min(start + batch_size, n), n, f"gradient flow: {modality}")
    return np.concatenate(shared_out), np.concatenate(modality_out) if with_modality else None


def gradient_flow_by_loop(
    model: MFM, modality: str, shared_factor: Tensor, modality_factor: Tensor
) -> GradientFlow:
    """The same numbers as `gradient_flow`, by one backward pass per generated number (the slow reference).

    This is what a per-target attribution loop does; it exists for tests and `benchmarks/bench_gradients.py`.
    """
    config = model.config.modality(modality)
    n_shared = shared_factor.shape[-1]
    with eval_mode(model):
        u = model.decoder_input(_as_tensor(shared_factor, model), _as_tensor(modality_factor, model))
        u = u.detach().requires_grad_(True)
        out = model.decoders[modality](u)  # (B, *shape)
        flat = out.reshape(len(u), -1)
        squared = torch.zeros(len(u), flat.shape[1], u.shape[1], device=u.device)
        for j in range(flat.shape[1]):
            (grad,) = torch.autograd.grad(flat[:, j].sum(), u, retain_graph=True)  # samples are independent
            squared[:, j] = grad.pow(2)
        squared = squared.reshape(len(u), *config.shape, u.shape[1])
        reduce = (2,) if config.kind == "sequence" else (1,)
        shared = squared[..., :n_shared].sum(dim=(*reduce, -1))
        modal = squared[..., n_shared:].sum(dim=(*reduce, -1))
    return GradientFlow(modality, shared.detach().cpu().numpy(), modal.detach().cpu().numpy())


# ---------------------------------------------------------------------------------------------------------------
# Captum attributions to the factors
# ---------------------------------------------------------------------------------------------------------------
def _captum_method(name: str, forward: Callable[..., Tensor]):
    from captum.attr import InputXGradient, IntegratedGradients, Saliency

    methods = {
        "saliency": Saliency,
        "input_x_gradient": InputXGradient,
        "integrated_gradients": IntegratedGradients,
    }
    if name not in methods:
        raise ValueError(f"unknown attribution method {name!r}; choose one of {list(methods)}")
    return methods[name](forward)


def _attribute(method, inputs: tuple[Tensor, ...], name: str, n_steps: int) -> tuple[Tensor, ...]:
    kwargs = {}
    if name == "integrated_gradients":
        kwargs["n_steps"] = n_steps  # baseline: zero factors (the ReLU factors' natural "off" state)
    if name == "saliency":
        kwargs["abs"] = False  # signed gradients, so they compare with the exact Jacobian
    return method.attribute(inputs, **kwargs)


def attribute_generated(
    model: MFM,
    modality: str,
    shared_factor: np.ndarray | Tensor,
    modality_factor: np.ndarray | Tensor,
    *,
    method: str = "saliency",
    step: int | None = None,
    feature: int | None = None,
    n_steps: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Captum attribution of a generated quantity to (F_y, F_i): arrays (N, a) and (N, b).

    The quantity: X̂_i[step, feature] when both are given (for images `step` indexes flattened pixels and
    `feature` the channel), the sum of step `step`'s frame when only `step` is given, the sum of the whole
    generated sample when neither is.
    """
    config = model.config.modality(modality)
    decoder = model.decoders[modality]

    def forward(fy: Tensor, fi: Tensor) -> Tensor:
        out = decoder(torch.cat([fy, fi], dim=-1))  # (B, *shape)
        if config.kind == "image":
            out = out.flatten(2).transpose(1, 2)  # (B, H*W, C): pixels as steps, channels as features
        if step is None:
            return out.flatten(1).sum(-1)
        frame = out[:, step]  # (B, D)
        return frame.sum(-1) if feature is None else frame[:, feature]

    inputs = (_as_tensor(shared_factor, model, True), _as_tensor(modality_factor, model, True))
    with eval_mode(model):
        attributions = _attribute(_captum_method(method, forward), inputs, method, n_steps)
    return tuple(a.detach().cpu().numpy() for a in attributions)


def captum_time_profile(
    model: MFM,
    modality: str,
    shared_factor: np.ndarray | Tensor,
    modality_factor: np.ndarray | Tensor,
    *,
    method: str = "saliency",
    scale: str = "std",
    spread: tuple[np.ndarray, np.ndarray] | None = None,
    n_steps: int = 20,
    progress: Progress | None = None,
) -> GradientFlow:
    """Per-step squared attribution of each step's summed frame to F_y and to F_i, by a Captum method.

    For step t: the attributions (a_y, a_i) of Σ_d X̂_i[t, d] to (F_y, F_i), reported as ‖a_y‖² and ‖a_i‖², so a
    heatmap can show it beside the exact gradient flow. (With Saliency this is the squared gradient of the frame
    sum, not the paper's Frobenius norm, which `gradient_flow` computes.) Sequence modalities only.
    Scale: Saliency's gradients are weighted per factor dimension by its standard deviation (`scale="std"`, from
    `spread` or the given samples) or left raw (`scale="raw"`), as in `gradient_flow`. InputXGradient and
    IntegratedGradients multiply by the factor's own value (relative to the zero baseline), so their attributions
    are already in the generated quantity's units: their result says scale "input" and `scale` does not apply.
    """
    config = model.config.modality(modality)
    if config.kind != "sequence":
        raise ValueError(f"modality {modality!r} is an image; use gradient_flow for per-pixel maps")
    steps = config.shape[0]
    if method == "saliency":
        weights = _input_weights(
            scale, spread, _as_tensor(shared_factor, model), _as_tensor(modality_factor, model)
        )
        sigma = None if weights is None else weights.sqrt().cpu().numpy()  # (a + b,)
        n_shared = np.shape(shared_factor)[-1]
    else:
        sigma, scale = None, "input"
    shared, modal = [], []
    for t in range(steps):
        a_y, a_i = attribute_generated(
            model, modality, shared_factor, modality_factor, method=method, step=t, n_steps=n_steps
        )
        if sigma is not None:
            a_y, a_i = a_y * sigma[:n_shared], a_i * sigma[n_shared:]
        shared.append((a_y**2).sum(-1))
        modal.append((a_i**2).sum(-1))
        if progress is not None:
            progress(t + 1, steps, f"{method}: {modality}")
    return GradientFlow(modality, np.stack(shared, axis=1), np.stack(modal, axis=1), scale)
