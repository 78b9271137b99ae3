"""cli.py: one error line with the documented exit code, and commands that never load torch."""

import subprocess
import sys

import pytest

from genoseg.annotation import AnnotationError
from genoseg.errors import DataError, GenosegError, UsageError
from genoseg.fasta import FastaError
from genoseg.model.config import ConfigError
from genoseg.model.segment_nt import ModelLoadError
from genoseg.model.tokenizer import TokenizationError
from genoseg.regions import RegionError
from genoseg.tiling import TilingError
from genoseg.train import TrainingError
from tests.helpers import annotate_run

REFERENCE = """##gff-version 3
r0\tref\tgene\t101\t900\t.\t+\t.\tID=g1;gene_biotype=protein_coding
r0\tref\tmRNA\t101\t900\t.\t+\t.\tID=t1;Parent=g1
r0\tref\texon\t101\t400\t.\t+\t.\tParent=t1
r0\tref\texon\t601\t900\t.\t+\t.\tParent=t1
r0\tref\tCDS\t131\t400\t.\t+\t0\tParent=t1
r0\tref\tCDS\t601\t870\t.\t+\t0\tParent=t1
"""

# Run the CLI in a fresh interpreter where importing torch or transformers fails.
WITHOUT_TORCH = ("import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None; "
                 "from genoseg.cli import main; main()")


@pytest.mark.parametrize("error,code", [
    (UsageError, 2), (RegionError, 2), (TilingError, 2),
    (DataError, 1), (FastaError, 1), (AnnotationError, 1), (ConfigError, 1), (ModelLoadError, 1),
    (TokenizationError, 1), (TrainingError, 1),
])
def test_every_error_a_user_can_cause_is_a_genoseg_error_with_its_exit_code(error, code):
    assert issubclass(error, GenosegError) and error.exit_code == code


def test_merge_evaluate_and_plot_run_without_importing_torch(many_records, tiny_model_dir, tmp_path):
    shards = [annotate_run(many_records, tmp_path / f"s{i}", tiny_model_dir, "--shard", f"{i}/2") for i in (1, 2)]
    reference = tmp_path / "ref.gff3"
    reference.write_text(REFERENCE)
    merged = tmp_path / "merged"
    commands = [
        ["merge", *map(str, shards), "-o", str(merged)],
        ["merge", "--help"],
        ["evaluate", "--annotation", str(reference), str(merged)],
        ["evaluate", "--annotation", str(reference), "--gff3", str(merged / "genome.genoseg.genes.gff3")],
        ["plot", str(merged), "--region", "r0:1-2000", "--annotation", str(reference), "-o", str(tmp_path / "r0.png")],
    ]
    for command in commands:
        result = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, *command], capture_output=True, text=True)
        assert result.returncode == 0, (command, result.stderr[-2000:])
    assert (merged / "run.json").is_file() and (tmp_path / "r0.png").stat().st_size > 0
    # ... while annotate, which needs the model, says so through the same guard.
    result = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, "annotate", str(many_records), "-o", str(tmp_path / "x"),
                             "-m", str(tiny_model_dir)], capture_output=True, text=True)
    assert result.returncode != 0 and "torch" in result.stderr


def test_errors_are_one_line_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "genoseg.cli", "merge", str(tmp_path), "-o", str(tmp_path / "o")],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert result.stderr.startswith("genoseg: error: ") and "no run.json" in result.stderr


def test_the_run_summary_is_printed_once(many_records, tiny_model_dir, tmp_path):
    from click.testing import CliRunner

    from genoseg.cli import main

    result = CliRunner().invoke(main, ["annotate", str(many_records), "-o", str(tmp_path / "out"), "-m",
                                       str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if " bases" in line and " in " in line]
    assert len(lines) == 1 and lines[0].startswith("genoseg: ") and "bases annotated in" in lines[0]
