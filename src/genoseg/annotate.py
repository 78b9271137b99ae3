"""`genoseg annotate`: FASTA → windows → model → stitched tracks → intervals → GFF3/BED/bigWig.

Everything streams: per-base values exist only for about two windows at a time, intervals are
written as soon as they close, and bigWig values are appended as tracks become final.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import queue
import resource
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from genoseg import __version__, stopping
from genoseg.errors import GenosegError, UsageError
from genoseg.fasta import FastaReader, Record, Segment, content_fingerprint
from genoseg.gene_decoder import Columns, GeneDecoder, GeneModel
from genoseg.gene_parameters import FILE_NAME as GENE_PARAMETERS_FILE, GeneParameters
from genoseg.inference import BatchProducer, Predictor, default_threads, in_window_order, resolve_device
from genoseg.intervals import Interval, IntervalCaller
from genoseg.model import SegmentNT, load_model
from genoseg.model.config import MAX_WINDOW_NT
from genoseg.merge import Part, merge_parts, sum_counts
from genoseg.outputs import OutputDirectory, RunFiles, check_targets, commit_set, output_stem
from genoseg.regions import Region, resolve_region
from genoseg.resume import DEFAULT_UNIT_BASES, ResumeState, plan_units, run_fingerprint
from genoseg.stitching import SegmentStitcher, Track
from genoseg.tiling import Window, check_tiling, plan_windows
from genoseg.writers import BedWriter, BigWigSet, GeneGff3Writer, Gff3Writer, ProteinWriter, TextOutput

BUNDLED_MODEL = Path(__file__).parent / "models" / "default"


@dataclass
class AnnotateOptions:
    fasta: str
    output: str  # a directory, or "-" for GFF3/BED on stdout
    model: str | None = None
    regions: list[str] = field(default_factory=list)
    contigs: list[str] = field(default_factory=list)
    window: int | None = None
    overlap: int | None = None
    batch_size: int = 8
    device: str = "auto"
    threads: int | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    default_threshold: float = 0.5
    min_length: int = 1
    min_segment_length: int = 120
    stdout_format: str = "gff3"
    bigwig: bool = True
    track_line: bool = True
    strands: str = "forward"  # or "both": average each window with its reverse complement
    gene_models: bool = True
    gene_parameters: str | None = None  # default: the model directory's gene_model.json
    proteins: str | None = None  # FASTA of translated gene models
    min_intron: int | None = None
    min_exon: int | None = None
    shard: tuple[int, int] | None = None  # (i, N), 1-based: this job's part of the genome
    min_contig_length: int = 0  # whole records shorter than this are skipped
    resume: bool = False  # keep completed units in OUTPUT/.genoseg-resume and continue from them
    resume_unit: int = DEFAULT_UNIT_BASES  # bases per resumable unit
    force: bool = False  # replace files in the output directory that no genoseg run wrote


@dataclass
class Target:
    """A stretch of one record to annotate, with the record's N-free segments that touch it."""

    record: Record
    start: int
    end: int
    segments: list[Segment]
    whole: bool


def check_options(options: AnnotateOptions) -> None:
    """Refuse numeric options that no run can use, before anything is loaded or written."""
    bounds = {"batch_size": (1, 65_536), "threads": (1, 4096), "min_length": (1, None), "min_segment_length": (1, None),
              "min_contig_length": (0, None), "resume_unit": (1, None), "window": (1, MAX_WINDOW_NT),
              "overlap": (0, None)}
    for name, (low, high) in bounds.items():
        value = getattr(options, name)
        if value is None:
            continue
        if value < low or (high is not None and value > high):
            span = f"from {low:,} to {high:,}" if high is not None else f"at least {low:,}"
            raise UsageError(f"--{name.replace('_', '-')} {value}: must be {span}")


def resolve_model(name: str | None) -> str:
    if name:
        return name
    if (BUNDLED_MODEL / "config.json").is_file():
        return str(BUNDLED_MODEL)
    raise GenosegError("no bundled model is installed; pass --model DIR (or segment_nt from the Hugging Face cache)")


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


def load_gene_parameters(options: AnnotateOptions, model_name: str) -> GeneParameters:
    """The decoder's sequence models: --gene-parameters, else the model's own, else neutral."""
    path = Path(options.gene_parameters) if options.gene_parameters else Path(model_name) / GENE_PARAMETERS_FILE
    if options.gene_parameters and not path.is_file():
        raise UsageError(f"{path}: no such gene-parameter file")
    try:
        params = GeneParameters.load(path) if path.is_file() else GeneParameters()
    except (ValueError, TypeError, KeyError) as exc:
        raise GenosegError(f"{path}: not a genoseg gene-parameter file ({exc})") from None
    for name in ("min_intron", "min_exon"):
        value = getattr(options, name)
        if value is not None:
            if value < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
            setattr(params, name, value)
    return params


def parse_thresholds(items: list[str], features: list[str]) -> tuple[float, dict[str, float]]:
    """`0.4` sets every class; `exon=0.6` one class. Unknown class names are an error."""
    default, per_class = 0.5, {}
    for item in items:
        name, sep, value = item.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"--threshold {item}: {value!r} is not a number") from None
        if not 0 <= number <= 1:
            raise UsageError(f"--threshold {item}: must be between 0 and 1")
        if not sep:
            default = number
        elif name not in features:
            raise UsageError(f"--threshold {item}: the model has no class {name!r} (classes: {', '.join(features)})")
        else:
            per_class[name] = number
    return default, per_class


class Outputs:
    """The set of files one run writes; all committed together at the end, or all discarded."""

    def __init__(self, options: AnnotateOptions, records: list[Record], features: list[str], header: dict,
                 directory: OutputDirectory | None = None) -> None:
        self.to_stdout = options.output == "-"
        self.gff3 = self.bed = None
        self.gene_gff3: GeneGff3Writer | None = None
        self.proteins: ProteinWriter | None = None
        self.bigwigs: BigWigSet | None = None
        self.texts: list[TextOutput] = []
        self.directory = directory
        if self.to_stdout:
            out = TextOutput(None)
            self.texts.append(out)
            if options.stdout_format == "bed":
                self.bed = BedWriter(out, options.track_line, output_stem(options.fasta))
            elif options.stdout_format == "genes":
                self.gene_gff3 = GeneGff3Writer(out, records, header)
            else:
                self.gff3 = Gff3Writer(out, records, header)
            self._add_proteins(options)
            return
        self.directory = directory or OutputDirectory(Path(options.output))
        files = RunFiles(self.directory.make(), output_stem(options.fasta))
        gff = TextOutput(files.intervals_gff3)
        bed = TextOutput(files.intervals_bed)
        self.texts += [gff, bed]
        self.gff3 = Gff3Writer(gff, records, header)
        self.bed = BedWriter(bed, options.track_line, files.stem)
        if options.gene_models:
            genes = TextOutput(files.genes_gff3)
            self.texts.append(genes)
            self.gene_gff3 = GeneGff3Writer(genes, records, header)
        if options.bigwig:
            self.bigwigs = BigWigSet(files, features, records)
        self._add_proteins(options)

    def _add_proteins(self, options: AnnotateOptions) -> None:
        if options.proteins and self.gene_gff3 is not None:
            out = TextOutput(Path(options.proteins))
            self.texts.append(out)
            self.proteins = ProteinWriter(out)

    def intervals(self, intervals: list[Interval]) -> None:
        for interval in intervals:
            if self.gff3:
                self.gff3.write(interval)
            if self.bed:
                self.bed.write(interval)

    def genes(self, models: list[GeneModel]) -> None:
        for model in models:
            if self.gene_gff3:
                transcript = self.gene_gff3.write(model)
                if self.proteins:
                    self.proteins.write(model, transcript)

    def track(self, track: Track) -> None:
        if self.bigwigs:
            self.bigwigs.write(track)

    def finish(self) -> list[tuple[Path, Path]]:
        """Complete every file under its temporary name; returns the renames that publish them.

        Every file is completed before any is renamed, so a failure in the last one (a full
        disk) leaves no file at a final name.
        """
        parts = [*self.texts, *([self.bigwigs] if self.bigwigs else [])]
        for part in parts:
            part.finish()
        return [move for part in parts for move in part.moves()]

    def discard(self) -> None:
        for text in self.texts:
            text.discard()
        if self.bigwigs:
            self.bigwigs.discard()


class Sink:
    """Where stitched tracks go: one set of Outputs, with its interval caller and gene decoder."""

    def __init__(self, outputs: Outputs, caller: IntervalCaller, decoder: GeneDecoder | None) -> None:
        self.outputs, self.caller, self.decoder = outputs, caller, decoder
        self.bases = 0
        self.windows = 0
        self.decode_seconds = 0.0

    def track(self, track: Track) -> None:
        self.outputs.track(track)
        self.outputs.intervals(self.caller.feed(track))
        if self.decoder:
            started = time.perf_counter()
            self.outputs.genes(self.decoder.feed(track))
            self.decode_seconds += time.perf_counter() - started
        self.bases += len(track.values)

    def end_segment(self) -> None:
        self.outputs.intervals(self.caller.end_segment())
        if self.decoder:
            started = time.perf_counter()
            self.outputs.genes(self.decoder.end_segment())
            self.decode_seconds += time.perf_counter() - started

    def counts(self) -> dict:
        """What went into these outputs, as run.json reports it."""
        return {"bases_annotated": self.bases, "windows": self.windows, "intervals": self.caller.counts,
                "gene_models": self.decoder.counts if self.decoder else None}


class StitchAndWrite:
    """Model outputs, window by window in genome order → stitched tracks → the run's sinks."""

    def __init__(self, run: "SingleRun | UnitRun", overlap: int, done: int, on_progress: Callable[[int], None]) -> None:
        self.run, self.overlap, self.on_progress = run, overlap, on_progress
        self.stitcher: SegmentStitcher | None = None
        self.sink: Sink | None = None
        self.trimmer = HeapTrimmer()
        self.done = done  # bases written (a resumed run starts with its finished units), for progress

    def __call__(self, ready: list[tuple[Window, np.ndarray]]) -> None:
        self.trimmer.tick()
        for win, values in ready:
            if win.first:
                self.stitcher = SegmentStitcher(win.record, self.overlap)
                self.sink = self.run.open(win)
            self.sink.windows += 1
            tracks = [self.stitcher.add(win, values)]
            if win.last:
                tracks.append(self.stitcher.finish())
            for track in tracks:
                track = track and _clip(track, win.keep_start, win.keep_end)
                if track is None:
                    continue
                self.sink.track(track)
                self.done += len(track.values)
            if win.last:
                self.run.close(win)
        self.on_progress(self.done)


class Behind:
    """Runs `handle` on each item on a thread of its own, at most `depth` items behind.

    Stitching, interval calling, gene decoding and bigWig compression then overlap the next
    forward passes instead of waiting between them (zlib and NumPy release the GIL, and torch
    releases it inside every operator). Items are handled in order; an error raised by `handle`
    is re-raised in the caller at its next put or at close.
    """

    def __init__(self, handle: Callable[[object], None], depth: int = 4) -> None:
        self.handle = handle
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.busy_seconds = 0.0  # time spent in `handle`, overlapped with the caller's work
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="genoseg-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _END or self.stopping.is_set():
                return
            started = time.perf_counter()
            try:
                self.handle(item)
                self.busy_seconds += time.perf_counter() - started
            except BaseException as exc:
                self.error = exc
                return

    def put(self, item: object) -> None:
        while True:
            if self.error is not None:
                raise self.error
            try:
                with stopping.deferred():
                    self.queue.put(item, timeout=stopping.POLL_SECONDS)
                return
            except queue.Full:
                if not self.thread.is_alive():
                    raise RuntimeError("the writer thread stopped") from self.error

    def close(self) -> None:
        """Wait until every item is handled; re-raises the handler's error."""
        self.put(_END)
        stopping.join(self.thread)
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """Abandon what is queued (after an error elsewhere) and end the thread."""
        self.stopping.set()
        while self.thread.is_alive():
            with stopping.deferred():
                try:
                    self.queue.put_nowait(_END)
                except queue.Full:
                    try:
                        self.queue.get_nowait()
                    except queue.Empty:
                        pass
                self.thread.join(timeout=0.05)


_END = object()


class HeapTrimmer:
    """Hands freed heap memory back to the OS every so many batches (glibc only).

    Window-sized arrays come and go with every batch; glibc keeps the freed pages, and the
    heap fragments, so RSS crept up with the length of the run (measured: 390 MB for 3 Mb,
    471 MB for 30 Mb). Forcing such arrays to mmap instead kept RSS flat but cost 40 % of the
    forward's speed (page faults on every allocation). One arena plus `malloc_trim` every few
    batches keeps the speed and most of the flatness; a trim costs well under a millisecond.
    """

    def __init__(self, every: int = 32) -> None:
        self.every = every
        self.count = 0
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            # One arena for threads started from here on, such as the producer (30 Mb / 3 Mb peak
            # RSS with trimming: 1.15 with glibc's default arenas, 1.13 with this; 1.075 with
            # MALLOC_ARENA_MAX=1 in the environment, which also covers torch's own threads).
            libc.mallopt(-8, 1)  # M_ARENA_MAX
            self._trim = libc.malloc_trim
        except (OSError, AttributeError):
            self._trim = None

    def tick(self) -> None:
        self.count += 1
        if self._trim is not None and self.count % self.every == 0:
            self._trim(0)


def _clip(track: Track, start: int, end: int) -> Track | None:
    lo, hi = max(track.start, start), min(track.end, end)
    if hi <= lo:
        return None
    return Track(track.record, lo, track.values[lo - track.start : hi - track.start])


def annotate(
    options: AnnotateOptions,
    model: SegmentNT | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_log: Callable[[str], None] | None = None,
) -> dict:
    """Run the whole pipeline; returns the run summary that is also written as run.json."""
    t0 = time.time()
    log = on_log or (lambda _msg: None)
    model_name = resolve_model(options.model) if model is None else getattr(model, "name_or_path", "in-memory")
    check_options(options)
    device = resolve_device(options.device)
    if device.type == "cpu":
        torch.set_num_threads(options.threads or default_threads())
    if model is None:
        model = load_model(model_name, device=device)
    features = model.features
    config = model.config
    window = options.window if options.window is not None else config.genoseg_window_nt
    overlap = options.overlap if options.overlap is not None else (
        config.default_overlap_nt if options.window is None else window // 4
    )
    check_tiling(window, overlap, options.min_segment_length)
    if options.strands not in ("forward", "both"):
        raise UsageError(f"strands must be forward or both, not {options.strands!r}")
    if not options.thresholds and options.default_threshold == 0.5:
        thresholds = {}
    else:
        thresholds = dict(options.thresholds)
    thresholds = {f: thresholds.get(f, options.default_threshold) for f in features}

    with FastaReader(options.fasta) as reader:
        targets = plan_targets(reader, options.regions, options.contigs)
        is_tiny = [t.whole and t.record.length < options.min_contig_length for t in targets]
        tiny = [t for t, small in zip(targets, is_tiny) if small]
        targets = [t for t, small in zip(targets, is_tiny) if not small]
        n_bases = sum(t.end - t.start for t in targets) - sum(span_length(t, s) for t in targets for s in t.segments)
        records_total = len(targets)
        # Four full batches of short contigs per block: enough to fill batches of every padded size.
        blocks = plan_blocks(targets, window, 4 * options.batch_size * window)
        if options.shard:
            blocks = select_shard(blocks, options.shard)
            targets = targets_of(blocks)
            # N runs belong to no segment; shard 1 reports them so that shards sum to a single run.
            n_bases = n_bases if options.shard[0] == 1 else 0
            tiny = tiny if options.shard[0] == 1 else []
        block_of = {span_key(t, s): b for b, block in enumerate(blocks) for t, s in block}
        kept = [(t, s) for t in targets for s in t.segments if s.length >= options.min_segment_length]
        bases_total = sum(span_length(t, s) for t in targets for s in t.segments) + n_bases
        bases_to_do = sum(span_length(t, s) for t, s in kept)
        short = [(t, s) for t in targets for s in t.segments if s.length < options.min_segment_length]
        summary: dict = {
            "genoseg_version": __version__,
            "model": model_name,
            "model_features": features,
            "input": str(options.fasta),
            # Content, not path or time: merge refuses shards made from two versions of one file.
            "input_fingerprint": content_fingerprint(options.fasta),
            "options": {k: v for k, v in asdict(options).items() if k not in ("fasta",)},
            "window": window,
            "overlap": overlap,
            "thresholds": thresholds,
            "device": str(device),
            "records": records_total,
            "bases_in_scope": bases_total,
            "bases_annotated": 0,
            "bases_skipped_n": n_bases,
            "shard": list(options.shard) if options.shard else None,
            **({"records_in_shard": len(targets)} if options.shard else {}),
            "records_skipped_short": len(tiny),
            "bases_skipped_short_records": sum(t.record.length for t in tiny),
            "segments_skipped_short": len(short),
            "bases_skipped_short": sum(span_length(t, s) for t, s in short),
        }
        header = {
            "genoseg": __version__, "model": model_name, "window": window, "overlap": overlap,
            "thresholds": ",".join(f"{k}:{v}" for k, v in thresholds.items()), "min_length": options.min_length,
        }
        to_stdout = options.output == "-"
        wants_genes = options.stdout_format == "genes" if to_stdout else options.gene_models
        columns = Columns.of(features) if wants_genes else None
        if options.proteins and not wants_genes:
            raise UsageError("--proteins needs gene models: drop --no-gene-models (with -o -, use --format genes)")
        if wants_genes and columns is None:
            if to_stdout or options.proteins:
                raise UsageError("gene models need exon, intron and protein_coding_gene classes, which this model lacks")
            log("gene models skipped: the model has no exon, intron and protein_coding_gene classes")
        params = load_gene_parameters(options, model_name) if columns else None
        if params is None:
            options = replace(options, gene_models=False)
        else:
            summary["gene_parameters"] = params.notes or "neutral (no fitted gene_model.json)"
            if options.proteins:
                summary["proteins_file"] = str(Path(options.proteins).resolve())

        def new_sink(opts: AnnotateOptions, directory: OutputDirectory | None = None) -> Sink:
            decoder = GeneDecoder(columns, params, reader.fetch) if params is not None else None
            return Sink(Outputs(opts, reader.records, features, header, directory),
                        IntervalCaller(features, thresholds, options.min_length), decoder)

        directory = None if to_stdout else OutputDirectory(Path(options.output))
        if directory is not None:
            check_targets(planned_outputs(options, features, params is not None), run_inputs(options, model_name),
                          directory.path, options.force)
        elif options.proteins:
            check_targets([Path(options.proteins)], run_inputs(options, model_name), None, options.force)
        if options.resume and kept:
            if to_stdout:
                raise UsageError("--resume needs an output directory (-o DIR), not -o -")
            if options.resume_unit < 1:
                raise UsageError("--resume-unit must be at least 1")
            fingerprint = run_fingerprint(options, model, params.as_dict() if params else None)
            run: SingleRun | UnitRun = UnitRun(ResumeState(Path(options.output), fingerprint), options, kept, block_of,
                                               new_sink)
            targets = run.remaining(targets)
        else:
            run = SingleRun(new_sink(options, directory))
        try:
            windows = _windows(targets, window, overlap, options.min_segment_length, block_of)
            producer = BatchProducer(reader, windows, options.batch_size, model.tokenizer, pin_memory=device.type == "cuda",
                                     window=window, both_strands=options.strands == "both")
            predictor = Predictor(model, device)
            stitch = StitchAndWrite(run, overlap, run.bases_done, lambda bases: on_progress and on_progress(bases, bases_to_do))
            writer = Behind(stitch)
            try:
                for ready in in_window_order(producer, predictor):
                    writer.put(ready)
                writer.close()
            finally:
                writer.stop()
            computed = stitch.done - run.bases_done
            writer_seconds = writer.busy_seconds
            moves = run.finish()
            counts = run.counts()
            summarize(summary, counts, run, predictor, writer_seconds, computed, t0)
            if isinstance(run, UnitRun):
                # Merging copies the units' files, so it is part of the run's wall time.
                moves = merge_parts(run.parts(), RunFiles(directory.make(), output_stem(options.fasta)),
                                    options.proteins, summary)
                summary["wall_seconds"] = round(time.time() - t0, 2)
            # With -o -, only a --proteins file is left to put in place.
            commit_set(directory.path if directory else None, moves, summary if directory else None)
        except BaseException:
            run.discard()
            if directory is not None:
                directory.remove_if_empty()
            raise
    if isinstance(run, UnitRun):
        run.state.clear()
    wall = summary["wall_seconds"]
    log(f"annotated {computed:,} bases in {wall:.1f}s ({computed / max(wall, 1e-9):,.0f} bp/s)")
    return summary


def summarize(summary: dict, counts: dict, run: "SingleRun | UnitRun", predictor: Predictor, writer_seconds: float,
              computed: int, t0: float) -> None:
    """Add the run's counts and timings to its summary (run.json)."""
    wall = time.time() - t0
    summary.update({
        "bases_annotated": counts["bases_annotated"],
        "intervals": counts["intervals"],
        "gene_models": counts["gene_models"],
        "gene_decoder_seconds": round(run.decode_seconds, 2),
        # Stitching, calling, decoding and writing, on their own thread alongside the forward.
        "writer_seconds": round(writer_seconds, 2),
        "wall_seconds": round(wall, 2),
        # Bases computed by this process: a resumed run's earlier units took no time here.
        "bases_per_second": round(computed / wall, 1) if wall > 0 else None,
        "model_seconds": round(predictor.seconds, 2),
        "windows": counts["windows"],
        "forward_batches": predictor.batches,
        "outside_model_share": round(1 - predictor.seconds / wall, 3) if wall > 0 else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "host": platform.node(),
    })
    if isinstance(run, UnitRun):
        summary["resume"] = {"units": run.count, "units_reused": run.reused}


def planned_outputs(options: AnnotateOptions, features: list[str], genes: bool) -> list[Path]:
    """Every file a run into a directory will write (the proteins FASTA may lie elsewhere)."""
    files = RunFiles.of(options.output, options.fasta)
    paths = files.planned(features, genes=genes and options.gene_models, bigwig=options.bigwig)
    return paths + ([Path(options.proteins)] if options.proteins else [])


def run_inputs(options: AnnotateOptions, model_name: str) -> list[Path]:
    """The files a run reads, which no output may replace."""
    fasta = Path(options.fasta)
    inputs = [fasta, Path(f"{fasta}.fai"), Path(f"{fasta}.gzi")]
    if options.gene_parameters:
        inputs.append(Path(options.gene_parameters))
    if Path(model_name).is_dir():
        inputs.append(Path(model_name))
    return inputs


class SingleRun:
    """Every track of the run into one set of outputs, committed at the end."""

    bases_done = 0

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    @property
    def decode_seconds(self) -> float:
        return self.sink.decode_seconds

    def open(self, window: Window) -> Sink:
        return self.sink

    def close(self, window: Window) -> None:
        self.sink.end_segment()

    def finish(self) -> list[tuple[Path, Path]]:
        return self.sink.outputs.finish()

    def discard(self) -> None:
        self.sink.outputs.discard()

    def counts(self) -> dict:
        return self.sink.counts()


class UnitRun:
    """A --resume run: segments grouped into units, each committed to the state directory when complete."""

    def __init__(self, state: ResumeState, options: AnnotateOptions, kept: list[Span], block_of: dict[tuple[str, int], int],
                 new_sink: Callable[[AnnotateOptions], Sink]) -> None:
        self.state, self.options, self.new_sink = state, options, new_sink
        keys = [span_key(t, s) for t, s in kept]
        lengths = [span_length(t, s) for t, s in kept]
        # Units end only where a batching block ends, so resumed batches are those of a full run.
        units = plan_units(lengths, options.resume_unit, [block_of[k] for k in keys])
        self.unit_of = dict(zip(keys, units))
        self.last_key = {unit: key for key, unit in zip(keys, units)}  # later segments overwrite earlier
        self.count = units[-1] + 1
        self.reused = sum(state.is_done(u) for u in range(self.count))
        self.bases_done = sum(n for n, u in zip(lengths, units) if state.is_done(u))
        self.unit: int | None = None
        self.sink: Sink | None = None
        self.decode_seconds = 0.0
        self._parts: list[Part] | None = None

    def remaining(self, targets: list[Target]) -> list[Target]:
        """The targets with only the segments of units still to do."""
        out = []
        for target in targets:
            segments = [s for s in target.segments
                        if (unit := self.unit_of.get(span_key(target, s))) is not None and not self.state.is_done(unit)]
            if segments:
                out.append(replace(target, segments=segments))
        return out

    def open(self, window: Window) -> Sink:
        unit = self.unit_of[(window.record, window.keep_start)]
        if unit != self.unit:
            path = self.state.start(unit)
            proteins = str(path / "proteins.faa") if self.options.proteins else None
            self.unit, self.sink = unit, self.new_sink(replace(self.options, output=str(path), proteins=proteins))
        return self.sink

    def close(self, window: Window) -> None:
        sink = self.sink
        sink.end_segment()
        if self.last_key[self.unit] != (window.record, window.keep_start):
            return
        commit_set(None, sink.outputs.finish(), None)
        self.decode_seconds += sink.decode_seconds
        self.state.complete(self.unit, {
            "input": str(self.options.fasta),
            "proteins_file": "proteins.faa" if self.options.proteins else None,
            **sink.counts(),
        })
        self.unit, self.sink = None, None

    def finish(self) -> list[tuple[Path, Path]]:
        return []  # every unit was committed as it completed; merging makes the run's files

    def discard(self) -> None:
        if self.sink is not None:
            self.sink.outputs.discard()

    def parts(self) -> list[Part]:
        """Every unit's part directory, read once when all are complete."""
        if self._parts is None:
            self._parts = self.state.parts(self.count)
        return self._parts

    def counts(self) -> dict:
        parts = [p.summary for p in self.parts()]
        return {"bases_annotated": sum(p["bases_annotated"] for p in parts),
                "windows": sum(p["windows"] for p in parts),
                "intervals": sum_counts([p["intervals"] for p in parts]),
                "gene_models": sum_counts([p["gene_models"] for p in parts])}


def _windows(targets: list[Target], window: int, overlap: int, min_segment: int,
             block_of: dict[tuple[str, int], int]) -> Iterator[Window]:
    """Windows of every target in order, each tagged with its batching block (a lazy generator)."""
    for target in targets:
        clip = None if target.whole else (target.start, target.end)
        for segment in target.segments:
            block = block_of[span_key(target, segment)]
            for item in plan_windows([segment], window, overlap, min_segment, clip):
                yield replace(item, block=block)
