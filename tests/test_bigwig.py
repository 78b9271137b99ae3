"""The streaming bigWig writer, read back by libBigWig (pyBigWig) and by UCSC's kent library (pybbi)."""

from __future__ import annotations

import bbi
import numpy as np
import pyBigWig
import pytest

from genoseg.bigwig import BigWigWriter, quantise


def _write(path, chroms, pieces, precision=0.0):
    writer = BigWigWriter(path, chroms, precision)
    for chrom, start, values in pieces:
        writer.add(chrom, start, values)
    writer.close()


@pytest.fixture(scope="module")
def track(tmp_path_factory):
    """Two chromosomes, gaps (as over N runs), pieces of uneven size, > 256 sections (a two-level R-tree)."""
    rng = np.random.default_rng(0)
    chroms = [("chrA", 700_000), ("chrB", 50_000), ("empty", 1_000)]
    truth = {name: np.full(length, np.nan) for name, length in chroms}
    pieces = []
    for chrom, start, end, step in [("chrA", 0, 300_001, 7_777), ("chrA", 310_000, 700_000, 30_000),
                                    ("chrB", 17, 40_000, 999)]:
        for lo in range(start, end, step):
            hi = min(end, lo + step)
            values = rng.random(hi - lo).astype(np.float32)
            truth[chrom][lo:hi] = values
            pieces.append((chrom, lo, values))
    path = tmp_path_factory.mktemp("bw") / "t.bw"
    _write(path, chroms, pieces)
    return path, chroms, truth


def test_values_read_back_by_libbigwig(track):
    path, chroms, truth = track
    bw = pyBigWig.open(str(path))
    assert bw.isBigWig()
    assert bw.chroms() == {name: length for name, length in chroms}
    for name, length in chroms:
        got = np.array(bw.values(name, 0, length), dtype=np.float64)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(truth[name]))
        np.testing.assert_allclose(got[~np.isnan(got)], truth[name][~np.isnan(truth[name])], rtol=0, atol=1e-7)
    # No intervals over the gap
    assert bw.intervals("chrA", 300_001, 310_000) is None


def test_summaries_use_zoom_levels(track):
    path, _, truth = track
    bw = pyBigWig.open(str(path))
    header = bw.header()
    assert header["nLevels"] >= 4
    assert header["nBasesCovered"] == sum(int(np.sum(~np.isnan(v))) for v in truth.values())
    values = truth["chrA"]
    for lo, hi in [(0, 700_000), (123_456, 654_321), (290_000, 320_000)]:
        exact = np.nanmean(values[lo:hi])
        zoomed = bw.stats("chrA", lo, hi, type="mean")[0]  # served from zoom records
        assert zoomed == pytest.approx(exact, abs=2e-3)
        assert bw.stats("chrA", lo, hi, type="max", exact=True)[0] == pytest.approx(np.nanmax(values[lo:hi]), abs=1e-6)


def test_ucsc_library_reads_it(track):
    path, chroms, truth = track
    assert bbi.is_bigwig(str(path))
    assert dict(bbi.chromsizes(str(path))) == {name: length for name, length in chroms}
    got = bbi.fetch(str(path), "chrB", 0, 50_000, missing=np.nan)
    np.testing.assert_allclose(got, truth["chrB"], atol=1e-7, equal_nan=True)
    # Bins aligned to the zoom resolutions, so each zoom record falls inside one bin.
    binned = bbi.fetch(str(path), "chrA", 0, 655_360, bins=40, summary="mean")
    expected = np.nanmean(truth["chrA"][:655_360].reshape(40, -1), axis=1)
    np.testing.assert_allclose(binned, expected, atol=2e-3)
    info = bbi.info(str(path))
    assert info["summary"]["basesCovered"] == sum(int(np.sum(~np.isnan(v))) for v in truth.values())


def test_rounded_tracks_read_back_within_half_a_step_and_are_smaller(tmp_path):
    # A probability track shaped like a real one: long quiet stretches, smooth rises and falls.
    rng = np.random.default_rng(1)
    length = 400_000
    bumps = np.zeros(length)
    for centre in rng.integers(0, length, 60):
        lo, hi = max(0, centre - 1500), min(length, centre + 1500)
        bumps[lo:hi] += np.hanning(3000)[: hi - lo]
    values = np.clip(bumps + rng.normal(0, 0.003, length), 0, 1).astype(np.float32)
    exact, rounded = tmp_path / "exact.bw", tmp_path / "rounded.bw"
    _write(exact, [("c", length)], [("c", 0, values)])
    _write(rounded, [("c", length)], [("c", 0, values)], precision=0.01)
    got = np.array(pyBigWig.open(str(rounded)).values("c", 0, length))
    assert np.abs(got - values).max() <= 0.005 + 1e-6
    np.testing.assert_allclose(got, quantise(values, 0.01))
    assert len(np.unique(got)) <= 101
    assert rounded.stat().st_size * 3 < exact.stat().st_size
    np.testing.assert_array_equal(np.array(pyBigWig.open(str(exact)).values("c", 0, length), dtype=np.float32), values)
    # Rounding a rounded track again changes nothing (merge rewrites shards' tracks this way).
    np.testing.assert_array_equal(quantise(got, 0.01), quantise(values, 0.01))


def test_many_chromosomes_build_a_multilevel_name_tree(tmp_path):
    names = [f"contig_{i:05d}" for i in range(700)]
    chroms = [(name, 100 + i) for i, name in enumerate(names)]
    rng = np.random.default_rng(1)
    truth = {name: rng.random(length).astype(np.float32) for name, length in chroms}
    path = tmp_path / "many.bw"
    _write(path, chroms, [(name, 0, truth[name]) for name in names])
    bw = pyBigWig.open(str(path))
    assert bw.chroms() == dict(chroms)
    for name in (names[0], names[257], names[-1]):
        np.testing.assert_allclose(bw.values(name, 0, len(truth[name])), truth[name], atol=1e-7)
        np.testing.assert_allclose(bbi.fetch(str(path), name, 0, len(truth[name])), truth[name], atol=1e-7)


def test_empty_file_is_valid(tmp_path):
    path = tmp_path / "empty.bw"
    _write(path, [("chr1", 1000)], [])
    bw = pyBigWig.open(str(path))
    assert bw.chroms() == {"chr1": 1000}
    assert bw.intervals("chr1") is None


def test_out_of_order_and_out_of_range_are_refused(tmp_path):
    writer = BigWigWriter(tmp_path / "x.bw", [("chr1", 100), ("chr2", 100)])
    writer.add("chr2", 0, np.zeros(10))
    with pytest.raises(ValueError, match="before data already written"):
        writer.add("chr1", 50, np.zeros(10))
    with pytest.raises(ValueError, match="past the end"):
        writer.add("chr2", 95, np.zeros(10))
    with pytest.raises(ValueError, match="not in the header"):
        writer.add("chrX", 0, np.zeros(1))
    writer.abort()


def test_memory_does_not_depend_on_length(tmp_path):
    """Only one open section and one open bin per zoom level are held: state is O(1) in length."""
    writer = BigWigWriter(tmp_path / "long.bw", [("chr1", 5_000_000)])
    chunk = np.random.default_rng(2).random(100_000).astype(np.float32)
    for start in range(0, 5_000_000, 100_000):
        writer.add("chr1", start, chunk)
        assert writer.run_count < 1024
        assert all(level.pending_count < 1024 for level in writer.levels)
    writer.close()
    assert pyBigWig.open(str(tmp_path / "long.bw")).header()["nBasesCovered"] == 5_000_000
