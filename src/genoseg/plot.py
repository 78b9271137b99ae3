"""`genoseg plot`: a figure of one locus for a slide: per-class probability tracks, genoseg's own
gene models and, given an annotation, the reference gene models beneath them.

Each gene is drawn once (its transcript with the longest CDS, else the longest), labelled by name
(GFF3 Name=, GTF gene_name, else its ID) under the model; genes and labels are packed into rows
so that no two overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyBigWig

from genoseg.annotation import CODING, LNCRNA, Annotation, Transcript, read_annotation
from genoseg.errors import DataError, UsageError
from genoseg.outputs import finished_run
from genoseg.regions import resolve_region
from genoseg.writers import style_of

WIDTH_INCHES = 13.33  # a 16:9 slide
FONT = 11
LABEL_FONT = 10
CHAR_WIDTH = 0.62  # of the font size: DejaVu Sans' mean advance, with room to spare


@dataclass(frozen=True)
class Placed:
    """A gene model drawn in row `row`, occupying [left, right) with its label."""

    transcript: Transcript
    label: str
    row: int
    left: float
    right: float
    label_left: float


def _tracks(run_dir: Path) -> tuple[list[str], dict[str, Path], Path | None]:
    summary, files = finished_run(run_dir)
    features = summary.model_features or []
    paths = {f: files.bigwig(f) for f in features if files.bigwig(f).is_file()}
    if not paths:
        raise DataError(f"{run_dir}: no bigWig tracks (was it run with --no-bigwig?)")
    genes = files.genes_gff3 if files.genes_gff3.is_file() else None
    return [f for f in features if f in paths], paths, genes


def one_per_gene(annotation: Annotation, record: str, start: int, end: int) -> list[tuple[Transcript, str]]:
    """The coding and lncRNA genes overlapping [start, end): each gene's transcript with the
    longest CDS (then the longest span), with the gene's label; by position."""
    best: dict[str, Transcript] = {}
    for t in annotation.on(record):
        if t.end <= start or t.start >= end or t.biotype not in (CODING, LNCRNA):
            continue
        key = t.gene_id or t.id
        size = (sum(e - s for s, e in t.cds), t.end - t.start)
        old = best.get(key)
        if old is None or size > (sum(e - s for s, e in old.cds), old.end - old.start):
            best[key] = t
    return sorted(((t, annotation.name_of(t)) for t in best.values()), key=lambda item: (item[0].start, item[0].end))


def pack_rows(genes: list[tuple[Transcript, str]], start: int, end: int, bases_per_char: float) -> list[Placed]:
    """Greedy rows: each gene goes in the first row where neither it nor its label (centred under
    the gene, kept inside the view) touches what is already there."""
    gap = 2 * bases_per_char
    row_ends: list[float] = []
    placed = []
    for transcript, label in genes:
        label_width = len(label) * bases_per_char
        centre = (max(transcript.start, start) + min(transcript.end, end)) / 2
        label_left = min(max(centre - label_width / 2, start), end - label_width)
        left = min(max(transcript.start, start), label_left)
        right = max(min(transcript.end, end), label_left + label_width)
        row = next((i for i, used in enumerate(row_ends) if used + gap <= left), len(row_ends))
        if row == len(row_ends):
            row_ends.append(right)
        row_ends[row] = right
        placed.append(Placed(transcript, label, row, left, right, label_left))
    return placed


def _bases_per_char(start: int, end: int) -> float:
    """How many bases a label character spans: the plot area is about 85 % of the figure's width."""
    return (end - start) / (WIDTH_INCHES * 72 * 0.85) * LABEL_FONT * CHAR_WIDTH


def _rows(placed: list[Placed]) -> int:
    return max((p.row for p in placed), default=0) + 1


def _draw_models(ax, placed: list[Placed], start: int, end: int, title: str) -> None:
    for item in placed:
        t, y = item.transcript, -item.row
        colour = style_of("protein_coding_gene" if t.biotype == CODING else "lncRNA").rgb
        rgb = tuple(int(c) / 255 for c in colour.split(","))
        ax.plot([max(t.start, start), min(t.end, end)], [y, y], color="0.35", lw=1.0, zorder=1)
        for s, e in t.exons:
            ax.add_patch(_box(s, e, y, 0.14, rgb, alpha=0.5))
        for s, e in t.cds:
            ax.add_patch(_box(s, e, y, 0.24, rgb, alpha=1.0))
        arrow = "\u25b6" if t.strand == "+" else "\u25c0" if t.strand == "-" else ""
        ax.text(item.label_left, y - 0.32, item.label, fontsize=LABEL_FONT, va="top", ha="left", clip_on=True)
        if arrow:
            ax.text(min(t.end, end) if t.strand == "+" else max(t.start, start), y, arrow, fontsize=7,
                    va="center", ha="left" if t.strand == "+" else "right", color=rgb, clip_on=True)
    ax.set_ylim(-_rows(placed) + 0.2, 0.5)
    ax.set_yticks([])
    ax.set_ylabel(title, rotation=0, ha="right", va="center", fontsize=FONT)
    if not placed:
        ax.text((start + end) / 2, 0, "no genes here", ha="center", va="center", fontsize=LABEL_FONT, color="0.5")


def _draw_tracks(axes, features: list[str], paths: dict[str, Path], record: str, start: int, end: int) -> None:
    """One panel per class: its probability over [start, end) in its colour, on a fixed 0-1 scale."""
    positions = np.arange(start, end)
    for ax, feature in zip(axes, features):
        bw = pyBigWig.open(str(paths[feature]))
        values = np.array(bw.values(record, start, end), dtype=np.float64)
        bw.close()
        rgb = tuple(int(c) / 255 for c in style_of(feature).rgb.split(","))
        ax.fill_between(positions, np.nan_to_num(values, nan=0.0), color=rgb, lw=0, step="mid")
        ax.set_ylim(0, 1)
        ax.set_yticks([0, 1])
        ax.set_ylabel(feature, rotation=0, ha="right", va="center", fontsize=FONT)
        ax.tick_params(labelsize=FONT - 2)


def _box(s: int, e: int, y: float, half: float, rgb, alpha: float):
    from matplotlib.patches import Rectangle

    return Rectangle((s, y - half), e - s, 2 * half, color=rgb, alpha=alpha, lw=0, zorder=2)


def plot_region(run_dir: str, region_text: str, output: str, annotation_path: str | None = None) -> Path:
    """Draw the run's tracks and gene models (and the reference's, if given) over one locus.

    Raises:
        UsageError: the region names no record of the run, or runs past its end.
        DataError: the run has no bigWig tracks.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Path(run_dir)
    features, paths, genes_path = _tracks(run)
    first = pyBigWig.open(str(paths[features[0]]))
    chroms = first.chroms()
    first.close()
    region = resolve_region(region_text, chroms)
    if region.record not in chroms:
        raise UsageError(f"--region {region_text}: no record named {region.record!r} in {paths[features[0]]}")
    end = region.end if region.end is not None else chroms[region.record]
    if end > chroms[region.record]:
        raise UsageError(f"--region {region_text}: end {end} is beyond record {region.record} (length {chroms[region.record]})")
    start = region.start
    sources = [("genoseg", genes_path)] if genes_path is not None else []
    sources += [("reference", Path(annotation_path))] if annotation_path else []
    panels = [(title, pack_rows(one_per_gene(read_annotation(path), region.record, start, end), start, end,
                                _bases_per_char(start, end))) for title, path in sources]
    heights = [0.55] * len(features) + [0.45 * _rows(placed) + 0.35 for _, placed in panels]
    fig, axes = plt.subplots(len(heights), 1, figsize=(WIDTH_INCHES, sum(heights) + 1.2), sharex=True,
                             gridspec_kw={"height_ratios": heights, "hspace": 0.12})
    axes = np.atleast_1d(axes)
    _draw_tracks(axes, features, paths, region.record, start, end)
    for ax, (title, placed) in zip(axes[len(features):], panels):
        _draw_models(ax, placed, start, end, title)
    for ax in axes:
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[-1].set_xlim(start, end)
    axes[-1].tick_params(labelsize=FONT - 1)
    axes[-1].xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{int(x) + 1:,}"))
    axes[-1].set_xlabel(f"{region.record} (bp)", fontsize=FONT)
    fig.suptitle(f"{region.record}:{start + 1:,}-{end:,} ({(end - start) / 1000:g} kb): genoseg class probabilities"
                 f"{' and gene models' if panels else ''}", fontsize=FONT + 3, x=0.02, ha="left")
    fig.subplots_adjust(left=0.15, right=0.985, top=1 - 0.55 / (sum(heights) + 1.2), bottom=0.6 / (sum(heights) + 1.2))
    out = Path(output)
    tmp = out.with_name(f".{out.name}.genoseg-partial.png")
    fig.savefig(tmp, dpi=150)
    plt.close(fig)
    tmp.replace(out)
    return out
