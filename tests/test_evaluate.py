import json

import numpy as np
import pytest
from click.testing import CliRunner

from genoseg.cli import main
from genoseg.evaluate import evaluate
from genoseg.metrics import Confusion, SetAgreement
from tests.helpers import HAND_GFF3


def test_confusion_known_counts():
    c = Confusion()
    pred = np.array([1, 1, 1, 0, 0, 0, 0, 1], dtype=bool)
    true = np.array([1, 1, 0, 1, 0, 0, 0, 0], dtype=bool)
    c.add(pred, true)
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 2, 1, 3)
    assert c.precision == pytest.approx(0.5) and c.recall == pytest.approx(2 / 3)
    assert c.f1 == pytest.approx(4 / 7)
    assert c.mcc == pytest.approx((2 * 3 - 2 * 1) / np.sqrt(4 * 3 * 5 * 4))


def test_set_agreement():
    a = SetAgreement.of({1, 2, 3, 4}, {3, 4, 5})
    assert (a.precision, a.recall) == (0.5, pytest.approx(2 / 3))


def _genoseg_gff3(lines):
    body = "".join(
        f"chrT\tgenoseg\t{t}\t{s}\t{e}\t0.9\t.\t.\tID={c}_{i};class={c}\n" for i, (t, c, s, e) in enumerate(lines)
    )
    return "##gff-version 3\n##sequence-region chrT 1 400\n" + body


def test_evaluate_genoseg_intervals_known_answer(tmp_path):
    ref = tmp_path / "ref.gff3"
    ref.write_text(HAND_GFF3)
    run = tmp_path / "run"
    run.mkdir()
    # Exons of the + strand gene exactly, one of the - strand gene off by one, lncRNA exons missing.
    (run / "x.gff3").write_text(_genoseg_gff3([
        ("exon", "exon", 11, 30), ("exon", "exon", 41, 60), ("exon", "exon", 71, 90),
        ("exon", "exon", 112, 130), ("exon", "exon", 151, 170), ("exon", "exon", 301, 330),
    ]))
    result = evaluate(str(ref), str(run))
    assert result["prediction_kind"] == "genoseg intervals"
    assert list(result["per_base"]) == ["exon"]
    exon = result["per_base"]["exon"]
    # Reference exon bases: 20+20+20+20+20+20+10+30 = 160; predicted 20*3+19+20+30 = 129, all inside.
    assert (exon["tp"], exon["fp"], exon["fn"]) == (129, 0, 31)
    assert result["exon_level"] == {"predicted": 6, "reference": 8, "matched": 5, "precision": 0.8333,
                                    "recall": 0.625, "f1": 0.7143}
    assert result["gene_level"] == {"reference_genes": 3, "all_exons_exact": 2, "accuracy": 0.6667}


def test_evaluate_gene_models_and_region(tmp_path):
    ref = tmp_path / "ref.gff3"
    ref.write_text(HAND_GFF3)
    result = evaluate(str(ref), str(ref), regions=["chrT:1-100"])
    assert result["prediction_kind"] == "gene models"
    assert all(m["f1"] == 1.0 for m in result["per_base"].values() if m["tp"])
    assert result["exon_level"]["reference"] == 3 and result["gene_level"]["reference_genes"] == 1


def test_evaluate_cli_json(tmp_path):
    ref = tmp_path / "ref.gff3"
    ref.write_text(HAND_GFF3)
    out = tmp_path / "m.json"
    result = CliRunner().invoke(main, ["evaluate", "--annotation", str(ref), "--gff3", str(ref), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "exon (exact boundaries)" in result.output
    assert json.loads(out.read_text())["gene_level"]["accuracy"] == 1.0
    bad = CliRunner().invoke(main, ["evaluate", "--annotation", str(ref)])
    assert bad.exit_code == 2 and "either" in bad.output
