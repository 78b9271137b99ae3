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


def _gff3(genes: dict[str, list[tuple[str, list[tuple[int, int]]]]], seqid: str = "chrZ") -> str:
    """GFF3 of coding genes: {gene: [(strand, CDS pieces 1-based inclusive), one per transcript]}."""
    lines = ["##gff-version 3", f"##sequence-region {seqid} 1 10000"]
    for gene, transcripts in genes.items():
        start = min(s for _, cds in transcripts for s, _ in cds)
        end = max(e for _, cds in transcripts for _, e in cds)
        strand = transcripts[0][0]
        lines.append(f"{seqid}\tt\tgene\t{start}\t{end}\t.\t{strand}\t.\tID={gene};gene_biotype=protein_coding")
        for n, (strand, cds) in enumerate(transcripts, start=1):
            tid = f"{gene}.{n}"
            lines.append(f"{seqid}\tt\tmRNA\t{cds[0][0]}\t{cds[-1][1]}\t.\t{strand}\t.\tID={tid};Parent={gene}")
            for s, e in cds:
                lines.append(f"{seqid}\tt\texon\t{s}\t{e}\t.\t{strand}\t.\tParent={tid}")
                lines.append(f"{seqid}\tt\tCDS\t{s}\t{e}\t.\t{strand}\t0\tParent={tid}")
    return "\n".join(lines) + "\n"


CDS_REFERENCE = {
    "A": [("+", [(101, 200), (301, 400)]), ("+", [(101, 200), (351, 400)])],  # two transcripts
    "B": [("+", [(1001, 1100), (1201, 1300), (1401, 1500)])],
    "C": [("-", [(2001, 2100)])],
    "D": [("-", [(2301, 2400)])],
    "E": [("+", [(3001, 3100), (3201, 3300)])],
    "F": [("+", [(4001, 4150)])],
}
CDS_PREDICTION = {
    "pA": [("+", [(101, 200), (351, 400)])],  # A's second transcript, exactly
    "pB1": [("+", [(1001, 1100), (1201, 1300)])], "pB2": [("+", [(1401, 1500)])],  # B split in two
    "pCD": [("-", [(2001, 2100), (2301, 2400)])],  # C and D merged
    "pE": [("+", [(3001, 3100), (3202, 3300)])],  # a frame shift at E's second exon
    "pF": [("+", [(4001, 4150)])],
    "pG": [("+", [(5001, 5100)])],  # a false gene
}


def test_cds_exon_and_locus_levels_have_known_answers(tmp_path):
    ref, pred = tmp_path / "ref.gff3", tmp_path / "pred.gff3"
    ref.write_text(_gff3(CDS_REFERENCE))
    pred.write_text(_gff3(CDS_PREDICTION))
    result = evaluate(str(ref), str(pred))
    exon, locus = result["cds_exon"], result["locus"]
    # 11 distinct CDS exons each side; 9 shared (all but A's 301-400, E's second exon, pG's).
    assert (exon["reference"], exon["predicted"], exon["found"]) == (11, 11, 9)
    assert exon["sensitivity"] == exon["precision"] == round(9 / 11, 4)
    # Genes A (through its second transcript) and F are found; pA and pF are right.
    assert (locus["reference"], locus["predicted"], locus["found"], locus["right"]) == (6, 7, 2, 2)
    assert locus["sensitivity"] == round(2 / 6, 4) and locus["precision"] == round(2 / 7, 4)
    assert locus["f1"] == round(2 * (2 / 6) * (2 / 7) / (2 / 6 + 2 / 7), 4)
    # Against itself every measure is 1.
    same = evaluate(str(ref), str(ref))
    assert same["cds_exon"]["f1"] == same["locus"]["f1"] == 1.0


def test_cds_measures_leave_out_transcripts_partly_outside_the_region(tmp_path):
    ref, pred = tmp_path / "ref.gff3", tmp_path / "pred.gff3"
    ref.write_text(_gff3(CDS_REFERENCE))
    pred.write_text(_gff3(CDS_PREDICTION))
    # 1-3050 holds A, B, C, D whole; E (3001-3300) is cut and left out on both sides.
    result = evaluate(str(ref), str(pred), ["chrZ:1-3050"])
    assert (result["locus"]["reference"], result["locus"]["predicted"]) == (4, 4)
    assert (result["cds_exon"]["reference"], result["cds_exon"]["predicted"]) == (8, 7)
    assert result["locus"]["found"] == result["locus"]["right"] == 1


def test_a_run_directory_is_scored_by_its_gene_models_or_its_intervals(tmp_path):
    """With --intervals the run's interval file gives the per-base figures, its gene GFF3 the CDS
    measures; by default everything comes from the gene models."""
    from genoseg.outputs import commit_set
    from genoseg.summary import RunSummary

    run = tmp_path / "run"
    run.mkdir()
    (run / "genome.genoseg.intervals.gff3").write_text(
        "##gff-version 3\nchrZ\tgenoseg\texon\t101\t200\t0.9\t.\t.\tID=exon_1;class=exon\n")
    (run / "genome.genoseg.genes.gff3").write_text(_gff3(CDS_PREDICTION))
    commit_set(run, [], RunSummary(input="genome.fa", genoseg_version="x"))
    ref = tmp_path / "ref.gff3"
    ref.write_text(_gff3(CDS_REFERENCE))
    result = evaluate(str(ref), str(run), intervals=True)
    assert result["prediction_kind"] == "genoseg intervals" and list(result["per_base"]) == ["exon"]
    assert result["locus"]["found"] == 2 and result["cds_exon"]["found"] == 9
    # By default a run directory is scored by its gene models, as --gff3 would score them.
    default = evaluate(str(ref), str(run))
    assert default["prediction_kind"] == "gene models" and default["prediction"].endswith("genome.genoseg.genes.gff3")
    assert default == evaluate(str(ref), str(run / "genome.genoseg.genes.gff3"))
