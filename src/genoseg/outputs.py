"""The files of a run: what they are called, whose they are, and how they land as one set.

This is the one module that names a run's files. Every name carries `.genoseg.` after the
FASTA's stem (`genome.genoseg.genes.gff3`), so an output can never be the user's own
`genome.gff3` or `genome.bed` lying beside the input, and a browser's track list tells the two
apart.

A run never writes over a file it did not make:

- an output path equal to an input (the FASTA, its index, the gene parameters, the model) or to
  another output is refused;
- a file already at an output's name is replaced only when the `run.json` in that directory
  lists it (a previous genoseg run wrote it), or with `--force`.

Outputs are written under hidden temporary names and land together (`commit_set`): the old
`run.json` goes first, every file is renamed, and the new `run.json`, which lists exactly this
run's files, comes last. SIGINT and SIGTERM are held back for those few renames, so a stopped
run leaves either the whole previous set or the whole new one. A journal written before the
renames lets the next genoseg run on the directory finish them after a hard kill (SIGKILL,
power loss): a directory whose `run.json` is present is always complete.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from genoseg import stopping
from genoseg.errors import DataError, UsageError
from genoseg.summary import RunSummary

SUMMARY_FILE = "run.json"
JOURNAL_FILE = ".genoseg-commit.json"
TAG = "genoseg"
FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas", ".ffn", ".seq")
COMPRESSION_SUFFIXES = (".gz", ".bgz", ".bgzf")


def output_stem(fasta: str | os.PathLike[str]) -> str:
    """The FASTA's file name without its compression and FASTA suffixes (`genome.fa.gz` → `genome`)."""
    name = Path(fasta).name
    for suffixes in (COMPRESSION_SUFFIXES, FASTA_SUFFIXES):
        for suffix in suffixes:
            if name.lower().endswith(suffix):
                name = name[: -len(suffix)]
                break
    return name or "genoseg"


def file_name_part(text: str) -> str:
    """A class name fit for a file name or a GFF3 ID: letters, digits, '.', '_'; the rest '_'."""
    return "".join(c if c.isalnum() or c in "._" else "_" for c in text)


@dataclass(frozen=True)
class RunFiles:
    """The names of one run's files in its output directory."""

    directory: Path
    stem: str

    @classmethod
    def of(cls, directory: str | os.PathLike[str], fasta: str | os.PathLike[str]) -> "RunFiles":
        return cls(Path(directory), output_stem(fasta))

    def _named(self, suffix: str) -> Path:
        return self.directory / f"{self.stem}.{TAG}.{suffix}"

    @property
    def intervals_gff3(self) -> Path:
        return self._named("intervals.gff3")

    @property
    def intervals_bed(self) -> Path:
        return self._named("intervals.bed")

    @property
    def genes_gff3(self) -> Path:
        return self._named("genes.gff3")

    @property
    def genes_gtf(self) -> Path:
        return self._named("genes.gtf")

    @property
    def igv_session(self) -> Path:
        return self._named("igv_session.xml")

    def bigwig(self, feature: str) -> Path:
        return self._named(f"{file_name_part(feature)}.bw")

    @property
    def summary(self) -> Path:
        return self.directory / SUMMARY_FILE

    @property
    def adapted_parameters(self) -> Path:
        """The gene_model.json that `genoseg adapt` fitted to this run's genome."""
        return self._named("gene_model.json")

    def planned(self, tracks: list[str], *, genes: bool) -> list[Path]:
        """Every file a run writes in the directory, run.json included, given the classes that
        get a bigWig (`tracks`) and whether it writes gene models."""
        paths = [self.intervals_gff3, self.intervals_bed]
        if genes:
            paths += [self.genes_gff3, self.genes_gtf]
        return paths + [self.bigwig(f) for f in tracks] + [self.igv_session, self.summary]


def track_classes(options: dict, features: list[str]) -> list[str]:
    """The classes a run writes bigWigs for, in the model's order, from its options (as run.json
    holds them): none with --no-bigwig, else those of --bigwig-classes, else all."""
    if not options.get("bigwig", True):
        return []
    chosen = options.get("bigwig_classes")
    return [f for f in features if chosen is None or f in chosen]


def read_summary(path: Path) -> dict | None:
    """A run.json written by genoseg, or None (missing, unreadable, or not genoseg's)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) and "genoseg_version" in data else None


def finished_run(directory: Path) -> tuple[RunSummary, RunFiles]:
    """The summary and files of the finished genoseg run in `directory` (for plot and evaluate).

    Raises:
        UsageError: `directory` holds no run.json.
        DataError: its run.json is unreadable or not genoseg's.
    """
    path = directory / SUMMARY_FILE
    if not path.is_file():
        raise UsageError(f"{directory}: not a genoseg output directory (no {SUMMARY_FILE})")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a genoseg run summary ({exc})") from None
    summary = RunSummary.from_json(path, data, required=("input",))
    return summary, RunFiles(directory, output_stem(summary.input))


def intervals_gff3_in(directory: Path) -> Path:
    """The class-interval GFF3 of a run directory: named by its run.json, or, in a directory
    without one, its only .gff3 that is not gene models (as older runs and hand-made ones have).

    Raises:
        UsageError: no such file, or several candidates.
    """
    if (directory / SUMMARY_FILE).is_file():
        _, files = finished_run(directory)
        if not files.intervals_gff3.is_file():
            raise UsageError(f"{directory}: the run directory has no {files.intervals_gff3.name}")
        return files.intervals_gff3
    found = sorted(p for p in directory.glob("*.gff3") if not p.name.startswith(".") and not p.name.endswith(".genes.gff3"))
    if len(found) != 1:
        raise UsageError(f"{directory}: expected one interval .gff3 in the run directory, found {len(found)}")
    return found[0]


def genes_gff3_in(directory: Path) -> Path | None:
    """The gene-model GFF3 of a finished run directory, or None (run with --no-gene-models, or no run.json)."""
    if not (directory / SUMMARY_FILE).is_file():
        return None
    _, files = finished_run(directory)
    return files.genes_gff3 if files.genes_gff3.is_file() else None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_targets(targets: list[Path], inputs: list[Path], directory: Path | None, force: bool) -> None:
    """Refuse a run that would write over an input, write two outputs to one path, or replace a
    file that no genoseg run made (unless `force`).

    Args:
        targets: every path the run will write (files inside and outside `directory`).
        inputs: every file the run reads; a directory (a model) stands for the files in it.
        directory: the run's output directory, whose run.json says which files are genoseg's.
        force: replace existing files that no genoseg run is known to have written.

    Raises:
        UsageError: naming the first path in conflict.
    """
    for i, target in enumerate(targets):
        for other in targets[:i]:
            if _same_file(target, other):
                raise UsageError(f"{target}: two outputs of this run would have the same path; choose another name")
        for source in inputs:
            if _same_file(target, source) or (source.is_dir() and _same_file(target.parent, source)):
                raise UsageError(f"{target}: this output would overwrite an input of the run; choose another name")
    previous = read_summary(directory / SUMMARY_FILE) if directory is not None else None
    owned: set[Path] = set()
    if previous is not None:
        owned = {(directory / str(name)).resolve() for name in previous.get("outputs") or [] if isinstance(name, str)}
        for name in ("proteins_file", "cds_file"):
            if isinstance(previous.get(name), str):
                owned.add(Path(previous[name]).resolve())
    for target in targets:
        if not (target.exists() or target.is_symlink()) or force:
            continue
        if target.is_dir():
            raise UsageError(f"{target}: a directory is in the way of an output file")
        if target.resolve() not in owned and not (target.name == SUMMARY_FILE and previous is not None):
            raise UsageError(f"{target}: already exists and no earlier genoseg run here wrote it; "
                             "move it away, choose another -o, or pass --force to replace it")


class OutputDirectory:
    """An output directory made on demand, and removed again if a refused run left it empty."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.created = False

    def make(self) -> Path:
        if self.path.exists() and not self.path.is_dir():
            raise DataError(f"{self.path}: output directory is not writable (a file of that name exists)")
        if not self.path.exists():
            try:
                self.path.mkdir(parents=True)
            except OSError as exc:
                raise DataError(f"{self.path}: output directory is not writable (cannot create it: {exc.strerror or exc})") from None
            self.created = True
        probe = self.path / f".genoseg-write-test-{os.getpid()}"
        try:
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise DataError(f"{self.path}: output directory is not writable ({exc.strerror or exc})") from None
        finish_interrupted_commit(self.path)
        return self.path

    def remove_if_empty(self) -> None:
        if self.created:
            try:
                self.path.rmdir()
            except OSError:
                pass  # something is in it: not ours to remove


def finish_interrupted_commit(directory: Path) -> None:
    """Complete the renames of a commit that a hard kill cut short (see the module docstring)."""
    journal = directory / JOURNAL_FILE
    if not journal.is_file():
        return
    try:
        moves = json.loads(journal.read_text())["moves"]
        pairs = [(Path(tmp), Path(final)) for tmp, final in moves]
    except (OSError, ValueError, KeyError, TypeError):
        raise DataError(f"{journal}: unreadable commit journal of an interrupted run; remove it and rerun") from None
    for tmp, final in pairs:
        if tmp.exists():
            os.replace(tmp, final)
    journal.unlink()


def commit_set(directory: Path | None, moves: list[tuple[Path, Path]], summary: RunSummary | None) -> None:
    """Rename every (temporary, final) pair into place as one set, run.json last.

    With a `directory` and a `summary`, the summary is written as its run.json listing the
    files of this set that lie in the directory. A SIGINT/SIGTERM that arrives meanwhile is
    raised once the set is complete, with `completed` set on it so the message can say so.
    """
    moves = list(moves)
    journal = journal_tmp = None
    if directory is not None and summary is not None:
        # A later commit into a finished run (adapt) adds its files to those the run already lists.
        summary.outputs = sorted({f.name for _, f in moves if f.parent.resolve() == directory.resolve()}
                                 | set(summary.outputs or []) | {SUMMARY_FILE})
        tmp = directory / f".{SUMMARY_FILE}.genoseg-partial-{os.getpid()}"
        journal = directory / JOURNAL_FILE
        journal_tmp = directory / f".{JOURNAL_FILE}.genoseg-partial-{os.getpid()}"
        try:
            tmp.write_text(json.dumps(summary.to_json(), indent=2) + "\n")
            moves.append((tmp, directory / SUMMARY_FILE))
            journal_tmp.write_text(json.dumps({"moves": [[str(t.resolve()), str(f.resolve())] for t, f in moves]}) + "\n")
        except OSError:
            tmp.unlink(missing_ok=True)
            journal_tmp.unlink(missing_ok=True)
            raise
    try:
        with stopping.deferred():
            if journal is not None:
                os.replace(journal_tmp, journal)
                # Without its run.json the directory reads as incomplete until the last rename.
                (directory / SUMMARY_FILE).unlink(missing_ok=True)
            for tmp, final in moves:
                os.replace(tmp, final)
            if journal is not None:
                journal.unlink()
    except (KeyboardInterrupt, stopping.Terminated) as exc:
        exc.completed = str(directory) if directory is not None else "the output"  # type: ignore[attr-defined]
        raise
