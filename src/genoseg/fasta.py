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

from genoseg.errors import DataError

CHUNK = 4 << 20  # bases fetched at a time when scanning a record

# Byte → upper-case A/C/G/T, everything else (IUPAC, gaps, N) → N.
NORMALISE = np.full(256, ord("N"), dtype=np.uint8)
for _b in "ACGT":
    NORMALISE[ord(_b)] = ord(_b)
    NORMALISE[ord(_b.lower())] = ord(_b)
IS_ACGT = NORMALISE != ord("N")
IS_LOWER = np.zeros(256, dtype=bool)  # soft-masked (repeat) bases
IS_LOWER[ord("a"):ord("z") + 1] = True
# What a sequence line may hold: IUPAC letters (any case), gaps and stops. Digits and
# whitespace mean a file that is not FASTA (GenBank's numbered lines, spaced blocks).
IS_SEQUENCE_LETTER = np.zeros(256, dtype=bool)
for _b in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-*.":
    IS_SEQUENCE_LETTER[_b] = True


_COMPLEMENT = np.arange(256, dtype=np.uint8)
for _a, _b in zip(b"ACGTN", b"TGCAN"):
    _COMPLEMENT[_a] = _b


def reverse_complement(windows: np.ndarray) -> np.ndarray:
    """(..., L) upper-case ASCII arrays → their reverse complements (N stays N)."""
    return _COMPLEMENT[windows[..., ::-1]]


class FastaError(DataError, ValueError):
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
        for number, record in enumerate(self.records, start=1):
            problem = name_problem(record.name)
            if problem:
                self.close()
                raise FastaError(f"{self.path}: record {number} ({record.name!r}): {problem}")
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
        compressed = self.compression == "bgzip"
        # An index beside the input is used only when it describes this very file: a FASTA
        # replaced under an older index (`cp -p`) would otherwise be read short or garbled.
        index_ok = fai.is_file() and (not compressed or gzi.is_file()) and index_matches(source, fai, gzi if compressed else None)
        if not index_ok:
            fai = self._scratch() / "input.fai"
            gzi = self._scratch() / "input.gzi"
            self._normalised: Path | None = None
            self._build_index(source, fai, gzi)
            if self._normalised is not None:
                source, compressed = self._normalised, False
            # htslib names a record from the first word after '>', skipping spaces: a header
            # "> desc" would become a record called "desc". The fresh index must describe the
            # file exactly as the user wrote it.
            broken = index_mismatch(source, fai, gzi if compressed else None)
            if broken:
                raise FastaError(f"{self.path}: record {broken!r}: its header does not start with '>{broken}' "
                                 "(a space after '>' leaves the record without a name)")
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
        return NORMALISE[self._raw(name, start, end)]

    def masked(self, name: str, start: int, end: int) -> np.ndarray:
        """Which bases of [start, end) are soft-masked (lower case), as a bool array."""
        return IS_LOWER[self._raw(name, start, end)]

    def _raw(self, name: str, start: int, end: int) -> np.ndarray:
        """Bytes [start, end) of a record as the file holds them (non-Latin-1 characters as '?')."""
        with self._lock:
            try:
                text = self._fasta.fetch(name, start, end)
            except (OSError, ValueError) as exc:
                raise FastaError(f"{self.path}: record {name}: cannot read bases {start + 1}-{end} ({exc})") from None
        if len(text) != end - start:
            raise FastaError(f"{self.path}: record {name}: could not read bases {start + 1}-{end}")
        return np.frombuffer(text.encode("latin-1", "replace"), dtype=np.uint8)

    def _checked(self, name: str, start: int, end: int) -> np.ndarray:
        """`fetch`, refusing bytes no sequence line may hold (every base passes here once).

        htslib's own complaint about such a file is kept off the terminal: the error says it.
        """
        fetched: list[np.ndarray] = []

        def read() -> None:
            try:
                fetched.append(self._raw(name, start, end))
            except FastaError as exc:
                raise OSError(str(exc)) from None  # so that htslib's own first line names the cause

        failed, detail = _run_quietly(read)
        if failed:
            raise FastaError(f"{self.path}: record {name}: cannot read bases {start + 1}-{end} ({detail})")
        raw = fetched[0]
        bad = np.flatnonzero(~IS_SEQUENCE_LETTER[raw])
        if len(bad):
            char = chr(raw[bad[0]])
            hint = (" (numbered GenBank-style lines are not FASTA)" if char.isdigit()
                    else " (whitespace inside a sequence line)" if char.isspace() else "")
            raise FastaError(f"{self.path}: record {name}, base {start + int(bad[0]) + 1}: {char!r} is not a sequence "
                             f"letter{hint}")
        return NORMALISE[raw]

    def segments(self, name: str, start: int = 0, end: int | None = None) -> list[Segment]:
        """N-free runs of record `name` within [start, end), scanning in bounded chunks."""
        end = self.length(name) if end is None else end
        segments: list[Segment] = []
        open_start: int | None = None
        for chunk_start in range(start, end, CHUNK):
            chunk_end = min(chunk_start + CHUNK, end)
            valid = IS_ACGT[self._checked(name, chunk_start, chunk_end)]
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
        message = ""
        try:
            function(*args)
            failed = False
        except (pysam.SamtoolsError, OSError) as exc:
            failed, message = True, str(exc) if isinstance(exc, OSError) else ""
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode("utf-8", "replace")
    lines = [l.split("] ", 1)[-1].strip() for l in text.splitlines() if l.startswith(("[E::", "[W::"))]
    useful = [l for l in lines if "Could not build" not in l]
    return failed, (useful or lines or [message])[0][:200]


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


def name_problem(name: str) -> str | None:
    """Why a record name cannot be written to GFF3, BED and bigWig alike, or None.

    GFF3 can escape any character, but BED and bigWig cannot: their columns are split on
    whitespace, so an empty name or one with whitespace or control characters is refused.
    """
    if not name:
        return "a header with no name ('>' must be followed by the record's name)"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in name):
        return "the name holds whitespace or control characters, which BED and bigWig cannot carry"
    return None


def content_fingerprint(path: str | os.PathLike[str], samples: int = 64, sample_bytes: int = 1 << 16) -> str:
    """A digest of a file's size and of `samples` evenly spaced stretches of its bytes.

    Cheap for any genome (4 MiB read), and two versions of a FASTA differ in it unless their
    edits fall entirely between the sampled stretches and keep the size.
    """
    import hashlib

    size = os.path.getsize(path)
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        step = max(sample_bytes, size // samples)
        for offset in range(0, size, step):
            handle.seek(offset)
            digest.update(handle.read(sample_bytes))
    return digest.hexdigest()


class _IndexMismatch(Exception):
    """The index does not describe the file; args[0], when given, names the record."""


class _PlainBytes:
    def __init__(self, path: Path) -> None:
        self.handle = open(path, "rb")

    def read(self, offset: int, size: int) -> bytes:
        self.handle.seek(offset)
        return self.handle.read(size)

    def close(self) -> None:
        self.handle.close()


class _BgzfBytes:
    """Bytes of a bgzip file by uncompressed offset, through the block starts of its .gzi."""

    def __init__(self, path: Path, blocks: list[tuple[int, int]]) -> None:
        self.handle = open(path, "rb")
        self.blocks = blocks  # (compressed, uncompressed) start of every block
        self.starts = [u for _, u in blocks]
        self.cached: tuple[int, bytes] | None = None

    def _block(self, index: int) -> bytes:
        if self.cached is None or self.cached[0] != index:
            import zlib

            compressed, _ = self.blocks[index]
            self.handle.seek(compressed)
            header = self.handle.read(18)
            size = int.from_bytes(header[16:18], "little") + 1
            try:
                data = zlib.decompress(self.handle.read(size - 26), -15)
            except zlib.error:
                raise _IndexMismatch from None
            self.cached = (index, data)
        return self.cached[1]

    def read(self, offset: int, size: int) -> bytes:
        import bisect

        out = b""
        index = bisect.bisect_right(self.starts, offset) - 1
        while len(out) < size and 0 <= index < len(self.blocks):
            data = self._block(index)
            skip = max(0, offset + len(out) - self.starts[index])
            out += data[skip : skip + size - len(out)]
            index += 1
        return out

    def close(self) -> None:
        self.handle.close()


def _bgzf_blocks(path: Path) -> list[tuple[int, int]]:
    """(compressed, uncompressed) start of every BGZF block, from the block headers alone."""
    blocks = []
    total = os.path.getsize(path)
    compressed = uncompressed = 0
    with open(path, "rb") as handle:
        while compressed < total:
            handle.seek(compressed)
            header = handle.read(18)
            if len(header) < 18 or header[:4] != b"\x1f\x8b\x08\x04" or header[12:14] != b"BC":
                raise _IndexMismatch
            size = int.from_bytes(header[16:18], "little") + 1
            handle.seek(compressed + size - 4)
            isize = int.from_bytes(handle.read(4), "little")
            blocks.append((compressed, uncompressed))
            compressed += size
            uncompressed += isize
    return blocks


def _read_gzi(path: Path) -> set[tuple[int, int]]:
    data = path.read_bytes()
    if len(data) < 8:
        raise _IndexMismatch
    count = int.from_bytes(data[:8], "little")
    if len(data) != 8 + 16 * count:
        raise _IndexMismatch
    values = np.frombuffer(data, dtype="<u8", offset=8).reshape(-1, 2)
    return {(int(c), int(u)) for c, u in values}


def _read_fai(path: Path) -> list[tuple[str, int, int, int, int]]:
    entries = []
    with open(path, "rb") as handle:
        for line in handle:
            fields = line.rstrip(b"\r\n").split(b"\t")
            if len(fields) < 5:
                raise _IndexMismatch
            name = fields[0].decode("utf-8", "replace")
            length, offset, line_bases, line_width = (int(f) for f in fields[1:5])
            if length < 0 or offset < 1 or line_bases < 1 or not line_bases < line_width <= line_bases + 2:
                raise _IndexMismatch
            entries.append((name, length, offset, line_bases, line_width))
    return entries


def _check_records(source, entries) -> None:
    """Each record's header sits right before its offset and its sequence ends where the index
    says, with nothing but line ends before the next header (or the end of the file)."""
    position = 0
    for name, length, offset, line_bases, line_width in entries:
        head = source.read(position, offset - position)
        lines = head.split(b"\n")
        header = lines[-2] if len(lines) >= 2 else b""
        expected = b">" + name.encode()
        # Before the header only line ends, or the headers of empty records (faidx skips those).
        if (not head.endswith(b"\n") or not header.startswith(expected)
                or header[len(expected):len(expected) + 1] not in (b"", b" ", b"\t", b"\r")
                or any(line.strip(b"\r") and not line.startswith(b">") for line in lines[:-2])):
            raise _IndexMismatch(name)
        if length == 0:
            position = offset
            continue
        if length > line_bases and source.read(offset + line_bases, 1) not in (b"\r", b"\n"):
            raise _IndexMismatch
        last = offset + (length - 1) // line_bases * line_width + (length - 1) % line_bases
        tail = source.read(last, 3)
        if not tail or tail[:1] in (b"\r", b"\n", b">", b" ") or tail[1:2] not in (b"", b"\r", b"\n"):
            raise _IndexMismatch
        position = last + 1 + (2 if tail[1:3] == b"\r\n" else 1 if tail[1:2] else 0)
    rest = source.read(position, 1 << 16)
    if rest.strip(b"\r\n") or len(rest) == 1 << 16:
        raise _IndexMismatch


def index_matches(source: Path, fai: Path, gzi: Path | None) -> bool:
    """Whether `fai` (and, for bgzip, `gzi`) describe `source` as it is now.

    Reads the block headers of a bgzip file and a few bytes around each record's start and end,
    never the sequence itself: a file replaced, grown, cut or reordered under an old index fails.
    """
    return index_mismatch(source, fai, gzi) is None


def index_mismatch(source: Path, fai: Path, gzi: Path | None) -> str | None:
    """None when the index describes `source`; else the first record it gets wrong ("" if none)."""
    reader = None
    try:
        entries = _read_fai(fai)
        if gzi is not None:
            blocks = _bgzf_blocks(source)
            if not _read_gzi(gzi) <= set(blocks):
                return ""
            reader = _BgzfBytes(source, blocks)
        else:
            reader = _PlainBytes(source)
        _check_records(reader, entries)
        return None
    except _IndexMismatch as exc:
        return exc.args[0] if exc.args else ""
    except (OSError, ValueError, UnicodeError):
        return ""
    finally:
        if reader is not None:
            reader.close()
