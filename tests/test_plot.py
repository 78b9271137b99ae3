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
