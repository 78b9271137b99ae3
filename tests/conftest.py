from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from genoseg.model import SegmentNT
from tests.helpers import random_dna, tiny_config

# No test may reach a hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


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


@pytest.fixture(scope="module")
def synthetic_fasta(tmp_path_factory):
    """Records with N runs, soft-masking, IUPAC codes, a short record and an all-N record."""
    d = tmp_path_factory.mktemp("synthetic")
    r1 = random_dna(3000) + "N" * 50 + random_dna(2500).lower() + "NNNN" + random_dna(700)
    r2 = random_dna(1500)
    r2 = r2[:400] + "R" + r2[401:900] + "y" + r2[901:]  # IUPAC codes count as N
    r3 = "N" * 300
    r4 = random_dna(90) + "N" * 10 + random_dna(2000)  # a 90 nt stretch below the minimum
    path = d / "genome.fa"
    with open(path, "w") as fh:
        for name, seq in [("chrA", r1), ("chrB", r2), ("chrN", r3), ("chrC", r4)]:
            fh.write(f">{name} test record\n")
            for i in range(0, len(seq), 60):
                fh.write(seq[i : i + 60] + "\n")
    return path


@pytest.fixture(scope="module")
def many_records(tmp_path_factory):
    path = tmp_path_factory.mktemp("shards") / "genome.fa"
    with open(path, "w") as fh:
        for i, length in enumerate([5000, 700, 2600, 30, 1200, 4000, 90, 2400]):
            seq = random_dna(length)
            if length > 2000:  # an N run splits it into two segments
                seq = seq[:1000] + "N" * 40 + seq[1040:]
            fh.write(f">r{i}\n{seq}\n")
    return path
