"""summary.py: run.json as a RunSummary, and how the summaries of a run's parts combine."""

import json

import pytest

from genoseg.errors import DataError
from genoseg.summary import Counts, RunSummary, Timings


def test_counts_of_parts_add_up_class_by_class():
    a = Counts(bases_annotated=10, windows=2, intervals={"exon": 3, "intron": 1}, gene_models={"protein_coding": 1})
    b = Counts(bases_annotated=5, windows=1, bases_skipped_n=7, intervals={"exon": 2, "lncRNA": 4},
               gene_models={"protein_coding": 2, "lncRNA": 1})
    total = a + b
    assert (total.bases_annotated, total.windows, total.bases_skipped_n) == (15, 3, 7)
    assert total.intervals == {"exon": 5, "intron": 1, "lncRNA": 4}
    assert list(total.intervals) == ["exon", "intron", "lncRNA"]  # the first part's order first
    assert total.gene_models == {"protein_coding": 3, "lncRNA": 1}
    assert (Counts(gene_models=None) + b).gene_models is None  # a run without gene models has none


def test_timings_add_except_peak_memory():
    total = Timings(1.0, 2.0, 10.0, 8.0, 5, 300.0) + Timings(0.5, 1.0, 4.0, 3.0, 2, 450.5)
    assert (total.wall_seconds, total.model_seconds, total.forward_batches, total.peak_rss_mb) == (14.0, 11.0, 7, 450.5)
    assert total.rates(28_000) == {"bases_per_second": 2000.0, "outside_model_share": round(1 - 11 / 14, 3)}
    assert Timings().rates(10) == {"bases_per_second": None, "outside_model_share": None}


def test_run_json_round_trips_flat(tmp_path):
    summary = RunSummary(input="g.fa", genoseg_version="1", model="m", model_features=["exon"], options={"window": None},
                         shard=[2, 3], records_in_shard=4, counts=Counts(bases_annotated=9, intervals={"exon": 1}),
                         timings=Timings(wall_seconds=2.0), resume={"units": 2, "units_reused": 1})
    data = json.loads(json.dumps(summary.to_json()))
    assert data["bases_annotated"] == 9 and data["wall_seconds"] == 2.0 and data["shard"] == [2, 3]
    assert "merged_from" not in data and "proteins_file" not in data and "counts" not in data
    assert RunSummary.from_json(tmp_path / "run.json", data) == summary


@pytest.mark.parametrize("damage,needle", [
    (lambda d: d.pop("bases_annotated"), "'bases_annotated' missing"),
    (lambda d: d.update(windows="7"), "'windows' missing or not a int"),
    (lambda d: d.update(intervals=True), "'intervals'"),
    (lambda d: d.update(proteins_file=3), "'proteins_file' is not a path"),
])
def test_a_part_missing_what_merging_reads_is_refused(tmp_path, damage, needle):
    data = RunSummary(input="g.fa", counts=Counts(intervals={"exon": 1})).to_json()
    damage(data)
    with pytest.raises(DataError, match=needle):
        RunSummary.from_json(tmp_path / "run.json", data)
    with pytest.raises(DataError, match="not a JSON object"):
        RunSummary.from_json(tmp_path / "run.json", [data])


def test_identity_leaves_out_what_may_differ_between_shards():
    a = RunSummary(input="g.fa", model="m", options={"shard": [1, 2], "threads": 4, "window": 480})
    b = RunSummary(input="g.fa", model="m", options={"shard": [2, 2], "threads": 2, "window": 480},
                   counts=Counts(bases_annotated=5))
    assert a.identity(("shard", "threads")) == b.identity(("shard", "threads"))
    assert a.identity(("shard",)) != b.identity(("shard",))
