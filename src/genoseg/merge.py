"""`genoseg merge`: the output directories of shards (or of resume units) → the files one run writes.

Parts hold whole N-free segments in genome order, so every file is the concatenation of the
parts' bodies under the first part's header. Only identifiers need care: each part numbers its
intervals (`exon_1`, …) and genes (`gene1`, …) from one, and a single run numbers them across the
genome, so each part's numbers are shifted by the counts of the parts before it. bigWig values
are copied as stored (float32), so merged tracks equal a single run's exactly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote

import numpy as np

from genoseg.errors import DataError, UsageError
from genoseg.outputs import OutputDirectory, RunFiles, check_targets, commit_set, output_stem, track_classes
from genoseg.session import initial_locus, write_session
from genoseg.summary import REQUIRED_OF_SHARDS, RunSummary
from genoseg.writers import AtomicFile, GeneIds, TextOutput, is_provenance

# Options that may differ between the parts of one run without changing a single output byte.
# (Not batch_size: it decides which windows are batched together, and with that the last bits of
# every value, and also where shards are cut.)
FREE_OPTIONS = ("output", "proteins", "cds", "shard", "threads", "device", "resume", "resume_unit", "force")
BIGWIG_CHUNK = 1 << 22

_INTERVAL_ID = re.compile(r"ID=(.*)_(\d+)$")


@dataclass
class Part:
    directory: Path
    summary: RunSummary
    files: RunFiles
    proteins: Path | None  # the part's protein FASTA, when it wrote one
    cds: Path | None = None  # ... and its coding-sequence FASTA


def read_part(directory: str | Path) -> Part:
    """A finished annotate output directory (a shard, or a resume unit) and its run.json.

    Raises:
        DataError: no run.json, or one without the fields merging needs.
    """
    directory = Path(directory)
    run = directory / "run.json"
    if not run.is_file():
        raise DataError(f"{directory}: no run.json; not a finished `genoseg annotate` output directory")
    try:
        summary = json.loads(run.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{run}: not a genoseg run summary ({exc})") from None
    summary = RunSummary.from_json(run, summary)
    proteins = summary.proteins_file
    # Relative to the part (resume units); shards record an absolute path.
    return Part(directory, summary, RunFiles(directory, output_stem(summary.input)),
                directory / proteins if proteins else None, directory / summary.cds_file if summary.cds_file else None)


def order_shards(parts: list[Part]) -> list[Part]:
    """Shards 1..N of one run, in order; anything else is refused with the reason."""
    first = parts[0]
    for part in parts:
        shard = part.summary.shard
        if not shard:
            raise UsageError(f"{part.directory}: not a shard (annotated without --shard)")
        RunSummary.from_json(part.directory / "run.json", part.summary.to_json(), REQUIRED_OF_SHARDS)
        if not (isinstance(shard, list) and len(shard) == 2 and all(type(v) is int for v in shard)
                and 1 <= shard[0] <= shard[1]):
            raise DataError(f"{part.directory / 'run.json'}: field 'shard' is not [I, N]")
    count = first.summary.shard[1]
    by_index: dict[int, Part] = {}
    identity = first.summary.identity(FREE_OPTIONS)
    for part in parts:
        shard = part.summary.shard
        if not shard:
            raise UsageError(f"{part.directory}: not a shard (annotated without --shard)")
        if shard[1] != count:
            raise UsageError(f"{part.directory}: shard {shard[0]}/{shard[1]} is not one of {count} like {first.directory}")
        if shard[0] in by_index:
            raise UsageError(f"{part.directory}: shard {shard[0]}/{count} is also in {by_index[shard[0]].directory}")
        other = part.summary.identity(FREE_OPTIONS)
        if other != identity:
            key = next(k for k in identity if identity[k] != other[k])
            if key == "options":
                key = next(k for k in {**identity[key], **other[key]} if identity[key].get(k) != other[key].get(k))
            if key == "input_fingerprint":
                raise UsageError(f"{part.directory}: annotated from different contents of {other['input']} than "
                                 f"{first.directory} (the file changed between the shards' runs); rerun the shards")
            raise UsageError(f"{part.directory}: annotated with a different {key} than {first.directory}; "
                             "shards of one run must share the input, the model and every option but --shard")
        by_index[shard[0]] = part
    missing = [i for i in range(1, count + 1) if i not in by_index]
    if missing:
        raise UsageError(f"shard {missing[0]}/{count} is missing (merge needs every shard of the run)")
    return [by_index[i] for i in range(1, count + 1)]


def _read_header(path: Path) -> list[str]:
    """The genoseg GFF3 header: the lines up to and including the settings comment."""
    header: list[str] = []
    with open(path) as handle:
        for line in handle:
            header.append(line)
            if is_provenance(line):
                return header
    raise DataError(f"{path}: no genoseg header; not a file written by genoseg annotate")


def _body(path: Path) -> Iterator[str]:
    """The feature lines after the header."""
    with open(path) as handle:
        for line in handle:
            if is_provenance(line):
                break
        yield from handle


def _renumber_intervals(line: str, offsets: dict[str, int], seen: dict[str, int]) -> str:
    columns = line.split("\t", 8)
    attrs = columns[8].split(";", 1)
    match = _INTERVAL_ID.match(attrs[0])
    if match is None:
        raise DataError(f"unexpected GFF3 line in a genoseg part: {line.strip()[:120]}")
    key, number = match.group(1), int(match.group(2))
    seen[key] = max(seen.get(key, 0), number)
    if not offsets.get(key):
        return line
    attrs[0] = f"ID={key}_{number + offsets[key]}"
    columns[8] = ";".join(attrs)
    return "\t".join(columns)


def _shift_genes(text: str, offset: int, seen: list[int], ids: GeneIds) -> str:
    def shift(match: re.Match) -> str:
        number = int(match.group(1))
        seen[0] = max(seen[0], number)
        return ids.gene(number + offset)

    return ids.pattern.sub(shift, text)


def _renumber_gene_line(line: str, offset: int, seen: list[int], ids: GeneIds) -> str:
    if line.startswith("#"):
        return line
    columns = line.split("\t", 8)
    columns[8] = _shift_genes(columns[8], offset, seen, ids)
    return "\t".join(columns)


def _renumber_protein_line(line: str, offset: int, seen: list[int], ids: GeneIds) -> str:
    if not line.startswith(">"):
        return line
    # Only the ID and gene= fields: the location after them names a record, which may contain "gene7".
    name, gene, rest = (line[1:].split(" ", 2) + ["", ""])[:3]
    return f">{_shift_genes(name, offset, seen, ids)} {_shift_genes(gene, offset, seen, ids)} {rest}".rstrip(" \n") + "\n"


def _sequence_regions(header: list[str]) -> list[tuple[str, int]]:
    records = []
    for line in header:
        if line.startswith("##sequence-region"):
            name, _start, end = line.split()[1:4]
            records.append((unquote(name), int(end)))  # as the bigWigs name it, unescaped
    return records


def _copy_bigwig(sources: list[Path], target: AtomicFile, records: list[tuple[str, int]], precision: float):
    import pyBigWig

    from genoseg.bigwig import BigWigWriter

    writer = BigWigWriter(target.tmp, records, precision)
    handles = [pyBigWig.open(str(path)) for path in sources]
    present = [set(handle.chroms()) for handle in handles]
    try:
        for name, length in records:
            for handle, names in zip(handles, present):
                if name not in names:
                    continue
                for lo in range(0, length, BIGWIG_CHUNK):
                    hi = min(length, lo + BIGWIG_CHUNK)
                    # Each part covers only its own stretch of the genome; the zoom levels answer
                    # "no data here" without decoding a chunk of NaNs.
                    if not handle.stats(name, lo, hi, type="coverage")[0]:
                        continue
                    values = handle.values(name, lo, hi, numpy=True)
                    covered = ~np.isnan(values)
                    if not covered.any():
                        continue
                    # Runs of covered bases: where coverage switches on and off.
                    edges = np.flatnonzero(np.diff(np.concatenate([[False], covered, [False]]).astype(np.int8)))
                    for start, end in zip(edges[::2], edges[1::2]):
                        writer.add(name, lo + int(start), values[start:end])
    except BaseException:
        writer.abort()
        raise
    finally:
        for handle in handles:
            handle.close()
    return writer


def merge_parts(parts: list[Part], output: RunFiles, proteins: str | None,
                summary: RunSummary, cds: str | None = None) -> list[tuple[Path, Path]]:
    """Write the files of one run from `parts` (in genome order) under temporary names.

    Returns:
        The (temporary, final) renames that publish them; `outputs.commit_set` makes them land
        together with run.json. On any error the temporary files are removed.
    """
    first = parts[0].files
    texts: list[TextOutput] = []
    bigwigs: list[tuple[AtomicFile, object]] = []
    try:
        header = _read_header(first.intervals_gff3)
        records = _sequence_regions(header)
        out = TextOutput(output.intervals_gff3)
        texts.append(out)
        out.write("".join(header))
        offsets: dict[str, int] = {}
        for part in parts:
            seen: dict[str, int] = {}
            for line in _body(part.files.intervals_gff3):
                out.write(_renumber_intervals(line, offsets, seen))
            for key, count in seen.items():
                offsets[key] = offsets.get(key, 0) + count
        if first.intervals_bed.is_file():
            out = TextOutput(output.intervals_bed)
            texts.append(out)
            for i, part in enumerate(parts):
                with open(part.files.intervals_bed) as handle:
                    for line in handle:
                        if i == 0 or not line.startswith("track "):
                            out.write(line)
        if first.genes_gff3.is_file():
            texts += _merge_genes(parts, output, proteins, GeneIds(summary.options.get("id_prefix")), cds)
        elif proteins or cds:
            raise UsageError(f"{parts[0].directory}: has no gene models, so there are no proteins to merge")
        precision = summary.options.get("bigwig_precision", 0.0)
        for feature in track_classes(summary.options, summary.model_features):
            target = AtomicFile(output.bigwig(feature))
            bigwigs.append((target, _copy_bigwig([p.files.bigwig(feature) for p in parts], target, records, precision)))
        for text in texts:
            text.finish()
        for _, writer in bigwigs:
            writer.close()
        session = write_session(output, summary.input, track_classes(summary.options, summary.model_features),
                                first.genes_gff3.is_file(), initial_locus(records, summary.options.get("regions")))
    except BaseException:
        for text in texts:
            text.discard()
        for target, writer in bigwigs:
            writer.abort()
            target.discard()
        raise
    return [move for text in texts for move in text.moves()] + [target.move for target, _ in bigwigs] + [session]


def _merge_genes(parts: list[Part], output: RunFiles, proteins: str | None, ids: GeneIds,
                 cds: str | None = None) -> list[TextOutput]:
    """Gene models (GFF3, GTF where the parts have it, proteins) of every part, renumbered across the genome."""
    texts = [TextOutput(output.genes_gff3)]
    out = texts[0]
    try:
        out.write("".join(_read_header(parts[0].files.genes_gff3)))
        gtf_out = None
        if parts[0].files.genes_gtf.is_file():
            gtf_out = TextOutput(output.genes_gtf)
            texts.append(gtf_out)
            gtf_out.write("".join(_read_header(parts[0].files.genes_gtf)))
        protein_out = cds_out = None
        if proteins:
            protein_out = TextOutput(Path(proteins))
            texts.append(protein_out)
        if cds:
            cds_out = TextOutput(Path(cds))
            texts.append(cds_out)
        offset = 0
        for part in parts:
            seen = [0]
            for line in _body(part.files.genes_gff3):
                out.write(_renumber_gene_line(line, offset, seen, ids))
            if gtf_out is not None:
                for line in _body(part.files.genes_gtf):
                    gtf_out.write(_renumber_gene_line(line, offset, [0], ids))
            if protein_out is not None:
                if part.proteins is None or not part.proteins.is_file():
                    raise UsageError(f"{part.directory}: wrote no proteins (annotate it with --proteins)")
                with open(part.proteins) as handle:
                    for line in handle:
                        protein_out.write(_renumber_protein_line(line, offset, seen, ids))
            if cds_out is not None:
                if part.cds is None or not part.cds.is_file():
                    raise UsageError(f"{part.directory}: wrote no coding sequences (annotate it with --cds)")
                with open(part.cds) as handle:
                    for line in handle:
                        cds_out.write(_renumber_protein_line(line, offset, [0], ids))
            offset += seen[0]
    except BaseException:
        for text in texts:
            text.discard()
        raise
    return texts


def merged_summary(parts: list[Part], output: Path, proteins: str | None, cds: str | None = None) -> RunSummary:
    """run.json of the whole run: counts and timings summed over the parts, the description from the first."""
    first = parts[0].summary
    counts, timings = first.counts, first.timings
    for part in parts[1:]:
        counts, timings = counts + part.summary.counts, timings + part.summary.timings
    summary = replace(first, counts=counts, timings=timings, shard=None, records_in_shard=None,
                      merged_from=[str(p.directory) for p in parts], outputs=None,
                      options={**first.options, "shard": None, "output": str(output), "proteins": proteins, "cds": cds},
                      proteins_file=str(Path(proteins).resolve()) if proteins else None,
                      cds_file=str(Path(cds).resolve()) if cds else None)
    rates = timings.rates(counts.bases_annotated)
    summary.bases_per_second, summary.outside_model_share = rates["bases_per_second"], rates["outside_model_share"]
    return summary


def merge_shards(directories: list[str], output: str, proteins: str | None = None, force: bool = False,
                 cds: str | None = None) -> RunSummary:
    """`genoseg merge`: shards 1..N of one annotate run → the files a single run writes."""
    if not directories:
        raise UsageError("give the shard output directories to merge")
    out = Path(output)
    for directory in directories:
        if Path(directory).resolve() == out.resolve():
            raise UsageError(f"{output}: the merge output must not be one of the shard directories")
    parts = order_shards([read_part(d) for d in directories])
    summary = merged_summary(parts, out, proteins, cds)
    files = RunFiles(out, parts[0].files.stem)
    genes = parts[0].files.genes_gff3.is_file()
    targets = files.planned(track_classes(summary.options, summary.model_features), genes=genes)
    inputs = [p.directory for p in parts] + [f for p in parts for f in (p.proteins, p.cds) if f]
    check_targets(targets + [Path(f) for f in (proteins, cds) if f], inputs, out, force)
    directory = OutputDirectory(out)
    directory.make()
    try:
        commit_set(out, merge_parts(parts, files, proteins, summary, cds), summary)
    except BaseException:
        directory.remove_if_empty()
        raise
    return summary
