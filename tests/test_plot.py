from click.testing import CliRunner

from genoseg.annotate import AnnotateOptions, annotate
from genoseg.cli import main
from tests.helpers import HAND_GFF3


def test_plot_writes_png_with_reference(synthetic_fasta, tiny_model_dir, tmp_path):
    annotate(AnnotateOptions(fasta=str(synthetic_fasta), output=str(tmp_path / "run"), model=str(tiny_model_dir)))
    ref = tmp_path / "ref.gff3"
    ref.write_text(HAND_GFF3.replace("chrT", "chrA"))
    png = tmp_path / "locus.png"
    result = CliRunner().invoke(main, ["plot", str(tmp_path / "run"), "--region", "chrA:1-400", "--annotation", str(ref), "-o", str(png)])
    assert result.exit_code == 0, result.output
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    bad = CliRunner().invoke(main, ["plot", str(tmp_path / "run"), "--region", "chrQ:1-400", "-o", str(png)])
    assert bad.exit_code == 2 and "no record named 'chrQ'" in bad.output


def test_the_example_in_plot_help_runs_on_the_bundled_example(tmp_path, monkeypatch):
    """`genoseg plot --help` shows a command for the bundled example: it must work as written."""
    import re
    import shlex
    from pathlib import Path

    root = Path(__file__).parents[1]
    help_text = CliRunner().invoke(main, ["plot", "--help"]).output
    command = re.search(r"genoseg plot .*?-o \S+", help_text.replace("\\\n", " "), re.S).group(0)
    args = shlex.split(command)[2:]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(root / "examples")
    run = CliRunner().invoke(main, ["annotate", "examples/athaliana_chr1_25M.fa.gz", "-o", "example_out", "-q"])
    assert run.exit_code == 0, run.output
    result = CliRunner().invoke(main, ["plot", *args])
    assert result.exit_code == 0, (args, result.output)
    assert (tmp_path / "locus.png").read_bytes()[:4] == b"\x89PNG"


def test_genes_and_labels_are_packed_without_overlap():
    from genoseg.annotation import Transcript
    from genoseg.plot import pack_rows

    genes = [(Transcript(f"t{i}", "c", "+", "protein_coding", f"g{i}", [(s, s + 300)], [(s, s + 300)]), name)
             for i, (s, name) in enumerate([(100, "A_GENE_WITH_A_LONG_NAME"), (450, "B"), (900, "C"), (1000, "D"),
                                            (5000, "E")])]
    placed = pack_rows(genes, 0, 6000, bases_per_char=40.0)
    for a in placed:
        assert a.left <= a.label_left and a.label_left + len(a.label) * 40.0 <= a.right + 1e-9
        assert 0 <= a.label_left and a.right <= 6000
        for b in placed:
            if a is not b and a.row == b.row:
                assert a.right <= b.left or b.right <= a.left, (a.label, b.label)
    rows = {p.label: p.row for p in placed}
    # B's short label fits beside its gene but the long label of A reaches over it: a second row.
    assert rows["A_GENE_WITH_A_LONG_NAME"] == 0 and rows["B"] == 1 and rows["E"] == 0


def test_genes_are_labelled_by_name_one_per_gene():
    from genoseg.annotation import read_annotation
    from genoseg.plot import one_per_gene

    from pathlib import Path

    reference = read_annotation(Path(__file__).parents[1] / "examples" / "athaliana_chr1_25M.gff3")
    genes = one_per_gene(reference, "NC_003070.9_25M", 30_000, 45_000)
    assert [label for _, label in genes] == ["AT1G08893", "AT1G08897", "AT1G67060", "DIN9"]
    ids = [t.gene_id for t, _ in genes]
    assert len(set(ids)) == len(ids)
