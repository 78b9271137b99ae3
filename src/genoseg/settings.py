"""`genoseg annotate`'s options, checked, and the settings resolved from them and the model.

Everything a run needs to know before it reads the genome: numeric bounds, thresholds per class,
the window and overlap, the gene decoder's parameters, and the files it reads and writes.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from genoseg.errors import DataError, UsageError
from genoseg.genes.columns import Columns
from genoseg.genes.parameters import FILE_NAME as GENE_PARAMETERS_FILE, GeneParameters
from genoseg.genes.site_models import SITE_CLASSIFIER_FILE
from genoseg.model.limits import MAX_WINDOW_NT
from genoseg.outputs import RunFiles, track_classes
from genoseg.tiling import check_tiling

DEFAULT_UNIT_BASES = 1_000_000  # bases per --resume unit
# bigWig values are stored rounded to this: 4-6 times smaller files (docs/performance.md "Track size")
DEFAULT_BIGWIG_PRECISION = 0.01
ID_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,29}")


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
    batch_size: int | None = None  # None: default_batch_size(model, device)
    device: str = "auto"
    threads: int | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    default_threshold: float = 0.5
    min_length: int = 1
    min_segment_length: int = 120
    stdout_format: str = "gff3"
    bigwig: bool = True
    bigwig_classes: list[str] | None = None  # None: a bigWig for every class
    bigwig_precision: float = DEFAULT_BIGWIG_PRECISION  # 0: float32 exactly as the model gave them
    track_line: bool = True
    strands: str = "forward"  # or "both": average each window with its reverse complement
    gene_models: bool = True
    gene_parameters: str | None = None  # default: the model directory's gene_model.json
    proteins: str | None = None  # FASTA of translated gene models
    cds: str | None = None  # FASTA of their coding sequences, named as the proteins
    min_intron: int | None = None
    min_exon: int | None = None
    shard: tuple[int, int] | None = None  # (i, N), 1-based: this job's part of the genome
    min_contig_length: int = 0  # whole records shorter than this are skipped
    resume: bool = False  # keep completed units in OUTPUT/.genoseg-resume and continue from them
    resume_unit: int = DEFAULT_UNIT_BASES  # bases per resumable unit
    force: bool = False  # replace files in the output directory that no genoseg run wrote
    adapt: bool = False  # refit the decoder's sequence models on this genome and decode again
    id_prefix: str | None = None  # gene IDs PREFIX_000001 (locus tags) instead of gene1
    softmasking: bool = False  # soft-masked (lower-case) bases cost the decoder when coding
    locus_score: bool = False  # drop decoded genes the gene parameters' locus score calls transposon ORFs


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
    if not 0 <= options.bigwig_precision <= 0.5:
        raise UsageError(f"--bigwig-precision {options.bigwig_precision}: must be from 0 (exact) to 0.5")
    if options.id_prefix is not None and not ID_PREFIX.fullmatch(options.id_prefix):
        raise UsageError(f"--id-prefix {options.id_prefix!r}: use 1-30 letters, digits or '_', starting with a letter "
                         "(a locus-tag prefix such as AT1G)")
    if options.adapt:
        if options.shard:
            raise UsageError("--adapt learns from the whole genome's gene models: annotate the shards without it, "
                             "`genoseg merge` them, then `genoseg adapt` the merged directory")
        if options.output == "-" or not options.bigwig or not options.gene_models:
            raise UsageError("--adapt re-decodes the run's bigWig tracks into gene models: it needs -o DIR, "
                             "bigWigs and gene models (drop -o -, --no-bigwig or --no-gene-models)")


DEFAULT_BATCH_SIZE = 8


def default_batch_size(model, device) -> int:
    """--batch-size when none is given: 8 windows for SegmentNT models; for SegmentEnformer and
    SegmentBorzoi, one window on CPU (peak memory about 4.7 GB, docs/performance.md) and
    their config's `genoseg_cuda_batch_size` on a GPU."""
    on_gpu = getattr(model.config, "genoseg_cuda_batch_size", None)
    if on_gpu is None:
        return DEFAULT_BATCH_SIZE
    return on_gpu if device.type == "cuda" else 1


def resolve_model(name: str | None) -> str:
    if name:
        return name
    if (BUNDLED_MODEL / "config.json").is_file():
        return str(BUNDLED_MODEL)
    raise DataError("no bundled model is installed; pass --model DIR (or segment_nt from the Hugging Face cache)")


def load_gene_parameters(options: AnnotateOptions, model_name: str) -> GeneParameters:
    """The decoder's sequence models: --gene-parameters, else the model's own, else neutral."""
    path = Path(options.gene_parameters) if options.gene_parameters else Path(model_name) / GENE_PARAMETERS_FILE
    if options.gene_parameters and not path.is_file():
        raise UsageError(f"{path}: no such gene-parameter file")
    try:
        params = GeneParameters.load(path) if path.is_file() else GeneParameters()
    except (ValueError, TypeError, KeyError) as exc:
        raise DataError(f"{path}: not a genoseg gene-parameter file ({exc})") from None
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


def check_track_classes(options: AnnotateOptions, features: list[str], genes: bool) -> list[str]:
    """The classes that get a bigWig; --bigwig-classes must name the model's classes, and with
    --adapt include every class the gene decoder reads (it re-decodes them).

    Raises:
        UsageError: an unknown class, or a class --adapt needs left out.
    """
    unknown = [c for c in options.bigwig_classes or [] if c not in features]
    if unknown:
        raise UsageError(f"--bigwig-classes: the model has no class {unknown[0]!r} (classes: {', '.join(features)})")
    tracks = track_classes(asdict(options), features)
    columns = Columns.of(features)
    if options.adapt and genes and columns is not None:
        missing = [features[c] for c in columns.used() if features[c] not in tracks]
        if missing:
            raise UsageError(f"--adapt re-decodes the gene decoder's classes from their bigWigs: add "
                             f"{','.join(missing)} to --bigwig-classes")
    return tracks


def planned_outputs(options: AnnotateOptions, features: list[str], genes: bool) -> list[Path]:
    """Every file a run into a directory will write (the proteins FASTA may lie elsewhere)."""
    files = RunFiles.of(options.output, options.fasta)
    tracks = check_track_classes(options, features, genes)
    paths = files.planned(tracks, genes=genes and options.gene_models)
    if options.adapt:
        paths += [files.adapted_parameters, files.directory / SITE_CLASSIFIER_FILE]
    return paths + [Path(p) for p in (options.proteins, options.cds) if p]


def run_inputs(options: AnnotateOptions, model_name: str) -> list[Path]:
    """The files a run reads, which no output may replace."""
    fasta = Path(options.fasta)
    inputs = [fasta, Path(f"{fasta}.fai"), Path(f"{fasta}.gzi")]
    if options.gene_parameters:
        inputs.append(Path(options.gene_parameters))
    if Path(model_name).is_dir():
        inputs.append(Path(model_name))
    return inputs


@dataclass
class RunSettings:
    """What a run uses, resolved from its options and its model."""

    model_name: str
    features: list[str]
    window: int
    overlap: int
    thresholds: dict[str, float]  # per class

    def header(self, min_length: int, version: str) -> dict:
        """The provenance comment every GFF3 output carries."""
        return {"genoseg": version, "model": self.model_name, "window": self.window, "overlap": self.overlap,
                "thresholds": ",".join(f"{k}:{v}" for k, v in self.thresholds.items()), "min_length": min_length}


def resolve_settings(options: AnnotateOptions, model_name: str, features: list[str], default_window: int,
                     default_overlap: int, max_window: int | None = None) -> RunSettings:
    """Window, overlap and per-class thresholds: the options' where given, else the model's.

    Raises:
        UsageError: a window/overlap pair that cannot tile, a window longer than the model
            predicts at once (`max_window`: SegmentBorzoi's predicted span), or an unknown
            --strands value.
    """
    window = options.window if options.window is not None else default_window
    if max_window is not None and window > max_window:
        raise UsageError(f"--window {window}: this model predicts at most {max_window:,} bases per window")
    overlap = options.overlap if options.overlap is not None else (
        default_overlap if options.window is None else window // 4
    )
    check_tiling(window, overlap, options.min_segment_length)
    if options.strands not in ("forward", "both"):
        raise UsageError(f"strands must be forward or both, not {options.strands!r}")
    if not options.thresholds and options.default_threshold == 0.5:
        thresholds = {}
    else:
        thresholds = dict(options.thresholds)
    thresholds = {f: thresholds.get(f, options.default_threshold) for f in features}
    return RunSettings(model_name, features, window, overlap, thresholds)
