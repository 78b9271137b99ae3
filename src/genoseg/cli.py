"""Command-line interface: parses options and calls the library, nothing more."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from genoseg import __version__

class GenosegCommand(click.Command):
    """Turns the library's expected errors into one line on stderr and a documented exit code."""

    def invoke(self, ctx: click.Context):
        from genoseg.errors import DataError, GenosegError
        from genoseg.stopping import Terminated, handle_signal

        previous_term = signal.signal(signal.SIGTERM, handle_signal)
        # A shell starts background jobs with SIGINT ignored; keep that choice.
        previous_int = signal.getsignal(signal.SIGINT)
        if previous_int is signal.default_int_handler:
            signal.signal(signal.SIGINT, handle_signal)
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # The reader of stdout went away (`genoseg annotate -o - | head`): stop quietly, as cat does.
            _silence_stdout()
            ctx.exit(141)
        except (GenosegError, OSError) as exc:
            if ctx.find_root().params.get("debug"):
                raise
            click.echo(f"genoseg: error: {_one_line(exc)}", err=True)
            ctx.exit(exc.exit_code if isinstance(exc, GenosegError) else DataError.exit_code)
        except (KeyboardInterrupt, Terminated) as exc:
            what = "interrupted" if isinstance(exc, KeyboardInterrupt) else "terminated"
            completed = getattr(exc, "completed", None)
            if completed:
                click.echo(f"genoseg: {what} after the outputs in {completed} were completed", err=True)
            else:
                click.echo(f"genoseg: {what}; no output was completed", err=True)
            ctx.exit(130 if isinstance(exc, KeyboardInterrupt) else 143)
        finally:
            signal.signal(signal.SIGTERM, previous_term)
            signal.signal(signal.SIGINT, previous_int)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return " ".join(str(exc).split()) or type(exc).__name__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="genoseg")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def main(debug: bool) -> None:
    """genoseg: per-base genome annotation with SegmentNT.

    \b
    Examples:
      genoseg annotate genome.fa -o out/
      genoseg annotate genome.fa.gz --region chr1:1-2000000 -o out/
      genoseg annotate genome.fa --shard 2/8 --resume -o shards/2/
      genoseg merge shards/*/ -o out/
      genoseg adapt out/                      # self-train the gene decoder on out/'s genome
      genoseg evaluate --annotation ref.gff3 out/
      genoseg train --fasta g.fa --annotation g.gff3 -o my_model/
    """


@main.command(cls=GenosegCommand)
@click.argument("fasta", type=click.Path(dir_okay=False))
@click.option("-o", "--output", default="genoseg_out", show_default=True,
              help="Output directory, or - to stream GFF3 (or BED with --format bed) to stdout.")
@click.option("-m", "--model", default=None,
              help="Model directory, or segment_nt / segment_nt_multi_species from the HF cache. [default: bundled model]")
@click.option("--region", "regions", multiple=True, help="Annotate only NAME:START-END (1-based, repeatable).")
@click.option("--contigs", default="", help="Comma-separated record names to annotate.")
@click.option("--window", type=int, default=None, help="Window length in nt (multiple of 24). [default: model's]")
@click.option("--overlap", type=int, default=None, help="Overlap between windows in nt. [default: a quarter window]")
@click.option("--batch-size", type=int, default=None,
              help="Windows per forward pass. [default: 8; SegmentEnformer/SegmentBorzoi: 1 on CPU, more on a GPU]")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--threads", type=int, default=None, help="CPU threads. [default: CPUs granted to this process]")
@click.option("--threshold", "thresholds", multiple=True,
              help="Probability threshold: 0.4 for every class, or CLASS=0.6 for one (repeatable). [default: 0.5]")
@click.option("--min-length", default=1, show_default=True, help="Shortest interval reported (nt).")
@click.option("--min-segment-length", default=120, show_default=True, help="N-free stretches shorter than this are skipped.")
@click.option("--format", "stdout_format", type=click.Choice(["gff3", "bed", "genes", "gtf"]), default="gff3",
              show_default=True,
              help="What -o - writes to stdout: class intervals as GFF3 or BED, or gene models as GFF3 (genes) or GTF.")
@click.option("--strands", type=click.Choice(["forward", "both"]), default="forward", show_default=True,
              help="both: also run each window's reverse complement and average (twice the compute).")
@click.option("--gene-models/--no-gene-models", default=True, show_default=True,
              help="Decode gene models (gene → mRNA/lnc_RNA → exon/CDS/UTR) into STEM.genoseg.genes.gff3.")
@click.option("--proteins", type=click.Path(dir_okay=False), default=None,
              help="Also write the gene models' translated proteins to this FASTA file (for BUSCO).")
@click.option("--cds", type=click.Path(dir_okay=False), default=None,
              help="Also write the gene models' coding sequences (stop codon included) to this FASTA, named as the proteins.")
@click.option("--id-prefix", default=None, metavar="PREFIX",
              help="Name genes PREFIX_000001, PREFIX_000002, ... (locus tags, unique across genomes) instead of gene1, gene2, ...")
@click.option("--gene-parameters", type=click.Path(dir_okay=False), default=None,
              help="Decoder sequence models from `genoseg fit-genes`. [default: the model's gene_model.json]")
@click.option("--min-intron", type=int, default=None, help="Shortest intron in gene models (nt). [default: the gene parameters' (bundled: 60)]")
@click.option("--min-exon", type=int, default=None, help="Shortest exon in gene models (nt). [default: the gene parameters' (bundled: 20)]")
@click.option("--shard", default=None, metavar="I/N",
              help="Annotate only part I of N (1-based), balanced by bases: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT with --array=1-N.")
@click.option("--min-contig-length", default=0, show_default=True,
              help="Skip records shorter than this (counted in run.json).")
@click.option("--resume", is_flag=True,
              help="Record progress in OUTPUT/.genoseg-resume; rerun the same command after a kill to continue where it stopped.")
@click.option("--resume-unit", default=1_000_000, show_default=True,
              help="With --resume: a unit of work is whole N-free segments of at least this many bases; a kill loses only the unit in progress.")
@click.option("--no-bigwig", is_flag=True, help="Do not write per-class bigWig tracks.")
@click.option("--bigwig-classes", default="", metavar="LIST",
              help="Comma-separated classes to write bigWigs for, e.g. exon,intron,protein_coding_gene. [default: all]")
@click.option("--bigwig-precision", type=float, default=0.01, show_default=True,
              help="Store bigWig probabilities rounded to this step (0: float32 exactly); 0.01 makes tracks 4-6x smaller.")
@click.option("--locus-score/--no-locus-score", default=False, show_default=True,
              help="Drop decoded genes that the gene parameters' locus score takes for transposon ORFs or "
                   "pseudogenes (the bundled model has one): for transposon-rich genomes of the clade the model was "
                   "trained on; it costs genes on others (docs/models.md).")
@click.option("--softmasking/--no-softmasking", default=False, show_default=True,
              help="Lower-case (soft-masked repeat) bases cost the gene decoder when it calls them coding, "
                   "so transposon ORFs do not become genes.")
@click.option("--no-track-line", is_flag=True, help="Leave the track line out of the BED (for bedToBigBed).")
@click.option("--force", is_flag=True,
              help="Replace files at the output names that no earlier genoseg run in -o wrote (never an input).")
@click.option("--adapt", is_flag=True,
              help="Self-train: refit the gene decoder's sequence models on this genome's confident gene models "
                   "and decode again (for a species no model was trained on; see `genoseg adapt --help`).")
@click.option("-q", "--quiet", is_flag=True, help="No progress or log lines.")
def annotate(fasta, output, model, regions, contigs, window, overlap, batch_size, device, threads, thresholds,
             min_length, min_segment_length, stdout_format, strands, gene_models, proteins, cds, id_prefix, gene_parameters,
             min_intron, min_exon, shard, min_contig_length, resume, resume_unit, force, adapt, no_bigwig,
             bigwig_classes, bigwig_precision, softmasking, locus_score, no_track_line, quiet) -> None:
    """Annotate every base of FASTA with the probability of each genomic element class.

    Writes STEM.genoseg.intervals.gff3 and STEM.genoseg.intervals.bed (per-class intervals),
    STEM.genoseg.genes.gff3 and .genes.gtf (gene models), one STEM.genoseg.CLASS.bw per class and run.json
    (STEM: the FASTA's name without .fa/.gz). Files that no earlier genoseg run in the output
    directory wrote are never replaced without --force.

    \b
    Examples:
      genoseg annotate genome.fa.gz -o out/
      genoseg annotate genome.fa --region chr2:1000001-1500000 --threshold exon=0.6 -o out/
      genoseg annotate genome.fa -o - --format bed > genome.bed
      genoseg annotate genome.fa -m segment_nt --device cuda --batch-size 4 -o out/
    """
    from genoseg.annotate import annotate as run_annotate
    from genoseg.settings import AnnotateOptions, check_options, parse_thresholds, resolve_model
    from genoseg.model import load_model
    from genoseg.progress import Reporter

    options = AnnotateOptions(
        fasta=fasta, output=output, model=model, regions=list(regions),
        contigs=[c for c in contigs.split(",") if c], window=window, overlap=overlap, batch_size=batch_size,
        device=device, threads=threads, min_length=min_length, min_segment_length=min_segment_length,
        stdout_format=stdout_format, bigwig=not no_bigwig, track_line=not no_track_line, strands=strands,
        gene_models=gene_models, proteins=proteins, gene_parameters=gene_parameters, min_intron=min_intron,
        min_exon=min_exon, min_contig_length=min_contig_length, resume=resume, resume_unit=resume_unit, force=force,
        adapt=adapt, id_prefix=id_prefix, cds=cds, bigwig_precision=bigwig_precision, softmasking=softmasking,
        locus_score=locus_score,
        bigwig_classes=[c for c in bigwig_classes.split(",") if c] or None,
    )
    if shard is not None:
        from genoseg.planning import parse_shard

        options.shard = parse_shard(shard)
    from genoseg.inference import resolve_device

    check_options(options)
    dev = resolve_device(device)
    model_name = resolve_model(model)
    loaded = load_model(model_name, device=dev)
    loaded.name_or_path = model_name
    options.default_threshold, options.thresholds = parse_thresholds(list(thresholds), loaded.features)
    with Reporter(enabled=not quiet) as reporter:
        summary = run_annotate(options, model=loaded, on_progress=reporter.update, on_log=reporter.log)
    if not quiet:
        counts = ", ".join(f"{k} {v}" for k, v in summary.counts.intervals.items())
        if summary.counts.gene_models:
            counts += "; gene models: " + ", ".join(f"{k} {v}" for k, v in summary.counts.gene_models.items())
        where = "stdout" if output == "-" else output
        click.echo(f"genoseg: {summary.counts.bases_annotated:,} bases annotated in {summary.timings.wall_seconds}s "
                   f"({summary.bases_per_second:,.0f} bp/s); intervals: {counts}; written to {where}", err=True)


@main.command(cls=GenosegCommand)
@click.argument("shards", nargs=-1, type=click.Path(file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Directory for the merged run.")
@click.option("--proteins", type=click.Path(dir_okay=False), default=None,
              help="Also merge the shards' protein FASTA files (each shard annotated with --proteins) into this file.")
@click.option("--cds", type=click.Path(dir_okay=False), default=None,
              help="Also merge the shards' coding-sequence FASTA files (each shard annotated with --cds) into this file.")
@click.option("--force", is_flag=True, help="Replace files at the output names that no earlier genoseg run wrote.")
def merge(shards, output, proteins, cds, force) -> None:
    """Combine the output directories of `annotate --shard I/N` runs into the files a single run writes.

    Every shard 1..N of one run must be given (in any order); gene and interval IDs are numbered
    across the genome as in a single run, and run.json sums the shards' counts.

    \b
    Example:
      genoseg merge shards/*/ -o genome_out/ --proteins genome_out/proteins.faa
    """
    from genoseg.merge import merge_shards

    summary = merge_shards(list(shards), output, proteins, force, cds)
    click.echo(f"merged {len(summary.merged_from)} shards, {summary.counts.bases_annotated:,} bases, into {output}", err=True)


@main.command("adapt", cls=GenosegCommand)
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--rounds", default=3, show_default=True, help="Most refit-and-decode rounds.")
@click.option("--strength", default=200.0, show_default=True,
              help="Weight of the starting models, in genes: a model refitted from n genes gets n / (n + STRENGTH).")
@click.option("--min-score", default=0.5, show_default=True,
              help="Confident genes: mean exon probability at least this (and complete, GT-AG introns, >= 300 coding nt).")
@click.option("--force", is_flag=True, help="Replace files at the output names that no genoseg run wrote.")
@click.option("-q", "--quiet", is_flag=True, help="No log lines.")
def adapt_command(run_dir, rounds, strength, min_score, force, quiet) -> None:
    """Self-train the gene decoder on a finished run's own genome, without any annotation of it.

    Decodes the run's bigWig tracks, keeps the confident gene models, refits the coding and intron
    Markov chains, splice-site and start-codon models and length priors from them (each blended
    with the starting model by how many genes it rests on), gives the network's terms the share
    the refitted models leave them, rescales the intron penalty and the minimum gene gap to the
    genome's intron rate and gene spacing, and decodes again until the gene set settles.
    Replaces the run's gene GFF3 (and proteins) and writes STEM.genoseg.gene_model.json, which
    `annotate --gene-parameters` takes for related genomes. `annotate --adapt` does this in one
    command; a sharded run is adapted after `genoseg merge`.

    \b
    Example:
      genoseg annotate yeast.fa -o out/ && genoseg adapt out/
    """
    from genoseg.adapt import adapt_run
    from genoseg.genes.adapt import AdaptSettings, Confidence

    if rounds < 1 or strength < 0 or not 0 <= min_score <= 1:
        from genoseg.errors import UsageError

        raise UsageError("--rounds must be at least 1, --strength at least 0 and --min-score between 0 and 1")
    settings = AdaptSettings(confidence=Confidence(min_score=min_score), strength=strength, max_rounds=rounds)
    log = (lambda *_: None) if quiet else (lambda msg: click.echo(msg, err=True))
    summary = adapt_run(run_dir, settings, force=force, log=log)
    click.echo(f"genoseg: adapted in {summary.adaptation['seconds']}s ({summary.adaptation['stopped']}); "
               f"gene models: {summary.counts.gene_models['protein_coding']} protein-coding", err=True)


@main.command(cls=GenosegCommand)
@click.option("--fasta", "fastas", required=True, multiple=True, type=click.Path(dir_okay=False),
              help="Genome FASTA (plain, gzip or bgzip); repeat it, with --annotation, to train on several genomes.")
@click.option("--annotation", "annotations", required=True, multiple=True, type=click.Path(dir_okay=False),
              help="Reference GFF3 or GTF (plain or gzip) of the --fasta in the same place.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Model directory to write.")
@click.option("--val-region", "val_regions", multiple=True, help="Held-out region NAME:START-END (repeatable).")
@click.option("--config", "size", default="tiny", show_default=True, type=click.Choice(["tiny", "small", "base"]))
@click.option("--window", "window_nt", default=3072, show_default=True, help="Training window (nt, multiple of 24).")
@click.option("--batch-size", default=8, show_default=True)
@click.option("--steps", default=20_000, show_default=True)
@click.option("--lr", "learning_rate", default=1e-3, show_default=True)
@click.option("--warmup", "warmup_steps", default=500, show_default=True)
@click.option("--val-every", default=500, show_default=True)
@click.option("--max-minutes", type=float, default=None, help="Stop after this much training time.")
@click.option("--seed", default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--save-dtype", default="float32", type=click.Choice(["float32", "float16"]), show_default=True)
@click.option("--resume", is_flag=True, help="Continue from OUTPUT/training_state.pt.")
@click.option("--init-from", default=None, type=click.Path(file_okay=False, exists=True),
              help="Fine-tune: start from this model directory's weights (its size and classes).")
@click.option("--splice-weight", default=1.0, show_default=True,
              help="Loss weight of splice-site bases (the positives of splice_donor/splice_acceptor).")
@click.option("--quiet", is_flag=True)
def train(quiet: bool, val_regions: tuple[str, ...], fastas: tuple[str, ...], annotations: tuple[str, ...],
          **options) -> None:
    """Train a SegmentNT-architecture model on one or more genomes and their annotations.

    Several genomes (--fasta and --annotation repeated, paired in order) train together, each
    window drawn from each genome with equal chance; a class one annotation cannot label (no
    lncRNA, no UTRs) is left out of the loss on that genome's windows.

    \b
    Example (the bundled default model):
      genoseg train --fasta TAIR10_chr1.fna.gz --annotation TAIR10_chr1.gff.gz \\
        --val-region NC_003070.9:24342137-30427671 -o model/
    """
    from genoseg.progress import progress_bar
    from genoseg.train import TrainSettings, train as run_training

    if len(fastas) != len(annotations):
        raise click.UsageError(f"{len(fastas)} --fasta and {len(annotations)} --annotation: give one annotation "
                               "per genome, in the same order")
    pairs = list(zip(fastas, annotations))
    settings = TrainSettings(fasta=pairs[0][0], annotation=pairs[0][1], extra_genomes=pairs[1:],
                             val_regions=list(val_regions), **options)
    log = (lambda *_: None) if quiet else (lambda msg: click.echo(msg, err=True))
    with progress_bar(enabled=not quiet) as progress:
        report = run_training(settings, progress=progress, log=log)
    best = report["best_mean_mcc"]
    score = f"best mean MCC {best:.3f}" if best is not None else "no validation windows (kept the lowest training loss)"
    click.echo(f"trained {report['steps_done']} steps in {report['train_seconds']:.0f}s; {score}; model in {settings.output}", err=True)


@main.command("fit-genes", cls=GenosegCommand)
@click.option("--fasta", required=True, type=click.Path(dir_okay=False), help="Genome FASTA (plain, gzip or bgzip).")
@click.option("--annotation", required=True, type=click.Path(dir_okay=False), help="Reference GFF3 or GTF (plain or gzip).")
@click.option("--region", "regions", multiple=True, help="Fit on NAME:START-END only (repeatable). [default: all records]")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="JSON to write; name it MODEL_DIR/gene_model.json to make it the model's default.")
@click.option("--site-epochs", default=3, show_default=True,
              help="Passes over the splice sites when training the convolutional site classifiers "
                   "(written beside the JSON); 0 skips them.")
def fit_genes(fasta, annotation, regions, output, site_epochs) -> None:
    """Fit the gene-model decoder's sequence models (splice-site and start-codon models, coding Markov
    chain, convolutional splice-site classifiers).

    \b
    Example (what the bundled model ships):
      genoseg fit-genes --fasta TAIR10_chr1.fna.gz --annotation TAIR10_chr1.gff.gz \\
        --region NC_003070.9:1-24342136 -o model/gene_model.json
    """
    from genoseg.errors import UsageError
    from genoseg.genes.fit import fit_gene_parameters
    from genoseg.genes.parameters import BUNDLED_FILE, FITTED_FIELDS, GeneParameters

    if site_epochs < 0:
        raise UsageError("--site-epochs must be 0 or more")
    fitted = fit_gene_parameters(fasta, annotation, list(regions), site_epochs=site_epochs)
    # Keep the weights tuned earlier (those of the file being refreshed, else the bundled
    # model's, tuned with sequence models like these) and refresh the sequence models.
    params = GeneParameters.load(BUNDLED_FILE)
    if Path(output).is_file():
        try:
            params = GeneParameters.load(output)
        except (ValueError, TypeError, KeyError):
            pass
    for name in FITTED_FIELDS:
        setattr(params, name, getattr(fitted, name))
    params.save(output)
    click.echo(f"fitted on {fitted.notes['coding_transcripts']} coding transcripts, {fitted.notes['donors']} introns; "
               f"wrote {output}", err=True)


@main.command(cls=GenosegCommand)
@click.argument("prediction", required=False)
@click.option("--annotation", required=True, type=click.Path(dir_okay=False), help="Reference GFF3 or GTF.")
@click.option("--gff3", "gff3", default=None, type=click.Path(dir_okay=False), help="A prediction GFF3/GTF from any tool.")
@click.option("--region", "regions", multiple=True, help="Score only NAME:START-END (repeatable).")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False), help="Also write the metrics as JSON.")
@click.option("--intervals", is_flag=True,
              help="With a run directory: score its per-class intervals (per base) instead of its gene models.")
def evaluate(prediction, annotation, gff3, regions, json_path, intervals) -> None:
    """Score predictions against a reference annotation.

    PREDICTION is a genoseg output directory, scored by its gene models (by its per-class
    intervals with --intervals); --gff3 scores any tool's gene models instead.
    Per class: per-base precision, recall, F1 and MCC; exon level: exact-boundary precision,
    recall and F1; gene level: share of reference genes with every exon exact (for gene models
    also: every CDS segment exact, and the exact intron chain). For gene models (--gff3, or a
    run directory's gene GFF3): gffcompare-style CDS exon and locus sensitivity, precision and
    F1, the measure Tiberius, Helixer and ANNEVO are compared by.

    \b
    Examples:
      genoseg evaluate --annotation ref.gff3 out/
      genoseg evaluate --annotation ref.gff3 --gff3 augustus.gff3 --region chr1:24342137-30427671
    """
    import json

    from rich.console import Console
    from rich.table import Table

    from genoseg.errors import UsageError
    from genoseg.evaluate import evaluate as run_evaluate

    if bool(prediction) == bool(gff3):
        raise UsageError("give either a genoseg output directory or --gff3 FILE")
    result = run_evaluate(annotation, prediction or gff3, list(regions), intervals)
    table = Table(title=f"{result['prediction']} vs {result['reference']}")
    for column in ("class", "precision", "recall", "F1", "MCC"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for feature, m in result["per_base"].items():
        table.add_row(feature, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", f"{m['mcc']:.3f}")
    exon = result["exon_level"]
    table.add_row("exon (exact boundaries)", f"{exon['precision']:.3f}", f"{exon['recall']:.3f}", f"{exon['f1']:.3f}", "")
    gene = result["gene_level"]
    console = Console()
    console.print(table)
    console.print(f"genes with every exon exact: {gene['all_exons_exact']}/{gene['reference_genes']} ({gene['accuracy']:.3f})")
    if "cds_exact" in gene:
        console.print(f"genes with every CDS segment exact: {gene['cds_exact']}/{gene['reference_genes']} "
                      f"({gene['cds_accuracy']:.3f})")
        console.print(f"multi-exon genes with the exact intron chain: {gene['intron_chain_exact']}/"
                      f"{gene['multi_exon_genes']} ({gene['intron_chain_accuracy']:.3f})")
    for key, label in (("cds_exon", "CDS exon"), ("locus", "locus (CDS chain)")):
        if key in result:
            m = result[key]
            console.print(f"{label} Sn/Pr/F1: {m['sensitivity']:.3f} / {m['precision']:.3f} / {m['f1']:.3f} "
                          f"({m['found']} of {m['reference']} reference, {m['right']} of {m['predicted']} predicted)",
                          soft_wrap=True)
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2) + "\n")


@main.command(cls=GenosegCommand)
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--region", required=True, help="NAME:START-END to draw (1-based).")
@click.option("--annotation", default=None, type=click.Path(dir_okay=False), help="Reference GFF3/GTF to draw beneath.")
@click.option("-o", "--output", default="region.png", show_default=True, help="PNG to write.")
def plot(run_dir, region, annotation, output) -> None:
    """Draw per-class probability tracks of a genoseg run over one locus.

    \b
    Example:
      genoseg plot example_out/ --region NC_003070.9_25M:30001-45000 \\
        --annotation examples/athaliana_chr1_25M.gff3 -o locus.png
    """
    from genoseg.plot import plot_region

    path = plot_region(run_dir, region, output, annotation)
    click.echo(f"wrote {path}", err=True)


if __name__ == "__main__":
    sys.exit(main())
