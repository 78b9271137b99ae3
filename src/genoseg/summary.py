"""What a run did, as written to its run.json: `RunSummary`, with its `Counts` and `Timings`.

A run's parts (shards, resume units) each have a summary of their own; the run's is their sum
(`Counts + Counts`, `Timings + Timings`) under the description they share. run.json is flat:
the description, the counts, the timings, then what only some runs have (resume, merged_from,
outputs).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from genoseg.errors import DataError


def add_counts(a: dict[str, int] | None, b: dict[str, int] | None) -> dict[str, int] | None:
    """Per-name totals of two count dicts, in the first one's order; None when the first is None."""
    if a is None:
        return None
    total = dict(a)
    for name, count in (b or {}).items():
        total[name] = total.get(name, 0) + count
    return total


@dataclass
class Counts:
    """What a run, or part of one, annotated and skipped; the parts of a run add up to it."""

    bases_in_scope: int = 0
    bases_annotated: int = 0
    bases_skipped_n: int = 0
    records_skipped_short: int = 0
    bases_skipped_short_records: int = 0
    segments_skipped_short: int = 0
    bases_skipped_short: int = 0
    windows: int = 0
    intervals: dict[str, int] = field(default_factory=dict)  # per class
    gene_models: dict[str, int] | None = None  # per biotype; None without gene models

    def __add__(self, other: "Counts") -> "Counts":
        whole = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)
                 if f.name not in ("intervals", "gene_models")}
        return Counts(**whole, intervals=add_counts(self.intervals, other.intervals) or {},
                      gene_models=add_counts(self.gene_models, other.gene_models))


@dataclass
class Timings:
    """Where a run's time went; parts add up, except peak memory, the largest part's."""

    gene_decoder_seconds: float = 0.0
    # Stitching, calling, decoding and writing, on their own thread alongside the forward.
    writer_seconds: float = 0.0
    wall_seconds: float = 0.0
    model_seconds: float = 0.0
    forward_batches: int = 0
    peak_rss_mb: float = 0.0

    def __add__(self, other: "Timings") -> "Timings":
        def add(name: str) -> float:
            return round(getattr(self, name) + getattr(other, name), 2)

        return Timings(add("gene_decoder_seconds"), add("writer_seconds"), add("wall_seconds"), add("model_seconds"),
                       self.forward_batches + other.forward_batches, max(self.peak_rss_mb, other.peak_rss_mb))

    def rates(self, bases: int) -> dict[str, float | None]:
        """bases per second over the wall time, and the share of it spent outside the forward."""
        wall = self.wall_seconds
        return {"bases_per_second": round(bases / wall, 1) if wall > 0 else None,
                "outside_model_share": round(1 - self.model_seconds / wall, 3) if wall > 0 else None}


# The types of the fields merging reads from a part's run.json.
_TYPES = {"input": str, "bases_annotated": int, "windows": int, "intervals": dict, "options": dict,
          "model_features": list}
REQUIRED = ("input", "bases_annotated", "windows", "intervals")  # of every part
REQUIRED_OF_SHARDS = ("options", "model_features")  # ... and of a shard, to check it belongs to the run


@dataclass
class RunSummary:
    """run.json: what was run (input, model, options), what it did (counts) and how long it took."""

    input: str
    genoseg_version: str | None = None
    model: str | None = None
    model_features: list[str] | None = None  # None only in a resume unit's run.json
    input_fingerprint: str | None = None  # content, not path or time: see fasta.content_fingerprint
    options: dict | None = None  # None only in a resume unit's run.json
    window: int | None = None
    overlap: int | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    device: str | None = None
    records: int = 0
    shard: list[int] | None = None  # [i, N] of a --shard run
    records_in_shard: int | None = None
    gene_parameters: dict | str | None = None  # the fitted file's notes, or "neutral ..."
    proteins_file: str | None = None
    cds_file: str | None = None
    counts: Counts = field(default_factory=Counts)
    timings: Timings = field(default_factory=Timings)
    # Bases computed by this process per second: a resumed run's earlier units took no time here.
    bases_per_second: float | None = None
    outside_model_share: float | None = None
    host: str | None = None
    resume: dict | None = None  # {"units", "units_reused"} of a --resume run
    merged_from: list[str] | None = None  # the shard directories of a merged run
    adaptation: dict | None = None  # the rounds of `genoseg adapt` / `annotate --adapt`
    outputs: list[str] | None = None  # this run's files in its directory, set when they are committed

    def to_json(self) -> dict:
        """The flat run.json object; optional fields only where set."""
        data = {name: getattr(self, name) for name in ("genoseg_version", "model", "model_features", "input",
                                                        "input_fingerprint", "options", "window", "overlap",
                                                        "thresholds", "device", "records", "shard")}
        for name in ("records_in_shard", "gene_parameters", "proteins_file", "cds_file"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        data.update({f.name: getattr(self.counts, f.name) for f in fields(Counts)})
        data.update({f.name: getattr(self.timings, f.name) for f in fields(Timings)})
        data.update(bases_per_second=self.bases_per_second, outside_model_share=self.outside_model_share,
                    host=self.host)
        for name in ("resume", "merged_from", "adaptation", "outputs"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        return data

    @classmethod
    def from_json(cls, path: Path, data: object, required: tuple[str, ...] = REQUIRED) -> "RunSummary":
        """A summary read back from run.json at `path`.

        Raises:
            DataError: not a JSON object, or a field of `required` missing or of the wrong type.
        """
        if not isinstance(data, dict):
            raise DataError(f"{path}: not a genoseg run summary (not a JSON object)")
        for key in required:
            kind = _TYPES[key]
            if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
                raise DataError(f"{path}: not a genoseg run summary (field {key!r} missing or not a {kind.__name__})")
        for name in ("proteins_file", "cds_file"):
            if data.get(name) is not None and not isinstance(data.get(name), str):
                raise DataError(f"{path}: field {name!r} is not a path")
        known = {f.name for f in fields(cls)}
        taken = {k: v for k, v in data.items() if k in known and k not in ("counts", "timings")}
        counts = Counts(**{f.name: data[f.name] for f in fields(Counts) if data.get(f.name) is not None})
        timings = Timings(**{f.name: data[f.name] for f in fields(Timings) if data.get(f.name) is not None})
        return cls(**taken, counts=counts, timings=timings)

    def identity(self, free_options: tuple[str, ...]) -> dict:
        """What must agree between the parts of one run: all but counts, timings and free options."""
        options = {k: v for k, v in (self.options or {}).items() if k not in free_options}
        same = {k: getattr(self, k) for k in ("genoseg_version", "model", "model_features", "input",
                                               "input_fingerprint", "window", "overlap", "thresholds",
                                               "gene_parameters")}
        return {**same, "options": options}
