"""The HPC examples run as documented: the SLURM array scripts (with the variables SLURM sets)
and the Snakemake workflow both end with exactly the files of a single run."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import annotate_run as annotate, assert_same_run, gapped_genome

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    return gapped_genome(tmp_path_factory.mktemp("examples") / "genome.fa", 4, 6000, 2500, 30)


@pytest.fixture(scope="module")
def single(genome, tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    annotate(genome, out, tiny_model_dir)
    return out


def _environment(**extra) -> dict:
    env = dict(os.environ, **extra)
    # The scripts call `genoseg` (and Snakemake calls `python`) from PATH, as on a cluster.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_slurm_array_and_merge_scripts(genome, tiny_model_dir, single, tmp_path):
    out = tmp_path / "run"
    common = dict(GENOME=str(genome), OUT=str(out), MODEL=str(tiny_model_dir))
    for task in (1, 2, 3):
        env = _environment(SLURM_ARRAY_TASK_ID=str(task), SLURM_ARRAY_TASK_COUNT="3", **common)
        subprocess.run(["bash", str(EXAMPLES / "slurm" / "annotate_array.sbatch")], env=env, check=True)
    subprocess.run(["bash", str(EXAMPLES / "slurm" / "merge.sbatch")], env=_environment(**common), check=True)
    merged = out / "merged"
    (merged / "proteins.faa").rename(tmp_path / "merged.faa")
    assert_same_run(merged, single, (tmp_path / "merged.faa", Path(str(single) + ".faa")))
    for script in ("submit.sh", "multi_gpu_node.sh"):
        subprocess.run(["bash", "-n", str(EXAMPLES / "slurm" / script)], check=True)


def test_snakemake_scatter_gather_equals_a_single_run(genome, tiny_model_dir, single, tmp_path):
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--quiet", "all", "--snakefile",
               str(EXAMPLES / "snakemake" / "Snakefile"), "--directory", str(tmp_path),
               "--config", f"genome={genome}", "shards=3", f"model={tiny_model_dir}", "out=run"]
    result = subprocess.run(command, env=_environment(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    merged = tmp_path / "run" / "merged"
    (merged / "proteins.faa").rename(tmp_path / "merged.faa")
    assert_same_run(merged, single, (tmp_path / "merged.faa", Path(str(single) + ".faa")))
