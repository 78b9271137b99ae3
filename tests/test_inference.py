"""Batching: full windows in order, short windows (fragmented assemblies) packed into full batches."""

import json

import numpy as np
import pyBigWig
import pytest
from click.testing import CliRunner

from genoseg.cli import main
from genoseg.fasta import Segment
from genoseg.inference import pack_batches, padded_length
from genoseg.tiling import Window
from tests.helpers import RNG, random_dna


def _window(length: int, start: int = 0) -> Window:
    segment = Segment("r", start, start + length)
    return Window(segment, start, start + length, True, True, start, start + length)


def test_padded_length_at_most_doubles_and_keeps_full_windows():
    assert padded_length(3072, 3072) is None
    for length in range(24, 3072, 24):
        size = padded_length(length, 3072)
        assert size % 24 == 0 and length <= size <= max(2 * length + 24, length + 3072 // 8)


def test_packing_is_a_permutation_with_full_batches_and_bounded_lookahead():
    lengths = [480] * 5 + [int(n) * 24 for n in RNG.integers(1, 20, 1000)] + [480] * 9
    windows = [_window(n, 1000 * i) for i, n in enumerate(lengths)]
    groups = list(pack_batches(windows, batch_size=4, window=480))
    order = [index for group, _ in groups for index, _ in group]
    assert sorted(order) == list(range(len(windows)))
    capacity = {size: 4 * max(1, 480 // size) for size in {s for _, s in groups if s}}
    for group, size in groups:
        assert {padded_length(w.length, 480) for _, w in group} == {size}
        assert len(group) <= (capacity[size] if size else 4)
    # Full windows keep their order and their batches: the first five, then the last nine.
    full = [[i for i, _ in g] for g, size in groups if size is None]
    assert full == [[0, 1, 2, 3], [4], [1005, 1006, 1007, 1008], [1009, 1010, 1011, 1012], [1013]]
    # A window is never overtaken by more than the look-ahead (4 full batches) of bases.
    done = np.zeros(len(windows), bool)
    for group, size in groups:
        for index, _ in group:
            assert sum(np.array(lengths[:index])[~done[:index]]) <= 4 * 4 * 480 + 480
        done[[index for index, _ in group]] = True
    # Short windows mostly travel in full batches.
    fill = [len(group) / capacity[size] for group, size in groups if size]
    assert np.mean(fill) > 0.7


@pytest.fixture(scope="module")
def fragmented(tmp_path_factory):
    """2,000 contigs shorter than the tiny model's 480-nt window, as in a fragmented assembly."""
    path = tmp_path_factory.mktemp("fragmented") / "contigs.fa"
    with open(path, "w") as fh:
        for i, length in enumerate(RNG.integers(130, 240, 2000)):
            fh.write(f">contig{i}\n{random_dna(int(length))}\n")
    return path


def test_thousands_of_short_contigs_run_in_full_batches(fragmented, tiny_model_dir, tmp_path):
    runner = CliRunner()
    common = ["-m", str(tiny_model_dir), "-q", "--no-gene-models"]
    packed = runner.invoke(main, ["annotate", str(fragmented), "-o", str(tmp_path / "packed"), *common])
    assert packed.exit_code == 0, packed.output
    run = json.loads((tmp_path / "packed" / "run.json").read_text())
    assert run["records"] == 2000 and run["bases_annotated"] == run["bases_in_scope"]
    # One contig per batch would be at least 2,000 forward passes.
    assert run["windows"] >= 2000 and run["forward_batches"] <= run["windows"] / 8 + 10
    # Packing depends only on the genome, so shards of it merge into exactly the single run.
    for i in (1, 2, 3):
        result = runner.invoke(main, ["annotate", str(fragmented), "-o", str(tmp_path / f"s{i}"), "--shard", f"{i}/3",
                                      *common])
        assert result.exit_code == 0, result.output
    merged = runner.invoke(main, ["merge", *(str(tmp_path / f"s{i}") for i in (1, 2, 3)), "-o", str(tmp_path / "merged")])
    assert merged.exit_code == 0, merged.output
    assert (tmp_path / "merged" / "contigs.genoseg.intervals.bed").read_text() == (tmp_path / "packed" / "contigs.genoseg.intervals.bed").read_text()
    a, b = (pyBigWig.open(str(tmp_path / d / "contigs.genoseg.exon.bw")) for d in ("merged", "packed"))
    for name, length in b.chroms().items():
        np.testing.assert_array_equal(a.values(name, 0, length, numpy=True), b.values(name, 0, length, numpy=True))


def test_padded_windows_on_both_strands_flip_only_their_real_part(tmp_path, tiny_model_dir):
    """With --strands both, a padded row's reverse complement is flipped back over its own length."""
    import torch

    from genoseg.fasta import FastaReader, reverse_complement
    from genoseg.inference import BatchProducer, Predictor
    from genoseg.model import load_model

    model = load_model(tiny_model_dir)
    fasta = tmp_path / "short.fa"
    fasta.write_text(f">a\n{random_dna(240)}\n>b\n{random_dna(264)}\n")  # both padded to 288
    with FastaReader(fasta) as reader:
        windows = [Window(s, s.start, s.end, True, True, s.start, s.end) for r in reader.records for s in reader.segments(r.name)]
        batches = list(BatchProducer(reader, windows, 8, model.tokenizer, pin_memory=False, window=480, both_strands=True))
        assert len(batches) == 1 and batches[0].lengths is not None
        got = Predictor(model, torch.device("cpu"))(batches[0])
        for row, window in enumerate(windows):
            seq = reader.fetch(window.record, window.start, window.end)
            with torch.no_grad():
                forward = model(torch.from_numpy(model.tokenizer.encode_batch(seq[None])))[0]
                reverse = model(torch.from_numpy(model.tokenizer.encode_batch(reverse_complement(seq)[None])))[0]
            want = ((forward + reverse.flip(0)) / 2).numpy()
            np.testing.assert_allclose(got[row, : window.length], want, atol=2e-6, rtol=0)
