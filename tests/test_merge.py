"""`genoseg merge`: shards of one run combine into exactly the files a single run writes."""

import json

import pytest

from genoseg.cli import main
from tests.helpers import RUNNER, annotate_run as annotate, assert_same_run


@pytest.fixture(scope="module")
def runs(many_records, tiny_model_dir, tmp_path_factory):
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
                                  "--proteins", str(merged) + ".faa", "--cds", str(merged) + ".fna"])
    assert result.exit_code == 0, result.output
    assert (merged.parent / "merged.fna").read_text().count(">") == (merged.parent / "merged.faa").read_text().count(">")
    assert_same_run(merged, single)
    assert json.loads((merged / "run.json").read_text())["merged_from"] == [str(s) for s in shards]


def test_merged_shards_keep_locus_tag_ids(many_records, tiny_model_dir, tmp_path):
    """With --id-prefix every shard numbers PREFIX_000001...; merge renumbers them across the
    genome, zero-padded, as a single run numbers them."""
    single = annotate(many_records, tmp_path / "single", tiny_model_dir, "--id-prefix", "GS1")
    shards = [annotate(many_records, tmp_path / f"s{i}", tiny_model_dir, "--shard", f"{i}/2", "--id-prefix", "GS1")
              for i in (1, 2)]
    genes = (single / "genome.genoseg.genes.gff3").read_text()
    assert "ID=GS1_000001;Name=GS1_000001;" in genes and "gene1" not in genes
    assert "ID=GS1_000001;" in (shards[1] / "genome.genoseg.genes.gff3").read_text()
    result = RUNNER.invoke(main, ["merge", *map(str, shards), "-o", str(tmp_path / "merged"),
                                  "--proteins", str(tmp_path / "merged") + ".faa"])
    assert result.exit_code == 0, result.output
    assert_same_run(tmp_path / "merged", single)


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


def test_merge_refuses_shards_of_different_runs(runs, many_records, tiny_model_dir, tmp_path):
    _, _, shards = runs
    other = annotate(many_records, tmp_path / "other2", tiny_model_dir, "--shard", "2/3", "--threshold", "0.3")
    result = RUNNER.invoke(main, ["merge", str(shards[0]), str(other), str(shards[2]), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "a different thresholds than" in result.output
