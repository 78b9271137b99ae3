"""The SegmentNT family's 1D U-Net head: trunk embeddings back to per-nucleotide outputs.

Channel widths double at each of `num_layers_head` down blocks (1024 → 1024 → 2048 for
segment_nt) and the up blocks mirror them; every up block ends with a nearest ×2 upsample and
adds the matching down block's pre-pooling activation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _channel_plan(in_channels: int, width: int, num_blocks: int) -> list[tuple[int, int]]:
    """(in, out) channels of each down block: the first maps the input to `width`, later ones double it."""
    plan = []
    channels = in_channels
    for block in range(num_blocks):
        out = width * 2**block
        plan.append((channels, out))
        channels = out
    return plan


def _masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    # Zeroing the padding before every convolution makes it read exactly the zeros that the
    # convolution's own padding supplies at the end of an unpadded sequence.
    return x if mask is None else x * mask


class DownBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_layers = nn.ModuleList(
            [nn.Conv1d(in_channels, out_channels, 3, padding=1), nn.Conv1d(out_channels, out_channels, 3, padding=1)]
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        for conv in self.conv_layers:
            x = F.silu(conv(_masked(x, mask)))
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

    def forward(self, x: torch.Tensor, skip: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        for conv in self.conv_layers:
            x = F.silu(conv(_masked(x, mask)))
        return x.repeat_interleave(2, dim=-1) + skip


class FinalBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_layers = nn.ModuleList(
            [nn.Conv1d(channels, channels, 3, padding=1), nn.Conv1d(channels, channels, 3, padding=1)]
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.conv_layers[1](_masked(F.silu(self.conv_layers[0](_masked(x, mask))), mask))


class UNetHead(nn.Module):
    """(B, L, in_channels) token embeddings without <cls> → (B, L, width); L divisible by 2^num_blocks.

    SegmentNT's head has in_channels = width = the backbone's hidden size; SegmentBorzoi's reads
    the trunk's 1920 channels into a 1536-wide U-Net.
    """

    def __init__(self, in_channels: int, width: int, num_blocks: int) -> None:
        super().__init__()
        plan = _channel_plan(in_channels, width, num_blocks)
        self._downsample_blocks = nn.ModuleList(DownBlock(i, o) for i, o in plan)
        # Each up block maps the current width to its mirrored down block's output width, so
        # that the skip addition matches (segment_nt: 2048→2048, then 2048→1024).
        bottom = plan[-1][1]
        self._upsample_blocks = nn.ModuleList(
            UpBlock(bottom if k == 0 else plan[len(plan) - k][1], out) for k, (_, out) in enumerate(reversed(plan))
        )
        self.final_block = FinalBlock(width)

    def forward(self, embeddings: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """`valid`: (B, L) bool, False at padding; real lengths must be divisible by 2^blocks too."""
        x = embeddings.transpose(1, 2)
        # One mask per resolution; pooling pairs never straddle the end of a row's real tokens.
        masks = [None if valid is None else valid[:, None, :: 2**k].to(x.dtype) for k in range(len(self._downsample_blocks) + 1)]
        skips = []
        for level, block in enumerate(self._downsample_blocks):
            x, skip = block(x, masks[level])
            skips.append(skip)
        for level, (block, skip) in enumerate(zip(self._upsample_blocks, reversed(skips))):
            x = block(x, skip, masks[len(skips) - level])
        return self.final_block(x, masks[0]).transpose(1, 2)
