"""Throughput and peak memory of `genoseg annotate` for a model and FASTA.

    python benchmarks/annotate.py --fasta genome.fa [--model DIR] [--region chr:1-1000000]
    python benchmarks/annotate.py --synthetic 3000000 30000000 [--model DIR]
    python benchmarks/annotate.py --synthetic 1000000 --first-output [--model DIR]

Each run happens in a fresh subprocess so its peak RSS is its own. With --synthetic, single-record
random genomes of the given lengths are generated, and the peak RSS of each is printed with the
ratio to the first (memory must not grow with record length). With --first-output, GFF3 is
streamed to stdout instead and the time from starting the command to its first feature line is
printed (start-up, model load and the first batches), next to the total.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic_fasta(length: int, directory: Path, width: int = 80) -> Path:
    """A single-record random genome with fixed-width lines, written in bounded chunks."""
    path = directory / f"synthetic_{length}.fa"
    rng = np.random.default_rng(length)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    chunk_bases = width * 50_000
    with open(path, "wb") as fh:
        fh.write(b">synthetic\n")
        for start in range(0, length, chunk_bases):
            chunk = rng.choice(letters, min(chunk_bases, length - start))
            for i in range(0, len(chunk), width):
                fh.write(chunk[i : i + width].tobytes() + b"\n")
    return path


def run_once(fasta: Path, model: str | None, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "genoseg.cli", "annotate", str(fasta), "-o", out, "-q"] + extra
        if model:
            cmd += ["-m", model]
        subprocess.run(cmd, check=True)
        return json.loads((Path(out) / "run.json").read_text())


def first_output(fasta: Path, model: str | None, extra: list[str]) -> tuple[float, float]:
    """Seconds from launching `genoseg annotate -o -` to its first GFF3 feature line, and to its exit."""
    cmd = [sys.executable, "-m", "genoseg.cli", "annotate", str(fasta), "-o", "-", "-q"] + extra
    if model:
        cmd += ["-m", model]
    started = time.perf_counter()
    first = None
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as process:
        for line in process.stdout:
            if first is None and not line.startswith("#"):
                first = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"genoseg annotate failed with exit code {process.returncode}")
    return (first if first is not None else float("nan")), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fasta")
    parser.add_argument("--model")
    parser.add_argument("--synthetic", type=int, nargs="*")
    parser.add_argument("--first-output", action="store_true", help="time to the first GFF3 line on stdout")
    parser.add_argument("extra", nargs="*", help="options passed to genoseg annotate (after --)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        inputs = [synthetic_fasta(n, Path(tmp)) for n in args.synthetic] if args.synthetic else [Path(args.fasta)]
        for fasta in inputs:
            if args.first_output:
                first, total = first_output(fasta, args.model, args.extra)
                print(f"{fasta.name}: first feature line after {first:.2f} s; all {total:.2f} s")
                continue
            run = run_once(fasta, args.model, args.extra)
            rows.append(run)
            print(f"{fasta.name}: {run['bases_annotated']:,} bp in {run['wall_seconds']} s = "
                  f"{run['bases_per_second']:,.0f} bp/s; peak RSS {run['peak_rss_mb']:.0f} MB; model {run['model']}")
    if len(rows) > 1:
        base = rows[0]["peak_rss_mb"]
        for run in rows[1:]:
            print(f"peak RSS ratio {run['bases_annotated']:,} bp vs {rows[0]['bases_annotated']:,} bp: {run['peak_rss_mb'] / base:.3f}")


if __name__ == "__main__":
    main()
