"""`genoseg adapt RUN_DIR` (and `annotate --adapt`): gene models re-decoded with sequence models
refitted on the run's own genome, without any annotation of it (see genes/adapt.py).

A finished run directory holds everything adaptation needs: the per-class bigWigs (float32, the
values the decoder saw) and run.json naming the FASTA, model and options. Each round streams the
tracks back from the bigWigs record by record, in chunks, so memory stays bounded. The new gene
models (and proteins), the adapted gene_model.json and run.json then replace the old ones as one
set; the other files of the run are unchanged. A sharded run is adapted after `genoseg merge`,
since adaptation learns from the whole genome's confident genes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pyBigWig

from genoseg import __version__
from genoseg.errors import DataError, UsageError
from genoseg.fasta import FastaReader, content_fingerprint
from genoseg.genes.adapt import AdaptSettings, Adaptation, adapt
from genoseg.genes.columns import Columns
from genoseg.genes.models import GeneModel
from genoseg.genes.parameters import GeneParameters
from genoseg.genes.site_models import SITE_CLASSIFIER_FILE
from genoseg.genes.stream import GeneDecoder
from genoseg.outputs import RunFiles, check_targets, commit_set, finished_run
from genoseg.settings import AnnotateOptions, load_gene_parameters
from genoseg.stitching import Track
from genoseg.summary import RunSummary
from genoseg.writers import AtomicFile, GeneGff3Writer, GeneGtfWriter, GeneIds, ProteinWriter, TextOutput

CHUNK = 1 << 20  # bases read from each bigWig at a time


def decode_run(files: RunFiles, features: list[str], reader: FastaReader, params: GeneParameters,
               softmasking: bool = False, locus_score: bool = False) -> list[GeneModel]:
    """Gene models decoded from a run's bigWigs with `params`: what the run's own streaming
    decoder produced when `params`, `softmasking` and `locus_score` are the run's (and the tracks
    hold its float32 values)."""
    columns = Columns.of(features)
    decoder = GeneDecoder(columns, params, reader.fetch, masked=reader.masked if softmasking else None,
                          locus_score=locus_score)
    handles = {c: _open_track(files.bigwig(features[c])) for c in decoder.keep}
    models: list[GeneModel] = []
    try:
        for record in reader.records:
            if record.length == 0 or record.name not in handles[decoder.keep[0]].chroms():
                continue
            inside = False  # the last base read belongs to a segment still being fed
            for lo in range(0, record.length, CHUNK):
                hi = min(lo + CHUNK, record.length)
                values = np.zeros((hi - lo, len(features)), dtype=np.float32)
                for c, handle in handles.items():
                    values[:, c] = handle.values(record.name, lo, hi, numpy=True)
                valid = ~np.isnan(values[:, decoder.keep[0]])
                edges = np.flatnonzero(np.diff(np.concatenate(([0], valid.astype(np.int8), [0]))))
                for s, e in zip(edges[0::2].tolist(), edges[1::2].tolist()):
                    if inside and s > 0:
                        models += decoder.end_segment()
                    models += decoder.feed(Track(record.name, lo + s, values[s:e]))
                    inside = True
                    if e < hi - lo:
                        models += decoder.end_segment()
                        inside = False
            if inside:
                models += decoder.end_segment()
    finally:
        for handle in handles.values():
            handle.close()
    return models


BIGWIG_MAGIC = (0x888FFC26).to_bytes(4, "little")


def _open_track(path: Path):
    """A run's bigWig, opened; checked for the bigWig signature first, as libBigWig prints its
    own complaints to stderr."""
    try:
        with open(path, "rb") as probe:
            signed = probe.read(4) == BIGWIG_MAGIC
        handle = pyBigWig.open(str(path)) if signed else None
    except (OSError, RuntimeError):
        handle = None
    if handle is None or not handle.isBigWig():
        raise DataError(f"{path}: not a readable bigWig track")
    return handle


def _starting_parameters(summary: RunSummary) -> GeneParameters:
    options = AnnotateOptions(fasta=summary.input, **{k: v for k, v in (summary.options or {}).items()
                                                      if k in AnnotateOptions.__dataclass_fields__})
    return load_gene_parameters(options, summary.model or "")


def _check_run(directory: Path) -> tuple[RunSummary, RunFiles]:
    summary, files = finished_run(directory)
    features = summary.model_features or []
    if Columns.of(features) is None:
        raise UsageError(f"{directory}: the run's model has no exon, intron and protein_coding_gene classes to decode")
    needed = [features[c] for c in Columns.of(features).used()]
    missing = [files.bigwig(f).name for f in needed if not files.bigwig(f).is_file()]
    if missing:
        raise UsageError(f"{directory}: adaptation re-decodes the run's bigWig tracks, and {missing[0]} is missing "
                         "(annotate without --no-bigwig, with every gene class in --bigwig-classes)")
    if summary.shard:
        raise UsageError(f"{directory}: a shard; adaptation learns from the whole genome: "
                         "`genoseg merge` the shards first, then adapt the merged directory")
    if not Path(summary.input).is_file():
        raise DataError(f"{summary.input}: the run's FASTA is not there any more")
    if summary.input_fingerprint and content_fingerprint(summary.input) != summary.input_fingerprint:
        raise DataError(f"{summary.input}: changed since the run in {directory}; annotate it again")
    return summary, files


def adapt_run(directory: str | Path, settings: AdaptSettings = AdaptSettings(), first: list[GeneModel] | None = None,
              force: bool = False, log: Callable[[str], None] = lambda _: None) -> RunSummary:
    """Adapt the gene models of the finished run in `directory`; returns its new run.json.

    Args:
        first: the run's gene models, when the caller still has them (saves a decoding round).

    Raises:
        UsageError: not a run that can be adapted (no bigWigs, a shard, a model without gene classes).
        DataError: the FASTA is gone or changed since the run.
    """
    directory = Path(directory)
    summary, files = _check_run(directory)
    targets = [files.genes_gff3, files.genes_gtf, files.adapted_parameters, files.directory / SITE_CLASSIFIER_FILE]
    inputs = [Path(summary.input)] + ([Path(summary.model)] if summary.model and Path(summary.model).is_dir() else [])
    sequences = [Path(f) for f in (summary.proteins_file, summary.cds_file) if f]
    check_targets(targets + sequences, inputs, directory, force)
    started = time.time()
    start = _starting_parameters(summary)
    features = summary.model_features or []
    softmasking = bool((summary.options or {}).get("softmasking"))
    locus_score = bool((summary.options or {}).get("locus_score"))
    with FastaReader(summary.input) as reader:
        def decode(params: GeneParameters) -> list[GeneModel]:
            return decode_run(files, features, reader, params, softmasking, locus_score)

        # Decoded again from the tracks, the first round can differ from the run's own gene models
        # where the tracks were stored rounded (--bigwig-precision), mostly at UTR ends.
        redecoded = first is None
        first = first if first is not None else decode(start)
        result = adapt(start, first, decode, reader, settings, log)
        if not result.rounds:
            log(f"adaptation skipped: {result.note}")
        records = reader.records
    # Adaptation skipped: the run's gene models stay as they are, not replaced by a re-decoding.
    moves = _write_outputs(summary, files, records, result, genes=bool(result.rounds) or not redecoded)
    summary.adaptation = {**result.as_dict(), "seconds": round(time.time() - started, 1)}
    summary.counts.gene_models = {"protein_coding": sum(m.biotype == "protein_coding" for m in result.models),
                                  "lncRNA": sum(m.biotype == "lncRNA" for m in result.models)}
    commit_set(directory, moves, summary)
    return summary


def _write_outputs(summary: RunSummary, files: RunFiles, records, result: Adaptation,
                   genes: bool = True) -> list[tuple[Path, Path]]:
    """The adapted gene_model.json and (with `genes`) gene GFF3, GTF and sequences under temporary
    names; their renames."""
    moves = _write_gene_files(summary, files, records, result) if genes else []
    parameters = AtomicFile(files.adapted_parameters)
    classifier = AtomicFile(files.directory / SITE_CLASSIFIER_FILE)
    try:
        parameters.tmp.write_text(json.dumps(result.params.as_dict()) + "\n")
        moves.append(parameters.move)
        if result.params.site_classifier is not None:
            result.params.site_classifier.save(classifier.tmp)
            moves.append(classifier.move)
    except BaseException:
        for tmp, _ in moves:
            tmp.unlink(missing_ok=True)
        classifier.discard()
        raise
    return moves


def _write_gene_files(summary: RunSummary, files: RunFiles, records, result: Adaptation) -> list[tuple[Path, Path]]:
    """The adapted gene models as GFF3, GTF and the run's sequence files, under temporary names."""
    header = {"genoseg": __version__, "model": summary.model, "window": summary.window, "overlap": summary.overlap,
              "thresholds": ",".join(f"{k}:{v}" for k, v in summary.thresholds.items()),
              "min_length": (summary.options or {}).get("min_length", 1),
              "adapted": f"{len(result.rounds)} rounds"}
    texts = [TextOutput(files.genes_gff3), TextOutput(files.genes_gtf)]
    sequence_outputs = []
    for path, coding in ((summary.proteins_file, False), (summary.cds_file, True)):
        if path:
            texts.append(TextOutput(Path(path)))
            sequence_outputs.append(ProteinWriter(texts[-1], coding))
    try:
        ids = GeneIds((summary.options or {}).get("id_prefix"))
        writers = [GeneGff3Writer(texts[0], records, header, ids), GeneGtfWriter(texts[1], header, ids)]
        for model in result.models:
            for writer in writers:
                transcript = writer.write(model)
            for sequences in sequence_outputs:
                sequences.write(model, transcript)
        for text in texts:
            text.finish()
    except BaseException:
        for text in texts:
            text.discard()
        raise
    return [move for text in texts for move in text.moves()]

