"""SegmentNT's 1D U-Net head: token embeddings back to 6 outputs per token.

Channel widths double at each of `num_layers_head` down blocks (1024 → 1024 → 2048 for
segment_nt) and the up blocks mirror them; every up block ends with a nearest ×2 upsample and
adds the matching down block's pre-pooling activation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genoseg.model.config import SegmentNTConfig


def _channel_plan(hidden: int, num_blocks: int) -> list[tuple[int, int]]:
    """(in, out) channels of each down block: the first keeps the width, later ones double it."""
    plan = []
    channels = hidden
    for block in range(num_blocks):
        out = hidden * 2**block
        plan.append((channels, out))
        channels = out
    return plan


class DownBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_layers = nn.ModuleList(
            [nn.Conv1d(in_channels, out_channels, 3, padding=1), nn.Conv1d(out_channels, out_channels, 3, padding=1)]
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for conv in self.conv_layers:
            x = F.silu(conv(x))
        return F.avg_pool1d(x, 2), x


class UpBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        # The checkpoint stores these as ConvTranspose1d kernels [in, out, 3]; using the same
        # layer type keeps the weights usable as stored.
        self.conv_layers = nn.ModuleList(
            [
                nn.ConvTranspose1d(in_channels, out_channels, 3, padding=1),
                nn.ConvTranspose1d(out_channels, out_channels, 3, padding=1),
            ]
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        for conv in self.conv_layers:
            x = F.silu(conv(x))
        return x.repeat_interleave(2, dim=-1) + skip


class FinalBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_layers = nn.ModuleList(
            [nn.Conv1d(channels, channels, 3, padding=1), nn.Conv1d(channels, channels, 3, padding=1)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_layers[1](F.silu(self.conv_layers[0](x)))


class UNetHead(nn.Module):
    """(B, L, hidden) token embeddings without <cls> → (B, L, hidden); L divisible by 2^blocks."""

    def __init__(self, config: SegmentNTConfig) -> None:
        super().__init__()
        plan = _channel_plan(config.hidden_size, config.num_layers_head)
        self._downsample_blocks = nn.ModuleList(DownBlock(i, o) for i, o in plan)
        # Each up block maps the current width to its mirrored down block's output width, so
        # that the skip addition matches (segment_nt: 2048→2048, then 2048→1024).
        bottom = plan[-1][1]
        self._upsample_blocks = nn.ModuleList(
            UpBlock(bottom if k == 0 else plan[len(plan) - k][1], out) for k, (_, out) in enumerate(reversed(plan))
        )
        self.final_block = FinalBlock(config.hidden_size)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        x = embeddings.transpose(1, 2)
        skips = []
        for block in self._downsample_blocks:
            x, skip = block(x)
            skips.append(skip)
        for block, skip in zip(self._upsample_blocks, reversed(skips)):
            x = block(x, skip)
        return self.final_block(x).transpose(1, 2)
