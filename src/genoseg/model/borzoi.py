"""SegmentBorzoi: the Borzoi trunk with the SegmentNT U-Net head, read top to bottom.

Borzoi (Linder et al. 2025) reads one-hot DNA, convolves and max-pools it 2^num_downsamples-fold,
runs a transformer with relative positional attention (its own features: central masks only),
then climbs back two levels through U-Net blocks that add the tower's earlier activations, to
`dim_divisible_by` nt per position (32 published). It then crops to the central `target_length`
positions before its final convolution block and the head: a 524,288-nt input yields
predictions for its central 196,608 nt only (from 163,840), so windows must overlap by the
unpredicted flanks (`SegmentBorzoi.predicted_span`).

Facts of the official JAX code this follows: gelu is the tanh approximation, with one more gelu
after the final convolution block; the stem has no batch norm or activation; layer and batch
norm eps 1e-3; the U-Net blocks' separable convolution ends in a pointwise convolution to 1536
channels without bias whatever embed_dim is.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genoseg.model.config import ConfigError
from genoseg.model.enformer import (HEAD_BLOCKS, ConvBlock, LongRangeConfig, SegmentHead, SegmentLongRange,
                                    TransformerLayer, exponential_channels, pad_with_n)
from genoseg.model.limits import WINDOW_MULTIPLE

SEPARABLE_OUT_CHANNELS = 1536  # fixed in the official code
EPS = 1e-3
gelu_tanh = partial(F.gelu, approximate="tanh")


class BorzoiConfig(LongRangeConfig):
    """The published SegmentBorzoi by default (524,288-nt input, 32 nt per position, 196,608 predicted)."""

    model_type = "segment_borzoi"

    def __init__(self, int_embed_dim: int = 512, res_tower_embed_dim_init: int = 608, num_rel_pos_features: int = 32,
                 num_unet_conv: int = 2, final_conv_block_embed_dim: int = 1920, target_length: int = 6144,
                 genoseg_input_nt: int = 524_288, **kwargs: Any) -> None:
        kwargs.setdefault("num_transformer_layers", 8)
        kwargs.setdefault("dim_divisible_by", 32)
        # The pipeline tiles the predicted span; each window is read with its context around it.
        kwargs.setdefault("genoseg_window_nt", target_length * kwargs["dim_divisible_by"])
        super().__init__(**kwargs)
        self.genoseg_input_nt = genoseg_input_nt
        self.int_embed_dim = int_embed_dim
        self.res_tower_embed_dim_init = res_tower_embed_dim_init
        self.num_rel_pos_features = num_rel_pos_features
        self.num_unet_conv = num_unet_conv
        self.final_conv_block_embed_dim = final_conv_block_embed_dim
        self.target_length = target_length

    @property
    def nucleotides_per_position(self) -> int:
        return self.dim_divisible_by

    @property
    def window_multiple(self) -> int:
        return 2**self.num_downsamples

    @property
    def predicted_nt(self) -> int:
        """Bases of each input that get predictions: its central target_length positions."""
        return self.target_length * self.nucleotides_per_position

    @property
    def context_nt(self) -> int:
        """Bases read on each side of the predicted span."""
        return (self.genoseg_input_nt - self.predicted_nt) // 2

    def validate(self) -> None:
        if self.dim_divisible_by * 2**self.num_unet_conv != 2**self.num_downsamples:
            raise ConfigError("dim_divisible_by × 2^num_unet_conv must be 2^num_downsamples")
        if self.num_rel_pos_features % 2 or self.target_length % 2**HEAD_BLOCKS:
            raise ConfigError("num_rel_pos_features must be even and target_length divisible by 4")
        if self.genoseg_input_nt % self.window_multiple or self.genoseg_input_nt < self.predicted_nt:
            raise ConfigError(f"genoseg_input_nt must be a multiple of {self.window_multiple} of at least "
                              f"{self.predicted_nt:,} (target_length positions)")
        if (self.genoseg_input_nt // self.nucleotides_per_position - self.target_length) % 2:
            raise ConfigError("the crop must leave equal flanks: input positions - target_length must be even")
        if not 0 < self.genoseg_window_nt <= self.predicted_nt or self.genoseg_window_nt % WINDOW_MULTIPLE:
            raise ConfigError(f"genoseg_window_nt must be a multiple of {WINDOW_MULTIPLE} up to {self.predicted_nt:,}")


def borzoi_positions(n: int, features: int) -> torch.Tensor:
    """Borzoi's relative position features: central masks of geometrically growing widths (in
    float32, as the official code compares them), then the same times sign(distance)."""
    per_kind = features // 2
    distances = torch.arange(-n + 1, n, dtype=torch.float32)
    rate = torch.exp(torch.log(torch.tensor(n + 1.0, dtype=torch.float32)) / per_kind)
    widths = rate ** torch.arange(1, per_kind + 1, dtype=torch.float32) - 1
    central = (widths[None, :] > distances.abs()[:, None]).to(torch.float32)
    return torch.cat([central, distances.sign()[:, None] * central], dim=-1)


class UNetConvBlock(nn.Module):
    """One level up: the coarse track and the tower's activation at the finer level, each batch
    normed, activated and projected, summed after upsampling, then a separable convolution."""

    def __init__(self, channels: int, skip_channels: int, dim: int) -> None:
        super().__init__()
        self.batch_norm = nn.BatchNorm1d(channels, eps=EPS)
        self.batch_norm_skip = nn.BatchNorm1d(skip_channels, eps=EPS)
        self.linear = nn.Linear(channels, dim)
        self.linear_skip = nn.Linear(skip_channels, dim)
        self.depthwise = nn.Conv1d(dim, dim, 3, padding=1, groups=dim, bias=False)
        self.pointwise = nn.Conv1d(dim, SEPARABLE_OUT_CHANNELS, 1, bias=False)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.linear(gelu_tanh(self.batch_norm(x)).transpose(1, 2)).transpose(1, 2)
        skip = self.linear_skip(gelu_tanh(self.batch_norm_skip(skip)).transpose(1, 2)).transpose(1, 2)
        x = x.repeat_interleave(2, dim=-1) + skip
        return self.pointwise(self.depthwise(x))


class BorzoiTrunk(nn.Module):
    """(B, 4, L) one-hot → (B, target_length, final_conv_block_embed_dim): the central positions."""

    def __init__(self, config: BorzoiConfig) -> None:
        super().__init__()
        self.config = config
        self.stem = nn.Conv1d(4, config.int_embed_dim, 15, padding=7)
        widths = [config.int_embed_dim, *exponential_channels(config.res_tower_embed_dim_init, config.embed_dim,
                                                              config.num_downsamples - 1, config.dim_divisible_by)]
        self.tower = nn.ModuleList(ConvBlock(i, o, 5, EPS, gelu_tanh) for i, o in zip(widths[:-1], widths[1:]))
        # The U-Net blocks read the tower's last activations before pooling, finest last.
        self.first_skip = config.num_downsamples - 3
        skips = widths[1:][self.first_skip:][::-1]
        heads = config.num_attention_heads
        self.transformer = nn.ModuleList(
            TransformerLayer(config.embed_dim, heads, config.attention_dim_key, config.num_rel_pos_features,
                             borzoi_positions, EPS)
            for _ in range(config.num_transformer_layers))
        self.unet = nn.ModuleList(
            UNetConvBlock(config.embed_dim if i == 0 else SEPARABLE_OUT_CHANNELS, skips[i], config.embed_dim)
            for i in range(config.num_unet_conv))
        self.final = ConvBlock(SEPARABLE_OUT_CHANNELS, config.final_conv_block_embed_dim, 1, EPS, gelu_tanh)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool1d(self.stem(x), 2)
        skips = []
        for i, block in enumerate(self.tower):
            x = block(x)
            if i >= self.first_skip:
                skips.append(x)
            x = F.max_pool1d(x, 2)
        x = x.transpose(1, 2)
        for layer in self.transformer:
            x = layer(x)
        x = x.transpose(1, 2)
        for block in self.unet:
            x = block(x, skips.pop())
        trim = (self.config.target_length - x.shape[-1]) // 2
        if trim:
            x = x[..., -trim:trim]
        return gelu_tanh(self.final(x)).transpose(1, 2)


class SegmentBorzoi(SegmentLongRange):
    """A window of W ≤ predicted_nt bases with context_nt bases on each side, (B, W + 2 context)
    base codes → (B, W, F) probabilities of the window's bases."""

    def __init__(self, config: BorzoiConfig) -> None:
        super().__init__(config)
        self.context_nt = config.context_nt
        self.max_window_nt = config.predicted_nt  # --window may not exceed what one input predicts
        self.trunk = BorzoiTrunk(config)
        self.head = SegmentHead(config.final_conv_block_embed_dim, config.embed_dim, config.nucleotides_per_position,
                                config.num_features)

    def predicted_span(self, length: int) -> tuple[int, int]:
        """The bases [start, end) of an input of `length` that get predictions."""
        positions = length // self.config.nucleotides_per_position
        flank = (positions - self.config.target_length) // 2 * self.config.nucleotides_per_position
        return flank, flank + self.config.target_length * self.config.nucleotides_per_position

    def forward(self, bases: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """A window shorter than predicted_nt is followed by its right context and then N, up to
        the input length: its bases still sit at the start of the predicted span."""
        window = bases.shape[1] - 2 * self.context_nt
        if not 0 < window <= self.config.predicted_nt:
            raise ValueError(f"a window of {window} bases (input {bases.shape[1]}) does not fit the predicted span "
                             f"of {self.config.predicted_nt}")
        logits = self.logits(pad_with_n(bases, self.config.genoseg_input_nt))[:, :window].float()
        return torch.sigmoid(logits[..., 1] - logits[..., 0])

