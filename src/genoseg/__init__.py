"""genoseg: per-base genome annotation with SegmentNT."""

__version__ = "0.1.0"
