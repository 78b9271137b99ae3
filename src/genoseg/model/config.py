"""Configuration of a SegmentNT model, in the Hugging Face `config.json` layout.

The field names are those of the published `InstaDeepAI/segment_nt` checkpoint, so that its
`config.json` loads unchanged and our own `save_pretrained` output looks the same. Fields that
only genoseg writes are prefixed `genoseg_`.
"""

from __future__ import annotations

import math
from typing import Any

from transformers import PretrainedConfig

from genoseg.errors import DataError
from genoseg.model.limits import MAX_WINDOW_NT, WINDOW_MULTIPLE, window_overlap

SEGMENT_NT_FEATURES: tuple[str, ...] = (
    "protein_coding_gene",
    "lncRNA",
    "exon",
    "intron",
    "splice_donor",
    "splice_acceptor",
    "5UTR",
    "3UTR",
    "CTCF-bound",
    "polyA_signal",
    "enhancer_Tissue_specific",
    "enhancer_Tissue_invariant",
    "promoter_Tissue_specific",
    "promoter_Tissue_invariant",
)

# Rotary scaling is expressed relative to this many tokens (the NT-v2 pre-training context).
ROTARY_REFERENCE_TOKENS = 2048


class ConfigError(DataError, ValueError):
    """A checkpoint's configuration is invalid; raised before any weight is allocated."""


class SegmentNTConfig(PretrainedConfig):
    # The published checkpoint says "esm"; keeping it makes our config.json interchangeable.
    model_type = "esm"

    def __init__(
        self,
        vocab_size: int = 4107,
        hidden_size: int = 1024,
        num_hidden_layers: int = 29,
        num_attention_heads: int = 16,
        intermediate_size: int = 4096,
        position_embedding_type: str = "rotary",
        add_bias_fnn: bool = False,
        emb_layer_norm_before: bool = False,
        token_dropout: bool = False,
        layer_norm_eps: float = 1e-12,
        num_layers_head: int = 2,
        rescaling_factor: float | None = 2.44140625,
        features: list[str] | tuple[str, ...] = SEGMENT_NT_FEATURES,
        pad_token_id: int = 1,
        mask_token_id: int = 2,
        genoseg_layer_norm_eps: float = 1e-5,
        genoseg_window_nt: int = 30_000,
        genoseg_overlap_nt: int | None = None,
        genoseg_description: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.position_embedding_type = position_embedding_type
        self.add_bias_fnn = add_bias_fnn
        self.emb_layer_norm_before = emb_layer_norm_before
        self.token_dropout = token_dropout
        # Kept for the file layout only: the weights were trained with eps 1e-5 (the HF port's
        # 1e-12 shifts probabilities by ~2e-5), so the model uses genoseg_layer_norm_eps.
        self.layer_norm_eps = layer_norm_eps
        self.num_layers_head = num_layers_head
        self.rescaling_factor = rescaling_factor
        self.features = list(features)
        self.mask_token_id = mask_token_id
        self.genoseg_layer_norm_eps = genoseg_layer_norm_eps
        self.genoseg_window_nt = genoseg_window_nt
        self.genoseg_overlap_nt = genoseg_overlap_nt
        self.genoseg_description = genoseg_description

    @property
    def num_features(self) -> int:
        return len(self.features)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def default_overlap_nt(self) -> int:
        """Overlap between neighbouring windows: a quarter of the window unless configured."""
        return window_overlap(self.genoseg_window_nt, self.genoseg_overlap_nt)

    def validate(self) -> None:
        """Reject configurations that cannot describe a SegmentNT model, before allocation."""
        positive = {
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "intermediate_size": self.intermediate_size,
            "num_layers_head": self.num_layers_head,
            "genoseg_window_nt": self.genoseg_window_nt,
        }
        for name, value in positive.items():
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"config field {name} must be a positive integer, got {value!r}")
        if self.hidden_size > 65_536 or self.num_hidden_layers > 1_000 or self.intermediate_size > 262_144:
            raise ConfigError("config sizes are implausibly large for a SegmentNT model")
        if self.vocab_size != 4107:
            raise ConfigError(f"vocab_size must be 4107 (6-mer vocabulary), got {self.vocab_size}")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError("hidden_size must be divisible by num_attention_heads")
        if self.head_dim % 2:
            raise ConfigError("attention head dimension must be even for rotary embeddings")
        if self.position_embedding_type != "rotary":
            raise ConfigError(f"position_embedding_type must be 'rotary', got {self.position_embedding_type!r}")
        if self.add_bias_fnn:
            raise ConfigError("add_bias_fnn=true is not a SegmentNT configuration")
        if not self.features or not all(isinstance(f, str) and f for f in self.features):
            raise ConfigError("config field features must be a non-empty list of names")
        if len(set(self.features)) != len(self.features):
            raise ConfigError("config field features has duplicate names")
        if self.rescaling_factor is not None and not (0 < float(self.rescaling_factor) < 1_000):
            raise ConfigError(f"rescaling_factor must be positive, got {self.rescaling_factor!r}")
        for name in ("layer_norm_eps", "genoseg_layer_norm_eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
                raise ConfigError(f"config field {name} must be a number between 0 and 1, got {value!r}")
        if self.rescaling_factor is not None and (isinstance(self.rescaling_factor, bool)
                                                  or not isinstance(self.rescaling_factor, (int, float))
                                                  or not math.isfinite(self.rescaling_factor)):
            raise ConfigError(f"rescaling_factor must be a finite number, got {self.rescaling_factor!r}")
        if self.genoseg_window_nt > MAX_WINDOW_NT:
            raise ConfigError(f"genoseg_window_nt {self.genoseg_window_nt} is beyond {MAX_WINDOW_NT:,} nt")
        overlap = self.genoseg_overlap_nt
        if overlap is not None and (isinstance(overlap, bool) or not isinstance(overlap, int)
                                    or not 0 <= overlap < self.genoseg_window_nt):
            raise ConfigError(f"genoseg_overlap_nt must be a whole number from 0 to below the window, got {overlap!r}")
        for feature in self.features:
            if any(c.isspace() or ord(c) < 32 for c in feature):
                raise ConfigError(f"class name {feature!r} holds whitespace or control characters")
        if self.genoseg_window_nt % WINDOW_MULTIPLE:
            raise ConfigError(f"genoseg_window_nt must be a multiple of {WINDOW_MULTIPLE}")
