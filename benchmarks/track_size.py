"""bigWig bytes per Mb per class at each --bigwig-precision, against float32 in the same run.

    python benchmarks/track_size.py RUN_DIR [--precisions 0 0.01 0.02]

RUN_DIR must hold tracks written with --bigwig-precision 0 (the exact values): each class's
track is read back and written again by genoseg's writer at every precision. Prints, per class,
megabytes per megabase of covered sequence and the ratio to float32, then the total per Mb for
all classes and what that would be for a 3.1 Gb genome.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pyBigWig

from genoseg.bigwig import BigWigWriter
from genoseg.outputs import finished_run

CHUNK = 1 << 20


def rewrite(source: Path, target: Path, precision: float) -> int:
    """Bases covered; `target` holds `source`'s values at `precision`."""
    handle = pyBigWig.open(str(source))
    chroms = list(handle.chroms().items())
    writer = BigWigWriter(target, chroms, precision)
    covered = 0
    for name, length in chroms:
        for lo in range(0, length, CHUNK):
            values = handle.values(name, lo, min(length, lo + CHUNK), numpy=True)
            valid = ~np.isnan(values)
            edges = np.flatnonzero(np.diff(np.concatenate(([0], valid.astype(np.int8), [0]))))
            for s, e in zip(edges[0::2], edges[1::2]):
                writer.add(name, lo + int(s), values[s:e])
            covered += int(valid.sum())
    writer.close()
    handle.close()
    return covered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--precisions", type=float, nargs="+", default=[0.0, 0.01, 0.02])
    args = parser.parse_args()
    summary, files = finished_run(args.run_dir)
    features = [f for f in summary.model_features or [] if files.bigwig(f).is_file()]
    totals = {p: 0.0 for p in args.precisions}
    print("class".ljust(22) + "".join(f"{'p=' + format(p, 'g'):>18}" for p in args.precisions) + "   (MB per Mb)")
    with tempfile.TemporaryDirectory() as scratch:
        for feature in features:
            sizes = {}
            for precision in args.precisions:
                target = Path(scratch) / f"{feature}.{precision}.bw"
                covered = rewrite(files.bigwig(feature), target, precision)
                sizes[precision] = target.stat().st_size / 1e6 / (covered / 1e6)
                totals[precision] += sizes[precision]
                target.unlink()
            base = sizes[args.precisions[0]]
            print(feature.ljust(22) + "".join(f"{sizes[p]:9.3f} ({sizes[p] / base:4.2f}x)" for p in args.precisions))
    print("all classes".ljust(22) + "".join(f"{totals[p]:9.3f}         " for p in args.precisions))
    print("3.1 Gb genome, GB".ljust(22) + "".join(f"{totals[p] * 3100 / 1000:9.1f}         " for p in args.precisions))


if __name__ == "__main__":
    main()
