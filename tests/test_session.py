"""session.py: the IGV session written beside a run, read as XML and, where IGV is installed,
loaded by IGV itself in batch mode under xvfb (Debian: apt-get install igv xvfb)."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pysam
import pytest

from genoseg.outputs import finished_run
from tests.helpers import annotate_run

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "examples" / "athaliana_chr1_25M.fa.gz"
IGV_JAR = Path("/usr/share/java/igv.jar")


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    """The bundled example as a plain FASTA with its .fai (what IGV opens), annotated."""
    root = tmp_path_factory.mktemp("session")
    fasta = root / "example.fa"
    with gzip.open(EXAMPLE, "rb") as src, open(fasta, "wb") as dst:
        shutil.copyfileobj(src, dst)
    pysam.faidx(str(fasta))
    return annotate_run(fasta, root / "run", ROOT / "src" / "genoseg" / "models" / "default",
                        "--bigwig-classes", "protein_coding_gene,exon,intron,splice_donor")


def test_session_names_the_run_files_gene_models_first(example_run):
    summary, files = finished_run(example_run)
    session = ET.parse(files.igv_session).getroot()
    assert session.get("genome") == str(Path(summary.input).resolve())
    assert session.get("locus") == "NC_003070.9_25M:1-50000"
    paths = [r.get("path") for r in session.iter("Resource")]
    assert paths[0] == files.genes_gff3.name
    assert all((example_run / p).is_file() for p in paths)  # relative to the session file
    tracks = session.findall("Panel/Track")
    assert [t.get("name") for t in tracks] == ["genoseg gene models", "protein_coding_gene", "exon", "intron",
                                              "splice_donor", "genoseg class intervals"]
    exon = next(t for t in tracks if t.get("name") == "exon")
    assert exon.get("color") == "0,150,60" and exon.get("autoScale") == "false"
    assert exon.find("DataRange").attrib == {"baseline": "0.0", "maximum": "1.0", "minimum": "0.0", "type": "LINEAR"}
    assert files.igv_session.name in summary.outputs


@pytest.mark.skipif(shutil.which("xvfb-run") is None or not IGV_JAR.is_file(), reason="IGV and xvfb not installed")
def test_igv_loads_the_session_and_draws_it(example_run, tmp_path):
    summary, files = finished_run(example_run)
    home = tmp_path / "home"
    (home / "igv").mkdir(parents=True)
    # IGV's own home, with the run's genome as its default: otherwise it looks for hg19 online.
    (home / "igv" / "prefs.properties").write_text(f"DEFAULT_GENOME_KEY={summary.input}\n")
    batch = tmp_path / "batch.txt"
    batch.write_text(f"load {files.igv_session}\nsnapshotDirectory {tmp_path}\n"
                     "goto NC_003070.9_25M:1-30000\nsnapshot session.png\nexit\n")
    result = subprocess.run(["xvfb-run", "-a", "java", f"-Duser.home={home}", "-Xmx1g", "-cp", str(IGV_JAR),
                             "org.broad.igv.ui.Main", "-g", summary.input, "-b", str(batch)],
                            capture_output=True, text=True, timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-2000:]
    for path in [files.genes_gff3, *(files.bigwig(f) for f in ("exon", "intron")), files.intervals_bed]:
        assert f"Loading resource:  {path}" in log
    assert "Error loading" not in log and "DataLoadException" not in log
    png = tmp_path / "session.png"
    header = png.read_bytes()[:24]
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and width >= 800 and height >= 400
