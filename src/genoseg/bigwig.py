"""A streaming bigWig writer for per-base tracks, with memory that does not grow with the genome.

Why not pyBigWig's writer: libBigWig builds the zoom levels at close time by reading the whole
chromosome's intervals back into memory (about 14 bytes per base: 3.4 GB for human chr1 per
class), and it aborts the process when a write fails (full disk), so neither a bounded-memory
run nor a clean error was possible through it. This writer streams data sections and zoom
records to disk as they arrive and keeps only one open section and one open zoom bin per level
in memory. pyBigWig (libBigWig) and pybbi (UCSC's kent library) read its files back in the tests.

Layout (UCSC bigWig version 4): header, zoom headers, total summary, chromosome B+ tree,
data sections (fixedStep, zlib), data R-tree, then per zoom level its records and R-tree.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

BIGWIG_MAGIC = 0x888FFC26
CHROM_TREE_MAGIC = 0x78CA8C91
RTREE_MAGIC = 0x2468ACE0
HEADER_SIZE = 64
ZOOM_HEADER_SIZE = 24
SUMMARY_SIZE = 40
ITEMS_PER_SLOT = 1024  # values per data section and records per zoom block, as UCSC's tools
RTREE_BLOCK = 256
# Zoom levels summarise 128, 512, ... bases: a 32-base first level doubled a rounded track's size
# (docs/performance.md "Track size"); views finer than 128 bases per pixel read the data.
FIRST_ZOOM = 128
ZOOM_FACTOR = 4
MAX_ZOOMS = 10
FIXED_STEP = 3
SECTION_HEADER = struct.Struct("<IIIIIBBH")  # chrom, start, end, step, span, type, reserved, count

ZOOM_RECORD = np.dtype([
    ("chrom", "<u4"), ("start", "<u4"), ("end", "<u4"), ("count", "<u4"),
    ("min", "<f4"), ("max", "<f4"), ("sum", "<f4"), ("sumsq", "<f4"),
])
# Sections and zoom blocks never span chromosomes, so one chromosome id per index entry.
INDEX_ENTRY = np.dtype([("chrom", "<u4"), ("start", "<u4"), ("end", "<u4"), ("offset", "<u8"), ("size", "<u8")])
LEAF_ITEM = np.dtype([
    ("start_chrom", "<u4"), ("start", "<u4"), ("end_chrom", "<u4"), ("end", "<u4"), ("offset", "<u8"), ("size", "<u8"),
])
NODE_ITEM = np.dtype([("start_chrom", "<u4"), ("start", "<u4"), ("end_chrom", "<u4"), ("end", "<u4"), ("offset", "<u8")])
# Working form of a zoom record: float64 sums while a bin is still open.
_BIN = np.dtype([
    ("bin", "<i8"), ("start", "<i8"), ("end", "<i8"), ("count", "<i8"),
    ("min", "<f8"), ("max", "<f8"), ("sum", "<f8"), ("sumsq", "<f8"),
])


class _Spill:
    """Fixed-size records appended to an anonymous temporary file (gone even after SIGKILL)."""

    def __init__(self, directory: Path, dtype: np.dtype) -> None:
        self.dtype = dtype
        self.file = tempfile.TemporaryFile(dir=directory, prefix=".genoseg-bw-")
        self.count = 0

    def append(self, records: np.ndarray) -> None:
        self.file.write(records.astype(self.dtype, copy=False).tobytes())
        self.count += len(records)

    def read(self) -> np.ndarray:
        self.file.flush()
        if self.count == 0:
            return np.zeros(0, self.dtype)
        return np.memmap(self.file, dtype=self.dtype, mode="r", shape=(self.count,))

    def close(self) -> None:
        self.file.close()


class _ZoomLevel:
    """Summary records at one resolution, streamed to a temporary file in zlib blocks."""

    def __init__(self, reduction: int, directory: Path) -> None:
        self.reduction = reduction
        self.data = tempfile.TemporaryFile(dir=directory, prefix=".genoseg-bw-")
        self.index = _Spill(directory, INDEX_ENTRY)
        self.open: np.ndarray | None = None  # the last bin, which later values may still extend
        self.open_chrom = -1
        self.pending: list[np.ndarray] = []
        self.pending_count = 0
        self.chrom = -1

    def add(self, chrom: int, bins: np.ndarray) -> None:
        """Bins of this level's resolution, in order; the first may continue the open one."""
        if self.open is not None:
            if self.open_chrom == chrom and self.open["bin"][0] == bins["bin"][0]:
                bins = bins.copy()
                first, prev = bins[:1], self.open
                first["start"] = prev["start"]
                first["count"] += prev["count"]
                first["min"] = np.minimum(first["min"], prev["min"])
                first["max"] = np.maximum(first["max"], prev["max"])
                first["sum"] += prev["sum"]
                first["sumsq"] += prev["sumsq"]
            else:
                self._emit(self.open_chrom, self.open)
        self.open, self.open_chrom = bins[-1:].copy(), chrom
        if len(bins) > 1:
            self._emit(chrom, bins[:-1])

    def finish(self) -> None:
        if self.open is not None:
            self._emit(self.open_chrom, self.open)
            self.open = None
        self._flush(final=True)

    def _emit(self, chrom: int, bins: np.ndarray) -> None:
        if chrom != self.chrom:
            self._flush(final=True)
            self.chrom = chrom
        records = np.empty(len(bins), ZOOM_RECORD)
        records["chrom"] = chrom
        for name in ("start", "end", "count", "min", "max", "sum", "sumsq"):
            records[name] = bins[name]
        self.pending.append(records)
        self.pending_count += len(records)
        self._flush(final=False)

    def _flush(self, final: bool) -> None:
        if self.pending_count < ITEMS_PER_SLOT and not (final and self.pending_count):
            return
        records = np.concatenate(self.pending)
        cut = len(records) if final else len(records) - len(records) % ITEMS_PER_SLOT
        for lo in range(0, cut, ITEMS_PER_SLOT):
            block = records[lo : lo + ITEMS_PER_SLOT]
            payload = zlib.compress(block.tobytes())
            entry = np.array([(block["chrom"][0], block["start"][0], block["end"][-1], self.data.tell(), len(payload))],
                             INDEX_ENTRY)
            self.data.write(payload)
            self.index.append(entry)
        rest = records[cut:]
        self.pending = [rest] if len(rest) else []
        self.pending_count = len(rest)

    def close(self) -> None:
        self.data.close()
        self.index.close()


def _bins_from_values(start: int, values: np.ndarray, reduction: int) -> np.ndarray:
    """Summaries of contiguous per-base values [start, start + len) in bins aligned to `reduction`."""
    n = len(values)
    first_bin, last_bin = start // reduction, (start + n - 1) // reduction
    cuts = np.arange(first_bin + 1, last_bin + 1, dtype=np.int64) * reduction - start
    idx = np.concatenate(([0], cuts))
    v = values.astype(np.float64)
    bins = np.empty(len(idx), _BIN)
    bins["bin"] = np.arange(first_bin, last_bin + 1)
    bins["start"] = start + idx
    bins["count"] = np.diff(np.append(idx, n))
    bins["end"] = bins["start"] + bins["count"]
    bins["min"] = np.minimum.reduceat(v, idx)
    bins["max"] = np.maximum.reduceat(v, idx)
    bins["sum"] = np.add.reduceat(v, idx)
    bins["sumsq"] = np.add.reduceat(v * v, idx)
    return bins


def _coarsen(bins: np.ndarray, reduction: int) -> np.ndarray:
    """Merge finer, nested bins into bins of `reduction` bases."""
    keys = bins["start"] // reduction
    idx = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    out = np.empty(len(idx), _BIN)
    out["bin"] = keys[idx]
    out["start"] = bins["start"][idx]
    out["end"] = bins["end"][np.append(idx[1:], len(bins)) - 1]
    out["count"] = np.add.reduceat(bins["count"], idx)
    out["min"] = np.minimum.reduceat(bins["min"], idx)
    out["max"] = np.maximum.reduceat(bins["max"], idx)
    out["sum"] = np.add.reduceat(bins["sum"], idx)
    out["sumsq"] = np.add.reduceat(bins["sumsq"], idx)
    return out


def quantise(values: np.ndarray, precision: float) -> np.ndarray:
    """`values` rounded to the nearest multiple of `precision` (0: unchanged), as float32.

    Rounded tracks compress: at 0.01 the data sections of a probability track are 4-9 times
    smaller than the float32 values (docs/performance.md), and a probability read back is off
    by at most half the step.
    """
    values = np.asarray(values, dtype=np.float32)
    if precision <= 0:
        return values
    return (np.round(values / precision) * precision).astype(np.float32)


class BigWigWriter:
    """Per-base float values written by chromosome (in the given order) and increasing position.

    Gaps are allowed (they stay without data, e.g. N runs); positions may not go backwards.
    With `precision` > 0 values are stored rounded to its multiples (see `quantise`).
    """

    def __init__(self, path: Path | str, chroms: list[tuple[str, int]], precision: float = 0.0) -> None:
        self.path = Path(path)
        self.precision = precision
        self.chroms = [(name, int(length)) for name, length in chroms if length > 0]
        self.chrom_ids = {name: i for i, (name, _) in enumerate(self.chroms)}
        longest = max((length for _, length in self.chroms), default=0)
        reductions = [FIRST_ZOOM * ZOOM_FACTOR**k for k in range(MAX_ZOOMS)]
        reductions = [r for r in reductions if r < longest] or ([FIRST_ZOOM] if longest else [])
        directory = self.path.parent
        self.levels = [_ZoomLevel(r, directory) for r in reductions]
        self.index = _Spill(directory, INDEX_ENTRY)
        self.file: BinaryIO = open(self.path, "wb")
        self.valid = 0
        self.min, self.max = np.inf, -np.inf
        self.sum = self.sumsq = 0.0
        self.sections = 0
        self.chrom = -1
        self.position = 0  # next base expected on self.chrom
        self.run_start = 0
        self.run: list[np.ndarray] = []  # values not yet written, contiguous from run_start
        self.run_count = 0
        self.closed = False
        self.file.write(bytes(HEADER_SIZE + ZOOM_HEADER_SIZE * len(self.levels) + SUMMARY_SIZE))
        self.chrom_tree_offset = self.file.tell()
        self._write_chrom_tree()
        self.data_offset = self.file.tell()
        self.file.write(bytes(8))  # section count, filled in at close

    def add(self, chrom: str, start: int, values: np.ndarray) -> None:
        values = np.ascontiguousarray(quantise(values, self.precision))
        if len(values) == 0:
            return
        if chrom not in self.chrom_ids:
            raise ValueError(f"{self.path}: chromosome {chrom!r} is not in the header")
        chrom_id = self.chrom_ids[chrom]
        length = self.chroms[chrom_id][1]
        if chrom_id < self.chrom or (chrom_id == self.chrom and start < self.position):
            raise ValueError(f"{self.path}: {chrom}:{start} comes before data already written")
        if start + len(values) > length:
            raise ValueError(f"{self.path}: {chrom}:{start}-{start + len(values)} runs past the end ({length})")
        if chrom_id != self.chrom or start != self.position:
            self._flush_run(final=True)
            self.chrom, self.run_start = chrom_id, start
        self.position = start + len(values)
        self.run.append(values)
        self.run_count += len(values)
        self._flush_run(final=False)

        # Every writer with data has at least one zoom level; the file's totals come from its bins.
        bins = _bins_from_values(start, values, self.levels[0].reduction)
        self.valid += len(values)
        self.min = min(self.min, float(bins["min"].min()))
        self.max = max(self.max, float(bins["max"].max()))
        self.sum += float(bins["sum"].sum())
        self.sumsq += float(bins["sumsq"].sum())
        for i, level in enumerate(self.levels):
            if i:
                bins = _coarsen(bins, level.reduction)
            level.add(chrom_id, bins)

    def _flush_run(self, final: bool) -> None:
        if not self.run_count or (self.run_count < ITEMS_PER_SLOT and not final):
            return
        values = np.concatenate(self.run)
        cut = len(values) if final else len(values) - len(values) % ITEMS_PER_SLOT
        entries = []
        for lo in range(0, cut, ITEMS_PER_SLOT):
            chunk = values[lo : lo + ITEMS_PER_SLOT]
            start = self.run_start + lo
            end = start + len(chunk)
            raw = SECTION_HEADER.pack(self.chrom, start, end, 1, 1, FIXED_STEP, 0, len(chunk)) + chunk.tobytes()
            payload = zlib.compress(raw)
            entries.append((self.chrom, start, end, self.file.tell(), len(payload)))
            self.file.write(payload)
        if entries:
            self.index.append(np.array(entries, INDEX_ENTRY))
            self.sections += len(entries)
        rest = values[cut:]
        self.run_start += cut
        self.run = [rest] if len(rest) else []
        self.run_count = len(rest)

    def close(self) -> None:
        """Write the indexes and zoom levels; the file is complete only after this returns."""
        self._flush_run(final=True)
        f = self.file
        full_index_offset = f.tell()
        _write_rtree(f, self.index.read(), end_offset=full_index_offset)
        zoom_headers = []
        for level in self.levels:
            level.finish()
            data_offset = f.tell()
            f.write(struct.pack("<I", level.index.count))
            level.data.seek(0)
            shutil.copyfileobj(level.data, f, 1 << 20)
            index_offset = f.tell()
            entries = np.array(level.index.read())
            entries["offset"] += data_offset + 4
            _write_rtree(f, entries, end_offset=index_offset)
            zoom_headers.append(struct.pack("<IIQQ", level.reduction, 0, data_offset, index_offset))
        f.write(struct.pack("<I", BIGWIG_MAGIC))
        if self.valid == 0:
            self.min = self.max = 0.0
        uncompress_buf = max(24 + 4 * ITEMS_PER_SLOT, ZOOM_RECORD.itemsize * ITEMS_PER_SLOT)
        summary_offset = HEADER_SIZE + ZOOM_HEADER_SIZE * len(self.levels)
        f.seek(0)
        f.write(struct.pack("<IHHQQQHHQQIQ", BIGWIG_MAGIC, 4, len(self.levels), self.chrom_tree_offset,
                            self.data_offset, full_index_offset, 0, 0, 0, summary_offset, uncompress_buf, 0))
        f.write(b"".join(zoom_headers))
        f.write(struct.pack("<Qdddd", self.valid, self.min, self.max, self.sum, self.sumsq))
        f.seek(self.data_offset)
        f.write(struct.pack("<Q", self.sections))
        f.flush()
        os.fsync(f.fileno())
        self._release()

    def abort(self) -> None:
        self._release()

    def _release(self) -> None:
        if self.closed:
            return
        self.closed = True
        # Closing flushes; after a failed write (full disk) that fails again, and the file is
        # being thrown away, so only the first error matters.
        for handle in [self.file, self.index, *self.levels]:
            try:
                handle.close()
            except OSError:
                pass

    def _write_chrom_tree(self) -> None:
        """A B+ tree of chromosome names, sorted as UCSC's binary search expects."""
        items = sorted((name.encode(), i, length) for i, (name, length) in enumerate(self.chroms))
        key_size = max((len(k) for k, _, _ in items), default=1)
        block = max(1, min(len(items), RTREE_BLOCK))
        f = self.file
        f.write(struct.pack("<IIIIQQ", CHROM_TREE_MAGIC, block, key_size, 8, len(items), 0))
        # Levels from the leaves up: each is a list of nodes, each node a list of (key, value).
        leaves = [items[i : i + block] for i in range(0, len(items), block)] or [[]]
        levels = [leaves]
        while len(levels[-1]) > 1:
            below = levels[-1]
            levels.append([below[i : i + block] for i in range(0, len(below), block)])
        levels.reverse()  # root first, as written
        leaf_item, node_item = key_size + 8, key_size + 8
        offset = f.tell()
        level_offsets = []
        for depth, nodes in enumerate(levels):
            level_offsets.append(offset)
            item_size = leaf_item if depth == len(levels) - 1 else node_item
            offset += sum(4 + item_size * len(node) for node in nodes)
        for depth, nodes in enumerate(levels):
            is_leaf = depth == len(levels) - 1
            child_offset = level_offsets[depth + 1] if not is_leaf else 0
            for node in nodes:
                f.write(struct.pack("<BBH", int(is_leaf), 0, len(node)))
                for child in node:
                    if is_leaf:
                        key, chrom_id, length = child
                        f.write(key.ljust(key_size, b"\0") + struct.pack("<II", chrom_id, length))
                    else:
                        first_key = _first_key(child)
                        f.write(first_key.ljust(key_size, b"\0") + struct.pack("<Q", child_offset))
                        child_offset += 4 + (leaf_item if depth + 1 == len(levels) - 1 else node_item) * len(child)


def _first_key(node: list) -> bytes:
    while isinstance(node, list):
        node = node[0]
    return node[0]


def _write_rtree(f: BinaryIO, entries: np.ndarray, end_offset: int) -> None:
    """UCSC's cirTree over data blocks, written root first; leaves point at the blocks."""
    n = len(entries)
    if n:
        bounds = (int(entries["chrom"][0]), int(entries["start"][0]), int(entries["chrom"][-1]), int(entries["end"][-1]))
    else:
        bounds = (0, 0, 0, 0)
    f.write(struct.pack("<IIQIIIIQII", RTREE_MAGIC, RTREE_BLOCK, n, *bounds, end_offset, ITEMS_PER_SLOT, 0))
    # Node counts per level, leaves first: level k groups RTREE_BLOCK nodes of level k - 1.
    sizes = [max(1, -(-n // RTREE_BLOCK))]
    while sizes[-1] > 1:
        sizes.append(-(-sizes[-1] // RTREE_BLOCK))
    depth = len(sizes)
    # Span covered by each node at each level, as (first entry, last entry) index pairs.
    spans = [[(i * RTREE_BLOCK, min(n, (i + 1) * RTREE_BLOCK)) for i in range(sizes[0])]]
    for k in range(1, depth):
        below = spans[k - 1]
        spans.append([(below[i * RTREE_BLOCK][0], below[min(len(below), (i + 1) * RTREE_BLOCK) - 1][1])
                      for i in range(sizes[k])])
    # Byte offset of every node, root level first.
    node_offsets: list[list[int]] = [[] for _ in range(depth)]
    offset = f.tell()
    for k in reversed(range(depth)):
        item = LEAF_ITEM.itemsize if k == 0 else NODE_ITEM.itemsize
        for j in range(sizes[k]):
            node_offsets[k].append(offset)
            children = (spans[k][j][1] - spans[k][j][0]) if k == 0 else min(RTREE_BLOCK, sizes[k - 1] - j * RTREE_BLOCK)
            offset += 4 + item * children
    for k in reversed(range(depth)):
        for j in range(sizes[k]):
            if k == 0:
                lo, hi = spans[0][j]
                block = entries[lo:hi]
                items = np.empty(hi - lo, LEAF_ITEM)
                items["start_chrom"] = block["chrom"]
                items["end_chrom"] = block["chrom"]
                for name in ("start", "end", "offset", "size"):
                    items[name] = block[name]
            else:
                first = j * RTREE_BLOCK
                last = min(sizes[k - 1], first + RTREE_BLOCK)
                items = np.empty(last - first, NODE_ITEM)
                for i, child in enumerate(range(first, last)):
                    lo, hi = spans[k - 1][child]
                    items[i] = (entries["chrom"][lo], entries["start"][lo], entries["chrom"][hi - 1], entries["end"][hi - 1],
                                node_offsets[k - 1][child])
            f.write(struct.pack("<BBH", int(k == 0), 0, len(items)))
            f.write(items.tobytes())
