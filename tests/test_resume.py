"""`annotate --resume`: killed with SIGKILL at any point and started again, a run ends with the
same outputs as an uninterrupted one; a changed command line is refused."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from genoseg.resume import STATE_DIR, plan_units
from tests.helpers import RUNNER, annotate_run as annotate, assert_same_run, gapped_genome, tiny_config
from genoseg.cli import main


def test_units_close_once_full():
    assert plan_units([5, 5, 5, 20, 1, 1], 10) == [0, 0, 1, 1, 2, 2]
    assert plan_units([30], 10) == [0]


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    return gapped_genome(tmp_path_factory.mktemp("resume") / "genome.fa", 6, 20_000, 8000, 50)


def _start(genome, out, model_dir, *extra):
    command = [sys.executable, "-m", "genoseg.cli", "annotate", str(genome), "-o", str(out), "-m", str(model_dir), "-q",
               "--proteins", str(out) + ".faa", "--resume", "--resume-unit", "10000", *extra]
    # Killed runs cannot remove their temp files; keep them under the test's own directory.
    env = {**os.environ, "TMPDIR": str(out.parent)}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _kill_when(process, condition, what):
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the run ended before {what}: {process.stdout.read()}")
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def test_killed_runs_resume_to_the_uninterrupted_result(genome, tiny_model_dir, tmp_path):
    plain = annotate(genome, tmp_path / "plain", tiny_model_dir)
    out = tmp_path / "resumed"
    state = out / STATE_DIR

    def units_done():
        return sorted(p.name for p in state.glob("unit-*") if not p.name.endswith(".partial")) if state.is_dir() else []

    # Killed as soon as it has recorded what it is running, before any unit is complete ...
    _kill_when(_start(genome, out, tiny_model_dir), lambda: (state / "manifest.json").exists(), "its manifest")
    assert units_done() == []
    # ... then again once two units are complete.
    _kill_when(_start(genome, out, tiny_model_dir), lambda: len(units_done()) >= 2, "two units")
    assert not (out / "run.json").exists() and not (out / "genome.genoseg.intervals.gff3").exists()
    kept = units_done()

    # A different command line would mix two annotations: refused, and the state is kept.
    refused = _start(genome, out, tiny_model_dir, "--threshold", "0.3")
    assert refused.wait() == 2
    assert "different default_threshold (was 0.5, now 0.3)" in refused.stdout.read()
    assert units_done() == kept

    finished = _start(genome, out, tiny_model_dir)
    assert finished.wait() == 0, finished.stdout.read()
    summary = json.loads((out / "run.json").read_text())
    assert summary["resume"]["units"] == 6 and summary["resume"]["units_reused"] >= 2
    assert not state.exists()
    assert_same_run(out, plain)


def test_resume_needs_an_output_directory(genome, tiny_model_dir):
    result = RUNNER.invoke(main, ["annotate", str(genome), "-o", "-", "-m", str(tiny_model_dir), "--resume"])
    assert result.exit_code == 2 and "--resume needs an output directory" in result.output


def test_a_different_model_is_refused(genome, tmp_path):
    import torch

    from genoseg.settings import AnnotateOptions
    from genoseg.errors import UsageError
    from genoseg.model import SegmentNT
    from genoseg.resume import ResumeState, run_fingerprint

    options = AnnotateOptions(fasta=str(genome), output=str(tmp_path), resume=True)
    torch.manual_seed(1)
    first = SegmentNT(tiny_config())
    retrained = SegmentNT(tiny_config())
    with torch.no_grad():
        retrained.fc.bias.add_(1e-3)  # one small tensor changed
    ResumeState(tmp_path, run_fingerprint(options, first, None))
    ResumeState(tmp_path, run_fingerprint(options, first, None))  # same model: accepted
    with pytest.raises(UsageError, match="different model weights"):
        ResumeState(tmp_path, run_fingerprint(options, retrained, None))
