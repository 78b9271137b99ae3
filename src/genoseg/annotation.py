"""Reading reference annotation (GFF3 or GTF) into transcripts, and per-base training labels.

A small reader rather than gffutils: gffutils builds an SQLite database (minutes for a plant
chromosome) and reports malformed lines without their line number; this reader streams the file
once and names the file and line of every problem.
"""

from __future__ import annotations

import gzip
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote

import numpy as np

from genoseg.errors import DataError
from genoseg.genes.models import ExonChain, utr_pieces


class AnnotationError(DataError, ValueError):
    """A malformed annotation file; the message names the file and line."""


CODING = "protein_coding"
LNCRNA = "lncRNA"
LNCRNA_TYPES = {"lnc_RNA", "lncRNA", "lincRNA", "lnc_rna"}
EXON_TYPES = {"exon"}
CDS_TYPES = {"CDS", "stop_codon"}
# Gene finders such as AUGUSTUS may write UTR and CDS pieces without exon features.
UTR_TYPES = {"five_prime_UTR", "three_prime_UTR", "five_prime_utr", "three_prime_utr", "5'UTR", "3'UTR", "UTR"}
GENE_TYPES = {"gene", "ncRNA_gene", "pseudogene"}


@dataclass
class Transcript(ExonChain):
    id: str
    seqid: str
    strand: str
    biotype: str  # "protein_coding", "lncRNA" or the file's own type for other RNAs
    gene_id: str | None
    exons: list[tuple[int, int]] = field(default_factory=list)  # 0-based half-open, sorted
    cds: list[tuple[int, int]] = field(default_factory=list)

    def cds_introns(self) -> list[tuple[int, int]]:
        """The gaps between consecutive CDS pieces (the introns inside the coding sequence)."""
        return [(a[1], b[0]) for a, b in zip(self.cds, self.cds[1:])]


@dataclass
class Annotation:
    transcripts: list[Transcript]
    gene_spans: dict[str, tuple[str, int, int, str]]  # gene id → (seqid, start0, end, strand)
    gene_names: dict[str, str] = field(default_factory=dict)  # gene id → its Name= (GFF3) or gene_name (GTF)

    def name_of(self, transcript: Transcript) -> str:
        """What a browser labels the transcript's gene with: its name, else its ID, else the transcript's."""
        gene = transcript.gene_id or transcript.id
        return self.gene_names.get(gene, gene)

    def on(self, seqid: str) -> list[Transcript]:
        return [t for t in self.transcripts if t.seqid == seqid]

    def coding_genes(self, seqid: str) -> list[tuple[int, int]]:
        """Spans of genes that have a coding transcript (gene feature's span where known)."""
        spans: dict[str, tuple[int, int]] = {}
        for t in self.transcripts:
            if t.seqid != seqid or t.biotype != CODING:
                continue
            key = t.gene_id or t.id
            if t.gene_id and t.gene_id in self.gene_spans:
                _, s, e, _ = self.gene_spans[t.gene_id]
            else:
                s, e = t.start, t.end
            old = spans.get(key)
            spans[key] = (min(s, old[0]), max(e, old[1])) if old else (s, e)
        return sorted(spans.values())


def _open_text(path: Path):
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, "rt", encoding="utf-8", errors="replace")


_GTF_ATTR = re.compile(r'\s*([^\s"]+)\s+"?([^";]*)"?\s*')


def _parse_attributes(text: str, gtf: bool) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for part in text.strip().split(";"):
        if not part.strip():
            continue
        if gtf:
            m = _GTF_ATTR.fullmatch(part)
            if m and m.group(1) not in attrs:
                attrs[m.group(1)] = m.group(2)
        else:
            key, sep, value = part.partition("=")
            if sep:
                attrs[key.strip()] = unquote(value)
    return attrs


@dataclass
class _Row:
    """One feature line: 0-based half-open span, attributes parsed as GFF3 or GTF."""

    lineno: int
    seqid: str
    ftype: str
    span: tuple[int, int]
    strand: str
    attrs: dict[str, str]


@dataclass
class _Collected:
    """What the feature lines say, before transcripts are assembled."""

    features: dict[str, dict] = field(default_factory=dict)  # GFF3: by ID
    children: dict[str, dict[str, list[tuple[int, int]]]] = field(
        default_factory=lambda: defaultdict(lambda: {"exon": [], "cds": [], "utr": []}))
    child_lines: dict[str, int] = field(default_factory=dict)  # GFF3: first line naming each parent
    gtf_transcripts: dict[str, dict] = field(default_factory=dict)
    gene_names: dict[str, str] = field(default_factory=dict)


def read_annotation(path: str | Path) -> Annotation:
    """Parse GFF3 or GTF (plain or gzip), detected from the attributes column.

    Raises:
        AnnotationError: naming the file and line of the first malformed feature, or of a Parent
            that no feature defines.
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: no such annotation file")
    collected = _Collected()
    gtf: bool | None = None
    with _open_text(path) as handle:
        for row, gtf in _rows(path, handle):
            (_collect_gtf if gtf else _collect_gff3)(path, collected, row)
    if gtf is None:
        return Annotation([], {})
    transcripts, gene_spans = _gtf_transcripts(collected) if gtf else _gff3_transcripts(path, collected)
    transcripts.sort(key=lambda t: (t.seqid, t.start, t.end, t.id))
    return Annotation(transcripts, gene_spans, collected.gene_names)


def _rows(path: Path, handle) -> Iterator[tuple[_Row, bool]]:
    """Each feature line, checked, with whether the file is GTF (decided on its first feature)."""
    gtf: bool | None = None
    for lineno, line in enumerate(handle, start=1):
        line = line.rstrip("\r\n")
        if not line or line.startswith("#"):
            if line.startswith("##FASTA"):
                return
            continue
        cols = line.split("\t")
        if len(cols) != 9:
            raise AnnotationError(f"{path}:{lineno}: expected 9 tab-separated columns, found {len(cols)}")
        seqid, _, ftype, start_s, end_s, _, strand, _, attr_text = cols
        seqid = unquote(seqid)  # GFF3 escapes reserved characters in column 1 as %XX
        try:
            start, end = int(start_s), int(end_s)
        except ValueError:
            raise AnnotationError(f"{path}:{lineno}: start/end {start_s!r}/{end_s!r} are not integers") from None
        if start < 1 or end < start:
            raise AnnotationError(f"{path}:{lineno}: bad coordinates {start}-{end} (need 1 <= start <= end)")
        if strand not in "+-.?" or len(strand) != 1:
            raise AnnotationError(f"{path}:{lineno}: bad strand {strand!r}")
        if gtf is None:
            gtf = "=" not in attr_text.split(";")[0] and '"' in attr_text
        yield _Row(lineno, seqid, ftype, (start - 1, end), strand, _parse_attributes(attr_text, gtf)), gtf


def _collect_gtf(path: Path, collected: _Collected, row: _Row) -> None:
    tid = row.attrs.get("transcript_id", "")
    if row.ftype in GENE_TYPES or not tid:
        return
    info = collected.gtf_transcripts.setdefault(
        tid, {"seqid": row.seqid, "strand": row.strand, "gene": row.attrs.get("gene_id"), "type": None}
    )
    if row.attrs.get("gene_id") and row.attrs.get("gene_name"):
        collected.gene_names[row.attrs["gene_id"]] = row.attrs["gene_name"]
    if row.ftype == "transcript":
        info["type"] = row.attrs.get("transcript_biotype") or row.attrs.get("gbkey")
    elif row.ftype in EXON_TYPES:
        collected.children[tid]["exon"].append(row.span)
    elif row.ftype in CDS_TYPES:
        collected.children[tid]["cds"].append(row.span)
    elif row.ftype in UTR_TYPES:
        collected.children[tid]["utr"].append(row.span)


def _collect_gff3(path: Path, collected: _Collected, row: _Row) -> None:
    ftype = row.ftype
    parents = [p for p in row.attrs.get("Parent", "").split(",") if p]
    if ftype in EXON_TYPES or ftype in CDS_TYPES or ftype in UTR_TYPES:
        if not parents:
            raise AnnotationError(f"{path}:{row.lineno}: {ftype} has no Parent attribute")
        part = "exon" if ftype in EXON_TYPES else "cds" if ftype in CDS_TYPES else "utr"
        for parent in parents:
            collected.children[parent][part].append(row.span)
            collected.child_lines.setdefault(parent, row.lineno)
        return
    fid = row.attrs.get("ID")
    if fid:
        collected.features[fid] = {"seqid": row.seqid, "type": ftype, "span": row.span, "strand": row.strand,
                                   "parents": parents, "attrs": row.attrs}


def _gtf_transcripts(collected: _Collected) -> tuple[list[Transcript], dict]:
    transcripts = []
    for tid, info in collected.gtf_transcripts.items():
        parts = collected.children.get(tid)
        if not parts or not (parts["exon"] or parts["cds"]):
            continue
        biotype = _biotype(info["type"] or "", bool(parts["cds"]))
        transcripts.append(_transcript(tid, info["seqid"], info["strand"], biotype, info["gene"], parts))
    return transcripts, {}


def _gff3_transcripts(path: Path, collected: _Collected) -> tuple[list[Transcript], dict[str, tuple[str, int, int, str]]]:
    """Transcripts (each parent of exons, CDS or UTRs) and the spans of gene features by ID."""
    features = collected.features
    gene_spans: dict[str, tuple[str, int, int, str]] = {}
    for fid, info in features.items():
        if info["type"] in GENE_TYPES:
            s, e = info["span"]
            gene_spans[fid] = (info["seqid"], s, e, info["strand"])
            if info["attrs"].get("Name"):
                collected.gene_names[fid] = info["attrs"]["Name"]
    transcripts = []
    for parent, parts in collected.children.items():
        info = features.get(parent)
        if info is None:
            raise AnnotationError(f"{path}:{collected.child_lines.get(parent, 0)}: Parent {parent!r} is not defined in the file")
        if info["type"] in GENE_TYPES:
            # Exons directly under a gene (some GFF3 writers): the gene is its own transcript.
            gene_id = parent
        else:
            gene_id = info["parents"][0] if info["parents"] else None
        kind = info["type"]
        if kind in GENE_TYPES:
            kind = info["attrs"].get("gene_biotype") or info["attrs"].get("biotype") or kind
        transcripts.append(_transcript(parent, info["seqid"], info["strand"], _biotype(kind, bool(parts["cds"])), gene_id, parts))
    return transcripts, gene_spans


def _biotype(kind: str, has_cds: bool) -> str:
    if has_cds or kind in ("mRNA", "protein_coding"):
        return CODING if has_cds else kind
    if kind in LNCRNA_TYPES:
        return LNCRNA
    return kind


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _transcript(tid, seqid, strand, biotype, gene_id, parts) -> Transcript:
    # Without exon features, exons are the union of CDS and UTR pieces (adjacent pieces join).
    exons = _merge(parts["exon"]) or _merge(parts["cds"] + parts["utr"])
    return Transcript(tid, seqid, strand, biotype, gene_id, exons, _merge(parts["cds"]))


# ---------------------------------------------------------------------------------------------
# Labels

LABEL_FEATURES = ("protein_coding_gene", "lncRNA", "exon", "intron", "splice_donor", "splice_acceptor", "5UTR", "3UTR")
SPLICE_SITE_BASES = 2


def supported_features(annotation: Annotation) -> list[str]:
    """The SegmentNT classes this annotation can label; promoters, enhancers, CTCF, polyA never."""
    has = {t.biotype for t in annotation.transcripts}
    coding = [t for t in annotation.transcripts if t.biotype == CODING]
    features = []
    if coding:
        features.append("protein_coding_gene")
    if LNCRNA in has:
        features.append("lncRNA")
    if any(t.biotype in (CODING, LNCRNA) for t in annotation.transcripts):
        features += ["exon", "intron", "splice_donor", "splice_acceptor"]
    if any(t.cds and (t.exons[0][0] < t.cds[0][0] or t.exons[-1][1] > t.cds[-1][1]) for t in coding):
        features += ["5UTR", "3UTR"]
    return features


def _splice_sites(t: Transcript) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(donor, acceptor) sites: the two intronic bases at each end of every intron.

    On the + strand the donor is the intron's first two bases (GT) and the acceptor its last two
    (AG); on the - strand, in forward coordinates, the donor is at the intron's right end.
    """
    donors, acceptors = [], []
    for s, e in t.introns():
        if e - s < 2 * SPLICE_SITE_BASES:
            continue
        first, last = (s, s + SPLICE_SITE_BASES), (e - SPLICE_SITE_BASES, e)
        if t.strand == "-":
            donors.append(last)
            acceptors.append(first)
        else:
            donors.append(first)
            acceptors.append(last)
    return donors, acceptors


def build_labels(annotation: Annotation, seqid: str, length: int, features: list[str], start: int = 0) -> np.ndarray:
    """(length, F) uint8 strand-agnostic labels over bases [start, start + length) of one
    sequence, for the given feature list.

    Only protein-coding and lncRNA transcripts contribute exons and introns (as SegmentNT's
    GENCODE-derived labels); an intron base covered by another transcript's exon is exon only.
    """
    labels = np.zeros((length, len(features)), dtype=np.uint8)
    column = {name: i for i, name in enumerate(features)}

    def paint(name: str, spans) -> None:
        if name in column:
            for s, e in spans:
                lo, hi = max(s - start, 0), min(e - start, length)
                if hi > lo:
                    labels[lo:hi, column[name]] = 1

    transcripts = [t for t in annotation.on(seqid) if t.biotype in (CODING, LNCRNA)]
    paint("protein_coding_gene", annotation.coding_genes(seqid))
    paint("lncRNA", [(t.start, t.end) for t in transcripts if t.biotype == LNCRNA])
    for t in transcripts:
        paint("exon", t.exons)
        paint("intron", t.introns())
        donors, acceptors = _splice_sites(t)
        paint("splice_donor", donors)
        paint("splice_acceptor", acceptors)
        five, three = utr_pieces(t)
        paint("5UTR", five)
        paint("3UTR", three)
    if "intron" in column and "exon" in column:
        labels[labels[:, column["exon"]] == 1, column["intron"]] = 0
    return labels
