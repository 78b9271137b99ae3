"""adapt.py: `genoseg adapt RUN_DIR` and `annotate --adapt` on real runs of the bundled model."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from genoseg.adapt import _starting_parameters, adapt_run, decode_run
from genoseg.annotation import read_annotation
from genoseg.cli import main
from genoseg.fasta import FastaReader
from genoseg.genes.adapt import AdaptSettings
from genoseg.genes.parameters import BUNDLED_FILE, GeneParameters
from genoseg.outputs import finished_run
from tests.helpers import write_fasta

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "examples" / "athaliana_chr1_25M.fa.gz"
RUNNER = CliRunner()


def run_cli(*args):
    return RUNNER.invoke(main, [str(a) for a in args])


def _genes(directory: Path) -> list[str]:
    """The gene GFF3's feature lines (the provenance comment left out)."""
    files = finished_run(directory)[1]
    return [line for line in files.genes_gff3.read_text().splitlines() if not line.startswith("#genoseg=")]


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapt")
    adapted = run_cli("annotate", EXAMPLE, "-o", root / "adapted", "-q", "--adapt", "--proteins", root / "adapted.faa")
    assert adapted.exit_code == 0, adapted.output
    # Tracks stored exactly (--bigwig-precision 0), so that they decode back to the run's own models.
    plain = run_cli("annotate", EXAMPLE, "-o", root / "plain", "-q", "--proteins", root / "plain.faa",
                    "--bigwig-precision", "0")
    assert plain.exit_code == 0, plain.output
    return root


def test_the_bigwigs_decode_back_to_the_runs_own_gene_models(example_runs):
    summary, files = finished_run(example_runs / "plain")
    with FastaReader(summary.input) as reader:
        models = decode_run(files, summary.model_features, reader, _starting_parameters(summary))
    written = read_annotation(files.genes_gff3)
    assert sorted((t.seqid, t.strand, tuple(t.exons), tuple(t.cds)) for t in written.transcripts) == \
        sorted((m.record, m.strand, tuple(m.exons), tuple(m.cds)) for m in models)
    assert len(models) > 20


def test_a_genome_like_the_training_one_keeps_the_starting_models(example_runs):
    """The example is A. thaliana: its own coding chain reads it no better than the shipped one."""
    run = example_runs / "adapted"
    summary = json.loads((run / "run.json").read_text())
    assert summary["adaptation"]["rounds"] == [] and "kept the starting models" in summary["adaptation"]["stopped"]
    assert _genes(run) == _genes(example_runs / "plain")
    assert (example_runs / "adapted.faa").read_text() == (example_runs / "plain.faa").read_text()
    stem = "athaliana_chr1_25M.genoseg"
    assert {f"{stem}.gene_model.json", "site_classifier.safetensors", f"{stem}.genes.gff3"} <= set(summary["outputs"])
    assert GeneParameters.load(run / f"{stem}.gene_model.json").as_dict() == GeneParameters.load(BUNDLED_FILE).as_dict()


def test_adaptation_rounds_write_a_reusable_gene_model(example_runs, tmp_path):
    """Adaptation forced on (need 1): the rounds are recorded, the gene GFF3 validates, and the
    adapted gene_model.json, given back to annotate, decodes the same gene models."""
    run = tmp_path / "run"
    shutil.copytree(example_runs / "plain", run)
    summary = adapt_run(run, AdaptSettings(need=1.0, max_rounds=1))
    [first] = summary.adaptation["rounds"]
    assert first["confident_genes"] >= 20 and 0 < first["weight_genes"] < 1 and first["need"] == 1.0
    stem = "athaliana_chr1_25M.genoseg"
    params = GeneParameters.load(run / f"{stem}.gene_model.json")
    assert params.notes.get("adapted") and params.coding_markov != GeneParameters.load(BUNDLED_FILE).coding_markov
    assert summary.counts.gene_models["protein_coding"] == sum(l.split("\t")[2] == "gene" for l in _genes(run) if "\t" in l)
    result = subprocess.run(["gt", "gff3validator", str(run / f"{stem}.genes.gff3")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    again = run_cli("annotate", EXAMPLE, "-o", tmp_path / "again", "-q", "--no-bigwig",
                    "--gene-parameters", run / f"{stem}.gene_model.json")
    assert again.exit_code == 0, again.output
    assert _genes(tmp_path / "again") == _genes(run)


def test_adapting_a_finished_run_gives_what_annotate_adapt_gives(example_runs, tmp_path):
    """`genoseg adapt` decodes the first round from the bigWigs; `annotate --adapt` had it in hand."""
    run = tmp_path / "plain"
    shutil.copytree(example_runs / "plain", run)
    result = run_cli("adapt", run, "-q")
    assert result.exit_code == 0, result.output
    assert _genes(run) == _genes(example_runs / "adapted")
    # The default run's tracks are rounded: adaptation is skipped there too, and its gene models
    # are kept as written rather than replaced by a decoding of the rounded tracks.
    rounded = tmp_path / "rounded"
    shutil.copytree(example_runs / "adapted", rounded)
    written = finished_run(rounded)[1].genes_gff3.read_text()
    assert run_cli("adapt", rounded, "-q", "--force").exit_code == 0
    assert finished_run(rounded)[1].genes_gff3.read_text() == written
    summary = json.loads((run / "run.json").read_text())
    assert "athaliana_chr1_25M.genoseg.intervals.gff3" in summary["outputs"]  # the run's other files stay listed


def test_a_resumed_run_with_adapt_gives_what_a_single_run_gives(tmp_path):
    """Resume units end at N runs, so the example is cut into three segments first."""
    with FastaReader(EXAMPLE) as reader:
        name = reader.records[0].name
        sequence = bytes(reader.fetch(name, 0, reader.length(name))).decode()
    gapped = sequence[:70_000] + "N" * 50 + sequence[70_050:140_000] + "N" * 50 + sequence[140_050:]
    genome = write_fasta(tmp_path / "gapped.fa", {name: gapped})
    single = run_cli("annotate", genome, "-o", tmp_path / "single", "-q", "--adapt")
    assert single.exit_code == 0, single.output
    resumed = run_cli("annotate", genome, "-o", tmp_path / "resumed", "-q", "--adapt", "--resume",
                      "--resume-unit", "60000")
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads((tmp_path / "resumed" / "run.json").read_text())
    assert summary["resume"]["units"] == 3 and "adaptation" in summary
    assert _genes(tmp_path / "resumed") == _genes(tmp_path / "single")


@pytest.mark.parametrize("args,needle", [
    (("--shard", "1/2"), "genoseg merge"),
    (("--no-bigwig",), "--no-bigwig"),
    (("--no-gene-models",), "--no-gene-models"),
])
def test_adapt_is_refused_where_it_cannot_work(tmp_path, args, needle):
    result = run_cli("annotate", EXAMPLE, "-o", tmp_path / "out", "-q", "--adapt", *args)
    assert result.exit_code == 2 and needle in result.output
    assert not (tmp_path / "out").exists()


def test_adapt_refuses_a_shard_and_a_run_without_tracks(tmp_path):
    assert run_cli("annotate", EXAMPLE, "-o", tmp_path / "s1", "-q", "--shard", "1/2").exit_code == 0
    result = run_cli("adapt", tmp_path / "s1")
    assert result.exit_code == 2 and "genoseg merge" in result.output
    assert run_cli("annotate", EXAMPLE, "-o", tmp_path / "flat", "-q", "--no-bigwig").exit_code == 0
    result = run_cli("adapt", tmp_path / "flat")
    assert result.exit_code == 2 and "bigWig" in result.output


def test_a_damaged_track_is_named_in_one_line(example_runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(example_runs / "plain", run)
    (run / "athaliana_chr1_25M.genoseg.exon.bw").write_bytes(b"not a bigwig")
    result = subprocess.run(["genoseg", "adapt", str(run)], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == f"genoseg: error: {run}/athaliana_chr1_25M.genoseg.exon.bw: not a readable bigWig track"
