"""The model shipped inside the package: loads offline and annotates the held-out example well."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner

from genoseg.settings import BUNDLED_MODEL
from genoseg.cli import main
from genoseg.evaluate import evaluate
from genoseg.model import load_model

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_bundled_model_is_small_and_loads_strictly():
    weights = BUNDLED_MODEL / "model.safetensors"
    assert weights.stat().st_size <= 20 * 2**20
    model = load_model(str(BUNDLED_MODEL))
    assert model.features == ["protein_coding_gene", "lncRNA", "exon", "intron", "splice_donor", "splice_acceptor",
                              "5UTR", "3UTR"]
    assert (BUNDLED_MODEL / "train_report.json").is_file()


def test_default_model_annotates_the_example(tmp_path):
    """No --model: the bundled one. The example is held out from training; a trained model finds its exons."""
    out = tmp_path / "out"
    proteins = tmp_path / "proteins.faa"
    result = CliRunner().invoke(main, ["annotate", str(EXAMPLES / "athaliana_chr1_25M.fa.gz"), "-o", str(out), "-q",
                                       "--proteins", str(proteins), "--cds", str(tmp_path / "cds.fna")])
    assert result.exit_code == 0, result.output
    run = json.loads((out / "run.json").read_text())
    assert run["model"] == str(BUNDLED_MODEL) and run["bases_annotated"] == 200_000
    gff = out / "athaliana_chr1_25M.genoseg.intervals.gff3"
    assert subprocess.run(["gt", "gff3validator", str(gff)], capture_output=True).returncode == 0
    scores = evaluate(str(EXAMPLES / "athaliana_chr1_25M.gff3"), str(out), intervals=True)
    # A random-weight model scores about 0 here; the shipped one was measured at the values in
    # docs/models.md. The bounds leave room for CPU numerics, not for an untrained model.
    assert scores["per_base"]["exon"]["mcc"] > 0.4
    assert scores["per_base"]["protein_coding_gene"]["mcc"] > 0.4

    # Gene models: valid, tidy hierarchical GFF3 whose exons are exact far more often than the
    # thresholded intervals' (0.002 here), and a protein for every coding gene.
    genes = out / "athaliana_chr1_25M.genoseg.genes.gff3"
    assert subprocess.run(["gt", "gff3validator", str(genes)], capture_output=True).returncode == 0
    tidy = subprocess.run(["gt", "gff3", "-tidy", "-retainids", str(genes)], capture_output=True, text=True)
    assert tidy.stdout == genes.read_text()
    decoded = evaluate(str(EXAMPLES / "athaliana_chr1_25M.gff3"), str(genes))
    assert evaluate(str(EXAMPLES / "athaliana_chr1_25M.gff3"), str(out)) == {**decoded, "prediction": str(genes)}
    assert decoded["exon_level"]["f1"] > 0.5 > 20 * scores["exon_level"]["f1"]  # measured 0.580
    assert decoded["gene_level"]["cds_exact"] >= 10  # measured 15 of 33
    assert run["gene_models"]["protein_coding"] == proteins.read_text().count(">") > 20
    # --cds: the coding sequences under the proteins' names, each translating to its protein.
    import numpy as np

    from genoseg.genes.sequence import CODE, translate

    def records(path):
        out = {}
        for block in path.read_text().split(">")[1:]:
            head, *body = block.split("\n")
            out[head.split()[0]] = "".join(body)
        return out

    coding, translated = records(tmp_path / "cds.fna"), records(proteins)
    assert list(coding) == list(translated)
    assert all(translate(CODE[np.frombuffer(c.encode(), np.uint8)]) == translated[k] + "*" for k, c in coding.items())
