"""SegmentEnformer: the Enformer trunk with the SegmentNT U-Net head, read top to bottom.

Enformer (Avsec et al. 2021) reads one-hot DNA (N = all zeros), convolves and pools it
2^num_downsamples-fold (128 nt per position in the published model), then runs a transformer
with relative positional attention. SegmentEnformer's head reads the transformer's output
directly (no cropping), so every input base gets a prediction: the U-Net maps each position
back to `nucleotides_per_position` bases.

Facts of the official JAX code this follows (and tests/test_long_range.py checks against it):
gelu is sigmoid(1.702 x) * x; convolution blocks are batch norm → gelu → convolution; batch norm
at inference uses the stored moving averages; layer and batch norm eps 1e-5; attention scales
the queries by dk^-0.5 before the relative-position terms are added; the feed-forward uses ReLU.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig

from genoseg.model.config import SEGMENT_NT_FEATURES, ConfigError
from genoseg.model.head import UNetHead
from genoseg.model.limits import WINDOW_MULTIPLE, window_overlap
from genoseg.model.tokenizer import BaseTokenizer

HEAD_BLOCKS = 2  # the U-Net head pools twice


def exponential_channels(start: int, end: int, num: int, divisible_by: int) -> list[int]:
    """`num` widths growing geometrically from `start` to `end`, each rounded to `divisible_by`."""
    base = math.exp(math.log(end / start) / (num - 1))
    return [int(round(start * base**i / divisible_by) * divisible_by) for i in range(num)]


class LongRangeConfig(PretrainedConfig):
    """What SegmentEnformer and SegmentBorzoi share: classes, window, the head's width and the
    trunk's transformer; `genoseg_*` fields are genoseg's own."""

    def __init__(self, embed_dim: int = 1536, num_transformer_layers: int = 11, num_attention_heads: int = 8,
                 attention_dim_key: int = 64, num_downsamples: int = 7, dim_divisible_by: int = 128,
                 features: list[str] | tuple[str, ...] = SEGMENT_NT_FEATURES, genoseg_window_nt: int = 196_608,
                 genoseg_overlap_nt: int | None = None, genoseg_description: str = "",
                 genoseg_cuda_batch_size: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Windows per forward on a GPU: in bf16 a 196,608-nt SegmentEnformer window needs about
        # 1.6 GB of activations (half the 3.2 GB measured in float32 on CPU), so 8 fit 80 GB.
        self.genoseg_cuda_batch_size = genoseg_cuda_batch_size
        self.embed_dim = embed_dim
        self.num_transformer_layers = num_transformer_layers
        self.num_attention_heads = num_attention_heads
        self.attention_dim_key = attention_dim_key
        self.num_downsamples = num_downsamples
        self.dim_divisible_by = dim_divisible_by
        self.features = list(features)
        self.genoseg_window_nt = genoseg_window_nt
        self.genoseg_overlap_nt = genoseg_overlap_nt
        self.genoseg_description = genoseg_description

    @property
    def num_features(self) -> int:
        return len(self.features)

    @property
    def default_overlap_nt(self) -> int:
        """Overlap between neighbouring windows: a quarter of the window unless configured."""
        return window_overlap(self.genoseg_window_nt, self.genoseg_overlap_nt)


class EnformerConfig(LongRangeConfig):
    """The published SegmentEnformer by default (embed 1536, 11 layers, 8 heads, 128 nt per position)."""

    model_type = "segment_enformer"

    def __init__(self, **kwargs: Any) -> None:
        # An __init__ of its own: transformers turns a config subclass without one into a
        # dataclass whose generated __init__ would skip LongRangeConfig's.
        super().__init__(**kwargs)

    @property
    def nucleotides_per_position(self) -> int:
        return 2**self.num_downsamples

    @property
    def window_multiple(self) -> int:
        """Input lengths must be a multiple of this: whole positions, and the head pools twice."""
        return self.nucleotides_per_position * 2**HEAD_BLOCKS

    def validate(self) -> None:
        if self.embed_dim % 2 or (self.embed_dim // self.num_attention_heads) % 6:
            raise ConfigError("embed_dim / num_attention_heads must be divisible by 6 (relative position features)")
        if self.dim_divisible_by != 2**self.num_downsamples:
            raise ConfigError("dim_divisible_by must be 2^num_downsamples (nucleotides per position)")
        if self.genoseg_window_nt % WINDOW_MULTIPLE:
            raise ConfigError(f"genoseg_window_nt must be a multiple of {WINDOW_MULTIPLE}")


def gelu_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(1.702 * x) * x


class ConvBlock(nn.Module):
    """Batch norm → activation → convolution (same length)."""

    def __init__(self, channels: int, out_channels: int, kernel_size: int, eps: float, activation) -> None:
        super().__init__()
        self.batch_norm = nn.BatchNorm1d(channels, eps=eps)
        self.conv = nn.Conv1d(channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.activation(self.batch_norm(x)))


class AttentionPool(nn.Module):
    """Pairs of positions → one, weighted by a softmax over each pair of learned logits."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.to_logits = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, d, n = x.shape
        if n % 2:  # an odd length: a zero column whose logits are -inf
            x = F.pad(x, (0, 1))
        pairs = x.view(b, d, -1, 2)
        logits = self.to_logits(pairs)
        if n % 2:
            logits[..., -1, 1] = -torch.inf
        return (pairs * logits.softmax(dim=-1)).sum(dim=-1)


def relative_shift(x: torch.Tensor) -> torch.Tensor:
    """(B, H, n, 2n-1) scores by relative distance → (B, H, n, n) scores by key position."""
    b, h, t1, t2 = x.shape
    x = torch.cat([x.new_zeros(b, h, t1, 1), x], dim=-1)
    x = x.reshape(b, h, t2 + 1, t1)[:, :, 1:, :]
    return x.reshape(b, h, t1, t2)[..., : (t2 + 2) // 2]


def enformer_positions(n: int, features: int) -> torch.Tensor:
    """Enformer's relative position features of distances -(n-1)..n-1: exponential decays,
    central masks and gamma densities, then the same times sign(distance); (2n-1, features)."""
    per_kind = features // 6
    distances = torch.arange(-n + 1, n, dtype=torch.float64)
    ad = distances.abs()[:, None]
    max_range = math.log(n) / math.log(2.0)
    half_life = 2 ** torch.linspace(3.0, max_range, per_kind, dtype=torch.float64)
    exponential = torch.exp(-math.log(2.0) / half_life[None, :] * ad)
    widths = 2 ** torch.arange(1, per_kind + 1, dtype=torch.float64) - 1
    central = (widths[None, :] > ad).to(torch.float64)
    stddev, start_mean = n / (2 * per_kind), n / per_kind
    mean = torch.linspace(start_mean, n, per_kind, dtype=torch.float64)[None, :]
    concentration, rate = (mean / stddev) ** 2, mean / stddev**2
    log_pdf = torch.special.xlogy(concentration - 1, ad) - rate * ad - (torch.lgamma(concentration) - concentration * torch.log(rate))
    gamma = torch.exp(log_pdf) + 1e-8
    gamma = gamma / gamma.amax(dim=-1, keepdim=True)
    kinds = torch.cat([exponential, central, gamma], dim=-1)
    return torch.cat([kinds, distances.sign()[:, None] * kinds], dim=-1)


class RelativeAttention(nn.Module):
    """Multi-head attention whose logits add a learned function of the query-key distance."""

    def __init__(self, dim: int, heads: int, dim_key: int, rel_features: int, positions) -> None:
        super().__init__()
        self.heads, self.dim_key, self.rel_features, self.positions = heads, dim_key, rel_features, positions
        dim_value = dim // heads
        self.to_q = nn.Linear(dim, dim_key * heads, bias=False)
        self.to_k = nn.Linear(dim, dim_key * heads, bias=False)
        self.to_v = nn.Linear(dim, dim_value * heads, bias=False)
        self.to_rel_k = nn.Linear(rel_features, dim_key * heads, bias=False)
        self.to_out = nn.Linear(dim_value * heads, dim)
        self.rel_content_bias = nn.Parameter(torch.zeros(1, heads, 1, dim_key))
        self.rel_pos_bias = nn.Parameter(torch.zeros(1, heads, 1, dim_key))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, -1).transpose(1, 2)

        q = split(self.to_q(x)) * self.dim_key**-0.5
        k, v = split(self.to_k(x)), split(self.to_v(x))
        content = (q + self.rel_content_bias) @ k.transpose(-1, -2)
        positions = self.positions(n, self.rel_features).to(x.dtype).to(x.device)
        rel_k = self.to_rel_k(positions).view(2 * n - 1, self.heads, -1).transpose(0, 1)
        relative = relative_shift((q + self.rel_pos_bias) @ rel_k.transpose(-1, -2)[None])
        attention = (content + relative).softmax(dim=-1)
        return self.to_out((attention @ v).transpose(1, 2).reshape(b, n, -1))


class TransformerLayer(nn.Module):
    """Pre-norm attention and ReLU feed-forward, each added back to its input."""

    def __init__(self, dim: int, heads: int, dim_key: int, rel_features: int, positions, eps: float) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim, eps=eps)
        self.attention = RelativeAttention(dim, heads, dim_key, rel_features, positions)
        self.ffn_norm = nn.LayerNorm(dim, eps=eps)
        self.ffn_1 = nn.Linear(dim, 2 * dim)
        self.ffn_2 = nn.Linear(2 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x))
        return x + self.ffn_2(F.relu(self.ffn_1(self.ffn_norm(x))))


def one_hot(bases: torch.Tensor) -> torch.Tensor:
    """(B, L) base codes 0-3 (A, C, G, T; anything else N) → (B, 4, L) float, N all zeros."""
    return F.one_hot(bases.clamp(max=4).long(), 5)[..., :4].transpose(1, 2).float()


class EnformerTrunk(nn.Module):
    """(B, 4, L) one-hot → (B, L / 2^num_downsamples, embed_dim) transformer output."""

    def __init__(self, config: EnformerConfig) -> None:
        super().__init__()
        half, eps = config.embed_dim // 2, 1e-5
        self.stem = nn.Conv1d(4, half, 15, padding=7)
        self.stem_residual = ConvBlock(half, half, 1, eps, gelu_sigmoid)
        self.stem_pool = AttentionPool(half)
        widths = [half, *exponential_channels(half, config.embed_dim, config.num_downsamples - 1, config.dim_divisible_by)]
        self.tower = nn.ModuleList()
        for dim_in, dim_out in zip(widths[:-1], widths[1:]):
            self.tower.append(nn.ModuleDict({
                "conv": ConvBlock(dim_in, dim_out, 5, eps, gelu_sigmoid),
                "residual": ConvBlock(dim_out, dim_out, 1, eps, gelu_sigmoid),
                "pool": AttentionPool(dim_out),
            }))
        heads = config.num_attention_heads
        self.transformer = nn.ModuleList(
            TransformerLayer(config.embed_dim, heads, config.attention_dim_key, config.embed_dim // heads,
                             enformer_positions, eps)
            for _ in range(config.num_transformer_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.stem_pool(x + self.stem_residual(x))
        for layer in self.tower:
            x = layer["conv"](x)
            x = layer["pool"](x + layer["residual"](x))
        x = x.transpose(1, 2)
        for layer in self.transformer:
            x = layer(x)
        return x


class SegmentHead(nn.Module):
    """The U-Net head and its final linear layer: (B, n, C) → (B, n × nt per position, F, 2) logits."""

    def __init__(self, in_channels: int, width: int, nucleotides_per_position: int, num_features: int) -> None:
        super().__init__()
        self.unet = UNetHead(in_channels, width, HEAD_BLOCKS)
        self.fc = nn.Linear(width, nucleotides_per_position * num_features * 2)
        self.nucleotides_per_position, self.num_features = nucleotides_per_position, num_features

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        out = self.fc(F.silu(self.unet(embeddings)))
        b, n = embeddings.shape[:2]
        return out.view(b, n * self.nucleotides_per_position, self.num_features, 2)


def pad_with_n(bases: torch.Tensor, length: int) -> torch.Tensor:
    """(B, L) base codes extended to `length` with N (code 4) on the right."""
    return F.pad(bases, (0, length - bases.shape[1]), value=BaseTokenizer.pad_id)


class SegmentLongRange(nn.Module):
    """What SegmentEnformer and SegmentBorzoi share: a trunk on one-hot bases, the head, classes."""

    context_nt = 0  # bases read on each side of a window that get no prediction
    tokenizer = BaseTokenizer()
    trunk: nn.Module
    head: SegmentHead

    def __init__(self, config: LongRangeConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config

    @property
    def features(self) -> list[str]:
        return list(self.config.features)

    def logits(self, bases: torch.Tensor) -> torch.Tensor:
        """(B, L) base codes, L a multiple of config.window_multiple → (B, predicted, F, 2) logits."""
        if bases.shape[1] % self.config.window_multiple:
            raise ValueError(f"input length {bases.shape[1]} is not a multiple of {self.config.window_multiple}")
        return self.head(self.trunk(one_hot(bases).to(self.head.fc.weight.dtype)))


class SegmentEnformer(SegmentLongRange):
    """Base codes (B, L) → (B, L, F) probabilities; windows are padded with N to a multiple of
    config.window_multiple inside (the trunk reads N as no sequence; it has no padding mask)."""

    def __init__(self, config: EnformerConfig) -> None:
        super().__init__(config)
        self.trunk = EnformerTrunk(config)
        self.head = SegmentHead(config.embed_dim, config.embed_dim, config.nucleotides_per_position,
                                config.num_features)

    def forward(self, bases: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """`lengths` is accepted for the pipeline's sake and not needed: padding is N."""
        n = bases.shape[1]
        multiple = self.config.window_multiple
        logits = self.logits(pad_with_n(bases, -(-n // multiple) * multiple))[:, :n].float()
        return torch.sigmoid(logits[..., 1] - logits[..., 0])
