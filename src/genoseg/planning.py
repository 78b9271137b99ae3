"""Planning a run: which stretches to annotate (targets), how they are batched (blocks), which
part of them a shard does, and the windows that cover them.

Everything here depends only on the genome and the options, so every shard and every resumed
run plans exactly what a single run plans and takes its own part of it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

from genoseg.errors import UsageError
from genoseg.fasta import FastaReader, Record, Segment
from genoseg.regions import Region, resolve_region
from genoseg.tiling import Window, plan_windows


@dataclass
class Target:
    """A stretch of one record to annotate, with the record's N-free segments that touch it."""

    record: Record
    start: int
    end: int
    segments: list[Segment]
    whole: bool


@dataclass
class Plan:
    """The stretches a run annotates, their batching blocks, and what it skips."""

    targets: list[Target]
    blocks: list[list[Span]]
    block_of: dict[tuple[str, int], int]  # span_key → block index
    kept: list[Span]  # segments long enough to annotate
    short: list[Span]  # segments skipped as shorter than --min-segment-length
    tiny: list[Target]  # whole records skipped as shorter than --min-contig-length
    bases_skipped_n: int  # N runs inside the targets (reported by shard 1 only)
    records: int  # targets of the whole run (before --shard), as run.json counts them

    @property
    def bases_in_scope(self) -> int:
        return sum(span_length(t, s) for t in self.targets for s in t.segments) + self.bases_skipped_n

    @property
    def bases_to_do(self) -> int:
        return sum(span_length(t, s) for t, s in self.kept)


def plan_run(reader: FastaReader, regions: list[str], contigs: list[str], window: int, batch_size: int,
             min_segment_length: int, min_contig_length: int, shard: tuple[int, int] | None) -> Plan:
    """What a run with these options annotates (see plan_targets, plan_blocks, select_shard)."""
    targets = plan_targets(reader, regions, contigs)
    is_tiny = [t.whole and t.record.length < min_contig_length for t in targets]
    tiny = [t for t, small in zip(targets, is_tiny) if small]
    targets = [t for t, small in zip(targets, is_tiny) if not small]
    n_bases = sum(t.end - t.start for t in targets) - sum(span_length(t, s) for t in targets for s in t.segments)
    records = len(targets)
    # Four full batches of short contigs per block: enough to fill batches of every padded size.
    blocks = plan_blocks(targets, window, 4 * batch_size * window)
    if shard:
        blocks = select_shard(blocks, shard)
        targets = targets_of(blocks)
        # N runs belong to no segment; shard 1 reports them so that shards sum to a single run.
        n_bases = n_bases if shard[0] == 1 else 0
        tiny = tiny if shard[0] == 1 else []
    block_of = {span_key(t, s): b for b, block in enumerate(blocks) for t, s in block}
    kept = [(t, s) for t in targets for s in t.segments if s.length >= min_segment_length]
    short = [(t, s) for t in targets for s in t.segments if s.length < min_segment_length]
    return Plan(targets, blocks, block_of, kept, short, tiny, n_bases, records)


def plan_targets(reader: FastaReader, regions: list[str], contigs: list[str]) -> list[Target]:
    order = {r.name: i for i, r in enumerate(reader.records)}
    targets: list[tuple[Record, int, int, bool]] = []
    if regions:
        parsed: list[Region] = []
        for text in regions:
            region = resolve_region(text, order)
            if region.record not in order:
                raise UsageError(f"{reader.path}: --region {text}: no record named {region.record!r}")
            length = reader.length(region.record)
            end = length if region.end is None else region.end
            if end > length:
                raise UsageError(
                    f"{reader.path}: --region {text}: end {end} is beyond record {region.record} (length {length})"
                )
            parsed.append(Region(region.record, region.start, end))
        parsed.sort(key=lambda r: (order[r.record], r.start))
        merged: list[Region] = []
        for region in parsed:
            if merged and merged[-1].record == region.record and region.start <= merged[-1].end:
                last = merged.pop()
                region = Region(last.record, last.start, max(last.end, region.end))
            merged.append(region)
        for region in merged:
            record = reader.records[order[region.record]]
            targets.append((record, region.start, region.end, region.start == 0 and region.end == record.length))
    else:
        wanted = set(contigs)
        unknown = [c for c in contigs if c not in order]
        if unknown:
            raise UsageError(f"{reader.path}: --contigs: no record named {unknown[0]!r}")
        for record in reader.records:
            if not wanted or record.name in wanted:
                targets.append((record, 0, record.length, True))
    out = []
    for record, start, end, whole in targets:
        segments = [s for s in reader.segments(record.name) if s.start < end and s.end > start]
        out.append(Target(record, start, end, segments, whole))
    return out


def parse_shard(text: str) -> tuple[int, int]:
    """`i/N` with 1 <= i <= N (a SLURM array run as --array=1-N)."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise UsageError(f"--shard {text}: expected I/N, such as 3/10") from None
    if not sep or n < 1 or not 1 <= i <= n:
        raise UsageError(f"--shard {text}: need 1 <= I <= N (shards are numbered from 1)")
    return i, n


Span = tuple[Target, Segment]


def span_length(target: Target, segment: Segment) -> int:
    """Bases of `segment` inside `target` (a --region may clip it)."""
    return min(segment.end, target.end) - max(segment.start, target.start)


def span_key(target: Target, segment: Segment) -> tuple[str, int]:
    # A segment can be clipped by two --region targets; where its kept stretch starts tells them apart.
    return target.record.name, max(segment.start, target.start)


def plan_blocks(targets: list[Target], window: int, block_bases: int) -> list[list[Span]]:
    """Consecutive segments whose windows are batched together, and never with others.

    A segment holding full windows is a block of its own; segments shorter than a window (short
    contigs) are grouped until a block holds `block_bases`. Batches never cross a block, so what a
    window is batched with depends only on the genome and the options; shards and resume units
    are whole blocks, so their batches, and hence every computed value to the last bit, are a
    single run's (CPU and GPU kernels can round differently for different batch shapes).
    """
    blocks: list[list[Span]] = []
    current: list[Span] = []
    filled = 0
    for target in targets:
        for segment in target.segments:
            if segment.length >= window:
                if current:
                    blocks.append(current)
                    current, filled = [], 0
                blocks.append([(target, segment)])
                continue
            current.append((target, segment))
            filled += span_length(target, segment)
            if filled >= block_bases:
                blocks.append(current)
                current, filled = [], 0
    if current:
        blocks.append(current)
    return blocks


def select_shard(blocks: list[list[Span]], shard: tuple[int, int]) -> list[list[Span]]:
    """Shard i of N: contiguous blocks of N-free segments in genome order, balanced by bases.

    A block belongs to the shard where the midpoint of its bases falls on the genome's cumulative
    base axis, so shards 1..N cover every annotated base exactly once, depend only on the input
    and the options, and never split a segment (its windows, their blending and their batches
    stay exactly those of a single run).
    """
    i, n = shard
    # Short segments (never annotated) are placed too, so each is counted as skipped exactly once.
    lengths = [sum(span_length(t, s) for t, s in block) for block in blocks]
    total = sum(lengths)
    chosen = []
    position = 0
    for block, length in zip(blocks, lengths):
        middle = position + length / 2
        position += length
        if total and min(int(middle * n / total), n - 1) == i - 1:
            chosen.append(block)
    return chosen


def targets_of(blocks: list[list[Span]]) -> list[Target]:
    """The targets that `blocks` touch, each with only the segments in them, in order."""
    segments: dict[int, list[Segment]] = {}
    order: list[Target] = []
    for block in blocks:
        for target, segment in block:
            if id(target) not in segments:
                segments[id(target)] = []
                order.append(target)
            segments[id(target)].append(segment)
    return [replace(t, segments=segments[id(t)]) for t in order]


def plan_run_windows(targets: list[Target], window: int, overlap: int, min_segment: int,
             block_of: dict[tuple[str, int], int]) -> Iterator[Window]:
    """Windows of every target in order, each tagged with its batching block (a lazy generator)."""
    for target in targets:
        clip = None if target.whole else (target.start, target.end)
        for segment in target.segments:
            block = block_of[span_key(target, segment)]
            for item in plan_windows([segment], window, overlap, min_segment, clip):
                yield replace(item, block=block)
