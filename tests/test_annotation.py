import numpy as np
import pytest

from genoseg.annotation import AnnotationError, build_labels, read_annotation, supported_features
from tests.helpers import HAND_GFF3


HAND_GTF = """chrT\tt\ttranscript\t11\t90\t.\t+\t.\tgene_id "g1"; transcript_id "t1"; transcript_biotype "mRNA";
chrT\tt\texon\t11\t30\t.\t+\t.\tgene_id "g1"; transcript_id "t1";
chrT\tt\texon\t41\t60\t.\t+\t.\tgene_id "g1"; transcript_id "t1";
chrT\tt\texon\t71\t90\t.\t+\t.\tgene_id "g1"; transcript_id "t1";
chrT\tt\tCDS\t21\t30\t.\t+\t0\tgene_id "g1"; transcript_id "t1";
chrT\tt\tCDS\t41\t60\t.\t+\t2\tgene_id "g1"; transcript_id "t1";
chrT\tt\tCDS\t71\t80\t.\t+\t0\tgene_id "g1"; transcript_id "t1";
"""


def ranges(column):
    """0-based half-open runs of 1s."""
    padded = np.concatenate(([0], column, [0])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[0::2], edges[1::2])]


@pytest.fixture
def labels(tmp_path):
    path = tmp_path / "hand.gff3"
    path.write_text(HAND_GFF3)
    annotation = read_annotation(path)
    features = supported_features(annotation)
    return dict(zip(features, build_labels(annotation, "chrT", 400, features).T)), features


def test_supported_features(labels):
    _, features = labels
    assert features == ["protein_coding_gene", "lncRNA", "exon", "intron", "splice_donor", "splice_acceptor", "5UTR", "3UTR"]


def test_gene_exon_intron_labels(labels):
    lab, _ = labels
    assert ranges(lab["protein_coding_gene"]) == [(10, 90), (110, 170), (300, 330)]
    assert ranges(lab["lncRNA"]) == [(200, 240)]
    assert ranges(lab["exon"]) == [(10, 30), (40, 60), (70, 90), (110, 130), (150, 170), (200, 220), (230, 240), (300, 330)]
    assert ranges(lab["intron"]) == [(30, 40), (60, 70), (130, 150), (220, 230)]


def test_utrs_follow_strand(labels):
    lab, _ = labels
    # + strand: 5'UTR left of the CDS; - strand: 5'UTR on the right. Single-exon gene: no UTR.
    assert ranges(lab["5UTR"]) == [(10, 20), (160, 170)]
    assert ranges(lab["3UTR"]) == [(80, 90), (110, 120)]


def test_splice_sites_are_two_intronic_bases_in_transcript_direction(labels):
    lab, _ = labels
    assert ranges(lab["splice_donor"]) == [(30, 32), (60, 62), (148, 150), (220, 222)]
    assert ranges(lab["splice_acceptor"]) == [(38, 40), (68, 70), (130, 132), (228, 230)]


def test_gtf_gives_same_labels_as_gff3(tmp_path):
    gff, gtf = tmp_path / "a.gff3", tmp_path / "a.gtf"
    gff.write_text("\n".join(HAND_GFF3.splitlines()[:10]) + "\n")
    gtf.write_text(HAND_GTF)
    features = ["exon", "intron", "splice_donor", "splice_acceptor", "5UTR", "3UTR"]
    a = build_labels(read_annotation(gff), "chrT", 100, features)
    b = build_labels(read_annotation(gtf), "chrT", 100, features)
    assert np.array_equal(a, b) and a.any()


@pytest.mark.parametrize(
    "line,needle",
    [
        ("chrT\tt\texon\t50\t40\t.\t+\t.\tParent=t1", "bad coordinates 50-40"),
        ("chrT\tt\texon\t10\t40\t.\t+\tParent=t1", "expected 9 tab-separated columns, found 8"),
        ("chrT\tt\texon\tx\t40\t.\t+\t.\tParent=t1", "not integers"),
        ("chrT\tt\texon\t10\t40\t.\t+\t.\tParent=missing", "Parent 'missing' is not defined"),
        ("chrT\tt\texon\t10\t40\t.\t+\t.\tID=e1", "exon has no Parent"),
    ],
)
def test_malformed_gff3_names_file_and_line(tmp_path, line, needle):
    path = tmp_path / "bad.gff3"
    path.write_text("##gff-version 3\nchrT\tt\tmRNA\t1\t100\t.\t+\t.\tID=t1\n" + line + "\n")
    with pytest.raises(AnnotationError) as err:
        read_annotation(path)
    assert needle in str(err.value) and f"{path}:3" in str(err.value)


def test_real_arabidopsis_slice_reads():
    from pathlib import Path

    path = Path(__file__).parent.parent / "examples" / "athaliana_chr1_25M.gff3"
    annotation = read_annotation(path)
    assert len({t.gene_id for t in annotation.transcripts if t.biotype == "protein_coding"}) == 33
