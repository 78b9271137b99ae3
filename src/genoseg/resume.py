"""`annotate --resume`: a run that survives being killed, in units of whole segments.

The segments a run annotates are grouped, in genome order, into units of about `unit_bases`.
Each unit is written as a complete part directory (the same files a shard writes) under a
temporary name and renamed into place when done, so a unit on disk is always complete; a kill
loses at most the unit in progress. When every unit is done, the parts are merged into the
run's outputs exactly as `genoseg merge` combines shards, and the state directory is removed.
A manifest holds the fingerprint of the input, options and model; a resumed run with any of
them changed would mix two different annotations, so it is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import torch

from genoseg.errors import UsageError
from genoseg.merge import Part, read_part
from genoseg.outputs import commit_set
from genoseg.planning import Span, Target, span_key, span_length
from genoseg.settings import AnnotateOptions
from genoseg.sinks import Sink
from genoseg.summary import Counts, RunSummary
from genoseg.tiling import Window

STATE_DIR = ".genoseg-resume"
# Options that may change between a killed run and its resumption without changing the outputs.
FREE_OPTIONS = ("threads", "output", "force")


def model_fingerprint(model: torch.nn.Module) -> str:
    """A digest of the configuration and a strided sample of every weight tensor.

    Sampling keeps this to milliseconds for a 500 M-parameter checkpoint; any retrained or
    different checkpoint differs in far more than the sampled values.
    """
    digest = hashlib.sha256()
    config = {k: v for k, v in model.config.to_dict().items() if k not in ("_name_or_path", "transformers_version")}
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for name, tensor in model.state_dict().items():
        flat = tensor.detach().reshape(-1)
        step = max(1, flat.numel() // 4096)
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(flat[::step].float().cpu().numpy().tobytes())
    return digest.hexdigest()


def run_fingerprint(options, model: torch.nn.Module, gene_parameters: dict | None) -> dict:
    """Everything that decides a run's outputs, as a JSON-comparable dict."""
    stat = os.stat(options.fasta)
    chosen = {k: v for k, v in asdict(options).items() if k not in FREE_OPTIONS}
    return {
        "options": json.loads(json.dumps(chosen, default=list)),
        "input_size": stat.st_size,
        "input_mtime_ns": stat.st_mtime_ns,
        "model": model_fingerprint(model),
        "gene_parameters": hashlib.sha256(json.dumps(gene_parameters, sort_keys=True, default=str).encode()).hexdigest(),
    }


def _difference(old: dict, new: dict) -> str:
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            if isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
                return _difference(old[key], new[key])
            if key == "model":
                return "model weights"
            if key.startswith("input"):
                return "input file (it was modified)"
            return f"{key} (was {old.get(key)!r}, now {new.get(key)!r})"
    return "fingerprint"


def plan_units(lengths: list[int], unit_bases: int, blocks: list[int] | None = None) -> list[int]:
    """Unit index of each segment (in order): a unit closes once it holds `unit_bases` bases,
    at the end of a batching block (segments of one block share batches, so one unit)."""
    blocks = blocks if blocks is not None else list(range(len(lengths)))
    units, index, filled = [], 0, 0
    for i, length in enumerate(lengths):
        units.append(index)
        filled += length
        if filled >= unit_bases and (i + 1 == len(lengths) or blocks[i + 1] != blocks[i]):
            index, filled = index + 1, 0
    return units


class ResumeState:
    """The units of one run on disk: which are complete, and where each is written."""

    def __init__(self, output: Path, fingerprint: dict) -> None:
        self.directory = output / STATE_DIR
        manifest = self.directory / "manifest.json"
        if manifest.is_file():
            old = json.loads(manifest.read_text())
            if old != fingerprint:
                raise UsageError(
                    f"{output}: --resume: this run was started with a different {_difference(old, fingerprint)}; "
                    f"rerun with the original arguments, or remove {self.directory} to start over"
                )
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.directory / ".manifest.json.partial"
            tmp.write_text(json.dumps(fingerprint, indent=1) + "\n")
            tmp.replace(manifest)
        # A unit that was being written when the run died is incomplete: start it again.
        for stale in self.directory.glob("unit-*.partial"):
            shutil.rmtree(stale, ignore_errors=True)

    def final(self, unit: int) -> Path:
        return self.directory / f"unit-{unit:06d}"

    def partial(self, unit: int) -> Path:
        return self.directory / f"unit-{unit:06d}.partial"

    def is_done(self, unit: int) -> bool:
        return (self.final(unit) / "run.json").is_file()

    def start(self, unit: int) -> Path:
        path = self.partial(unit)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir()
        return path

    def complete(self, unit: int, summary: RunSummary) -> None:
        """Record a unit as done: its run.json last, then one rename makes the whole directory visible."""
        path = self.partial(unit)
        (path / "run.json").write_text(json.dumps(summary.to_json(), indent=1) + "\n")
        os.replace(path, self.final(unit))

    def parts(self, count: int) -> list[Part]:
        return [read_part(self.final(unit)) for unit in range(count)]

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class UnitRun:
    """A --resume run: segments grouped into units, each committed to the state directory when complete."""

    def __init__(self, state: ResumeState, options: AnnotateOptions, kept: list[Span], block_of: dict[tuple[str, int], int],
                 new_sink: Callable[[AnnotateOptions], Sink]) -> None:
        self.state, self.options, self.new_sink = state, options, new_sink
        keys = [span_key(t, s) for t, s in kept]
        lengths = [span_length(t, s) for t, s in kept]
        # Units end only where a batching block ends, so resumed batches are those of a full run.
        units = plan_units(lengths, options.resume_unit, [block_of[k] for k in keys])
        self.unit_of = dict(zip(keys, units))
        self.last_key = {unit: key for key, unit in zip(keys, units)}  # later segments overwrite earlier
        self.count = units[-1] + 1
        self.reused = sum(state.is_done(u) for u in range(self.count))
        self.bases_done = sum(n for n, u in zip(lengths, units) if state.is_done(u))
        self.unit: int | None = None
        self.sink: Sink | None = None
        self.decode_seconds = 0.0
        self._parts: list[Part] | None = None

    def remaining(self, targets: list[Target]) -> list[Target]:
        """The targets with only the segments of units still to do."""
        out = []
        for target in targets:
            segments = [s for s in target.segments
                        if (unit := self.unit_of.get(span_key(target, s))) is not None and not self.state.is_done(unit)]
            if segments:
                out.append(replace(target, segments=segments))
        return out

    def open(self, window: Window) -> Sink:
        unit = self.unit_of[(window.record, window.keep_start)]
        if unit != self.unit:
            path = self.state.start(unit)
            proteins = str(path / "proteins.faa") if self.options.proteins else None
            cds = str(path / "cds.fna") if self.options.cds else None
            self.unit, self.sink = unit, self.new_sink(replace(self.options, output=str(path), proteins=proteins, cds=cds))
        return self.sink

    def close(self, window: Window) -> None:
        sink = self.sink
        sink.end_segment()
        if self.last_key[self.unit] != (window.record, window.keep_start):
            return
        commit_set(None, sink.outputs.finish(), None)
        self.decode_seconds += sink.decode_seconds
        self.state.complete(self.unit, RunSummary(
            input=str(self.options.fasta), proteins_file="proteins.faa" if self.options.proteins else None,
            cds_file="cds.fna" if self.options.cds else None, counts=sink.counts()))
        self.unit, self.sink = None, None

    def finish(self) -> list[tuple[Path, Path]]:
        return []  # every unit was committed as it completed; merging makes the run's files

    def discard(self) -> None:
        if self.sink is not None:
            self.sink.outputs.discard()

    def parts(self) -> list[Part]:
        """Every unit's part directory, read once when all are complete."""
        if self._parts is None:
            self._parts = self.state.parts(self.count)
        return self._parts

    def counts(self) -> Counts:
        parts = self.parts()
        total = parts[0].summary.counts
        for part in parts[1:]:
            total = total + part.summary.counts
        return total
