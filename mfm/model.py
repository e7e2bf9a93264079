"""The Multimodal Factorization Model (Tsai et al., ICLR 2019), for any set of sequence and image modalities.

Inference factorizes as Q(Z_y | X_1:M) · Π_i Q(Z_{a_i} | X_i): a fusion encoder reads every modality and gives the
shared discriminative code z_y; one encoder per modality gives its generative code z_i. Factor maps turn codes into
factors, F = ReLU(fc2(Dropout(ReLU(fc1(z))))), so every factor is non-negative. Each modality is generated from its
own factor and the shared one, X̂_i = G_i([F_y ; F_i]), and the label is predicted from F_y alone, Ŷ = D(F_y).

Encoders and decoders are chosen by each modality's kind:
- sequence: an LSTM encoder (last hidden state -> Linear -> z_i); an LSTM decoder unrolled T steps whose first
  input is [F_y ; F_i] and whose later inputs are its previous hidden state, each hidden state mapped to a frame;
- image: a strided-convolution encoder with BatchNorm, and a transposed-convolution decoder ending in a sigmoid
  (pixel values in [0, 1]). This architecture is the project's own choice; the official code has none.
z_y comes from the Memory Fusion Network (`fusion="mfn"`, sequences) or from per-modality feature encoders
concatenated (`fusion="concat"`, any kinds).

With `surrogate=True`, one surrogate network per modality m infers (ẑ_y, ẑ_m) from the other modalities, so the
unchanged decoders and head still run when m is missing (paper Eq. 5).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mfm.config import MFMConfig, ModalityConfig
from mfm.errors import MFMError


@dataclass
class MFMOutput:
    """Everything one forward pass computes, by name.

    `missing` names the modality whose codes were inferred by its surrogate network (empty for full data).
    `prediction` is (B, num_classes) logits for classification and (B,) for regression.
    """

    shared_code: Tensor  # z_y (B, shared_code_dim)
    modality_codes: dict[str, Tensor]  # z_i (B, code_dim_i)
    shared_factor: Tensor  # F_y (B, shared_factor_dim)
    modality_factors: dict[str, Tensor]  # F_i (B, factor_dim_i)
    reconstructions: dict[str, Tensor]  # X̂_i, shaped like X_i
    prediction: Tensor
    missing: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------------------------
def lstm_cell_step(cell: nn.LSTMCell, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """One LSTM step written out from `cell`'s weights (gate order i, f, g, o, as in PyTorch).

    Written out rather than calling `cell(x, (h, c))` so that forward-mode differentiation (torch.func.jvp), which
    the gradient-flow interpretation uses, works on every device: PyTorch's fused CUDA LSTM cell has no forward rule.
    """
    gates = F.linear(x, cell.weight_ih, cell.bias_ih) + F.linear(h, cell.weight_hh, cell.bias_hh)  # (B, 4H)
    return lstm_update(gates, c)


def lstm_update(gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """The LSTM's new (h, c) from its pre-activation gates (B, 4H) in PyTorch's order i, f, g, o."""
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def fused_lstm(
    x: Tensor, h0: Tensor, c0: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor, bias_hh: Tensor
) -> Tensor:
    """Every hidden state (B, T, H) of an LSTM cell run over x (B, T, D) from (h0, c0), in PyTorch's fused kernel.

    The same numbers as stepping `lstm_cell_step` with these weights (to float rounding), with the recurrence
    and its backward inside one kernel. The kernel has no forward-mode derivative, so only training uses it
    (train mode with autograd on; the gradient flow's forward-mode derivatives run under no_grad).
    """
    # torch.lstm(input, (h0, c0), weights, has_biases, num_layers, dropout, train, bidirectional, batch_first)
    weights = [weight_ih, weight_hh, bias_ih, bias_hh]
    out, _, _ = torch.lstm(x, (h0[None], c0[None]), weights, True, 1, 0.0, True, False, True)
    return out


class Standardize(nn.Module):
    """x -> (x - mean) / std per feature (sequences: the last axis) or per channel (images), from buffers.

    The buffers start as the identity (mean 0, std 1) and are set from training data by `MFM.set_input_statistics`;
    they travel in the state dict, so a checkpoint carries its own statistics.
    """

    def __init__(self, modality: ModalityConfig) -> None:
        super().__init__()
        shape = (modality.shape[-1],) if modality.kind == "sequence" else (modality.shape[0], 1, 1)
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std.clamp_min(1e-6)

    @torch.no_grad()
    def fit(self, x: Tensor) -> None:
        """Set the statistics from samples x (N, T, D) or (N, C, H, W); a constant feature keeps std 1."""
        axes = tuple(range(x.ndim - 1)) if self.mean.ndim == 1 else (0, 2, 3)
        mean, std = x.mean(axes), x.std(axes, correction=0)
        self.mean.copy_(mean.reshape(self.mean.shape))
        self.std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)).reshape(self.std.shape))


class FactorMap(nn.Module):
    """F = ReLU(fc2(Dropout(ReLU(fc1(z))))): a code's factor, non-negative as in the official code."""

    def __init__(self, code_dim: int, hidden_dim: int, factor_dim: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(code_dim, hidden_dim)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_dim, factor_dim)

    def forward(self, code: Tensor) -> Tensor:
        return F.relu(self.fc2(self.dropout(F.relu(self.fc1(code)))))


class LabelHead(nn.Module):
    """Ŷ = fc2(Dropout(ReLU(fc1(F_y)))): the discriminative head, reading the shared factor only."""

    def __init__(self, factor_dim: int, hidden_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(factor_dim, hidden_dim)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_dim, out_dim)

    def forward(self, shared_factor: Tensor) -> Tensor:
        return self.fc2(self.dropout(F.relu(self.fc1(shared_factor))))


class SequenceEncoder(nn.Module):
    """LSTM over a (B, T, D) sequence; its last hidden state -> Linear -> a vector of `out_dim`."""

    def __init__(self, input_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_dim, hidden_dim, batch_first=True)
        self.proj = nn.Linear(hidden_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        _, (h, _) = self.lstm(x)  # h: (1, B, H)
        return self.proj(h[-1])


def _conv_out(size: int, layers: int) -> int:
    # Each Conv2d(kernel 4, stride 2, padding 1) maps n -> floor(n / 2).
    for _ in range(layers):
        size = (size + 2 - 4) // 2 + 1
    return size


class ImageEncoder(nn.Module):
    """Three strided convolutions (BatchNorm, ReLU) then Linear: (B, C, H, W) -> (B, out_dim).

    Widths are w, 2w, 4w for base width w = `hidden_dim`; 32x32 -> 4x4 and 28x28 -> 3x3 feature maps.
    """

    def __init__(self, shape: tuple[int, ...], hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        channels, height, width = shape
        widths = (hidden_dim, 2 * hidden_dim, 4 * hidden_dim)
        layers: list[nn.Module] = []
        previous = channels
        for w in widths:
            layers += [nn.Conv2d(previous, w, 4, stride=2, padding=1), nn.BatchNorm2d(w), nn.ReLU()]
            previous = w
        self.conv = nn.Sequential(*layers)
        flat = widths[-1] * _conv_out(height, 3) * _conv_out(width, 3)
        self.proj = nn.Linear(flat, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.conv(x).flatten(1))  # (B, C, H, W) -> (B, out_dim)


def _upsamplings(height: int, width: int) -> int:
    # As many 2x upsamplings (at most 3) as divide both sides: 32 -> 4x4 start, 28 -> 7x7 start.
    n = 0
    while n < 3 and height % 2 ** (n + 1) == 0 and width % 2 ** (n + 1) == 0:
        n += 1
    return n


class ImageDecoder(nn.Module):
    """[F_y ; F_i] -> Linear -> (4w, h0, w0) -> upsamplings (BatchNorm, ReLU) -> sigmoid image.

    Each upsampling doubles the resolution: a 4 x 4 stride-2 transposed convolution ("transposed"), or a
    nearest-neighbour doubling then a 3 x 3 convolution ("resize"; `ModalityConfig.upsampling`), followed by
    `refine_layers` 3 x 3 convolutions (BatchNorm, ReLU) at the new resolution.

    `composite` (beyond the paper; `ModalityConfig.composite`): the image is a layer of ink over a background,
    α c + (1 - α) B, still in [0, 1], with the ink's coverage α = sigmoid of the last convolution's last map and
    the colours from a linear head `ink` on [F_y ; F_i] (sigmoid). "ink": one colour c per image from the
    head, the background B = sigmoid(the convolution's first C maps) drawn pixel by pixel. "two_tone": both c and
    a background colour b per image from the head (B = b everywhere), so the convolutions draw only where the ink
    is. Why: a street-view digit is one colour of ink over a background, and a plain decoder must draw that colour
    pixel by pixel from ReLU features, a product of where the strokes are and which colour they have; the first
    colour model kept the background's hue (a*b* agreement 0.92) and not the digit's (0.50; issue 15). Measured
    (assets/README.md): "ink" made the digits far more legible, but its head's colour became the background's and
    the digit's hue fell (0.41); "two_tone" raised it to 0.60 on seed 0 (0.48-0.60 over three seeds, against
    0.43-0.50 before) and kept the legibility on every seed (the roles of its two colours are the model's choice
    and change from image to image, which the image does not show); with the tone term (`tone_weight`,
    `mfm.losses.tone_error`, which trains `tones` toward the image's digit and background colours), shipped,
    0.83-0.84 on three seeds."""

    def __init__(
        self,
        input_dim: int,
        shape: tuple[int, ...],
        hidden_dim: int,
        upsampling: str = "transposed",
        refine_layers: int = 0,
        composite: str = "none",
    ) -> None:
        super().__init__()
        channels, height, width = shape
        self.channels = channels
        n = _upsamplings(height, width)
        self.start = (4 * hidden_dim, height // 2**n, width // 2**n)
        self.proj = nn.Linear(input_dim, self.start[0] * self.start[1] * self.start[2])
        layers: list[nn.Module] = [nn.BatchNorm2d(self.start[0]), nn.ReLU()]
        previous = self.start[0]
        for k in range(n):
            w = max(hidden_dim, self.start[0] // 2 ** (k + 1))
            double = (
                [nn.ConvTranspose2d(previous, w, 4, stride=2, padding=1)]
                if upsampling == "transposed"
                else [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(previous, w, 3, padding=1)]
            )
            layers += [*double, nn.BatchNorm2d(w), nn.ReLU()]
            for _ in range(refine_layers):
                layers += [nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU()]
            previous = w
        self.composite = composite
        maps = {"none": channels, "ink": channels + 1, "two_tone": 1}[composite]
        layers += [nn.Conv2d(previous, maps, 3, padding=1)]
        self.deconv = nn.Sequential(*layers)
        heads = {"none": 0, "ink": channels, "two_tone": 2 * channels}[composite]
        self.ink = nn.Linear(input_dim, heads) if heads else None  # the colour head

    def forward(self, factors: Tensor) -> Tensor:
        x = self.deconv(self.proj(factors).view(-1, *self.start))  # (B, maps, H, W)
        if self.ink is None:
            return torch.sigmoid(x)  # (B, C, H, W) in [0, 1]
        colours = torch.sigmoid(self.ink(factors))[:, :, None, None]  # (B, C or 2C, 1, 1)
        ink, coverage = colours[:, : self.channels], torch.sigmoid(x[:, -1:])  # (B, C, 1, 1), (B, 1, H, W)
        background = colours[:, self.channels :] if self.composite == "two_tone" else torch.sigmoid(x[:, :-1])
        return coverage * ink + (1 - coverage) * background

    def tones(self, factors: Tensor) -> Tensor:
        """The two colours of a "two_tone" decoder, (B, 2C): the first C the colour its coverage α draws, the
        last C the colour drawn where α is 0 (`forward` blends them pixel by pixel)."""
        if self.composite != "two_tone":
            raise ValueError(f"tones: a {self.composite!r} decoder draws no two tones")
        return torch.sigmoid(self.ink(factors))

    def factor_weights(self) -> list[Tensor]:
        """The weights that read [F_y ; F_i] (their columns in that order): the input projection, and the colour
        head of a composite decoder."""
        return [self.proj.weight] + ([self.ink.weight] if self.ink is not None else [])


class SequenceDecoder(nn.Module):
    """LSTM cell unrolled T steps: step 0 reads [F_y ; F_i], step t > 0 reads the hidden state of step t - 1.

    The hidden size equals the input size (F_y + F_i) so that the previous hidden state can be the next input, as in
    the official code; every hidden state -> Linear -> one frame of X̂_i.
    """

    def __init__(self, input_dim: int, steps: int, output_dim: int) -> None:
        super().__init__()
        self.steps = steps
        self.cell = nn.LSTMCell(input_dim, input_dim)
        self.out = nn.Linear(input_dim, output_dim)

    def forward(self, factors: Tensor) -> Tensor:
        # The fused kernel only where training needs it (train mode with autograd on): forward-mode callers
        # (torch.func.jvp, run under no_grad) get the step-by-step form even on a decoder left in train mode.
        fused = self.training and torch.is_grad_enabled()
        return self.forward_fused(factors) if fused else self.forward_steps(factors)

    def factor_weights(self) -> list[Tensor]:
        """The weights that read [F_y ; F_i] (their columns in that order): the cell's input weights."""
        return [self.cell.weight_ih]

    def forward_steps(self, factors: Tensor) -> Tensor:
        """The decoder step by step (eval mode; forward-mode differentiable)."""
        return self.out(self.hidden_states(factors))  # (B, T, D)

    def hidden_states(self, factors: Tensor) -> Tensor:
        """Every step's hidden state h_t, step by step: (B, T, F); frame t of the output is `out`(h_t).

        As in `forward_fused`, from step 1 on the input is the previous hidden state, so W_ih h + W_hh h =
        (W_ih + W_hh) h: one product a step instead of two, the same numbers as `lstm_cell_step` to float
        rounding (its products are the gradient flow's main cost).
        """
        cell = self.cell
        zeros = torch.zeros_like(factors)  # (B, F)
        h, c = lstm_cell_step(cell, factors, zeros, zeros)
        hidden = [h]
        if self.steps > 1:
            weight, bias = cell.weight_ih + cell.weight_hh, cell.bias_ih + cell.bias_hh  # (4F, F), (4F,)
            for _ in range(self.steps - 1):
                h, c = lstm_update(F.linear(h, weight, bias), c)
                hidden.append(h)
        return torch.stack(hidden, dim=1)  # (B, T, F)

    def forward_fused(self, factors: Tensor) -> Tensor:
        """The same unrolled decoder (training): step 0 by hand, then steps 1..T-1 in the fused LSTM kernel.

        From step 1 on the input is the previous hidden state, so W_ih h + W_hh h = (W_ih + W_hh) h: the rest
        of the unroll is an LSTM over a zero input whose recurrent weights are W_ih + W_hh.
        """
        h, c = lstm_cell_step(self.cell, factors, torch.zeros_like(factors), torch.zeros_like(factors))
        if self.steps == 1:
            return self.out(h[:, None])
        cell = self.cell
        no_input = factors.new_zeros(factors.shape[0], self.steps - 1, 1)  # (B, T-1, 1) and its zero weight
        no_weight = factors.new_zeros(4 * cell.hidden_size, 1)
        rest = fused_lstm(
            no_input, h, c, no_weight, cell.weight_ih + cell.weight_hh, cell.bias_ih, cell.bias_hh
        )
        return self.out(torch.cat([h[:, None], rest], dim=1))  # (B, T, D)


def _feature_encoder(modality: ModalityConfig, out_dim: int, width: int | None = None) -> nn.Module:
    # width: the LSTM size or convolutional base width (default: the modality's hidden_dim).
    width = modality.hidden_dim if width is None else width
    if modality.kind == "sequence":
        return SequenceEncoder(modality.shape[1], width, out_dim)
    return ImageEncoder(modality.shape, width, out_dim)


def _decoder(modality: ModalityConfig, shared_factor_dim: int) -> nn.Module:
    input_dim = shared_factor_dim + modality.factor_dim
    if modality.kind == "sequence":
        return SequenceDecoder(input_dim, modality.shape[0], modality.shape[1])
    return ImageDecoder(
        input_dim,
        modality.shape,
        modality.hidden_dim,
        modality.upsampling,
        modality.refine_layers,
        modality.composite,
    )


def _mlp(in_dim: int, hidden_dim: int, out_dim: int, dropout: float) -> nn.Sequential:
    # Linear-ReLU-Dropout-Linear; the MFN's NN1, NN2, Γ1 and Γ2 (indices 0 and 3 hold the weights).
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, out_dim)
    )


class MemoryFusionNetwork(nn.Module):
    """The Memory Fusion Network (Zadeh et al., AAAI 2018) as MFM's z_y encoder.

    One LSTM cell per modality, stepped together. At each step the previous and current cell states of all
    modalities, c* = [c_{t-1} ; c_t], go through the Delta-memory attention a = softmax(NN1(c*)); the attended
    ĉ = a ⊙ c* proposes u = tanh(NN2(ĉ)); gates g1 = σ(Γ1([ĉ ; mem])) and g2 = σ(Γ2([ĉ ; mem])) update the
    multi-view gated memory mem <- g1 ⊙ mem + g2 ⊙ u. Output: [h_1 ; ... ; h_M ; mem] at the last step -> Linear.
    """

    def __init__(self, config: MFMConfig) -> None:
        super().__init__()
        modalities = config.modalities
        self.names = tuple(m.name for m in modalities)
        self.hidden_dims = tuple(m.hidden_dim for m in modalities)
        memory_dim = self.memory_dim = config.mfn_memory_dim
        self.cells = nn.ModuleDict({m.name: nn.LSTMCell(m.shape[1], m.hidden_dim) for m in modalities})
        total = sum(self.hidden_dims)
        window = config.mfn_window * total  # c* = [c_{t-1} ; c_t]

        def inner(part: str, in_dim: int, out_dim: int) -> nn.Sequential:
            return _mlp(in_dim, config.mfn_width(part), out_dim, config.dropout_of(f"mfn_{part}"))

        self.attention = inner("attention", window, window)  # NN1
        self.candidate = inner("candidate", window, memory_dim)  # NN2
        self.gamma1 = inner("gamma1", window + memory_dim, memory_dim)
        self.gamma2 = inner("gamma2", window + memory_dim, memory_dim)
        self.proj = nn.Linear(total + memory_dim, config.shared_code_dim)

    def forward(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """z_y (B, shared_code_dim) from every modality's sequence (B, T, D_n).

        Training (train mode with autograd on) takes `forward_hoisted`; everything else the stepped form, so that
        inference and the interpretations keep the numbers of the stepped form exactly (KSG's neighbour counts
        turn float rounding into changes of an estimate's fourth digit).
        """
        fast = self.training and torch.is_grad_enabled()
        return self.forward_hoisted(inputs) if fast else self.forward_steps(inputs)

    def forward_steps(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """The network stepped as the class docstring says: the cells, the attention and the memory together."""
        first = inputs[self.names[0]]
        batch, steps = first.shape[0], first.shape[1]
        h = {n: first.new_zeros(batch, d) for n, d in zip(self.names, self.hidden_dims, strict=True)}
        c = {n: first.new_zeros(batch, d) for n, d in zip(self.names, self.hidden_dims, strict=True)}
        memory = first.new_zeros(batch, self.memory_dim)
        for t in range(steps):
            previous = torch.cat([c[n] for n in self.names], dim=-1)  # (B, ΣH)
            for n in self.names:
                h[n], c[n] = self.cells[n](inputs[n][:, t], (h[n], c[n]))
            both = torch.cat([previous, *(c[n] for n in self.names)], dim=-1)  # c* (B, 2ΣH)
            attended = torch.softmax(self.attention(both), dim=-1) * both  # ĉ
            candidate = torch.tanh(self.candidate(attended))  # u (B, mem)
            gate_input = torch.cat([attended, memory], dim=-1)
            memory = (
                torch.sigmoid(self.gamma1(gate_input)) * memory
                + torch.sigmoid(self.gamma2(gate_input)) * candidate
            )
        return self.proj(torch.cat([*(h[n] for n in self.names), memory], dim=-1))

    def forward_hoisted(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """The same network with only its recurrences stepped (training; issue 16): the numbers of `forward_steps`
        to float rounding, in less time forward and backward (benchmarks/README.md has the figures).

        1. Each cell's input products W_ih x_t for all steps in one product, then the cells stepped.
        2. The attention NN1, the candidate NN2 and the part of Γ1's and Γ2's first layers that reads ĉ on all
           steps at once (the cells read only their own modality, never the memory, so every c* is known first).
        3. Then only the memory's own recurrence, with Γ1 and Γ2 as one product with the memory and one
           block-diagonal product for their second layers.
        Dropout in train mode is the same per-element, per-step dropout as in the stepped form; its random masks
        are drawn in another order, so a training run's draws (not their distribution) differ from the stepped
        form's.
        """
        first = inputs[self.names[0]]
        batch, steps = first.shape[0], first.shape[1]
        cells = [self.cells[n] for n in self.names]
        products = [  # every step's W_ih x_t + b, as a tuple of (B, 4H) per step (unbind: one backward copy)
            F.linear(inputs[n], cell.weight_ih, cell.bias_ih + cell.bias_hh).unbind(1)
            for n, cell in zip(self.names, cells, strict=True)
        ]
        h = [first.new_zeros(batch, d) for d in self.hidden_dims]
        c = [first.new_zeros(batch, d) for d in self.hidden_dims]
        cell_states = []
        for t in range(steps):
            for k, cell in enumerate(cells):
                h[k], c[k] = lstm_update(products[k][t] + F.linear(h[k], cell.weight_hh), c[k])
            cell_states.append(torch.cat(c, dim=-1))
        current = torch.stack(cell_states, dim=1)  # c_t of every modality, (B, T, ΣH)
        both = torch.cat([F.pad(current[:, :-1], (0, 0, 1, 0)), current], dim=-1)  # c* = [c_{t-1} ; c_t]
        attended = torch.softmax(self.attention(both), dim=-1) * both  # ĉ (B, T, 2ΣH)
        candidate = torch.tanh(self.candidate(attended))  # u (B, T, mem)
        return self.proj(torch.cat([*h, self._memory(attended, candidate)], dim=-1))

    def _memory(self, attended: Tensor, candidate: Tensor) -> Tensor:
        """The multi-view gated memory after the last step, mem <- σ(Γ1([ĉ ; mem])) ⊙ mem + σ(Γ2([ĉ ; mem])) ⊙ u."""
        window = attended.shape[-1]
        first, second = (self.gamma1[0], self.gamma2[0]), (self.gamma1[3], self.gamma2[3])  # Linear layers
        from_attended = torch.cat(  # the first layers' products with ĉ, for all steps: (B, T, hid1 + hid2)
            [F.linear(attended, layer.weight[:, :window], layer.bias) for layer in first], dim=-1
        )
        from_memory = torch.cat([layer.weight[:, window:] for layer in first])  # (hid1 + hid2, mem)
        out_weight = torch.block_diag(*(layer.weight for layer in second))  # (2 mem, hid1 + hid2)
        out_bias = torch.cat([layer.bias for layer in second])
        dropouts, masks = (self.gamma1[2], self.gamma2[2]), None
        if any(d.training and d.p > 0 for d in dropouts):  # each Γ's own dropout: every step's mask at once
            shape, widths = from_attended.shape[:2], (layer.out_features for layer in first)
            ones = (attended.new_ones(*shape, w) for w in widths)
            masks = torch.cat(
                [F.dropout(x, d.p, d.training) for x, d in zip(ones, dropouts, strict=True)], dim=-1
            )
        # Steps taken by unbind, whose backward stacks the steps' gradients once; indexing [:, t] would write
        # each step's gradient into a zero tensor of the whole sequence (quadratic in T).
        steps = zip(
            from_attended.unbind(1),
            candidate.unbind(1),
            masks.unbind(1) if masks is not None else (None,) * attended.shape[1],
            strict=True,
        )
        memory = candidate.new_zeros(candidate.shape[0], candidate.shape[-1])
        for part, proposal, mask in steps:
            hidden = F.relu(part + F.linear(memory, from_memory))
            if mask is not None:
                hidden = hidden * mask
            keep, write = torch.sigmoid(F.linear(hidden, out_weight, out_bias)).chunk(2, dim=-1)
            memory = keep * memory + write * proposal
        return memory


class ConcatFusion(nn.Module):
    """z_y from every modality: one feature encoder each, concatenated, then ReLU -> Linear."""

    def __init__(self, modalities: Iterable[ModalityConfig], hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        modalities = tuple(modalities)
        self.names = tuple(m.name for m in modalities)
        self.encoders = nn.ModuleDict({m.name: _feature_encoder(m, hidden_dim) for m in modalities})
        self.proj = nn.Linear(hidden_dim * len(modalities), out_dim)

    def forward(self, inputs: Mapping[str, Tensor]) -> Tensor:
        features = torch.cat([self.encoders[n](inputs[n]) for n in self.names], dim=-1)  # (B, M·H)
        return self.proj(F.relu(features))


class SurrogateInference(nn.Module):
    """Φ_m (paper Eq. 5): infers the codes (ẑ_y, ẑ_m) of a missing modality m from the observed ones.

    One small feature encoder per observed modality, concatenated, through a hidden layer, then two linear heads.
    """

    def __init__(
        self,
        observed: Iterable[ModalityConfig],
        missing: ModalityConfig,
        hidden_dim: int,
        shared_code_dim: int,
    ) -> None:
        super().__init__()
        observed = tuple(observed)
        self.observed = tuple(m.name for m in observed)
        self.encoders = nn.ModuleDict({m.name: _feature_encoder(m, hidden_dim) for m in observed})
        self.trunk = nn.Sequential(nn.ReLU(), nn.Linear(hidden_dim * len(observed), hidden_dim), nn.ReLU())
        self.shared_code = nn.Linear(hidden_dim, shared_code_dim)
        self.modality_code = nn.Linear(hidden_dim, missing.code_dim)

    def forward(self, inputs: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        features = self.trunk(torch.cat([self.encoders[n](inputs[n]) for n in self.observed], dim=-1))
        return self.shared_code(features), self.modality_code(features)


# ---------------------------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------------------------
class MFM(nn.Module):
    """The Multimodal Factorization Model for the modalities named in `config`.

    `forward(inputs)` takes a dict of modality name -> batch tensor ((B, T, D) sequences, (B, C, H, W) images) and
    returns an `MFMOutput`. `forward(inputs, missing="m")` runs surrogate inference for modality m, which may then
    be absent from `inputs`. `decode` and `predict` run the generative and discriminative parts from given factors.
    """

    def __init__(self, config: MFMConfig) -> None:
        super().__init__()
        self.config = config
        mods = config.modalities
        if config.standardize_inputs:
            self.standardizers = nn.ModuleDict({m.name: Standardize(m) for m in mods})
        self.modality_encoders = nn.ModuleDict(
            {m.name: _feature_encoder(m, m.code_dim, m.encoder_width) for m in mods}
        )
        if config.fusion == "mfn":
            self.shared_encoder: nn.Module = MemoryFusionNetwork(config)
        else:
            self.shared_encoder = ConcatFusion(mods, config.fusion_hidden_dim, config.shared_code_dim)
        self.shared_factor_map = FactorMap(
            config.shared_code_dim,
            config.factor_width(),
            config.shared_factor_dim,
            config.dropout_of("shared_factor"),
        )
        self.modality_factor_maps = nn.ModuleDict(
            {
                m.name: FactorMap(
                    m.code_dim,
                    config.factor_width(m.name),
                    m.factor_dim,
                    config.dropout_of(f"factor:{m.name}"),
                )
                for m in mods
            }
        )
        self.decoders = nn.ModuleDict({m.name: _decoder(m, config.shared_factor_dim) for m in mods})
        self.head = LabelHead(
            config.shared_factor_dim, config.head_hidden_dim, config.num_classes, config.dropout_of("head")
        )
        if config.style_adversaries:
            # Label classifiers on each style code: the adversaries of losses.style_adversary_loss.
            self.style_adversaries = nn.ModuleDict(
                {m.name: _mlp(m.code_dim, config.head_hidden_dim, config.num_classes, 0.0) for m in mods}
            )
        if config.surrogate:
            self.surrogates = nn.ModuleDict(
                {
                    m.name: SurrogateInference(
                        [o for o in mods if o.name != m.name],
                        m,
                        config.surrogate_hidden_dim,
                        config.shared_code_dim,
                    )
                    for m in mods
                }
            )

    @property
    def modality_names(self) -> tuple[str, ...]:
        """Modality names in the model's fixed order."""
        return self.config.modality_names

    # -- inference ---------------------------------------------------------------------------------------------
    def encode(
        self, inputs: Mapping[str, Tensor], missing: str | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Codes (z_y, {z_i}); with `missing=m`, z_y and z_m come from m's surrogate network."""
        self._check_inputs(inputs, missing)
        inputs = self.standardize(inputs)
        if missing is None:
            shared_code = self.shared_encoder(inputs)
            codes = {n: self.modality_encoders[n](inputs[n]) for n in self.modality_names}
            return shared_code, codes
        shared_code, missing_code = self.surrogates[missing](inputs)
        codes = {
            n: missing_code if n == missing else self.modality_encoders[n](inputs[n])
            for n in self.modality_names
        }
        return shared_code, codes

    def encode_modality(self, name: str, x: Tensor) -> Tensor:
        """z_i of one modality from its samples alone (its encoder reads nothing else)."""
        return self.modality_encoders[name](self.standardize({name: x})[name])

    def standardize(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """What the encoders read: with `config.standardize_inputs`, each input standardised (see `Standardize`)."""
        if not self.config.standardize_inputs:
            return dict(inputs)
        return {n: self.standardizers[n](x) if n in self.standardizers else x for n, x in inputs.items()}

    @torch.no_grad()
    def set_input_statistics(self, inputs: Mapping[str, Tensor]) -> None:
        """Set the encoders' input standardisation from training inputs (name -> (N, ...)); needs the config flag."""
        if not self.config.standardize_inputs:
            raise MFMError("this model was built with standardize_inputs=False: it has no input statistics")
        for name in self.modality_names:
            self.standardizers[name].fit(inputs[name])

    def factors(self, shared_code: Tensor, codes: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Factors (F_y, {F_i}) from codes."""
        return self.shared_factor_map(shared_code), {n: self.modality_factor_maps[n](codes[n]) for n in codes}

    # -- generation and prediction -----------------------------------------------------------------------------
    def decoder_input(self, shared_factor: Tensor, modality_factor: Tensor) -> Tensor:
        """[F_y ; F_i], the input of decoder G_i (B, shared_factor_dim + factor_dim_i)."""
        return torch.cat([shared_factor, modality_factor], dim=-1)

    def decode_modality(self, name: str, shared_factor: Tensor, modality_factor: Tensor) -> Tensor:
        """X̂_i = G_i([F_y ; F_i]) for one modality."""
        return self.decoders[name](self.decoder_input(shared_factor, modality_factor))

    def decode(self, shared_factor: Tensor, modality_factors: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Every modality generated from the given factors (e.g. swapped between samples)."""
        return {n: self.decode_modality(n, shared_factor, f) for n, f in modality_factors.items()}

    def predict(self, shared_factor: Tensor) -> Tensor:
        """Ŷ = D(F_y): (B, num_classes) logits, or (B,) for regression."""
        out = self.head(shared_factor)
        return out.squeeze(-1) if self.config.task == "regression" else out

    def forward(self, inputs: Mapping[str, Tensor], missing: str | None = None) -> MFMOutput:
        shared_code, codes = self.encode(inputs, missing)
        shared_factor, modality_factors = self.factors(shared_code, codes)
        return MFMOutput(
            shared_code=shared_code,
            modality_codes=codes,
            shared_factor=shared_factor,
            modality_factors=modality_factors,
            reconstructions=self.decode(shared_factor, modality_factors),
            prediction=self.predict(shared_factor),
            missing=() if missing is None else (missing,),
        )

    def forward_each_missing(self, inputs: Mapping[str, Tensor], full: MFMOutput) -> dict[str, MFMOutput]:
        """`self(observed, missing=m)` for every modality m in turn, computed once for all of them (training).

        The same numbers as the separate passes, with less work: an observed modality's code is what its encoder
        gave in the full-data pass `full` (encoders read only their own modality), so it is reused rather than
        recomputed; and every sequence decoder runs once on all passes' factors stacked along the batch (it treats
        samples independently; image decoders, whose BatchNorm would see the stacked batch, run per pass). Random
        draws (dropout in factor maps and head) happen in the same order as in the separate passes.
        """
        return self._decode_passes(self._surrogate_passes(inputs, full.modality_codes))

    def forward_with_each_missing(
        self, inputs: Mapping[str, Tensor]
    ) -> tuple[MFMOutput, dict[str, MFMOutput]]:
        """`self(inputs)` and `forward_each_missing` together, the full pass's decoding stacked with the others'.

        What a training step with surrogate inference needs; the same numbers and the same order of random draws
        as `self(inputs)` followed by one `self(observed, missing=m)` per modality.
        """
        shared_code, codes = self.encode(inputs)
        shared_factor, factors = self.factors(shared_code, codes)
        passes = {None: (shared_code, codes, shared_factor, factors, self.predict(shared_factor))}
        passes.update(self._surrogate_passes(inputs, codes))
        outputs = self._decode_passes(passes)
        full = outputs.pop(None)
        return full, outputs

    def _surrogate_passes(self, inputs: Mapping[str, Tensor], full_codes: Mapping[str, Tensor]) -> dict:
        """missing -> (ẑ_y, codes, F̂_y, factors, Ŷ) for every modality, without decoding."""
        self.check_missing()
        standardized = self.standardize(inputs)
        passes = {}
        for missing in self.modality_names:
            observed = {n: x for n, x in standardized.items() if n != missing}
            shared_code, missing_code = self.surrogates[missing](observed)
            codes = {n: missing_code if n == missing else full_codes[n] for n in self.modality_names}
            shared_factor, factors = self.factors(shared_code, codes)
            passes[missing] = (shared_code, codes, shared_factor, factors, self.predict(shared_factor))
        return passes

    def _decode_passes(self, passes: dict) -> dict:
        """Decode every pass's factors (sequence decoders once, on all passes stacked) into MFMOutputs."""
        reconstructions: dict = {key: {} for key in passes}
        for name in self.modality_names:
            decoder_inputs = [self.decoder_input(p[2], p[3][name]) for p in passes.values()]
            if isinstance(self.decoders[name], SequenceDecoder):
                decoded = self.decoders[name](torch.cat(decoder_inputs)).split(
                    [len(u) for u in decoder_inputs]
                )
            else:
                decoded = [self.decoders[name](u) for u in decoder_inputs]
            for key, x_hat in zip(passes, decoded, strict=True):
                reconstructions[key][name] = x_hat
        return {
            key: MFMOutput(
                shared_code=p[0],
                modality_codes=p[1],
                shared_factor=p[2],
                modality_factors=p[3],
                reconstructions=reconstructions[key],
                prediction=p[4],
                missing=() if key is None else (key,),
            )
            for key, p in passes.items()
        }

    # -- checks ------------------------------------------------------------------------------------------------
    def check_missing(self, missing: str | None = None, *, surrogate: bool = True) -> None:
        """Raise MFMError unless `missing` names a modality of this model (None: any of them) and, with
        `surrogate`, the model has surrogate inference to infer it (paper Eq. 5). Every path that drops a modality
        checks it here, before any work."""
        if missing is not None and missing not in self.modality_names:
            raise MFMError(f"unknown modality {missing!r}; this model has {list(self.modality_names)}")
        if surrogate and not self.config.surrogate:
            raise MFMError(
                "this model was built without surrogate inference (config.surrogate is false); "
                "zero-filling (X_m replaced by zeros) is what can be done without it"
            )

    def _check_inputs(self, inputs: Mapping[str, Tensor], missing: str | None) -> None:
        if missing is not None:
            self.check_missing(missing)
        batch = None
        for m in self.config.modalities:
            if m.name == missing:
                continue
            if m.name not in inputs:
                raise MFMError(
                    f"input for modality {m.name!r} is missing; pass missing={m.name!r} to infer it"
                )
            x = inputs[m.name]
            if tuple(x.shape[1:]) != m.shape:
                raise MFMError(
                    f"modality {m.name!r} expects samples of shape {m.shape}, got {tuple(x.shape[1:])}"
                )
            if batch is not None and x.shape[0] != batch:
                raise MFMError("every modality must have the same batch size")
            batch = x.shape[0]


def parameter_counts(model: MFM) -> dict[str, int]:
    """Parameters per top-level part of the model (encoders, factor maps, decoders, head, surrogates) and total."""
    counts: dict[str, int] = {}
    for name, child in model.named_children():
        n_parameters = sum(p.numel() for p in child.parameters())
        if n_parameters:  # parts with buffers only (input standardisers) are not listed
            counts[name] = n_parameters
    counts["total"] = sum(counts.values())
    return counts
