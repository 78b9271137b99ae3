"""GFF3, BED9 and bigWig outputs, written to temporary names and renamed into place when complete."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

import numpy as np

from genoseg.bigwig import BigWigWriter
from genoseg.fasta import Record
from genoseg.genes.models import GeneModel, utr_pieces
from genoseg.intervals import Interval
from genoseg.outputs import RunFiles, file_name_part
from genoseg.stitching import Track


@dataclass(frozen=True)
class FeatureStyle:
    so_type: str  # Sequence Ontology term for GFF3 column 3
    rgb: str  # BED itemRgb
    extra: str = ""  # extra GFF3 attributes


# Per-class intervals are regions where a class is likely, not gene structure: the gene-structure
# classes are written as biological_region (their class in class= and Name=), so that tools which
# count or chain gene, exon or UTR features (gffread, featureCounts, gt stat) never take them for
# the gene models of STEM.genoseg.genes.gff3. Sites and regulatory elements keep their SO terms.
REGION = "biological_region"
FEATURE_STYLES: dict[str, FeatureStyle] = {
    "protein_coding_gene": FeatureStyle(REGION, "0,90,181", "biotype=protein_coding"),
    "lncRNA": FeatureStyle(REGION, "120,60,180", "biotype=lncRNA"),
    "exon": FeatureStyle(REGION, "0,150,60"),
    "intron": FeatureStyle(REGION, "150,150,150"),
    "splice_donor": FeatureStyle("five_prime_cis_splice_site", "220,50,50"),
    "splice_acceptor": FeatureStyle("three_prime_cis_splice_site", "240,130,0"),
    "5UTR": FeatureStyle(REGION, "90,180,230"),
    "3UTR": FeatureStyle(REGION, "40,120,160"),
    "CTCF-bound": FeatureStyle("CTCF_binding_site", "200,170,0"),
    "polyA_signal": FeatureStyle("polyA_signal_sequence", "180,0,120"),
    "enhancer_Tissue_specific": FeatureStyle("enhancer", "230,100,160", "tissue=specific"),
    "enhancer_Tissue_invariant": FeatureStyle("enhancer", "200,60,130", "tissue=invariant"),
    "promoter_Tissue_specific": FeatureStyle("promoter", "110,180,60", "tissue=specific"),
    "promoter_Tissue_invariant": FeatureStyle("promoter", "70,140,30", "tissue=invariant"),
}
DEFAULT_STYLE = FeatureStyle(REGION, "100,100,100")


def style_of(feature: str) -> FeatureStyle:
    return FEATURE_STYLES.get(feature, DEFAULT_STYLE)



# GFF3 column 1: these characters stand as they are; every other byte is written %XX.
_SEQID_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:^*$@!+_?-|")


def escape_seqid(name: str) -> str:
    """A record name as GFF3 column 1 must carry it (`#chr` → `%23chr`, `a;b` → `a%3Bb`)."""
    if all(c in _SEQID_SAFE for c in name):
        return name
    return "".join(c if c in _SEQID_SAFE else "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in name)


class AtomicFile:
    """A file written under a temporary name in the target's directory, renamed on commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.genoseg-partial-{os.getpid()}")

    @property
    def move(self) -> tuple[Path, Path]:
        """(temporary, final): what committing renames."""
        return self.tmp, self.path

    def commit(self) -> None:
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        try:
            self.tmp.unlink()
        except FileNotFoundError:
            pass


@contextmanager
def named_errors(path: Path) -> Iterator[None]:
    """Report write failures (full disk, file-size limit) under the final name, not the temporary one."""
    try:
        yield
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None


def _close_quietly(handle) -> None:
    # Closing after a failed write flushes and fails again; the file is being thrown away anyway.
    try:
        handle.close()
    except OSError:
        pass


class TextOutput:
    """A text stream that is either stdout or an AtomicFile."""

    def __init__(self, path: Path | None) -> None:
        self.atomic = AtomicFile(path) if path is not None else None
        self.handle: IO[str] = open(self.atomic.tmp, "w", buffering=1 << 20) if self.atomic else sys.stdout

    def write(self, text: str) -> None:
        if self.atomic is None:
            self.handle.write(text)
            return
        with named_errors(self.atomic.path):
            self.handle.write(text)

    def finish(self) -> None:
        """Write out everything; may fail (full disk). Nothing is at a final name yet."""
        if self.atomic:
            with named_errors(self.atomic.path):
                self.handle.close()
        else:
            self.handle.flush()

    def moves(self) -> list[tuple[Path, Path]]:
        """The rename that puts the finished file in place (none for stdout)."""
        return [self.atomic.move] if self.atomic else []

    def publish(self) -> None:
        """Rename into place on its own: for a file that is not one of a run's set."""
        if self.atomic:
            self.atomic.commit()

    def discard(self) -> None:
        if self.atomic:
            _close_quietly(self.handle)
            self.atomic.discard()


def _escape(value: str) -> str:
    # GFF3 reserves ; = & , and control characters in attribute values.
    return quote(value, safe=" :/|.-_()[]+*#!?@^{}<>'\"")


# The run's settings as a comment line after the directives. No space after '#': `sort -k1,1
# -k4,4n` (byte order) then keeps it below ##gff-version and ##sequence-region, where gt wants
# them, and above every feature line. Files from earlier versions wrote "# genoseg=".
PROVENANCE = "#genoseg="


def is_provenance(line: str) -> bool:
    """Whether a GFF3 line is genoseg's settings comment (either spelling)."""
    return line.startswith((PROVENANCE, "# genoseg="))


def provenance_line(header: dict[str, str]) -> str:
    """The settings comment (PROVENANCE) that GFF3 and GTF outputs carry after their directives."""
    return "#" + " ".join(f"{k}={_escape(str(v)).replace(' ', '%20')}" for k, v in header.items()) + "\n"


def _write_header(out: TextOutput, records: list[Record], header: dict[str, str], spacing: str = " ") -> None:
    """Version, one sequence-region per non-empty record, and the run's settings as a comment."""
    out.write("##gff-version 3\n")
    for record in records:
        if record.length > 0:  # GFF3 has no way to state an empty sequence
            out.write(f"##sequence-region{spacing}{escape_seqid(record.name)} 1 {record.length}\n")
    out.write(provenance_line(header))


class Gff3Writer:
    def __init__(self, out: TextOutput, records: list[Record], header: dict[str, str]) -> None:
        self.out = out
        self.ids: dict[str, int] = {}
        _write_header(out, records, header)

    def write(self, interval: Interval) -> None:
        style = style_of(interval.feature)
        key = file_name_part(interval.feature)
        self.ids[key] = self.ids.get(key, 0) + 1
        attrs = [f"ID={key}_{self.ids[key]}", f"Name={_escape(interval.feature)}", f"class={_escape(interval.feature)}",
                 f"peak_probability={interval.peak:.3f}"]
        if style.extra:
            attrs.append(style.extra)
        self.out.write(
            f"{escape_seqid(interval.record)}\tgenoseg\t{style.so_type}\t{interval.start + 1}\t{interval.end}\t"
            f"{interval.mean:.3f}\t.\t.\t{';'.join(attrs)}\n"
        )


def _phases(model: GeneModel) -> list[int]:
    """GFF3 phase of each CDS segment (in genomic order): bases to skip to the next codon start."""
    order = model.cds if model.strand != "-" else model.cds[::-1]
    phases, done = [], 0
    for s, e in order:
        phases.append((3 - done % 3) % 3)
        done += e - s
    return phases if model.strand != "-" else phases[::-1]


@dataclass(frozen=True)
class GeneIds:
    """How genes are named: gene1, gene2, ... by default; with a prefix (--id-prefix), locus
    tags such as AT1G_000001 that do not collide across genomes (NCBI's PREFIX_number form).
    Transcripts are GENE.t1; numbering runs across the genome (merge renumbers the parts)."""

    prefix: str | None = None

    def gene(self, number: int) -> str:
        return f"gene{number}" if self.prefix is None else f"{self.prefix}_{number:0{ID_WIDTH}d}"

    @property
    def pattern(self) -> re.Pattern:
        """A gene ID anywhere in a line, its number as group 1."""
        if self.prefix is None:
            return re.compile(r"\bgene(\d+)")
        return re.compile(rf"\b{re.escape(self.prefix)}_(\d{{{ID_WIDTH}}})\b")


ID_WIDTH = 6  # digits of a prefixed gene number: 999,999 genes, and IDs that sort in order


class GeneGff3Writer:
    """Hierarchical GFF3 gene models: gene → mRNA | lnc_RNA → exon, five_prime_UTR, CDS, three_prime_UTR.

    Children follow their parent, sorted by start, and each gene ends with `###` (its features
    are complete), so streaming readers and `gt gff3 -tidy` need no look-ahead.
    """

    def __init__(self, out: TextOutput, records: list[Record], header: dict[str, str], ids: GeneIds = GeneIds()) -> None:
        self.out = out
        self.ids = ids
        self.count = 0
        # Spaced as genometools writes it, so `gt gff3 -tidy` leaves the file unchanged.
        _write_header(out, records, header, spacing="   ")

    def write(self, model: GeneModel) -> str:
        """Write one gene; returns its transcript ID."""
        self.count += 1
        gene = self.ids.gene(self.count)
        transcript = f"{gene}.t1"
        coding = model.biotype == "protein_coding"
        # Name= is what genome browsers label a gene with.
        rows = [(model.start, model.end, "gene" if coding else "ncRNA_gene", f"{round(model.score, 3):g}",
                 f"ID={gene};Name={gene};biotype={model.biotype}", ".")]
        rows.append((model.start, model.end, "mRNA" if coding else "lnc_RNA", ".",
                     f"ID={transcript};Parent={gene};biotype={model.biotype}", "."))
        children = []
        for i, (s, e) in enumerate(model.exons, start=1):
            children.append((s, e, "exon", ".", f"ID={transcript}.exon{i};Parent={transcript}", "."))
        if coding:
            five, three = utr_pieces(model)
            for pieces, kind, tag in ((five, "five_prime_UTR", "utr5"), (three, "three_prime_UTR", "utr3")):
                for i, (s, e) in enumerate(pieces, start=1):
                    children.append((s, e, kind, ".", f"ID={transcript}.{tag}.{i};Parent={transcript}", "."))
            for (s, e), phase in zip(model.cds, _phases(model)):
                children.append((s, e, "CDS", ".", f"ID={transcript}.cds;Parent={transcript}", str(phase)))
        order = {"exon": 0, "five_prime_UTR": 1, "CDS": 2, "three_prime_UTR": 3}
        children.sort(key=lambda row: (row[0], row[1], order[row[2]]))
        lines = [
            f"{escape_seqid(model.record)}\tgenoseg\t{kind}\t{s + 1}\t{e}\t{score}\t{model.strand}\t{phase}\t{attrs}\n"
            for s, e, kind, score, attrs, phase in rows + children
        ]
        self.out.write("".join(lines) + "###\n")
        return transcript


def _codon_pieces(cds: list[tuple[int, int]], strand: str, at_end: bool) -> list[tuple[int, int]]:
    """The genomic pieces of the first (or last) three coding bases, in transcript order."""
    order = cds if strand != "-" else cds[::-1]
    if at_end:
        order = order[::-1]
    pieces, left = [], 3
    for s, e in order:
        take = min(left, e - s)
        forward_end = (strand != "-") != at_end  # the codon starts at the piece's left end
        pieces.append((s, s + take) if forward_end else (e - take, e))
        left -= take
        if not left:
            break
    return sorted(pieces)


def _without(cds: list[tuple[int, int]], codon: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """CDS pieces with the stop codon's bases taken out (GTF's CDS excludes the stop codon)."""
    out = []
    for s, e in cds:
        for cs, ce in codon:
            if cs <= s and ce >= e:
                s = e
            elif cs <= s < ce:
                s = ce
            elif cs < e <= ce:
                e = cs
        if e > s:
            out.append((s, e))
    return out


class GeneGtfWriter:
    """Gene models as GTF (2.2, as Ensembl writes it): gene, transcript, exon (numbered in
    transcript order), CDS with frame (stop codon excluded), start_codon, stop_codon and
    five_prime_utr / three_prime_utr rows, with the gene GFF3's IDs as gene_id and transcript_id."""

    def __init__(self, out: TextOutput, header: dict[str, str], ids: GeneIds = GeneIds()) -> None:
        self.out, self.ids, self.count = out, ids, 0
        out.write("#gtf-version 2.2\n")
        out.write(provenance_line(header))

    def write(self, model: GeneModel) -> str:
        """Write one gene; returns its transcript ID."""
        self.count += 1
        gene = self.ids.gene(self.count)
        transcript = f"{gene}.t1"
        ids = f'gene_id "{gene}"; transcript_id "{transcript}";'
        rows = [(model.start, model.end, "gene", f'gene_id "{gene}"; gene_name "{gene}"; gene_biotype "{model.biotype}";', "."),
                (model.start, model.end, "transcript", f'{ids} transcript_biotype "{model.biotype}";', ".")]
        exons = model.exons if model.strand != "-" else model.exons[::-1]
        rows += [(s, e, "exon", f'{ids} exon_number "{n}";', ".") for n, (s, e) in enumerate(exons, start=1)]
        if model.cds:
            stop = _codon_pieces(model.cds, model.strand, at_end=True)
            coding = _without(model.cds, stop)
            trimmed = GeneModel(model.record, model.strand, model.exons, coding, model.biotype)
            rows += [(s, e, "CDS", ids, str(phase)) for (s, e), phase in zip(coding, _phases(trimmed))]
            rows += [(s, e, "start_codon", ids, ".") for s, e in _codon_pieces(model.cds, model.strand, at_end=False)]
            rows += [(s, e, "stop_codon", ids, ".") for s, e in stop]
            five, three = utr_pieces(model)
            rows += [(s, e, "five_prime_utr", ids, ".") for s, e in five]
            rows += [(s, e, "three_prime_utr", ids, ".") for s, e in three]
        seqid = escape_seqid(model.record)
        self.out.write("".join(f"{seqid}\tgenoseg\t{kind}\t{s + 1}\t{e}\t.\t{model.strand}\t{frame}\t{attrs}\n"
                               for s, e, kind, attrs, frame in rows))
        return transcript


class ProteinWriter:
    """Translated CDS of each protein-coding gene model, FASTA, 60 residues a line; with
    `coding`, the CDS nucleotides themselves (stop codon included) under the same names."""

    def __init__(self, out: TextOutput, coding: bool = False) -> None:
        self.out = out
        self.field = "coding" if coding else "protein"

    def write(self, model: GeneModel, transcript: str) -> None:
        sequence = getattr(model, self.field)
        if not sequence:
            return
        body = "\n".join(sequence[i : i + 60] for i in range(0, len(sequence), 60))
        self.out.write(f">{transcript} gene={transcript.rsplit('.', 1)[0]} "
                       f"{model.record}:{model.start + 1}-{model.end}({model.strand})\n{body}\n")


class BedWriter:
    def __init__(self, out: TextOutput, track_line: bool, name: str) -> None:
        self.out = out
        if track_line:
            out.write(f'track name="{name}" description="genoseg intervals" itemRgb="On"\n')

    def write(self, interval: Interval) -> None:
        score = min(1000, max(0, round(1000 * interval.mean)))
        rgb = style_of(interval.feature).rgb
        self.out.write(
            f"{interval.record}\t{interval.start}\t{interval.end}\t{interval.feature}\t{score}\t.\t"
            f"{interval.start}\t{interval.end}\t{rgb}\n"
        )


class BigWigSet:
    """One bigWig per feature; tracks must arrive in record (header) order and by position.

    Contiguous tracks are gathered into chunks of about `chunk` bases before they reach the
    writers: tracks are window-sized, and the per-call cost of the zoom summaries over 8-14 files
    was 13 % of an annotate run with the bundled model; chunking makes it a few percent.
    """

    chunk = 1 << 16

    def __init__(self, files: RunFiles, features: list[str], records: list[Record], tracks: list[str] | None = None,
                 precision: float = 0.0) -> None:
        """One writer per class in `tracks` (default: every feature), values rounded to `precision`."""
        self.features = list(features)
        self.columns = [i for i, f in enumerate(self.features) if tracks is None or f in tracks]
        self.files: list[AtomicFile] = []
        self.writers: list[BigWigWriter] = []
        self.paths: dict[str, Path] = {}
        header = [(r.name, r.length) for r in records if r.length > 0]
        for column in self.columns:
            feature = self.features[column]
            atomic = AtomicFile(files.bigwig(feature))
            self.files.append(atomic)
            self.writers.append(BigWigWriter(atomic.tmp, header, precision))
            self.paths[feature] = atomic.path
        self.pending: list[Track] = []
        self.pending_bases = 0

    def write(self, track: Track) -> None:
        if self.pending and (track.record != self.pending[-1].record or track.start != self.pending[-1].end):
            self._flush()
        self.pending.append(track)
        self.pending_bases += len(track.values)
        if self.pending_bases >= self.chunk:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        first = self.pending[0]
        values = np.concatenate([t.values for t in self.pending]) if len(self.pending) > 1 else first.values
        self.pending, self.pending_bases = [], 0
        for column, writer, atomic in zip(self.columns, self.writers, self.files):
            with named_errors(atomic.path):
                writer.add(first.record, first.start, values[:, column])

    def finish(self) -> None:
        self._flush()
        for writer, atomic in zip(self.writers, self.files):
            with named_errors(atomic.path):
                writer.close()

    def moves(self) -> list[tuple[Path, Path]]:
        return [atomic.move for atomic in self.files]

    def discard(self) -> None:
        for writer in self.writers:
            writer.abort()
        for atomic in self.files:
            atomic.discard()
