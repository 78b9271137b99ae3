"""SegmentNT in PyTorch: Nucleotide Transformer backbone + 1D U-Net head."""

from genoseg.model.config import SEGMENT_NT_FEATURES, SegmentNTConfig
from genoseg.model.segment_nt import SegmentNT, load_model

__all__ = ["SEGMENT_NT_FEATURES", "SegmentNTConfig", "SegmentNT", "load_model"]
