"""SegmentNT in PyTorch: Nucleotide Transformer backbone + 1D U-Net head.

The package's names are imported on first use (PEP 562), so that `genoseg.model.limits` and
`genoseg.model.tokenizer` can be read without loading torch and transformers.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "SEGMENT_NT_FEATURES": "genoseg.model.config",
    "SegmentNTConfig": "genoseg.model.config",
    "SegmentNT": "genoseg.model.segment_nt",
    "load_model": "genoseg.model.segment_nt",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'genoseg.model' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
