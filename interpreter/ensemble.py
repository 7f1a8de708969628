"""DatasetGAN's pixel classifier, M of them as ONE batched module (stacked weights, batched matmuls).

Each member is ``Linear(C, H1) -> ReLU -> BatchNorm -> Linear(H1, H2) -> ReLU -> BatchNorm ->
Linear(H2, K)`` (H1/H2 = 128/32, or 256/128 when K >= 32). At inference the BatchNorms are folded
into the following linear layers (eval statistics), see :meth:`PixelEnsemble.fold`.

Shapes: M members, B pixels per member, C feature channels, K classes, P pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from datasetgan.interpreter.config import EnsembleConfig


class PixelEnsemble(nn.Module):
    """M pixel classifiers with stacked weights: ``w1`` [M, H1, C], ``w2`` [M, H2, H1], ``w3`` [M, K, H2].

    ``rng`` draws the initial weights (DatasetGAN's init: linear weights N(0, init_std), biases 0,
    BatchNorm scales N(1, init_std)); ``None`` means ``torch.Generator().manual_seed(0)``.
    """

    def __init__(
        self,
        in_channels: int,
        n_classes: int,
        *,
        config: EnsembleConfig = EnsembleConfig(),
        rng: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if in_channels < 1 or n_classes < 2:
            raise ValueError(f"got C={in_channels}, K={n_classes}; expected C >= 1 and K >= 2")
        self.config = config
        self.in_channels, self.n_classes = in_channels, n_classes
        m = config.n_members
        h1, h2 = config.widths(n_classes)
        self.w1 = nn.Parameter(torch.zeros(m, h1, in_channels))
        self.b1 = nn.Parameter(torch.zeros(m, h1))
        self.bn1_weight = nn.Parameter(torch.ones(m, h1))
        self.bn1_bias = nn.Parameter(torch.zeros(m, h1))
        self.w2 = nn.Parameter(torch.zeros(m, h2, h1))
        self.b2 = nn.Parameter(torch.zeros(m, h2))
        self.bn2_weight = nn.Parameter(torch.ones(m, h2))
        self.bn2_bias = nn.Parameter(torch.zeros(m, h2))
        self.w3 = nn.Parameter(torch.zeros(m, n_classes, h2))
        self.b3 = nn.Parameter(torch.zeros(m, n_classes))
        self.bn1_mean: torch.Tensor
        self.bn1_var: torch.Tensor
        self.bn2_mean: torch.Tensor
        self.bn2_var: torch.Tensor
        for i, width in ((1, h1), (2, h2)):
            self.register_buffer(f"bn{i}_mean", torch.zeros(m, width))
            self.register_buffer(f"bn{i}_var", torch.ones(m, width))
        self.reset_parameters(rng if rng is not None else torch.Generator().manual_seed(0))

    @property
    def n_members(self) -> int:
        return self.config.n_members

    @property
    def widths(self) -> tuple[int, int]:
        return self.config.widths(self.n_classes)

    @torch.no_grad()
    def reset_parameters(self, rng: torch.Generator | Sequence[torch.Generator]) -> None:
        """Re-draw the weights: from one generator, or member m from ``rng[m]`` (M generators)."""
        rngs = [rng] if isinstance(rng, torch.Generator) else list(rng)
        if len(rngs) not in (1, self.n_members):
            raise ValueError(f"rng: got {len(rngs)} generators, expected 1 or {self.n_members}")
        std = self.config.init_std
        for name, p in self.named_parameters():
            for m, g in enumerate(rngs):
                dst = p if len(rngs) == 1 else p[m]
                if name.startswith("w"):
                    dst.copy_(torch.randn(dst.shape, generator=g) * std)
                elif name.endswith("_weight"):
                    dst.copy_(1.0 + torch.randn(dst.shape, generator=g) * std)
                else:
                    dst.zero_()
        for name, b in self.named_buffers():
            b.fill_(1.0 if name.endswith("_var") else 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [M, B, C] (each member its own pixels) -> logits [M, B, K]. Training mode uses batch
        statistics (and updates the running ones), eval mode the running statistics."""
        m, c = self.n_members, self.in_channels
        if x.ndim != 3 or x.shape[0] != m or x.shape[2] != c:
            raise ValueError(f"x: got shape {tuple(x.shape)}, expected [{m}, B, {c}]")
        # BatchNorm in float32 also under a bf16 autocast (only the matmuls run in bf16)
        h = torch.baddbmm(self.b1.unsqueeze(1), x, self.w1.transpose(1, 2)).relu()
        h = self._batch_norm(h.to(self.w1.dtype), 1)
        h = torch.baddbmm(self.b2.unsqueeze(1), h, self.w2.transpose(1, 2)).relu()
        h = self._batch_norm(h.to(self.w1.dtype), 2)
        return torch.baddbmm(self.b3.unsqueeze(1), h, self.w3.transpose(1, 2))

    def linear(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight [M, out, in], bias [M, out]) of linear layer i (1, 2, 3)."""
        return {1: (self.w1, self.b1), 2: (self.w2, self.b2), 3: (self.w3, self.b3)}[i]

    def norm(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(weight, bias, running mean, running var), each [M, width], of BatchNorm i (1, 2)."""
        if i == 1:
            return self.bn1_weight, self.bn1_bias, self.bn1_mean, self.bn1_var
        return self.bn2_weight, self.bn2_bias, self.bn2_mean, self.bn2_var

    def _batch_norm(self, h: torch.Tensor, i: int) -> torch.Tensor:
        weight, bias, running_mean, running_var = self.norm(i)
        eps = self.config.bn_eps
        if self.training:
            if h.shape[1] < 2:
                raise ValueError(
                    f"training BatchNorm needs B >= 2 pixels per member, got {h.shape[1]}"
                )
            # two passes (mean, then the centred squares): ~6x faster on CPU than Tensor.var's
            # Welford kernel over dim 1, forward and backward
            mean = h.mean(1)
            centred = h - mean.unsqueeze(1)
            var = (centred * centred).mean(1)
            with torch.no_grad():
                unbiased = var * (h.shape[1] / (h.shape[1] - 1))
                running_mean.lerp_(mean, self.config.bn_momentum)
                running_var.lerp_(unbiased, self.config.bn_momentum)
            scale = weight * torch.rsqrt(var + eps)
            return centred * scale.unsqueeze(1) + bias.unsqueeze(1)
        scale = weight * torch.rsqrt(running_var + eps)
        return h * scale.unsqueeze(1) + (bias - running_mean * scale).unsqueeze(1)

    @torch.no_grad()
    def fold(self) -> FoldedEnsemble:
        """Inference weights with both BatchNorms (running statistics) folded into layers 2 and 3."""
        eps = self.config.bn_eps
        a1 = self.bn1_weight * torch.rsqrt(self.bn1_var + eps)
        c1 = self.bn1_bias - self.bn1_mean * a1
        a2 = self.bn2_weight * torch.rsqrt(self.bn2_var + eps)
        c2 = self.bn2_bias - self.bn2_mean * a2
        m, h1 = self.n_members, self.widths[0]
        return FoldedEnsemble(
            w1=self.w1.detach().reshape(m * h1, self.in_channels).clone(),
            b1=self.b1.detach().reshape(m * h1).clone(),
            w2t=(self.w2 * a1.unsqueeze(1)).transpose(1, 2).contiguous(),
            b2=(self.b2 + torch.einsum("mgh,mh->mg", self.w2, c1)).unsqueeze(1).contiguous(),
            w3t=(self.w3 * a2.unsqueeze(1)).transpose(1, 2).contiguous(),
            b3=(self.b3 + torch.einsum("mkg,mg->mk", self.w3, c2)).unsqueeze(1).contiguous(),
        )

    @torch.no_grad()
    def member(self, index: int) -> nn.Sequential:
        """Member ``index`` as DatasetGAN's ``nn.Sequential`` (own copy of the weights, on the
        ensemble's device)."""
        h1, h2 = self.widths
        device = self.w1.device
        linears = [
            nn.Linear(self.in_channels, h1, device=device),
            nn.Linear(h1, h2, device=device),
            nn.Linear(h2, self.n_classes, device=device),
        ]
        norms = [
            nn.BatchNorm1d(h1, eps=self.config.bn_eps, device=device),
            nn.BatchNorm1d(h2, eps=self.config.bn_eps, device=device),
        ]
        for i, layer in enumerate(linears, start=1):
            weight, bias = self.linear(i)
            layer.weight.copy_(weight[index])
            layer.bias.copy_(bias[index])
        for i, bn in enumerate(norms, start=1):
            gamma, beta, mean, var = self.norm(i)
            bn.weight.copy_(gamma[index])
            bn.bias.copy_(beta[index])
            bn.running_mean = mean[index].clone()
            bn.running_var = var[index].clone()
        seq = nn.Sequential(
            linears[0], nn.ReLU(), norms[0], linears[1], nn.ReLU(), norms[1], linears[2]
        )
        return seq.eval()


@dataclass(frozen=True)
class FoldedEnsemble:
    """Inference weights of an ensemble.

    w1: [M*H1, C] (member-major rows), b1: [M*H1]; w2t: [M, H1, H2], b2: [M, 1, H2];
    w3t: [M, H2, K], b3: [M, 1, K]. BatchNorms are folded into layers 2 and 3.
    """

    w1: torch.Tensor
    b1: torch.Tensor
    w2t: torch.Tensor
    b2: torch.Tensor
    w3t: torch.Tensor
    b3: torch.Tensor

    @property
    def n_members(self) -> int:
        return int(self.w2t.shape[0])

    @property
    def hidden1(self) -> int:
        return int(self.w2t.shape[1])

    @property
    def n_classes(self) -> int:
        return int(self.w3t.shape[2])

    def head(self, pre1: torch.Tensor) -> torch.Tensor:
        """First-layer pre-activations (bias included) [P, M*H1] -> member log-probabilities [M, K, P].

        ``pre1`` is overwritten (ReLU in place). Classes are the middle axis so that the per-pixel
        reductions downstream run along contiguous pixels.
        """
        p = pre1.shape[0]
        h = pre1.relu_().view(p, self.n_members, self.hidden1).transpose(0, 1)  # [M, P, H1]
        h = torch.baddbmm(self.b2, h, self.w2t).relu_()  # [M, P, H2]
        logits = torch.baddbmm(self.b3t, self.w3t.transpose(1, 2), h.transpose(1, 2))  # [M, K, P]
        return torch.log_softmax(logits, dim=1)

    @property
    def b3t(self) -> torch.Tensor:
        """b3 as [M, K, 1]."""
        return self.b3.transpose(1, 2)
