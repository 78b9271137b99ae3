"""Property-based tests: FASTA reading, tiling, and the GFF3 writers and readers."""

from __future__ import annotations

import gzip
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genoseg.annotation import read_annotation
from genoseg.evaluate import _read_class_intervals
from genoseg.fasta import FastaError, FastaReader, Record, Segment
from genoseg.intervals import Interval
from genoseg.model.limits import WINDOW_MULTIPLE
from genoseg.tiling import plan_windows
from genoseg.writers import FEATURE_STYLES, Gff3Writer, TextOutput

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.from_regex(r"[A-Za-z][A-Za-z0-9_.|-]{0,15}", fullmatch=True)
# Mostly ACGT, with soft-masking, N runs and IUPAC codes as assemblies have them.
bases = st.sampled_from(list("ACGTACGTACGTacgtNNRYKMSWnx"))
sequences = st.lists(st.tuples(bases, st.integers(1, 40)), max_size=30).map(lambda runs: "".join(b * n for b, n in runs))


def _expected(seq: str) -> tuple[str, list[tuple[int, int]]]:
    upper = "".join(c if c in "ACGT" else "N" for c in seq.upper())
    return upper, [(m.start(), m.end()) for m in re.finditer("[ACGT]+", upper)]


@SETTINGS
@given(
    records=st.lists(st.tuples(names, sequences), min_size=1, max_size=5, unique_by=lambda r: r[0]),
    width=st.integers(1, 90),
    compression=st.sampled_from(["plain", "gzip"]),
)
def test_fasta_reader_returns_what_was_written(records, width, compression):
    text = "".join(
        f">{name} some description\n" + "".join(seq[i : i + width] + "\n" for i in range(0, len(seq), width))
        for name, seq in records
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("g.fa.gz" if compression == "gzip" else "g.fa")
        data = text.encode()
        path.write_bytes(gzip.compress(data) if compression == "gzip" else data)
        if not any(seq for _, seq in records):
            with pytest.raises(FastaError, match="no FASTA records with sequence"):
                FastaReader(path)
            return
        with FastaReader(path) as reader:
            # Empty records hold nothing to annotate; faidx leaves them out.
            assert reader.records == [Record(name, len(seq)) for name, seq in records if seq]
            for name, seq in records:
                if not seq:
                    continue
                upper, runs = _expected(seq)
                assert [(s.start, s.end) for s in reader.segments(name)] == runs
                assert reader.fetch(name, 0, len(seq)).tobytes().decode() == upper


@SETTINGS
@given(
    lengths=st.lists(st.integers(0, 3000), min_size=1, max_size=6),
    window_units=st.integers(1, 40),
    overlap_fraction=st.floats(0, 0.9),
    min_units=st.integers(1, 10),
    clip=st.one_of(st.none(), st.tuples(st.integers(0, 20000), st.integers(0, 20000))),
)
def test_tiling_covers_every_kept_base_once_and_never_crosses_n(lengths, window_units, overlap_fraction, min_units, clip):
    window = window_units * WINDOW_MULTIPLE
    overlap = int(window * overlap_fraction)
    min_segment = min_units * WINDOW_MULTIPLE
    # Segments separated by one-base N gaps, as FastaReader.segments returns them.
    segments, pos = [], 0
    for length in lengths:
        if length:
            segments.append(Segment("chr", pos, pos + length))
        pos += length + 1
    if clip is not None:
        clip = (min(clip), max(clip))
    windows = list(plan_windows(segments, window, overlap, min_segment, clip))
    kept = np.zeros(pos, dtype=int)
    for w in windows:
        assert w.length % WINDOW_MULTIPLE == 0 and w.length <= window
        assert w.segment.start <= w.start < w.end <= w.segment.end  # inside one N-free segment
        lo, hi = max(w.start, w.keep_start), min(w.end, w.keep_end)
        if w.last:
            # The stitcher emits each segment's kept stretch once, when its last window arrives.
            kept[w.keep_start : w.keep_end] += 1
        assert hi >= lo or clip is not None
    covered = np.zeros(pos, dtype=bool)
    for w in windows:
        covered[w.start : w.end] = True
    for segment in segments:
        want = segment.length >= min_segment
        lo, hi = segment.start, segment.end
        if clip is not None:
            lo, hi = max(lo, clip[0]), min(hi, clip[1])
        if want and hi > lo:
            assert covered[lo:hi].all()  # every requested base of a kept segment is predicted
            assert (kept[lo:hi] == 1).all()  # and emitted exactly once
        elif segment.length < min_segment:
            assert not covered[segment.start : segment.end].any()


intervals = st.lists(
    st.tuples(st.sampled_from(sorted(FEATURE_STYLES)), st.sampled_from(["chr1", "scaffold_2"]),
              st.integers(0, 9_000), st.integers(1, 900), st.floats(0, 1), st.floats(0, 1)),
    max_size=40,
)


@SETTINGS
@given(items=intervals)
def test_interval_gff3_round_trip(items):
    records = [Record("chr1", 10_000), Record("scaffold_2", 10_000)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.gff3"
        out = TextOutput(path)
        writer = Gff3Writer(out, records, {"genoseg": "test", "model": "a model; with=odd chars"})
        expected: dict[str, dict[str, list[tuple[int, int]]]] = {}
        for feature, seqid, start, length, a, b in items:
            end = min(start + length, 10_000)
            writer.write(Interval(seqid, start, end, feature, mean=min(a, b), peak=max(a, b)))
            expected.setdefault(feature, {}).setdefault(seqid, []).append((start, end))
        out.finish()
        out.publish()
        got = _read_class_intervals(path)
        assert (got.by_feature if got else {}) == expected
        ids = [line.split("ID=")[1].split(";")[0] for line in path.read_text().splitlines() if "ID=" in line]
        assert len(ids) == len(set(ids))


@st.composite
def gene_models(draw):
    """Non-overlapping genes with 1-4 exons on either strand, some with a CDS."""
    genes, pos = [], draw(st.integers(0, 50))
    for g in range(draw(st.integers(1, 5))):
        exons = []
        for _ in range(draw(st.integers(1, 4))):
            start = pos + draw(st.integers(1, 60))
            end = start + draw(st.integers(1, 200))
            exons.append((start, end))
            pos = end
        strand = draw(st.sampled_from("+-"))
        coding = draw(st.booleans())
        genes.append((f"g{g}", strand, exons, coding))
        pos += draw(st.integers(1, 100))
    return genes


@SETTINGS
@given(genes=gene_models())
def test_gene_model_gff3_is_read_back_exactly(genes):
    lines = ["##gff-version 3"]
    for gid, strand, exons, coding in genes:
        start, end = exons[0][0], exons[-1][1]
        lines.append(f"chr1\tt\tgene\t{start + 1}\t{end}\t.\t{strand}\t.\tID={gid}")
        kind = "mRNA" if coding else "lnc_RNA"
        lines.append(f"chr1\tt\t{kind}\t{start + 1}\t{end}\t.\t{strand}\t.\tID={gid}.t;Parent={gid}")
        for s, e in exons:
            lines.append(f"chr1\tt\texon\t{s + 1}\t{e}\t.\t{strand}\t.\tParent={gid}.t")
            if coding:
                lines.append(f"chr1\tt\tCDS\t{s + 1}\t{e}\t.\t{strand}\t0\tParent={gid}.t")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ref.gff3"
        path.write_text("\n".join(lines) + "\n")
        annotation = read_annotation(path)
    got = {t.gene_id: (t.strand, t.exons, t.biotype) for t in annotation.transcripts}
    want = {gid: (strand, exons, "protein_coding" if coding else "lncRNA") for gid, strand, exons, coding in genes}
    assert got == want
