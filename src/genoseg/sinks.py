"""Where stitched tracks go: interval calling, gene decoding and the writers of one set of outputs.

`StitchAndWrite` takes the model's outputs window by window, in genome order, on the writer
thread; it stitches them into tracks and hands each to the run's current `Sink`. A `SingleRun`
has one sink for the whole run; a resumed run (`resume.UnitRun`) one per unit of work.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from genoseg.background import HeapTrimmer
from genoseg.fasta import Record
from genoseg.genes.models import GeneModel
from genoseg.genes.stream import GeneDecoder
from genoseg.intervals import Interval, IntervalCaller
from genoseg.outputs import OutputDirectory, RunFiles, output_stem, track_classes
from genoseg.settings import AnnotateOptions
from genoseg.stitching import SegmentStitcher, Track
from genoseg.summary import Counts
from genoseg.tiling import Window
from genoseg.writers import BedWriter, BigWigSet, GeneGff3Writer, GeneGtfWriter, GeneIds, Gff3Writer, ProteinWriter, TextOutput


class Outputs:
    """The set of files one run writes; all committed together at the end, or all discarded."""

    def __init__(self, options: AnnotateOptions, records: list[Record], features: list[str], header: dict,
                 directory: OutputDirectory | None = None) -> None:
        self.kept: list[GeneModel] | None = [] if options.adapt else None  # for --adapt's first round
        self.to_stdout = options.output == "-"
        self.gff3 = self.bed = None
        self.gene_writers: list[GeneGff3Writer | GeneGtfWriter] = []  # the GFF3 and the GTF of the gene models
        self.proteins: ProteinWriter | None = None
        self.coding: ProteinWriter | None = None
        self.bigwigs: BigWigSet | None = None
        self.texts: list[TextOutput] = []
        self.directory = directory
        if self.to_stdout:
            out = TextOutput(None)
            self.texts.append(out)
            if options.stdout_format == "bed":
                self.bed = BedWriter(out, options.track_line, output_stem(options.fasta))
            elif options.stdout_format == "genes":
                self.gene_writers.append(GeneGff3Writer(out, records, header, GeneIds(options.id_prefix)))
            elif options.stdout_format == "gtf":
                self.gene_writers.append(GeneGtfWriter(out, header, GeneIds(options.id_prefix)))
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
            genes, gtf = TextOutput(files.genes_gff3), TextOutput(files.genes_gtf)
            self.texts += [genes, gtf]
            self.gene_writers += [GeneGff3Writer(genes, records, header, GeneIds(options.id_prefix)),
                                  GeneGtfWriter(gtf, header, GeneIds(options.id_prefix))]
        tracks = track_classes(asdict(options), features)
        if tracks:
            self.bigwigs = BigWigSet(files, features, records, tracks, options.bigwig_precision)
        self._add_proteins(options)

    def _add_proteins(self, options: AnnotateOptions) -> None:
        if options.proteins and self.gene_writers:
            out = TextOutput(Path(options.proteins))
            self.texts.append(out)
            self.proteins = ProteinWriter(out)
        if options.cds and self.gene_writers:
            out = TextOutput(Path(options.cds))
            self.texts.append(out)
            self.coding = ProteinWriter(out, coding=True)

    def intervals(self, intervals: list[Interval]) -> None:
        for interval in intervals:
            if self.gff3:
                self.gff3.write(interval)
            if self.bed:
                self.bed.write(interval)

    def genes(self, models: list[GeneModel]) -> None:
        if self.kept is not None:
            self.kept += models
        for model in models:
            for writer in self.gene_writers:
                transcript = writer.write(model)
            if self.proteins:
                self.proteins.write(model, transcript)
            if self.coding:
                self.coding.write(model, transcript)

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

    def counts(self) -> Counts:
        """What went into these outputs, as run.json reports it."""
        return Counts(bases_annotated=self.bases, windows=self.windows, intervals=dict(self.caller.counts),
                      gene_models=dict(self.decoder.counts) if self.decoder else None)


class Run(Protocol):
    """How StitchAndWrite finds the sink of each window (SingleRun, resume.UnitRun)."""

    def open(self, window: Window) -> "Sink": ...

    def close(self, window: Window) -> None: ...


class StitchAndWrite:
    """Model outputs, window by window in genome order → stitched tracks → the run's sinks."""

    def __init__(self, run: Run, overlap: int, done: int, on_progress: Callable[[int], None]) -> None:
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


def _clip(track: Track, start: int, end: int) -> Track | None:
    lo, hi = max(track.start, start), min(track.end, end)
    if hi <= lo:
        return None
    return Track(track.record, lo, track.values[lo - track.start : hi - track.start])


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

    def counts(self) -> Counts:
        return self.sink.counts()
