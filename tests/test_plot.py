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
