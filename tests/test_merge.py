"""`genoseg merge`: shards of one run combine into exactly the files a single run writes."""

import json
from pathlib import Path

import numpy as np
import pyBigWig
import pytest
from click.testing import CliRunner

from genoseg.cli import main
from tests.test_shard import many_records  # noqa: F401  (fixture)

# run.json fields that describe how long and where a run went, not what it produced.
CIRCUMSTANCES = {"wall_seconds", "bases_per_second", "model_seconds", "outside_model_share", "peak_rss_mb", "host",
                 "gene_decoder_seconds", "outputs", "merged_from", "proteins_file", "resume",
                 "forward_batches", "writer_seconds"}
RUNNER = CliRunner()


def annotate(fasta, out, model_dir, *extra):
    result = RUNNER.invoke(main, ["annotate", str(fasta), "-o", str(out), "-m", str(model_dir), "-q",
                                  "--proteins", str(out) + ".faa", *extra])
    assert result.exit_code == 0, result.output
    return out


def assert_same_run(got: Path, want: Path, proteins: tuple[Path, Path] | None = None) -> None:
    """Same files; text outputs byte for byte, bigWig values exactly, run.json up to timings and paths.

    `proteins`: where each run wrote its protein FASTA [default: beside the run directory, DIR.faa].
    """
    files = sorted(p.name for p in want.iterdir())
    assert sorted(p.name for p in got.iterdir()) == files
    for name in files:
        if name.endswith((".gff3", ".bed", ".faa")):
            assert (got / name).read_text() == (want / name).read_text(), name
        elif name.endswith(".bw"):
            a, b = pyBigWig.open(str(got / name)), pyBigWig.open(str(want / name))
            assert a.chroms() == b.chroms()
            for chrom, length in b.chroms().items():
                np.testing.assert_array_equal(a.values(chrom, 0, length, numpy=True), b.values(chrom, 0, length, numpy=True))
            assert a.header()["nBasesCovered"] == b.header()["nBasesCovered"]
    got_faa, want_faa = proteins or (Path(str(got) + ".faa"), Path(str(want) + ".faa"))
    assert got_faa.read_text() == want_faa.read_text()
    summaries = [json.loads((d / "run.json").read_text()) for d in (got, want)]
    for summary in summaries:
        for key in CIRCUMSTANCES:
            summary.pop(key, None)
        for key in ("output", "proteins", "resume", "resume_unit", "threads", "force"):
            summary["options"].pop(key)
    assert summaries[0] == summaries[1]


@pytest.fixture(scope="module")
def runs(many_records, tiny_model_dir, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("merge")
    single = annotate(many_records, root / "single", tiny_model_dir)
    shards = [annotate(many_records, root / f"shard{i}", tiny_model_dir, "--shard", f"{i}/3") for i in (1, 2, 3)]
    return root, single, shards


def test_merged_shards_equal_a_single_run(runs):
    root, single, shards = runs
    # Each shard numbers from 1, so merging must renumber: make sure there is something to renumber.
    assert "ID=gene1;" in (shards[2] / "genome.genoseg.genes.gff3").read_text()
    assert "ID=exon_1;" in (shards[2] / "genome.genoseg.intervals.gff3").read_text()
    merged = root / "merged"
    result = RUNNER.invoke(main, ["merge", *map(str, reversed(shards)), "-o", str(merged),
                                  "--proteins", str(merged) + ".faa"])
    assert result.exit_code == 0, result.output
    assert_same_run(merged, single)
    assert json.loads((merged / "run.json").read_text())["merged_from"] == [str(s) for s in shards]


@pytest.mark.parametrize("case, message", [
    ("missing", "shard 2/3 is missing"),
    ("twice", "is also in"),
    ("not_a_run", "no run.json"),
])
def test_merge_refuses_incomplete_or_foreign_sets(runs, case, message, tmp_path):
    _, single, shards = runs
    dirs = {"missing": [shards[0], shards[2]], "twice": [shards[0], shards[1], shards[1], shards[2]],
            "not_a_run": [shards[0], tmp_path]}[case]
    result = RUNNER.invoke(main, ["merge", *map(str, dirs), "-o", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "out" / "genome.genoseg.intervals.gff3").exists()


def test_merge_refuses_shards_of_different_runs(runs, many_records, tiny_model_dir, tmp_path):  # noqa: F811
    _, _, shards = runs
    other = annotate(many_records, tmp_path / "other2", tiny_model_dir, "--shard", "2/3", "--threshold", "0.3")
    result = RUNNER.invoke(main, ["merge", str(shards[0]), str(other), str(shards[2]), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "a different thresholds than" in result.output
