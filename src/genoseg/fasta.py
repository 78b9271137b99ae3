"""FASTA input: random access through pysam with bounded memory, and N-free segments.

Plain and bgzip files are read through `pysam.FastaFile` (faidx). An index beside the input is
used when present and current; otherwise one is built in a private temporary directory, so the
input's directory is never written to. Plain gzip cannot be indexed, so it is decompressed once
to a temporary file: memory stays bounded for any record length, at the cost of disk space.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam

CHUNK = 4 << 20  # bases fetched at a time when scanning a record

# Byte → upper-case A/C/G/T, everything else (IUPAC, gaps, N) → N.
NORMALISE = np.full(256, ord("N"), dtype=np.uint8)
for _b in "ACGT":
    NORMALISE[ord(_b)] = ord(_b)
    NORMALISE[ord(_b.lower())] = ord(_b)
IS_ACGT = NORMALISE != ord("N")


_COMPLEMENT = np.arange(256, dtype=np.uint8)
for _a, _b in zip(b"ACGTN", b"TGCAN"):
    _COMPLEMENT[_a] = _b


def reverse_complement(windows: np.ndarray) -> np.ndarray:
    """(..., L) upper-case ASCII arrays → their reverse complements (N stays N)."""
    return _COMPLEMENT[windows[..., ::-1]]


class FastaError(ValueError):
    """Unreadable or malformed FASTA; the message names the file (and record/position)."""


@dataclass(frozen=True)
class Record:
    name: str
    length: int


@dataclass(frozen=True)
class Segment:
    """An N-free stretch [start, end) of a record, 0-based half-open."""

    record: str
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


def compression_of(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(18)
    if head[:2] != b"\x1f\x8b":
        return "plain"
    # BGZF: gzip with the FEXTRA flag and a 'BC' subfield.
    if len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC":
        return "bgzip"
    return "gzip"


class FastaReader:
    """Random access to the records of one FASTA file (plain, gzip or bgzip)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FastaError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise FastaError(f"{self.path}: not a regular file")
        if not os.access(self.path, os.R_OK):
            raise FastaError(f"{self.path}: permission denied")
        self.compression = compression_of(self.path)
        self._tmpdir: str | None = None
        # The batch producer and the gene decoder read from different threads; pysam's handle
        # is not safe for concurrent use.
        self._lock = threading.Lock()
        try:
            self._fasta = self._open()
        except BaseException:
            # A file refused here must not leave its decompressed copy or index behind in /tmp.
            self._remove_scratch()
            raise
        self.records = [Record(n, l) for n, l in zip(self._fasta.references, self._fasta.lengths)]
        self._lengths = {r.name: r.length for r in self.records}

    def _scratch(self) -> Path:
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="genoseg-fasta-")
        return Path(self._tmpdir)

    def _open(self) -> pysam.FastaFile:
        source = self.path
        if self.compression == "gzip":
            source = self._scratch() / (self.path.stem or "input.fa")
            try:
                with gzip.open(self.path, "rb") as src, open(source, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (OSError, EOFError) as exc:
                raise FastaError(f"{self.path}: unreadable gzip data ({exc})") from None
        fai = Path(str(source) + ".fai")
        gzi = Path(str(source) + ".gzi")
        index_ok = fai.is_file() and fai.stat().st_mtime >= source.stat().st_mtime
        if self.compression == "bgzip":
            index_ok = index_ok and gzi.is_file() and gzi.stat().st_mtime >= source.stat().st_mtime
        compressed = self.compression == "bgzip"
        if not index_ok:
            fai = self._scratch() / "input.fai"
            gzi = self._scratch() / "input.gzi"
            self._normalised: Path | None = None
            self._build_index(source, fai, gzi)
            if self._normalised is not None:
                source, compressed = self._normalised, False
        try:
            return pysam.FastaFile(str(source), filepath_index=str(fai), filepath_index_compressed=str(gzi) if compressed else None)
        except (OSError, ValueError) as exc:
            raise FastaError(f"{self.path}: cannot open FASTA ({exc})") from None

    def _build_index(self, source: Path, fai: Path, gzi: Path) -> None:
        self._check_first_line(source)
        args = [str(source), "--fai-idx", str(fai)]
        if self.compression == "bgzip":
            args += ["--gzi-idx", str(gzi)]
        failed, detail = _run_quietly(pysam.faidx, *args)
        duplicate = re.search(r'uplicate sequence "?([^"\s]+)', detail)
        if duplicate:
            raise FastaError(f"{self.path}: duplicate record name {duplicate.group(1)!r}")
        if not failed:
            return
        # faidx needs equal line lengths within a record; a valid FASTA without them (or with
        # CRLF endings) is rewritten once, streaming, into the scratch directory.
        rewritten = self._scratch() / "normalised.fa"
        try:
            count = _rewrite_fasta(source, rewritten)
        except (OSError, ValueError) as exc:
            raise FastaError(f"{self.path}: not a valid FASTA file ({detail or exc})") from None
        if count == 0:
            raise FastaError(f"{self.path}: no FASTA records with sequence found (expected lines starting with '>')")
        failed, second = _run_quietly(pysam.faidx, str(rewritten), "--fai-idx", str(fai))
        if failed:
            raise FastaError(f"{self.path}: not a valid FASTA file ({second or detail})")
        self._normalised = rewritten

    def _check_first_line(self, source: Path) -> None:
        """htslib skips text before the first header silently; a user should hear about it."""
        opener = gzip.open if self.compression == "bgzip" else open
        try:
            with opener(source, "rb") as handle:
                head = handle.read(1 << 16)
        except (OSError, EOFError) as exc:
            raise FastaError(f"{self.path}: unreadable ({exc})") from None
        for lineno, line in enumerate(head.split(b"\n"), start=1):
            text = line.strip()
            if not text:
                continue
            if text.startswith(b">"):
                return
            if not text.isascii() or not text.replace(b"\r", b"").isalpha():
                raise FastaError(f"{self.path}: line {lineno}: not FASTA (binary data or text before the first '>' header)")
            raise FastaError(f"{self.path}: line {lineno}: sequence before the first '>' header")
        if head:
            raise FastaError(f"{self.path}: no '>' header in the first 64 kB: not a FASTA file")
        raise FastaError(f"{self.path}: no FASTA records found (the file is empty)")

    def close(self) -> None:
        self._fasta.close()
        self._remove_scratch()

    def _remove_scratch(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> "FastaReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def length(self, name: str) -> int:
        try:
            return self._lengths[name]
        except KeyError:
            raise FastaError(f"{self.path}: no record named {name!r}") from None

    def fetch(self, name: str, start: int, end: int) -> np.ndarray:
        """Bases [start, end) as upper-case ASCII uint8, non-ACGT as N."""
        with self._lock:
            text = self._fasta.fetch(name, start, end)
        if len(text) != end - start:
            raise FastaError(f"{self.path}: record {name}: could not read bases {start + 1}-{end}")
        return NORMALISE[np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)]

    def segments(self, name: str, start: int = 0, end: int | None = None) -> list[Segment]:
        """N-free runs of record `name` within [start, end), scanning in bounded chunks."""
        end = self.length(name) if end is None else end
        segments: list[Segment] = []
        open_start: int | None = None
        for chunk_start in range(start, end, CHUNK):
            chunk_end = min(chunk_start + CHUNK, end)
            valid = IS_ACGT[self.fetch(name, chunk_start, chunk_end)]
            # Positions where validity flips; prepend the state carried over from the last chunk.
            edges = np.flatnonzero(np.diff(np.concatenate(([open_start is not None], valid)).astype(np.int8)))
            for edge in edges:
                pos = chunk_start + int(edge)
                if open_start is None:
                    open_start = pos
                else:
                    segments.append(Segment(name, open_start, pos))
                    open_start = None
        if open_start is not None:
            segments.append(Segment(name, open_start, end))
        return segments


def _run_quietly(function, *args) -> tuple[bool, str]:
    """Call a pysam/htslib function with C-level stderr captured: (failed, first message)."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            function(*args)
            failed = False
        except (pysam.SamtoolsError, OSError):
            failed = True
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode("utf-8", "replace")
    lines = [l.split("] ", 1)[-1].strip() for l in text.splitlines() if l.startswith(("[E::", "[W::"))]
    useful = [l for l in lines if "Could not build" not in l]
    return failed, (useful or lines or [""])[0][:200]


def _rewrite_fasta(source: Path, target: Path, width: int = 80) -> int:
    """Stream records into a faidx-friendly FASTA (fixed line width, LF endings).

    Returns the number of records with sequence; empty records are left out, as faidx does.
    """
    count = 0
    names: set[str] = set()
    with pysam.FastxFile(str(source)) as reader, open(target, "w") as out:
        for entry in reader:
            if entry.name in names:
                raise ValueError(f"duplicate record name {entry.name!r}")
            names.add(entry.name)
            seq = entry.sequence or ""
            if not seq:
                continue
            out.write(f">{entry.name}\n")
            for i in range(0, len(seq), width):
                out.write(seq[i : i + width] + "\n")
            count += 1
    return count
