"""fasta.py: records, sequence and N-free segments from plain, gzip and bgzip FASTA, read through a
checked index."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pysam
import pytest

from genoseg.fasta import FastaError, FastaReader, Segment, content_fingerprint, index_matches, name_problem, reverse_complement
from tests.helpers import write_fasta

SEQUENCE = "ACGTTGCAAC" * 120


@pytest.mark.parametrize("compression", ["plain", "gzip", "bgzip"])
def test_records_sequence_and_segments_read_back(tmp_path, compression):
    genome = write_fasta(tmp_path / "g.fa", {"a": "ACGTnnnnACgt" + "A" * 30, "b": "N" * 10, "c": "acgtRYacgt"}, width=7)
    if compression == "gzip":
        with open(genome, "rb") as src, gzip.open(f"{genome}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        genome = Path(f"{genome}.gz")
    elif compression == "bgzip":
        pysam.tabix_compress(str(genome), f"{genome}.gz")
        genome = Path(f"{genome}.gz")
    with FastaReader(genome) as reader:
        assert [(r.name, r.length) for r in reader.records] == [("a", 42), ("b", 10), ("c", 10)]
        assert bytes(reader.fetch("a", 0, 12)) == b"ACGTNNNNACGT"  # upper case, n read as N
        assert bytes(reader.fetch("c", 3, 7)) == b"TNNA"  # IUPAC codes count as N
        assert reader.segments("a") == [Segment("a", 0, 4), Segment("a", 8, 42)]
        assert reader.segments("b") == []
        assert reader.segments("a", 2, 10) == [Segment("a", 2, 4), Segment("a", 8, 10)]
    # No index is written beside the user's file (a fresh one lives in a temporary directory).
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"g.fa", genome.name})


def test_reverse_complement_keeps_n_and_reverses():
    assert bytes(reverse_complement(np.frombuffer(b"AACGTN", dtype=np.uint8))) == b"NACGTT"


@pytest.mark.parametrize("name,ok", [("chr1", True), ("scaffold_12|x#1", True), ("", False), ("a b", False),
                                     ("a\tb", False), ("a\x7f", False)])
def test_name_problem_refuses_what_bed_and_bigwig_cannot_carry(name, ok):
    assert (name_problem(name) is None) == ok


def test_content_fingerprint_follows_content_not_path(tmp_path):
    a = write_fasta(tmp_path / "a.fa", {"x": SEQUENCE})
    b = write_fasta(tmp_path / "b.fa", {"x": SEQUENCE})
    c = write_fasta(tmp_path / "c.fa", {"x": SEQUENCE[:-1] + "T"})
    assert content_fingerprint(a) == content_fingerprint(b) != content_fingerprint(c)


def test_sequence_that_is_not_dna_is_refused_with_record_and_position(tmp_path):
    genome = tmp_path / "g.fa"
    genome.write_text(">ok\nACGT\n>bad\nACGT\nAC7T\n")
    with FastaReader(genome) as reader, pytest.raises(FastaError, match="bad") as caught:
        reader.segments("bad")
    assert "g.fa" in str(caught.value)


def test_an_index_beside_the_file_is_used_only_while_it_matches(tmp_path):
    genome = write_fasta(tmp_path / "g.fa", {"a": SEQUENCE, "b": SEQUENCE[:300]})
    pysam.faidx(str(genome))
    before = Path(f"{genome}.fai").read_text()
    write_fasta(genome, {"a": SEQUENCE[:500], "b": SEQUENCE})  # same names, other lengths
    with FastaReader(genome) as reader:
        assert [(r.name, r.length) for r in reader.records] == [("a", 500), ("b", 1200)]
    assert Path(f"{genome}.fai").read_text() == before  # the user's index is left as it was


def test_a_current_index_is_recognised(tmp_path):
    genome = write_fasta(tmp_path / "g.fa", {"a": SEQUENCE, "b": SEQUENCE[:7]})
    pysam.faidx(str(genome))
    assert index_matches(genome, Path(f"{genome}.fai"), None)
    write_fasta(genome, {"a": SEQUENCE, "b": SEQUENCE[:7], "c": "ACGT"})  # a record appended
    assert not index_matches(genome, Path(f"{genome}.fai"), None)
