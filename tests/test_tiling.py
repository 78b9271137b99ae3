import numpy as np
import pytest

from genoseg.fasta import Segment
from genoseg.tiling import TilingError, check_tiling, plan_windows, window_starts


def test_long_segment_windows_overlap_and_end_aligned():
    seg = Segment("r", 100, 100 + 10_000)
    spans = window_starts(seg, 2400, 600)
    assert spans[0] == (100, 2500)
    assert spans[-1] == (10_100 - 2400, 10_100)
    for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
        assert e0 - s1 >= 600  # at least the requested overlap, more for the end-aligned one
    assert all(e - s == 2400 for s, e in spans)


def test_short_segment_gets_longest_valid_windows_from_both_ends():
    seg = Segment("r", 0, 1000)
    assert window_starts(seg, 2400, 600) == [(0, 984), (16, 1000)]
    assert window_starts(Segment("r", 5, 5 + 960), 2400, 600) == [(5, 965)]
    assert window_starts(Segment("r", 0, 23), 2400, 600) == []


def test_every_base_covered_and_min_segment_skipped():
    segments = [Segment("r", 0, 5000), Segment("r", 5010, 5050), Segment("r", 5100, 5300), Segment("r", 5400, 9999)]
    windows = list(plan_windows(segments, 1200, 300, min_segment=100))
    covered = np.zeros(10_000, dtype=bool)
    for w in windows:
        assert w.length % 24 == 0
        assert w.segment.start <= w.start < w.end <= w.segment.end  # never crosses an N
        covered[w.start : w.end] = True
    for seg in segments:
        assert covered[seg.start : seg.end].all() == (seg.length >= 100)
    firsts = [w for w in windows if w.first]
    lasts = [w for w in windows if w.last]
    assert len(firsts) == len(lasts) == 3


def test_clip_keeps_full_tiling():
    seg = [Segment("r", 0, 20_000)]
    full = list(plan_windows(seg, 2400, 600, 100))
    clipped = list(plan_windows(seg, 2400, 600, 100, clip=(5000, 6000)))
    assert {(w.start, w.end) for w in clipped} == {(w.start, w.end) for w in full if w.start < 6000 and w.end > 5000}
    assert clipped[0].first and clipped[-1].last
    assert (clipped[0].keep_start, clipped[0].keep_end) == (5000, 6000)


@pytest.mark.parametrize("window,overlap,min_seg", [(100, 10, 100), (2400, 2400, 100), (2400, -1, 100), (2400, 0, 10)])
def test_invalid_tiling_rejected(window, overlap, min_seg):
    with pytest.raises(TilingError):
        check_tiling(window, overlap, min_seg)
