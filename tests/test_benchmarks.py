"""The measurement scripts under benchmarks/ that docs/models.md quotes, on hand-made genes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from genoseg.annotation import CODING, Transcript

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _t(gene: str, cds: list[tuple[int, int]], strand: str = "+", name: str | None = None) -> Transcript:
    return Transcript(name or gene + ".1", "chr1", strand, CODING, gene, exons=list(cds), cds=list(cds))


def test_gene_errors_classes_each_kind_of_miss():
    gene_errors = _load("gene_errors")
    reference = {
        "right": [_t("right", [(100, 200), (300, 400)])],
        "missed": [_t("missed", [(1000, 1300)])],
        "split": [_t("split", [(2000, 2100), (3000, 3100)])],
        "merged_a": [_t("merged_a", [(4000, 4300)])],
        "merged_b": [_t("merged_b", [(4500, 4800)])],
        "ends": [_t("ends", [(5000, 5100), (5200, 5300)])],
        "extra": [_t("extra", [(6000, 6300)])],
        "fewer": [_t("fewer", [(7000, 7100), (7200, 7300), (7400, 7500)])],
        "other": [_t("other", [(8000, 8100), (8200, 8300)])],
        # two isoforms: the prediction matches the second exactly
        "isoforms": [_t("isoforms", [(9000, 9100), (9200, 9300)]), _t("isoforms", [(9000, 9300)], name="iso.2")],
    }
    predicted = [
        _t("p1", [(100, 200), (300, 400)]),
        _t("p2", [(1000, 1300)], strand="-"),  # the other strand: still missed
        _t("p3", [(2000, 2100)]), _t("p4", [(3000, 3100)]),
        _t("p5", [(4000, 4800)]),
        _t("p6", [(4990, 5100), (5200, 5300)]),
        _t("p7", [(6000, 6100), (6200, 6300)]),
        _t("p8", [(7000, 7100), (7200, 7500)]),
        _t("p9", [(8000, 8150), (8200, 8300)]),
        _t("p10", [(9000, 9300)]),
    ]
    counts = gene_errors.classify(reference, predicted)
    assert counts == {"right": 2, "missed": 1, "split": 1, "merged": 2, "start/stop": 1, "extra intron": 1,
                      "missed intron": 1, "other introns": 1}
