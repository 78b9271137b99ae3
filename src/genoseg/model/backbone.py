"""Nucleotide Transformer v2 backbone: 6-mer embeddings, rotary pre-LN blocks, SwiGLU FFN.

Module and attribute names follow the Hugging Face checkpoint keys (`esm.encoder.layer.i...`),
so a real `segment_nt` state dict loads into these modules without renaming.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genoseg.model.config import ROTARY_REFERENCE_TOKENS, SegmentNTConfig


def rotary_scale(num_tokens: int, rescaling_factor: float | None) -> float:
    """Context scale s for a sequence of `num_tokens` tokens (including <cls>).

    The checkpoint was trained at s = rescaling_factor (2.44140625 = 5000 / 2048 for
    segment_nt); that s holds for every input up to its training length, and longer inputs
    use s = num_tokens / 2048 so the rotary base keeps growing with the context.
    """
    if rescaling_factor is None:
        return max(1.0, num_tokens / ROTARY_REFERENCE_TOKENS)
    trained_tokens = round(rescaling_factor * ROTARY_REFERENCE_TOKENS) + 1  # + <cls>
    if num_tokens <= trained_tokens:
        return float(rescaling_factor)
    return num_tokens / ROTARY_REFERENCE_TOKENS


def rotary_base(scale: float, head_dim: int, base: float = 10_000.0) -> float:
    """NTK-style base scaling: base' = base * s^(d / (d - 2))."""
    return base * scale ** (head_dim / (head_dim - 2))


def rotary_cos_sin(
    num_tokens: int, head_dim: int, rescaling_factor: float | None, device: torch.device, scale: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables of shape (num_tokens, head_dim), rotate-half layout, in float32.

    `scale` overrides the context scale (a padded row uses its real length's scale).
    """
    base = rotary_base(scale if scale is not None else rotary_scale(num_tokens, rescaling_factor), head_dim)
    exponents = torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim
    inv_freq = 1.0 / (base**exponents)
    positions = torch.arange(num_tokens, device=device, dtype=torch.float32)
    freqs = torch.outer(positions, inv_freq)
    angles = torch.cat((freqs, freqs), dim=-1)
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, H, L, D) queries or keys; the product is taken in float32, then cast back."""
    rotated = x.float() * cos + rotate_half(x.float()) * sin
    return rotated.to(x.dtype)


class SelfAttention(nn.Module):
    def __init__(self, config: SegmentNTConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.head_dim
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                key_mask: torch.Tensor | None = None) -> torch.Tensor:
        q = apply_rotary(self._split_heads(self.query(hidden)), cos, sin)
        k = apply_rotary(self._split_heads(self.key(hidden)), cos, sin)
        v = self._split_heads(self.value(hidden))
        # Full windows need no mask, which lets SDPA pick a fused kernel (flash / mem-efficient);
        # padded batches of short windows pass one so padding is never attended to.
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
        batch, _, length, _ = context.shape
        return context.transpose(1, 2).reshape(batch, length, -1)


class AttentionOutput(nn.Module):
    def __init__(self, config: SegmentNTConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)


class Attention(nn.Module):
    """Pre-LayerNorm attention sub-block: returns Wo·Attn(LN(x)) (the residual is added outside)."""

    def __init__(self, config: SegmentNTConfig) -> None:
        super().__init__()
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.genoseg_layer_norm_eps)
        self.self = SelfAttention(config)
        self.output = AttentionOutput(config)

    def forward(self, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                key_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.output.dense(self.self(self.LayerNorm(hidden), cos, sin, key_mask))


class Intermediate(nn.Module):
    def __init__(self, config: SegmentNTConfig) -> None:
        super().__init__()
        # SwiGLU: one projection produces both the gate and the value halves.
        self.dense = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        gate, value = self.dense(hidden).chunk(2, dim=-1)
        return F.silu(gate) * value


class FeedForwardOutput(nn.Module):
    def __init__(self, config: SegmentNTConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)


class TransformerLayer(nn.Module):
    def __init__(self, config: SegmentNTConfig) -> None:
        super().__init__()
        self.attention = Attention(config)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.genoseg_layer_norm_eps)
        self.intermediate = Intermediate(config)
        self.output = FeedForwardOutput(config)

    def forward(self, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                key_mask: torch.Tensor | None = None) -> torch.Tensor:
        hidden = hidden + self.attention(hidden, cos, sin, key_mask)
        return hidden + self.output.dense(self.intermediate(self.LayerNorm(hidden)))


class Encoder(nn.Module):
    def __init__(self, config: SegmentNTConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(TransformerLayer(config) for _ in range(config.num_hidden_layers))
        self.emb_layer_norm_after = nn.LayerNorm(config.hidden_size, eps=config.genoseg_layer_norm_eps)

    def forward(self, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                key_mask: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layer:
            hidden = layer(hidden, cos, sin, key_mask)
        return self.emb_layer_norm_after(hidden)


class Embeddings(nn.Module):
    def __init__(self, config: SegmentNTConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)


class NucleotideTransformer(nn.Module):
    """Token ids (B, T) → final-LayerNorm embeddings (B, T, hidden)."""

    def __init__(self, config: SegmentNTConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)

    def forward(self, token_ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """`lengths`: (B,) real tokens of each row (with <cls>) when rows are padded at the end."""
        hidden = self.embeddings.word_embeddings(token_ids)
        num_tokens, head_dim, factor = token_ids.shape[1], self.config.head_dim, self.config.rescaling_factor
        if lengths is None:
            cos, sin = rotary_cos_sin(num_tokens, head_dim, factor, token_ids.device)
            return self.encoder(hidden, cos, sin)
        # Each row gets the rotary tables its unpadded length would get.
        scales = [rotary_scale(n, factor) for n in lengths.tolist()]
        tables = {s: rotary_cos_sin(num_tokens, head_dim, factor, token_ids.device, scale=s) for s in set(scales)}
        if len(tables) == 1:
            cos, sin = tables[scales[0]]
        else:
            cos = torch.stack([tables[s][0] for s in scales])[:, None]
            sin = torch.stack([tables[s][1] for s in scales])[:, None]
        positions = torch.arange(num_tokens, device=token_ids.device)
        key_mask = (positions[None, :] < lengths.to(token_ids.device)[:, None])[:, None, None, :]
        return self.encoder(hidden, cos, sin, key_mask)
