"""`genoseg annotate`: FASTA → windows → model → stitched tracks → intervals and gene models → files.

The driver only: resolve the settings (`settings`), plan what to annotate (`planning`), run the
model over the planned windows with everything downstream on the writer thread (`sinks`,
`background`), commit the outputs as one set (`outputs`) and summarize (`summary`).

Everything streams: per-base values exist only for about two windows at a time, intervals are
written as soon as they close, and bigWig values are appended as tracks become final.
"""

from __future__ import annotations

import platform
import resource
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from genoseg import __version__
from genoseg.adapt import adapt_run
from genoseg.background import Behind
from genoseg.errors import UsageError
from genoseg.fasta import FastaReader, content_fingerprint
from genoseg.genes.columns import Columns
from genoseg.genes.parameters import GeneParameters
from genoseg.genes.stream import GeneDecoder
from genoseg.inference import BatchProducer, Predictor, default_threads, in_window_order, resolve_device
from genoseg.intervals import IntervalCaller
from genoseg.merge import merge_parts
from genoseg.session import initial_locus, write_session
from genoseg.model import SegmentNT, load_model
from genoseg.outputs import OutputDirectory, RunFiles, check_targets, commit_set, output_stem, track_classes
from genoseg.planning import Plan, plan_run, plan_run_windows, span_length
from genoseg.resume import ResumeState, UnitRun, run_fingerprint
from genoseg.settings import (AnnotateOptions, RunSettings, check_options, default_batch_size, load_gene_parameters,
                              planned_outputs, resolve_model, resolve_settings, run_inputs)
from genoseg.sinks import Outputs, SingleRun, Sink, StitchAndWrite
from genoseg.summary import RunSummary


@dataclass
class GeneSetup:
    """The gene decoder's inputs, or None for both when this run decodes no gene models."""

    columns: Columns | None
    params: GeneParameters | None


def annotate(
    options: AnnotateOptions,
    model: SegmentNT | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_log: Callable[[str], None] | None = None,
) -> RunSummary:
    """Run the whole pipeline; returns the run summary that is also written as run.json.

    Raises:
        UsageError: options that cannot work together (checked before anything is written).
        DataError: unreadable input, model or gene parameters.
    """
    t0 = time.time()
    log = on_log or (lambda _msg: None)
    model_name = resolve_model(options.model) if model is None else getattr(model, "name_or_path", "in-memory")
    check_options(options)
    device = resolve_device(options.device)
    if device.type == "cpu":
        torch.set_num_threads(options.threads or default_threads())
    if model is None:
        model = load_model(model_name, device=device)
    if options.batch_size is None:
        options = replace(options, batch_size=default_batch_size(model, device))
    settings = resolve_settings(options, model_name, model.features, model.config.genoseg_window_nt,
                                model.config.default_overlap_nt, getattr(model, "max_window_nt", None))
    with FastaReader(options.fasta) as reader:
        plan = plan_run(reader, options.regions, options.contigs, settings.window, options.batch_size,
                        options.min_segment_length, options.min_contig_length, options.shard)
        summary = describe(options, settings, plan, str(device))
        genes = gene_setup(options, settings, log)
        if genes.params is None:
            options = replace(options, gene_models=False)
        else:
            summary.gene_parameters = genes.params.notes or "neutral (no fitted gene_model.json)"
            if options.proteins:
                summary.proteins_file = str(Path(options.proteins).resolve())
            if options.cds:
                summary.cds_file = str(Path(options.cds).resolve())
        header = settings.header(options.min_length, __version__)

        def new_sink(opts: AnnotateOptions, directory: OutputDirectory | None = None) -> Sink:
            masked = reader.masked if options.softmasking else None
            decoder = (GeneDecoder(genes.columns, genes.params, reader.fetch, masked=masked,
                                   locus_score=options.locus_score)
                       if genes.params is not None else None)
            return Sink(Outputs(opts, reader.records, settings.features, header, directory),
                        IntervalCaller(settings.features, settings.thresholds, options.min_length), decoder)

        directory = None if options.output == "-" else OutputDirectory(Path(options.output))
        check_outputs(options, settings, genes, directory)
        run, targets = choose_run(options, model, genes.params, plan, new_sink, directory)
        try:
            execute(run, targets, plan, reader, model, device, settings, options, summary,
                               lambda bases: on_progress and on_progress(bases, plan.bases_to_do), t0)
        except BaseException:
            run.discard()
            if directory is not None:
                directory.remove_if_empty()
            raise
    if isinstance(run, UnitRun):
        run.state.clear()
    # The summary is returned, not logged: the CLI prints it once.
    if options.adapt and genes.params is not None:
        first = run.sink.outputs.kept if isinstance(run, SingleRun) else None
        summary = adapt_run(options.output, first=first, force=options.force, log=log)
    return summary


def describe(options: AnnotateOptions, settings: RunSettings, plan: Plan, device: str) -> RunSummary:
    """The run's summary before it runs: what it reads, with which settings, and what it skips."""
    summary = RunSummary(
        genoseg_version=__version__, model=settings.model_name, model_features=settings.features,
        input=str(options.fasta),
        # Content, not path or time: merge refuses shards made from two versions of one file.
        input_fingerprint=content_fingerprint(options.fasta),
        options={k: v for k, v in asdict(options).items() if k not in ("fasta",)},
        window=settings.window, overlap=settings.overlap, thresholds=settings.thresholds, device=device,
        records=plan.records,
        shard=list(options.shard) if options.shard else None,
        records_in_shard=len(plan.targets) if options.shard else None,
    )
    counts = summary.counts
    counts.bases_in_scope = plan.bases_in_scope
    counts.bases_skipped_n = plan.bases_skipped_n
    counts.records_skipped_short = len(plan.tiny)
    counts.bases_skipped_short_records = sum(t.record.length for t in plan.tiny)
    counts.segments_skipped_short = len(plan.short)
    counts.bases_skipped_short = sum(span_length(t, s) for t, s in plan.short)
    return summary


def check_outputs(options: AnnotateOptions, settings: RunSettings, genes: GeneSetup,
                  directory: OutputDirectory | None) -> None:
    """Refuse the run before anything is written if an output would replace an input, another
    output or a file no genoseg run wrote (outputs.check_targets)."""
    inputs = run_inputs(options, settings.model_name)
    if directory is not None:
        check_targets(planned_outputs(options, settings.features, genes.params is not None), inputs, directory.path,
                      options.force)
    elif options.proteins or options.cds:
        check_targets([Path(p) for p in (options.proteins, options.cds) if p], inputs, None, options.force)


def gene_setup(options: AnnotateOptions, settings: RunSettings, log: Callable[[str], None]) -> GeneSetup:
    """The decoder's columns and parameters, when this run decodes gene models.

    Raises:
        UsageError: --proteins without gene models, or gene models asked of a model without the
            classes they need (on stdout or with --proteins; a run into a directory logs and goes on).
    """
    to_stdout = options.output == "-"
    wants_genes = options.stdout_format in ("genes", "gtf") if to_stdout else options.gene_models
    columns = Columns.of(settings.features) if wants_genes else None
    if (options.proteins or options.cds) and not wants_genes:
        flag = "--proteins" if options.proteins else "--cds"
        raise UsageError(f"{flag} needs gene models: drop --no-gene-models (with -o -, use --format genes)")
    if wants_genes and columns is None:
        if to_stdout or options.proteins or options.cds:
            raise UsageError("gene models need exon, intron and protein_coding_gene classes, which this model lacks")
        log("gene models skipped: the model has no exon, intron and protein_coding_gene classes")
    params = load_gene_parameters(options, settings.model_name) if columns else None
    return GeneSetup(columns if params is not None else None, params)


def choose_run(options: AnnotateOptions, model: SegmentNT, params: GeneParameters | None, plan: Plan,
               new_sink: Callable[..., Sink], directory: OutputDirectory | None) -> tuple[SingleRun | UnitRun, list]:
    """A single run into one set of outputs, or a --resume run in units; and the targets left to do."""
    if options.resume and plan.kept:
        if options.output == "-":
            raise UsageError("--resume needs an output directory (-o DIR), not -o -")
        if options.resume_unit < 1:
            raise UsageError("--resume-unit must be at least 1")
        fingerprint = run_fingerprint(options, model, params.as_dict() if params else None)
        run = UnitRun(ResumeState(Path(options.output), fingerprint), options, plan.kept, plan.block_of, new_sink)
        return run, run.remaining(plan.targets)
    return SingleRun(new_sink(options, directory)), plan.targets


def execute(run: SingleRun | UnitRun, targets: list, plan: Plan, reader: FastaReader, model: SegmentNT,
            device: torch.device, settings: RunSettings, options: AnnotateOptions, summary: RunSummary,
            on_progress: Callable[[int], None], t0: float) -> None:
    """Run the model over the targets' windows, commit the outputs, complete `summary`."""
    windows = plan_run_windows(targets, settings.window, settings.overlap, options.min_segment_length,
                               plan.block_of)
    producer = BatchProducer(reader, windows, options.batch_size, model.tokenizer, pin_memory=device.type == "cuda",
                             window=settings.window, both_strands=options.strands == "both",
                             context=getattr(model, "context_nt", 0))
    predictor = Predictor(model, device)
    stitch = StitchAndWrite(run, settings.overlap, run.bases_done, on_progress)
    writer = Behind(stitch)
    try:
        for ready in in_window_order(producer, predictor):
            writer.put(ready)
        writer.close()
    finally:
        writer.stop()
    computed = stitch.done - run.bases_done
    moves = run.finish()
    summarize(summary, run, predictor, writer.busy_seconds, computed, t0)
    directory = None if options.output == "-" else Path(options.output)
    files = RunFiles(directory, output_stem(options.fasta)) if directory else None
    if isinstance(run, UnitRun):
        # Merging copies the units' files, so it is part of the run's wall time.
        moves = merge_parts(run.parts(), files, options.proteins, summary, options.cds)
        summary.timings.wall_seconds = round(time.time() - t0, 2)
    elif files:
        records = [(r.name, r.length) for r in reader.records]
        moves.append(write_session(files, options.fasta, track_classes(asdict(options), settings.features),
                                   run.sink.outputs.gene_writers != [], initial_locus(records, options.regions)))
    # With -o -, only a --proteins file is left to put in place.
    commit_set(directory, moves, summary if directory else None)


def summarize(summary: RunSummary, run: SingleRun | UnitRun, predictor: Predictor, writer_seconds: float,
              computed: int, t0: float) -> None:
    """Add the run's counts and timings to its summary (run.json)."""
    wall = time.time() - t0
    counts = run.counts()
    summary.counts.bases_annotated = counts.bases_annotated
    summary.counts.windows = counts.windows
    summary.counts.intervals = counts.intervals
    summary.counts.gene_models = counts.gene_models
    summary.timings.gene_decoder_seconds = round(run.decode_seconds, 2)
    summary.timings.writer_seconds = round(writer_seconds, 2)
    summary.timings.wall_seconds = round(wall, 2)
    summary.timings.model_seconds = round(predictor.seconds, 2)
    summary.timings.forward_batches = predictor.batches
    summary.timings.peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    # Bases computed by this process: a resumed run's earlier units took no time here.
    summary.bases_per_second = round(computed / wall, 1) if wall > 0 else None
    summary.outside_model_share = round(1 - predictor.seconds / wall, 3) if wall > 0 else None
    summary.host = platform.node()
    if isinstance(run, UnitRun):
        summary.resume = {"units": run.count, "units_reused": run.reused}
