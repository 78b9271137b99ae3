import numpy as np

from genoseg.intervals import IntervalCaller
from genoseg.stitching import Track


def _feed_in_chunks(caller, record, start, values, chunk):
    out = []
    for i in range(0, len(values), chunk):
        out += caller.feed(Track(record, start + i, values[i : i + chunk]))
    return out + caller.end_segment()


def test_runs_across_chunk_boundaries_are_joined():
    values = np.zeros((100, 2), dtype=np.float32)
    values[10:30, 0] = 0.8
    values[25:26, 0] = 0.9
    values[40:100, 1] = 0.6
    values[50:52, 1] = 0.2
    for chunk in (1, 7, 30, 100):
        caller = IntervalCaller(["exon", "intron"], {"exon": 0.5, "intron": 0.5})
        got = _feed_in_chunks(caller, "chr", 1000, values, chunk)
        assert [(i.feature, i.start, i.end) for i in got] == [
            ("exon", 1010, 1030), ("intron", 1040, 1050), ("intron", 1052, 1100)
        ]
        exon = got[0]
        assert abs(exon.mean - (19 * 0.8 + 0.9) / 20) < 1e-6 and abs(exon.peak - 0.9) < 1e-6


def test_per_class_thresholds_and_min_length():
    values = np.full((50, 2), 0.55, dtype=np.float32)
    values[:3, 1] = 0.0
    caller = IntervalCaller(["exon", "intron"], {"exon": 0.6, "intron": 0.5}, min_length=10)
    got = _feed_in_chunks(caller, "c", 0, values, 13)
    assert [(i.feature, i.start, i.end) for i in got] == [("intron", 3, 50)]
    assert caller.counts == {"exon": 0, "intron": 1}


def test_output_sorted_by_start():
    rng = np.random.default_rng(1)
    values = (rng.random((2000, 3)) > 0.7).astype(np.float32)
    caller = IntervalCaller(["a", "b", "c"], {})
    got = _feed_in_chunks(caller, "c", 0, values, 97)
    starts = [i.start for i in got]
    assert starts == sorted(starts)
    assert sum(i.end - i.start for i in got) == int(values.sum())
