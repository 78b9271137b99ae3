"""GFF3, BED9 and bigWig outputs, written to temporary names and renamed into place when complete."""

from __future__ import annotations

import os
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
from genoseg.intervals import Interval
from genoseg.stitching import Track


@dataclass(frozen=True)
class FeatureStyle:
    so_type: str  # Sequence Ontology term for GFF3 column 3
    rgb: str  # BED itemRgb
    extra: str = ""  # extra GFF3 attributes


FEATURE_STYLES: dict[str, FeatureStyle] = {
    "protein_coding_gene": FeatureStyle("gene", "0,90,181", "biotype=protein_coding"),
    "lncRNA": FeatureStyle("lncRNA_gene", "120,60,180"),
    "exon": FeatureStyle("exon", "0,150,60"),
    "intron": FeatureStyle("intron", "150,150,150"),
    "splice_donor": FeatureStyle("five_prime_cis_splice_site", "220,50,50"),
    "splice_acceptor": FeatureStyle("three_prime_cis_splice_site", "240,130,0"),
    "5UTR": FeatureStyle("five_prime_UTR", "90,180,230"),
    "3UTR": FeatureStyle("three_prime_UTR", "40,120,160"),
    "CTCF-bound": FeatureStyle("CTCF_binding_site", "200,170,0"),
    "polyA_signal": FeatureStyle("polyA_signal_sequence", "180,0,120"),
    "enhancer_Tissue_specific": FeatureStyle("enhancer", "230,100,160", "tissue=specific"),
    "enhancer_Tissue_invariant": FeatureStyle("enhancer", "200,60,130", "tissue=invariant"),
    "promoter_Tissue_specific": FeatureStyle("promoter", "110,180,60", "tissue=specific"),
    "promoter_Tissue_invariant": FeatureStyle("promoter", "70,140,30", "tissue=invariant"),
}
DEFAULT_STYLE = FeatureStyle("region", "100,100,100")


def style_of(feature: str) -> FeatureStyle:
    return FEATURE_STYLES.get(feature, DEFAULT_STYLE)


def safe_name(feature: str) -> str:
    """A feature name fit for a file name or GFF3 ID."""
    return "".join(c if c.isalnum() or c in "._" else "_" for c in feature)


class AtomicFile:
    """A file written under a temporary name in the target's directory, renamed on commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.genoseg-partial-{os.getpid()}")

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

    def publish(self) -> None:
        """Rename into place; only after every output of the run has finished."""
        if self.atomic:
            self.atomic.commit()

    def discard(self) -> None:
        if self.atomic:
            _close_quietly(self.handle)
            self.atomic.discard()


def _escape(value: str) -> str:
    # GFF3 reserves ; = & , and control characters in attribute values.
    return quote(value, safe=" :/|.-_()[]+*#!?@^{}<>'\"")


class Gff3Writer:
    def __init__(self, out: TextOutput, records: list[Record], header: dict[str, str]) -> None:
        self.out = out
        self.ids: dict[str, int] = {}
        out.write("##gff-version 3\n")
        for record in records:
            if record.length > 0:  # GFF3 has no way to state an empty sequence
                out.write(f"##sequence-region {record.name} 1 {record.length}\n")
        out.write("# " + " ".join(f"{k}={_escape(str(v)).replace(' ', '%20')}" for k, v in header.items()) + "\n")

    def write(self, interval: Interval) -> None:
        style = style_of(interval.feature)
        key = safe_name(interval.feature)
        self.ids[key] = self.ids.get(key, 0) + 1
        attrs = [f"ID={key}_{self.ids[key]}", f"class={_escape(interval.feature)}", f"peak_probability={interval.peak:.3f}"]
        if style.extra:
            attrs.append(style.extra)
        self.out.write(
            f"{interval.record}\tgenoseg\t{style.so_type}\t{interval.start + 1}\t{interval.end}\t"
            f"{interval.mean:.3f}\t.\t.\t{';'.join(attrs)}\n"
        )


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

    def __init__(self, directory: Path, stem: str, features: list[str], records: list[Record]) -> None:
        self.features = list(features)
        self.files: list[AtomicFile] = []
        self.writers: list[BigWigWriter] = []
        self.paths: dict[str, Path] = {}
        header = [(r.name, r.length) for r in records if r.length > 0]
        for feature in self.features:
            atomic = AtomicFile(directory / f"{stem}.{safe_name(feature)}.bw")
            self.files.append(atomic)
            self.writers.append(BigWigWriter(atomic.tmp, header))
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
        for f, (writer, atomic) in enumerate(zip(self.writers, self.files)):
            with named_errors(atomic.path):
                writer.add(first.record, first.start, values[:, f])

    def finish(self) -> None:
        self._flush()
        for writer, atomic in zip(self.writers, self.files):
            with named_errors(atomic.path):
                writer.close()

    def publish(self) -> None:
        for atomic in self.files:
            atomic.commit()

    def discard(self) -> None:
        for writer in self.writers:
            writer.abort()
        for atomic in self.files:
            atomic.discard()
