"""Bad and awkward input: handled correctly, or one line naming the file and a documented exit code."""

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pysam
import pytest
import torch
from click.testing import CliRunner

from genoseg.cli import main
from genoseg.model import SegmentNT, load_model
from genoseg.model.segment_nt import ModelLoadError
from tests.helpers import bigwig_values as values, tiny_config

BAD = Path(__file__).parent / "data" / "bad"


def annotate_cli(*args):
    return CliRunner().invoke(main, ["annotate", *map(str, args), "-q"])


def assert_one_line_error(result, exit_code, *needles):
    assert result.exit_code == exit_code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    "name,needle",
    [
        ("empty.fa", "the file is empty"),
        ("no_header.fa", "line 1: sequence before the first '>' header"),
        ("text_before_header.fa", "line 1: not FASTA"),
        ("binary.fa", "not FASTA"),
        ("truncated.fa.gz", "unreadable gzip data"),
        ("duplicate_names.fa", "duplicate record name 'chr1'"),
    ],
)
def test_bad_fasta_rejected(name, needle, tiny_model_dir, tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    result = annotate_cli(BAD / name, "-m", tiny_model_dir, "-o", tmp_path / "out")
    assert_one_line_error(result, 1, name, needle)
    assert not list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True
    # Nothing the refused file made (a decompressed copy, an index) is left in the temp dir.
    assert list(scratch.iterdir()) == []


def test_empty_record_skipped(tiny_model_dir, tmp_path):
    assert annotate_cli(BAD / "empty_record.fa", "-m", tiny_model_dir, "-o", tmp_path).exit_code == 0
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["bases_annotated"] == 1200
    assert subprocess.run(["gt", "gff3validator", str(tmp_path / "empty_record.genoseg.intervals.gff3")], capture_output=True).returncode == 0


def test_only_n_record_gives_valid_empty_outputs(tiny_model_dir, tmp_path):
    assert annotate_cli(BAD / "only_n.fa", "-m", tiny_model_dir, "-o", tmp_path).exit_code == 0
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["bases_annotated"] == 0 and run["bases_skipped_n"] == 1200
    assert subprocess.run(["gt", "gff3validator", str(tmp_path / "only_n.genoseg.intervals.gff3")], capture_output=True).returncode == 0
    assert np.isnan(values(tmp_path / "only_n.genoseg.exon.bw", "gap", 1200)).all()


@pytest.mark.parametrize("name", ["crlf.fa", "uneven_lines.fa"])
def test_crlf_and_uneven_lines_read_like_clean_fasta(name, tiny_model_dir, tmp_path):
    assert annotate_cli(BAD / "crlf_reference.fa", "-m", tiny_model_dir, "-o", tmp_path / "ref").exit_code == 0
    result = annotate_cli(BAD / name, "-m", tiny_model_dir, "-o", tmp_path / "x")
    assert result.exit_code == 0, result.output
    stem = name.removesuffix(".fa")
    assert np.array_equal(values(tmp_path / "ref" / "crlf_reference.genoseg.exon.bw", "chr1", 1200),
                          values(tmp_path / "x" / f"{stem}.genoseg.exon.bw", "chr1", 1200))


def test_lowercase_and_iupac_handled(tiny_model_dir, tmp_path):
    assert annotate_cli(BAD / "lowercase_iupac.fa", "-m", tiny_model_dir, "-o", tmp_path).exit_code == 0
    v = values(tmp_path / "lowercase_iupac.genoseg.exon.bw", "chr1", 1200)
    # IUPAC R, k and '-' at 100, 500, 700 are N; [0, 100) is shorter than the minimum segment.
    assert np.isnan(v[[100, 500, 700]]).all() and np.isnan(v[:100]).all()
    assert not np.isnan(v[101:500]).any() and not np.isnan(v[701:]).any()


def test_bgzip_without_index_and_with_stale_index(tiny_model_dir, tmp_path):
    plain = BAD / "crlf_reference.fa"
    bgz = tmp_path / "g.fa.gz"
    pysam.tabix_compress(str(plain), str(bgz))
    assert annotate_cli(bgz, "-m", tiny_model_dir, "-o", tmp_path / "a").exit_code == 0
    assert not (tmp_path / "g.fa.gz.fai").exists()
    # A stale index beside the file (built for other content, older than the file) is not trusted.
    other = tmp_path / "other.fa"
    other.write_text(">chr1\n" + "ACGT" * 100 + "\n")
    pysam.tabix_compress(str(other), str(bgz), force=True)
    pysam.faidx(str(bgz))
    pysam.tabix_compress(str(plain), str(bgz), force=True)
    old = time.time() - 3600
    for suffix in (".fai", ".gzi"):
        os.utime(str(bgz) + suffix, (old, old))
    assert annotate_cli(bgz, "-m", tiny_model_dir, "-o", tmp_path / "b").exit_code == 0
    assert np.array_equal(values(tmp_path / "a" / "g.genoseg.exon.bw", "chr1", 1200), values(tmp_path / "b" / "g.genoseg.exon.bw", "chr1", 1200))


def _peak_rss(fasta, model_dir, out):
    cmd = [sys.executable, "-m", "genoseg.cli", "annotate", str(fasta), "-m", str(model_dir), "-o", str(out), "-q", "--no-bigwig"]
    subprocess.run(cmd, check=True, timeout=300)
    return json.loads((out / "run.json").read_text())


def test_100mb_single_line_record_bounded_memory(tiny_model_dir, tmp_path):
    small = tmp_path / "small.fa"
    small.write_text(">big\n" + "ACGT" * 250 + "\n")
    big = tmp_path / "big.fa"
    rng = np.random.default_rng(0)
    with open(big, "wb") as fh:
        fh.write(b">big\n")
        for _ in range(100):
            fh.write(b"N" * 999_990)
        fh.write(rng.choice(np.frombuffer(b"ACGT", np.uint8), 1000).tobytes() + b"\n")
    base = _peak_rss(small, tiny_model_dir, tmp_path / "s")
    run = _peak_rss(big, tiny_model_dir, tmp_path / "b")
    assert run["bases_annotated"] == 1000 and run["bases_skipped_n"] == 99_999_000
    # Holding the record (or a per-base array of it) would add >= 100 MB.
    assert run["peak_rss_mb"] < base["peak_rss_mb"] + 60, (run["peak_rss_mb"], base["peak_rss_mb"])


@pytest.mark.parametrize(
    "args,code,needle",
    [
        (["--region", "chr1:1-5000"], 2, "beyond record chr1"),
        (["--region", "chrX:1-10"], 2, "no record named 'chrX'"),
        (["--region", "chr1:500-100"], 2, "START <= END"),
    ],
)
def test_bad_regions(args, code, needle, tiny_model_dir, tmp_path):
    result = annotate_cli(BAD / "crlf_reference.fa", "-m", tiny_model_dir, "-o", tmp_path, *args)
    assert_one_line_error(result, code, needle)


@pytest.mark.parametrize(
    "name,needle",
    [
        ("bad_coordinates.gff3", "bad_coordinates.gff3:2: bad coordinates 100-50"),
        ("missing_parent.gff3", "missing_parent.gff3:3: Parent 't9' is not defined"),
        ("wrong_column_count.gff3", "wrong_column_count.gff3:3: expected 9 tab-separated columns, found 7"),
    ],
)
def test_bad_gff3_in_evaluate_and_train(name, needle, tmp_path):
    result = CliRunner().invoke(main, ["evaluate", "--annotation", str(BAD / name), "--gff3", str(BAD / name)])
    assert_one_line_error(result, 1, needle)
    result = CliRunner().invoke(main, ["train", "--fasta", str(BAD / "crlf_reference.fa"), "--annotation", str(BAD / name),
                                       "-o", str(tmp_path / "m"), "--quiet"])
    assert_one_line_error(result, 1, needle)


def test_unwritable_output(tiny_model_dir, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    result = annotate_cli(BAD / "crlf_reference.fa", "-m", tiny_model_dir, "-o", blocker)
    assert_one_line_error(result, 1, "a_file", "not writable")
    if os.geteuid() != 0:  # root ignores directory permissions
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        assert_one_line_error(annotate_cli(BAD / "crlf_reference.fa", "-m", tiny_model_dir, "-o", locked), 1, "not writable")


def test_full_disk_leaves_no_files(tiny_model_dir, tmp_path):
    """Simulated with a file-size limit: writes past 64 kB fail with EFBIG, as on a full disk."""
    fasta = tmp_path / "g.fa"
    seq = np.random.default_rng(2).choice(np.frombuffer(b"ACGT", np.uint8), 60_000).tobytes().decode()
    fasta.write_text(">chr1\n" + "\n".join(seq[i : i + 80] for i in range(0, len(seq), 80)) + "\n")
    out = tmp_path / "out"

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))

    cmd = [sys.executable, "-m", "genoseg.cli", "annotate", str(fasta), "-m", str(tiny_model_dir), "-o", str(out), "-q",
           "--threshold", "0.01", "--bigwig-precision", "0"]  # float32 tracks: past the limit
    result = subprocess.run(cmd, preexec_fn=limit, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not out.exists()  # the run made the directory, and removes it again


def _start_long_run(tiny_model_dir, tmp_path):
    fasta = tmp_path / "long.fa"
    seq = np.random.default_rng(3).choice(np.frombuffer(b"ACGT", np.uint8), 3_000_000).tobytes().decode()
    fasta.write_text(">chr1\n" + "\n".join(seq[i : i + 80] for i in range(0, len(seq), 80)) + "\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "genoseg.cli", "annotate", str(fasta), "-m", str(tiny_model_dir), "-o", str(out), "-q"]
    scratch = tmp_path / "scratch"  # the run's temp dir (its FASTA index), checked after a signal
    scratch.mkdir()
    # A shell starts background jobs with SIGINT ignored, and children inherit that: give the run
    # the default handling a user's terminal gives it, whatever launched pytest.
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(scratch)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and any("partial" in p.name for p in out.iterdir())):
        time.sleep(0.2)
    time.sleep(1.0)  # well inside the run: outputs are open and being written
    assert proc.poll() is None, "run finished before it could be interrupted"
    return proc, out


def _stderr_after_signal(proc: subprocess.Popen) -> str:
    try:
        return proc.communicate(timeout=60)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"still running 60 s after the signal; its stderr: {proc.communicate()[1][-2000:]!r}")


def test_sigterm_cleans_up(tiny_model_dir, tmp_path):
    proc, out = _start_long_run(tiny_model_dir, tmp_path)
    proc.send_signal(signal.SIGTERM)
    stderr = _stderr_after_signal(proc)
    assert proc.returncode == 143 and "terminated" in stderr and "Traceback" not in stderr
    assert not out.exists() and list((tmp_path / "scratch").iterdir()) == []


def test_ctrl_c_stops_promptly_and_cleans_up(tiny_model_dir, tmp_path):
    proc, out = _start_long_run(tiny_model_dir, tmp_path)
    sent = time.time()
    proc.send_signal(signal.SIGINT)
    stderr = _stderr_after_signal(proc)
    assert time.time() - sent < 10
    assert proc.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    assert not out.exists() and list((tmp_path / "scratch").iterdir()) == []


def test_sigkill_leaves_no_complete_looking_file(tiny_model_dir, tmp_path):
    proc, out = _start_long_run(tiny_model_dir, tmp_path)
    proc.kill()
    proc.wait(timeout=60)
    final = [p.name for p in out.iterdir() if not p.name.startswith(".")]
    assert final == []


def test_missing_and_mismatched_model(tmp_path):
    result = annotate_cli(BAD / "crlf_reference.fa", "-m", tmp_path / "nope", "-o", tmp_path / "o")
    assert_one_line_error(result, 1, "no such model directory")
    model_dir = tmp_path / "mismatch"
    SegmentNT(tiny_config()).save_pretrained(model_dir)
    cfg = json.loads((model_dir / "config.json").read_text())
    cfg["features"] = cfg["features"][:3]  # config says 3 classes, weights hold 8
    (model_dir / "config.json").write_text(json.dumps(cfg))
    result = annotate_cli(BAD / "crlf_reference.fa", "-m", model_dir, "-o", tmp_path / "o")
    assert_one_line_error(result, 1, "mismatch", "fc.weight")


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {_Exploit.marker}",))


def test_pickle_that_runs_code_is_refused(tmp_path):
    _Exploit.marker = tmp_path / "pwned"
    model_dir = tmp_path / "evil"
    model = SegmentNT(tiny_config())
    model.config.save_pretrained(model_dir)
    state = dict(model.state_dict())
    state["fc.bias"] = _Exploit()
    torch.save(state, model_dir / "pytorch_model.bin")
    with pytest.raises(ModelLoadError):
        load_model(model_dir)
    assert not _Exploit.marker.exists()


def test_debug_flag_shows_traceback(tiny_model_dir, tmp_path):
    result = CliRunner().invoke(main, ["--debug", "annotate", str(BAD / "empty.fa"), "-m", str(tiny_model_dir), "-o", str(tmp_path)])
    assert result.exit_code != 0 and result.exception is not None
