"""The second hostile-input round (issue 25): user files never replaced, stale indexes never
trusted, crafted configs refused before allocation, outputs committed as one set, record names
escaped, shards of different inputs refused, one line instead of a traceback."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pysam
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st
from safetensors.torch import load_file, save_file

from genoseg.cli import main
from genoseg.fasta import index_matches
from genoseg.genes.parameters import BUNDLED_FILE
from tests.helpers import write_fasta

BAD = Path(__file__).parent / "data" / "bad"
SEQUENCE = "ACGTTGCAAC" * 120


def run_cli(*args):
    return CliRunner().invoke(main, [*map(str, args)])


def annotate(fasta, model, out, *extra):
    return run_cli("annotate", fasta, "-m", model, "-o", out, "-q", *extra)


def one_line(result, code, *needles):
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def genome(tmp_path) -> Path:
    return write_fasta(tmp_path / "genome.fa", {"chr1": SEQUENCE, "chr2": SEQUENCE[::-1]})


# 1. Never write over a user's file -------------------------------------------------------------

def test_output_names_never_meet_the_inputs_beside_the_fasta(genome, tiny_model_dir, tmp_path, monkeypatch):
    reference = tmp_path / "genome.gff3"
    reference.write_text("##gff-version 3\nmy reference\n")
    (tmp_path / "genome.bed").write_text("mine\n")
    monkeypatch.chdir(tmp_path)
    assert annotate("genome.fa", tiny_model_dir, ".").exit_code == 0
    assert reference.read_text() == "##gff-version 3\nmy reference\n"
    assert (tmp_path / "genome.bed").read_text() == "mine\n"
    run = json.loads((tmp_path / "run.json").read_text())
    assert "genome.gff3" not in run["outputs"] and "genome.genoseg.intervals.gff3" in run["outputs"]


def test_an_output_equal_to_an_input_or_another_output_is_refused(genome, tiny_model_dir, tmp_path):
    before = genome.read_bytes()
    one_line(annotate(genome, tiny_model_dir, tmp_path / "out", "--proteins", genome), 2, "overwrite an input")
    one_line(annotate(genome, tiny_model_dir, "-", "--format", "genes", "--proteins", genome), 2, "overwrite an input")
    assert genome.read_bytes() == before
    out = tmp_path / "out"
    one_line(annotate(genome, tiny_model_dir, out, "--proteins", out / "genome.genoseg.genes.gff3"), 2,
             "two outputs of this run would have the same path")
    assert not out.exists()  # refused before anything was made


def test_a_file_no_genoseg_run_wrote_is_refused_unless_forced(genome, tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "genome.genoseg.intervals.gff3"
    mine.write_text("not genoseg's\n")
    one_line(annotate(genome, tiny_model_dir, out), 2, "genome.genoseg.intervals.gff3", "--force")
    assert mine.read_text() == "not genoseg's\n"
    assert annotate(genome, tiny_model_dir, out, "--force").exit_code == 0
    assert mine.read_text().startswith("##gff-version 3")
    # A file genoseg wrote is replaced by the next run without --force.
    assert annotate(genome, tiny_model_dir, out).exit_code == 0


def test_proteins_beside_a_stdout_run_are_written(genome, tiny_model_dir, tmp_path):
    faa = tmp_path / "p.faa"
    result = annotate(genome, tiny_model_dir, "-", "--format", "genes", "--proteins", faa)
    assert result.exit_code == 0 and result.output.startswith("##gff-version 3")
    assert faa.is_file() and not list(tmp_path.glob(".p.faa*"))


def test_run_json_lists_only_this_runs_files(genome, tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    assert annotate(genome, tiny_model_dir, out).exit_code == 0
    assert annotate(genome, tiny_model_dir, out, "--no-bigwig", "--no-gene-models").exit_code == 0
    run = json.loads((out / "run.json").read_text())
    assert sorted(run["outputs"]) == ["genome.genoseg.igv_session.xml", "genome.genoseg.intervals.bed",
                                      "genome.genoseg.intervals.gff3", "run.json"]
    assert (out / "genome.genoseg.exon.bw").exists()  # the earlier run's file is left, but not claimed


def test_a_refused_run_leaves_no_empty_output_directory(genome, tiny_model_dir, tmp_path):
    one_line(annotate(BAD / "no_name.fa", tiny_model_dir, tmp_path / "new"), 1)
    assert not (tmp_path / "new").exists()


# 2. Never trust a stale index ------------------------------------------------------------------

def test_a_fasta_replaced_under_a_newer_index_is_read_whole(tmp_path, tiny_model_dir):
    old = write_fasta(tmp_path / "old.fa", {"chr1": SEQUENCE[:600]})
    new = write_fasta(tmp_path / "new.fa", {"chr1": SEQUENCE})
    genome = tmp_path / "genome.fa"
    shutil.copy(old, genome)
    pysam.faidx(str(genome))
    index = Path(f"{genome}.fai")
    shutil.copy2(new, genome)  # cp -p: the index is now newer than the file it no longer describes
    os.utime(index, (time.time() + 60, time.time() + 60))
    assert not index_matches(genome, index, None)
    assert annotate(genome, tiny_model_dir, tmp_path / "out").exit_code == 0
    assert json.loads((tmp_path / "out" / "run.json").read_text())["bases_annotated"] == len(SEQUENCE)
    assert index.read_text().split("\t")[1] == "600"  # the user's index is left alone


def test_a_wrong_index_beside_a_bgzip_file_is_replaced_by_a_fresh_one(tmp_path, tiny_model_dir):
    plain = write_fasta(tmp_path / "g.fa", {"chr1": SEQUENCE, "chr2": SEQUENCE[:480]})
    assert annotate(plain, tiny_model_dir, tmp_path / "ref").exit_code == 0
    other = write_fasta(tmp_path / "other.fa", {"x": SEQUENCE[:960]})
    pysam.tabix_compress(str(other), str(other) + ".gz")
    pysam.faidx(str(other) + ".gz")
    bgz = tmp_path / "bgz" / "g.fa.gz"
    bgz.parent.mkdir()
    pysam.tabix_compress(str(plain), str(bgz))
    shutil.copy(str(other) + ".gz.fai", str(bgz) + ".fai")
    shutil.copy(str(other) + ".gz.gzi", str(bgz) + ".gzi")
    assert annotate(bgz, tiny_model_dir, tmp_path / "out").exit_code == 0
    for name in ("g.genoseg.intervals.gff3", "g.genoseg.intervals.bed"):
        assert (tmp_path / "out" / name).read_text() == (tmp_path / "ref" / name).read_text()
    Path(str(bgz) + ".gzi").write_bytes(b"\x00" * 5)  # not even a gzi
    assert annotate(bgz, tiny_model_dir, tmp_path / "out2").exit_code == 0


# 3. Crafted model configs and weights ----------------------------------------------------------

def _copy_model(source: Path, target: Path, **config_changes) -> Path:
    shutil.copytree(source, target)
    config = json.loads((target / "config.json").read_text())
    config.update(config_changes)
    (target / "config.json").write_text(json.dumps(config))
    return target


def test_a_config_too_large_for_its_checkpoint_is_refused_before_allocating(genome, tiny_model_dir, tmp_path):
    # Each size plausible, together about 60 GB of float32: refused from the shapes alone.
    big = _copy_model(tiny_model_dir, tmp_path / "big", hidden_size=8192, num_hidden_layers=48,
                      intermediate_size=32768, num_attention_heads=32)
    started = time.time()
    one_line(annotate(genome, big, tmp_path / "out"), 1, "parameters")
    plausible = _copy_model(tiny_model_dir, tmp_path / "wide", hidden_size=64, intermediate_size=128)
    one_line(annotate(genome, plausible, tmp_path / "out"), 1, "in the checkpoint but", "config.json")
    assert time.time() - started < 30


@pytest.mark.parametrize("field,value,needle", [
    ("layer_norm_eps", -1e-5, "layer_norm_eps"),
    ("genoseg_layer_norm_eps", 0, "genoseg_layer_norm_eps"),
    ("genoseg_overlap_nt", 480, "genoseg_overlap_nt"),
    ("genoseg_window_nt", 48_000_000, "genoseg_window_nt"),
    ("features", ["exon", "in\ttron"], "class name"),
])
def test_out_of_range_config_values_are_refused_by_name(genome, tiny_model_dir, tmp_path, field, value, needle):
    model = _copy_model(tiny_model_dir, tmp_path / "m", **{field: value})
    one_line(annotate(genome, model, tmp_path / "out"), 1, needle)


def test_nan_weights_are_refused_by_name(genome, tiny_model_dir, tmp_path):
    model = _copy_model(tiny_model_dir, tmp_path / "m")
    tensors = load_file(model / "model.safetensors")
    tensors["fc.bias"] = tensors["fc.bias"].clone()
    tensors["fc.bias"][0] = float("nan")
    save_file(tensors, model / "model.safetensors", metadata={"format": "pt"})
    one_line(annotate(genome, model, tmp_path / "out"), 1, "fc.bias", "NaN")


def _gene_parameters(tmp_path: Path, **changes) -> Path:
    data = json.loads(BUNDLED_FILE.read_text())
    data.update(changes)
    path = tmp_path / "params" / "gene_model.json"
    path.parent.mkdir(exist_ok=True)
    shutil.copy(BUNDLED_FILE.parent / "site_classifier.safetensors", path.parent)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("changes,needle", [
    ({"weight_coding": float("nan")}, "weight_coding"),
    ({"gene_penalty": float("inf")}, "gene_penalty"),
    ({"intron_penalty": -3}, "intron_penalty"),
    ({"min_exon": 0}, "min_exon"),
    ({"min_intron": "60"}, "min_intron"),
    ({"hexamer": [0.0] * 10}, "hexamer"),
    ({"coding_markov": [[0.0] * 4096] * 2}, "coding_markov"),
    ({"donor": {"offset": 0, "log_odds": [[0, 0, 0]], "order": 0}}, "donor"),
    ({"donor": {"offset": 0, "log_odds": [[0, 0, 0, 0]], "order": 0, "extra": 1}}, "donor"),
    ({"frobnicate": 1}, "unknown field 'frobnicate'"),
    ({"site_classifier": {"file": "../../etc/passwd", "sha256": "0"}}, "file name beside the JSON"),
    ({"site_classifier": {"file": "missing.safetensors", "sha256": "0"}}, "missing"),
    ({"notes": []}, "notes"),
])
def test_malformed_gene_parameters_are_refused_by_name(genome, tiny_model_dir, tmp_path, changes, needle):
    path = _gene_parameters(tmp_path, **changes)
    one_line(annotate(genome, tiny_model_dir, tmp_path / "out", "--gene-parameters", path), 1, str(path), needle)


def test_a_site_classifier_with_crafted_sizes_is_refused(genome, tiny_model_dir, tmp_path):
    path = _gene_parameters(tmp_path)
    classifier = path.parent / "site_classifier.safetensors"
    tensors = load_file(classifier)
    save_file(tensors, classifier, metadata={"flank": "90000000", "channels": "32", "hidden": "32",
                                             "prior.donor": "0", "prior.acceptor": "0"})
    one_line(annotate(genome, tiny_model_dir, tmp_path / "out", "--gene-parameters", path), 1, "out of range")


# 4. Outputs land as one set --------------------------------------------------------------------


def test_sigterm_while_committing_a_real_run_says_what_was_completed(genome, tiny_model_dir, tmp_path):
    """A run whose commit is slowed down (each rename waits) is terminated mid-commit."""
    out = tmp_path / "out"
    script = (
        "import os, sys, time\n"
        "from genoseg import outputs\n"
        "real, flag = os.replace, sys.argv[1]\n"
        "def slow(a, b):\n"
        "    open(flag, 'a').close(); time.sleep(0.3); real(a, b)\n"
        "outputs.os.replace = slow\n"
        "from genoseg.cli import main\n"
        f"sys.argv = ['genoseg', 'annotate', {str(genome)!r}, '-m', {str(tiny_model_dir)!r}, '-o', {str(out)!r}, '-q']\n"
        "main()\n"
    )
    flag = tmp_path / "committing"
    process = subprocess.Popen([sys.executable, "-c", script, str(flag)], stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not flag.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "after the outputs in" in stderr and "were completed" in stderr
    run = json.loads((out / "run.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == sorted(run["outputs"])


# 5. Record names ---------------------------------------------------------------------------------

def test_reserved_characters_in_record_names_are_escaped(tiny_model_dir, tmp_path):
    assert annotate(BAD / "reserved_names.fa", tiny_model_dir, tmp_path).exit_code == 0
    gff = (tmp_path / "reserved_names.genoseg.intervals.gff3").read_text()
    seqids = {line.split("\t")[0] for line in gff.splitlines() if line and not line.startswith("#")}
    assert seqids == {"%23hash", "a%3Bb%3Dc%25d", "%C3%BCber|x"}
    assert "##sequence-region %23hash 1 400" in gff
    assert subprocess.run(["gt", "gff3validator", str(tmp_path / "reserved_names.genoseg.intervals.gff3")],
                          capture_output=True).returncode == 0
    from genoseg.evaluate import _read_class_intervals

    read_back = _read_class_intervals(tmp_path / "reserved_names.genoseg.intervals.gff3")
    assert {"#hash", "a;b=c%d", "über|x"} >= set(read_back.by_feature["exon"])


@pytest.mark.parametrize("name,needle", [("no_name.fa", "a header with no name"),
                                         ("space_after_gt.fa", "a space after '>'")])
def test_records_without_a_name_are_refused(name, needle, tiny_model_dir, tmp_path):
    one_line(annotate(BAD / name, tiny_model_dir, tmp_path / "out"), 1, name, needle)


# 6. merge checks content, not paths --------------------------------------------------------------

def test_merge_refuses_shards_of_two_versions_of_one_fasta(genome, tiny_model_dir, tmp_path):
    assert annotate(genome, tiny_model_dir, tmp_path / "s1", "--shard", "1/2").exit_code == 0
    write_fasta(genome, {"chr1": SEQUENCE[::-1], "chr2": SEQUENCE})  # same path and size, new content
    assert annotate(genome, tiny_model_dir, tmp_path / "s2", "--shard", "2/2").exit_code == 0
    one_line(run_cli("merge", tmp_path / "s1", tmp_path / "s2", "-o", tmp_path / "m"), 2, "different contents")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("damage", [
    lambda run: run.pop("input"),
    lambda run: run.update(options="x"),
    lambda run: run.update(shard=["a", 2]),
    lambda run: run.update(intervals=None),
])
def test_merge_refuses_a_run_json_without_its_fields(genome, tiny_model_dir, tmp_path, damage):
    for i in (1, 2):
        assert annotate(genome, tiny_model_dir, tmp_path / f"s{i}", "--shard", f"{i}/2").exit_code == 0
    run = json.loads((tmp_path / "s2" / "run.json").read_text())
    damage(run)
    (tmp_path / "s2" / "run.json").write_text(json.dumps(run))
    one_line(run_cli("merge", tmp_path / "s1", tmp_path / "s2", "-o", tmp_path / "m"), 1, "run.json")


# 7. One line, never a traceback ----------------------------------------------------------------

@pytest.mark.parametrize("name,needle", [
    ("genbank_numbered.fa", "record gb"),
    ("space_in_sequence.fa", "record ws, base 101: ' ' is not a sequence letter"),
])
def test_fasta_content_pysam_rejects_gets_one_line(name, needle, tiny_model_dir, tmp_path):
    one_line(annotate(BAD / name, tiny_model_dir, tmp_path / "out"), 1, name, needle)


@pytest.mark.parametrize("args,needle", [
    (["--region", "chr1:,-,"], "must be numbers"),
    (["--threads", "0"], "--threads 0"),
    (["--device", "cuda:x"], "--device cuda:x"),
    (["--device", "mps"], "cpu or cuda"),
    (["--window", "0"], "--window 0"),
    (["--batch-size", "0"], "--batch-size 0"),
    (["--overlap", "-1"], "--overlap -1"),
])
def test_bad_option_values_get_one_line(genome, tiny_model_dir, tmp_path, args, needle):
    one_line(annotate(genome, tiny_model_dir, tmp_path / "out", *args), 2, needle)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("vocab,needle", [("duplicate_vocab.txt", "is also on line"),
                                          ("non_utf8_vocab.txt", "not UTF-8")])
def test_bad_vocabulary_files_get_one_line(genome, tiny_model_dir, tmp_path, vocab, needle):
    model = _copy_model(tiny_model_dir, tmp_path / "m")
    shutil.copy(BAD / vocab, model / "vocab.txt")
    one_line(annotate(genome, model, tmp_path / "out"), 1, needle)


def test_evaluate_scores_huge_coordinates_sparsely(tmp_path):
    ref = tmp_path / "ref.gff3"
    ref.write_text("##gff-version 3\n"
                   "chr1\tt\tgene\t3000000001\t3000000900\t.\t+\t.\tID=g1\n"
                   "chr1\tt\tmRNA\t3000000001\t3000000900\t.\t+\t.\tID=t1;Parent=g1\n"
                   "chr1\tt\texon\t3000000001\t3000000900\t.\t+\t.\tParent=t1\n"
                   "chr1\tt\tCDS\t3000000001\t3000000900\t.\t+\t0\tParent=t1\n")
    result = run_cli("evaluate", "--annotation", ref, "--gff3", ref, "--json", tmp_path / "m.json")
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "m.json").read_text())
    assert scores["per_base"]["exon"]["mcc"] == 1.0


# 8. Small ones ---------------------------------------------------------------------------------

def test_a_closed_stdout_pipe_ends_quietly(genome, tiny_model_dir):
    process = subprocess.Popen([sys.executable, "-m", "genoseg.cli", "annotate", str(genome), "-m", str(tiny_model_dir),
                                "-o", "-", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.readline()
    process.stdout.close()  # as `| head -1` does
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141
    assert "Broken pipe" not in stderr and "Traceback" not in stderr


def test_train_refuses_a_validation_region_on_a_missing_record(genome, tmp_path):
    ref = tmp_path / "ref.gff3"
    ref.write_text("##gff-version 3\nchr1\tt\tgene\t1\t900\t.\t+\t.\tID=g1\nchr1\tt\tmRNA\t1\t900\t.\t+\t.\tID=t1;Parent=g1\n"
                   "chr1\tt\texon\t1\t900\t.\t+\t.\tParent=t1\nchr1\tt\tCDS\t1\t900\t.\t+\t0\tParent=t1\n")
    result = run_cli("train", "--fasta", genome, "--annotation", ref, "-o", tmp_path / "m", "--window", "480",
                     "--steps", "1", "--val-region", "chrX:1-500", "--quiet")
    one_line(result, 1, "no record named 'chrX'")


# Fuzzing: any value of any option gets a result or one line ------------------------------------

OPTION_VALUES = {
    "--region": st.text(alphabet="chr12:-,0123456789 ", min_size=1, max_size=12),
    "--window": st.integers(-100, 10_000).map(str),
    "--overlap": st.integers(-100, 10_000).map(str),
    "--batch-size": st.integers(-5, 5).map(str),
    "--threads": st.integers(-5, 5).map(str),
    "--threshold": st.text(alphabet="exon=0.5-1nab", min_size=1, max_size=8),
    "--min-length": st.integers(-5, 50).map(str),
    "--min-segment-length": st.integers(-5, 500).map(str),
    "--device": st.sampled_from(["cpu", "auto", "cuda", "cuda:7", "meta", "xpu", "", "cpu:0", "cuda:-1"]),
    "--shard": st.text(alphabet="0123/-x", min_size=1, max_size=5),
    "--contigs": st.text(alphabet="chr12,", max_size=8),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(sorted(OPTION_VALUES)), data=st.data())
def test_fuzzed_option_values_never_give_a_traceback(genome, tiny_model_dir, tmp_path, option, data):
    value = data.draw(OPTION_VALUES[option])
    out = tmp_path / f"fuzz{time.monotonic_ns()}"
    result = CliRunner().invoke(main, ["annotate", str(genome), "-m", str(tiny_model_dir), "-o", str(out), "-q",
                                       "--no-bigwig", option, value])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (option, value, result.exception)
    if result.exit_code != 0:
        assert len(result.output.strip().splitlines()) >= 1
