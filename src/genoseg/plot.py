"""`genoseg plot`: per-class probability tracks over a locus with reference gene models beneath."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyBigWig

from genoseg.annotation import CODING, LNCRNA, Annotation, read_annotation
from genoseg.errors import DataError, UsageError
from genoseg.outputs import finished_run
from genoseg.regions import resolve_region
from genoseg.writers import style_of


def _tracks(run_dir: Path) -> tuple[list[str], dict[str, Path]]:
    summary, files = finished_run(run_dir)
    features = summary.model_features or []
    paths = {f: files.bigwig(f) for f in features if files.bigwig(f).is_file()}
    if not paths:
        raise DataError(f"{run_dir}: no bigWig tracks (was it run with --no-bigwig?)")
    return [f for f in features if f in paths], paths


def _draw_models(ax, annotation: Annotation, record: str, start: int, end: int) -> int:
    transcripts = [t for t in annotation.on(record) if t.end > start and t.start < end and t.biotype in (CODING, LNCRNA)]
    for row, t in enumerate(transcripts):
        y = -row
        ax.plot([max(t.start, start), min(t.end, end)], [y, y], color="0.4", lw=0.8, zorder=1)
        colour = style_of("protein_coding_gene" if t.biotype == CODING else "lncRNA").rgb
        rgb = tuple(int(c) / 255 for c in colour.split(","))
        for s, e in t.exons:
            ax.add_patch(_box(s, e, y, 0.25, rgb, alpha=0.45))
        for s, e in t.cds:
            ax.add_patch(_box(s, e, y, 0.4, rgb, alpha=1.0))
        label_x = min(max(t.start, start), end)
        ax.text(label_x, y + 0.3, f"{t.id} ({t.strand})", fontsize=6, va="bottom", clip_on=True)
    ax.set_ylim(-max(len(transcripts), 1) + 0.3, 0.9)
    ax.set_yticks([])
    return len(transcripts)


def _box(s: int, e: int, y: float, half: float, rgb, alpha: float):
    from matplotlib.patches import Rectangle

    return Rectangle((s, y - half), e - s, 2 * half, color=rgb, alpha=alpha, lw=0, zorder=2)


def plot_region(run_dir: str, region_text: str, output: str, annotation_path: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Path(run_dir)
    features, paths = _tracks(run)
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
    positions = np.arange(start, end)
    annotation = read_annotation(annotation_path) if annotation_path else None
    rows = len(features) + (1 if annotation else 0)
    heights = [1.0] * len(features) + ([2.0] if annotation else [])
    fig, axes = plt.subplots(rows, 1, figsize=(12, 0.75 * sum(heights) + 1), sharex=True,
                             gridspec_kw={"height_ratios": heights})
    axes = np.atleast_1d(axes)
    for ax, feature in zip(axes, features):
        bw = pyBigWig.open(str(paths[feature]))
        values = np.array(bw.values(region.record, start, end), dtype=np.float64)
        bw.close()
        rgb = tuple(int(c) / 255 for c in style_of(feature).rgb.split(","))
        ax.fill_between(positions, np.nan_to_num(values, nan=0.0), color=rgb, lw=0, step="mid")
        ax.set_ylim(0, 1)
        ax.set_yticks([0, 1])
        ax.set_ylabel(feature, rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(labelsize=7)
    if annotation:
        _draw_models(axes[-1], annotation, region.record, start, end)
        axes[-1].set_ylabel("reference", rotation=0, ha="right", va="center", fontsize=8)
    axes[-1].set_xlim(start, end)
    axes[-1].set_xlabel(f"{region.record}:{start + 1:,}-{end:,}")
    fig.suptitle(f"genoseg {run.name}", fontsize=9)
    fig.tight_layout()
    out = Path(output)
    tmp = out.with_name(f".{out.name}.genoseg-partial.png")
    fig.savefig(tmp, dpi=130)
    plt.close(fig)
    tmp.replace(out)
    return out
