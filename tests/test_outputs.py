"""outputs.py: a run's file names, the refusal to overwrite, and committing a set of files as one."""

import json
import os
import signal

import pytest

from genoseg import outputs, stopping
from genoseg.errors import UsageError
from genoseg.outputs import (OutputDirectory, track_classes, RunFiles, check_targets, commit_set, finished_run, intervals_gff3_in,
                             output_stem)
from genoseg.summary import RunSummary


@pytest.mark.parametrize("fasta,stem", [
    ("genome.fa", "genome"), ("dir/genome.fa.gz", "genome"), ("g.v2.FASTA.bgz", "g.v2"), ("reads", "reads"),
    ("chr1.fna", "chr1"), (".fa", "genoseg"),
])
def test_output_stem_drops_compression_and_fasta_suffixes(fasta, stem):
    assert output_stem(fasta) == stem


def test_run_files_name_every_output_in_one_place(tmp_path):
    files = RunFiles.of(tmp_path, "genome.fa.gz")
    assert files.intervals_gff3.name == "genome.genoseg.intervals.gff3"
    assert files.genes_gff3.name == "genome.genoseg.genes.gff3"
    assert files.bigwig("CTCF-bound").name == "genome.genoseg.CTCF_bound.bw"
    planned = files.planned(["exon", "5UTR"], genes=False)
    assert [p.name for p in planned] == ["genome.genoseg.intervals.gff3", "genome.genoseg.intervals.bed",
                                         "genome.genoseg.exon.bw", "genome.genoseg.5UTR.bw",
                                         "genome.genoseg.igv_session.xml", "run.json"]


def test_track_classes_follow_the_options_in_model_order():
    features = ["gene", "exon", "intron", "5UTR"]
    assert track_classes({}, features) == features
    assert track_classes({"bigwig": False, "bigwig_classes": ["exon"]}, features) == []
    assert track_classes({"bigwig_classes": ["5UTR", "exon"]}, features) == ["exon", "5UTR"]


def test_check_targets_refuses_inputs_duplicates_and_foreign_files(tmp_path):
    fasta = tmp_path / "genome.fa"
    fasta.write_text(">a\nACGT\n")
    out = tmp_path / "out"
    out.mkdir()
    target = out / "genome.genoseg.intervals.gff3"
    with pytest.raises(UsageError, match="overwrite an input"):
        check_targets([fasta], [fasta], out, force=False)
    with pytest.raises(UsageError, match="same path"):
        check_targets([target, out / "." / target.name], [fasta], out, force=False)
    target.write_text("a user's file")
    with pytest.raises(UsageError, match="--force"):
        check_targets([target], [fasta], out, force=False)
    check_targets([target], [fasta], out, force=True)
    # Once an earlier genoseg run's run.json lists it, the file is genoseg's to replace.
    (out / "run.json").write_text(json.dumps({"genoseg_version": "0", "outputs": [target.name, "run.json"]}))
    check_targets([target], [fasta], out, force=False)


def test_commit_set_lands_the_files_then_a_run_json_listing_them(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    moves = []
    for name in ("genome.genoseg.intervals.gff3", "genome.genoseg.intervals.bed"):
        tmp = out / f".{name}.partial"
        tmp.write_text(name)
        moves.append((tmp, out / name))
    elsewhere = tmp_path / ".proteins.partial"
    elsewhere.write_text(">p\nM\n")
    moves.append((elsewhere, tmp_path / "proteins.faa"))
    commit_set(out, moves, RunSummary(input="genome.fa", genoseg_version="x", model_features=["exon"]))
    assert sorted(p.name for p in out.iterdir()) == ["genome.genoseg.intervals.bed", "genome.genoseg.intervals.gff3",
                                                     "run.json"]
    assert (tmp_path / "proteins.faa").read_text() == ">p\nM\n"
    summary, files = finished_run(out)
    assert summary.outputs == ["genome.genoseg.intervals.bed", "genome.genoseg.intervals.gff3", "run.json"]
    assert files.intervals_gff3 == out / "genome.genoseg.intervals.gff3" and summary.model_features == ["exon"]
    assert intervals_gff3_in(out) == files.intervals_gff3


def test_a_directory_without_run_json_is_not_a_run(tmp_path):
    with pytest.raises(UsageError, match="no run.json"):
        finished_run(tmp_path)
    (tmp_path / "mine.gff3").write_text("##gff-version 3\n")
    (tmp_path / "mine.genes.gff3").write_text("##gff-version 3\n")
    assert intervals_gff3_in(tmp_path) == tmp_path / "mine.gff3"


def test_output_directory_is_made_on_demand_and_removed_if_left_empty(tmp_path):
    directory = OutputDirectory(tmp_path / "new" / "out")
    assert directory.make().is_dir()
    directory.remove_if_empty()
    assert not (tmp_path / "new" / "out").exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(Exception, match="not writable"):
        OutputDirectory(tmp_path / "file").make()


def test_sigterm_during_the_renames_leaves_the_whole_new_set(tmp_path, monkeypatch):
    directory = tmp_path / "out"
    directory.mkdir()
    (directory / "run.json").write_text(json.dumps({"genoseg_version": "old", "outputs": ["a.txt", "run.json"]}))
    (directory / "a.txt").write_text("old a")
    moves = []
    for name in ("a.txt", "b.txt", "c.txt"):
        tmp = directory / f".{name}.partial"
        tmp.write_text(f"new {name}")
        moves.append((tmp, directory / name))
    real_replace = os.replace
    calls = []

    def replace_then_signal(src, dst):
        real_replace(src, dst)
        calls.append(dst)
        if len(calls) == 2:  # the signal arrives in the middle of the set
            os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, stopping.handle_signal)
    monkeypatch.setattr(outputs.os, "replace", replace_then_signal)
    try:
        with pytest.raises(stopping.Terminated) as caught:
            outputs.commit_set(directory, moves, RunSummary(input="genome.fa", genoseg_version="new"))
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert caught.value.completed == str(directory)
    assert sorted(p.name for p in directory.iterdir()) == ["a.txt", "b.txt", "c.txt", "run.json"]
    assert json.loads((directory / "run.json").read_text())["outputs"] == ["a.txt", "b.txt", "c.txt", "run.json"]
    assert (directory / "a.txt").read_text() == "new a.txt"


def test_a_commit_cut_short_by_a_hard_kill_is_finished_by_the_next_run(tmp_path):
    directory = tmp_path / "out"
    directory.mkdir()
    tmp = directory / ".x.partial"
    tmp.write_text("new")
    summary_tmp = directory / ".run.json.partial"
    summary_tmp.write_text(json.dumps({"genoseg_version": "1", "outputs": ["run.json", "x"]}))
    (directory / outputs.JOURNAL_FILE).write_text(json.dumps({"moves": [
        [str(tmp), str(directory / "x")], [str(summary_tmp), str(directory / "run.json")]]}))
    OutputDirectory(directory).make()
    assert sorted(p.name for p in directory.iterdir()) == ["run.json", "x"]
