"""Command-line interface: parses options and calls the library, nothing more."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from genoseg import __version__

EXIT_DATA = 1
EXIT_USAGE = 2


class GenosegCommand(click.Command):
    """Turns the library's expected errors into one line on stderr and a documented exit code."""

    def invoke(self, ctx: click.Context):
        from genoseg.errors import USER_ERRORS

        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            if ctx.find_root().params.get("debug"):
                raise
            click.echo(f"genoseg: error: {exc}", err=True)
            ctx.exit(EXIT_DATA)
        except KeyboardInterrupt:
            click.echo("genoseg: interrupted", err=True)
            ctx.exit(130)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="genoseg")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def main(debug: bool) -> None:
    """genoseg: per-base genome annotation with SegmentNT.

    \b
    Examples:
      genoseg annotate genome.fa -o out/
      genoseg annotate genome.fa.gz --region chr1:1-2000000 -o out/
      genoseg evaluate --annotation ref.gff3 out/
      genoseg train --fasta g.fa --annotation g.gff3 -o my_model/
    """


@main.command(cls=GenosegCommand)
@click.option("--fasta", required=True, type=click.Path(dir_okay=False), help="Genome FASTA (plain, gzip or bgzip).")
@click.option("--annotation", required=True, type=click.Path(dir_okay=False), help="Reference GFF3 or GTF (plain or gzip).")
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
@click.option("--quiet", is_flag=True)
def train(quiet: bool, val_regions: tuple[str, ...], **options) -> None:
    """Train a SegmentNT-architecture model on a genome and its annotation.

    \b
    Example (the bundled default model):
      genoseg train --fasta TAIR10_chr1.fna.gz --annotation TAIR10_chr1.gff.gz \\
        --val-region NC_003070.9:24342137-30427671 -o model/
    """
    from genoseg.progress import progress_bar
    from genoseg.train import TrainSettings, train as run_training

    settings = TrainSettings(val_regions=list(val_regions), **options)
    log = (lambda *_: None) if quiet else (lambda msg: click.echo(msg, err=True))
    with progress_bar(enabled=not quiet) as progress:
        report = run_training(settings, progress=progress, log=log)
    click.echo(f"trained {report['steps_done']} steps in {report['train_seconds']:.0f}s; best mean MCC {report['best_mean_mcc']:.3f}; model in {settings.output}", err=True)


if __name__ == "__main__":
    sys.exit(main())
