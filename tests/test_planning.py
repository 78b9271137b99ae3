"""planning.py: targets, batching blocks, shards (`--shard I/N`) and skipped tiny contigs."""

import json

import numpy as np
import pyBigWig
import pytest
from click.testing import CliRunner

from genoseg.planning import parse_shard, plan_blocks, plan_targets, select_shard, targets_of
from genoseg.cli import main
from genoseg.errors import UsageError
from genoseg.fasta import FastaReader



def _bases(targets):
    return {(t.record.name, b) for t in targets for s in t.segments for b in range(max(s.start, t.start), min(s.end, t.end))}


@pytest.mark.parametrize("count", [1, 2, 3, 5, 9])
def test_shards_cover_every_base_exactly_once(many_records, count):
    with FastaReader(many_records) as reader:
        targets = plan_targets(reader, [], [])
    everything = _bases(targets)
    blocks = plan_blocks(targets, 480, 4 * 8 * 480)
    seen: set = set()
    sizes = []
    for i in range(1, count + 1):
        part = _bases(targets_of(select_shard(blocks, (i, count))))
        assert not part & seen
        seen |= part
        sizes.append(len(part))
    assert seen == everything
    # Balanced up to one block: no shard exceeds its share by more than the longest block.
    longest = max(sum(s.length for _, s in block) for block in blocks)
    assert max(sizes) <= len(everything) / count + longest


def test_shard_syntax():
    assert parse_shard("3/10") == (3, 10)
    for bad in ["0/4", "5/4", "x/2", "3", "1/0"]:
        with pytest.raises(UsageError):
            parse_shard(bad)


def test_sharded_runs_add_up_to_a_single_run(many_records, tmp_path, tiny_model_dir):
    runner = CliRunner()
    common = ["-m", str(tiny_model_dir), "-q", "--min-segment-length", "120"]
    single = runner.invoke(main, ["annotate", str(many_records), "-o", str(tmp_path / "all"), *common])
    assert single.exit_code == 0, single.output
    bed_lines, runs = [], []
    for i in (1, 2, 3):
        out = tmp_path / f"shard{i}"
        result = runner.invoke(main, ["annotate", str(many_records), "-o", str(out), "--shard", f"{i}/3", *common])
        assert result.exit_code == 0, result.output
        bed_lines += (out / "genome.genoseg.intervals.bed").read_text().splitlines()[1:]
        runs.append(json.loads((out / "run.json").read_text()))
    # Shards are whole segments, so their intervals are exactly the single run's, in order.
    assert bed_lines == (tmp_path / "all" / "genome.genoseg.intervals.bed").read_text().splitlines()[1:]
    whole = json.loads((tmp_path / "all" / "run.json").read_text())
    for key in ("bases_in_scope", "bases_annotated", "bases_skipped_n", "segments_skipped_short", "bases_skipped_short"):
        assert sum(r[key] for r in runs) == whole[key], key
    assert [r["shard"] for r in runs] == [[1, 3], [2, 3], [3, 3]]
    # Every base's probability comes from exactly one shard and equals the single run's.
    reference = pyBigWig.open(str(tmp_path / "all" / "genome.genoseg.exon.bw"))
    for name, length in reference.chroms().items():
        want = np.array(reference.values(name, 0, length), dtype=np.float64)
        got = np.full(length, np.nan)
        for i in (1, 2, 3):
            part = np.array(pyBigWig.open(str(tmp_path / f"shard{i}" / "genome.genoseg.exon.bw")).values(name, 0, length))
            assert not np.any(~np.isnan(part) & ~np.isnan(got))
            got = np.where(np.isnan(part), got, part)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=0, atol=1e-6)


def test_min_contig_length_skips_and_counts(many_records, tmp_path, tiny_model_dir):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["annotate", str(many_records), "-o", str(out), "-m", str(tiny_model_dir), "-q",
                                       "--min-contig-length", "1000"])
    assert result.exit_code == 0, result.output
    run = json.loads((out / "run.json").read_text())
    assert run["records_skipped_short"] == 3 and run["bases_skipped_short_records"] == 700 + 30 + 90
    records = {line.split("\t")[0] for line in (out / "genome.genoseg.intervals.bed").read_text().splitlines()[1:]}
    assert not records & {"r1", "r3", "r6"}
