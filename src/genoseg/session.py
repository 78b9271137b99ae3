"""A browser session beside a run's outputs: `STEM.genoseg.igv_session.xml` opens the genome, the
gene models on top and every class's bigWig in its colour on a fixed 0-1 scale, in IGV
(File > Open Session, or `igv session.xml`).

Tracks are named by file name only, so the session keeps working when the whole output directory
is moved or copied; the genome is the FASTA's absolute path. IGV reads a FASTA through an index:
a plain FASTA is indexed by IGV itself (it writes genome.fa.fai beside it), a bgzip one needs
`samtools faidx` first, and plain gzip cannot be opened by IGV at all.

Why no UCSC track hub: UCSC shows gene models only from bigBed files and a genome it does not host
only as an assembly hub built from a .2bit file; neither is a file genoseg writes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from genoseg.outputs import RunFiles
from genoseg.writers import AtomicFile, style_of

INITIAL_VIEW = 50_000  # bases shown when the session opens: gene models drawn as genes, not as a blur
TRACK_HEIGHT = 40


def initial_locus(records: list[tuple[str, int]], regions: list[str] | None) -> str:
    """The first --region a run was given, else the start of its first record."""
    if regions:
        return regions[0]
    name, length = next(((n, l) for n, l in records if l > 0), ("", 0))
    return f"{name}:1-{min(length, INITIAL_VIEW)}" if name else "All"


def session_xml(files: RunFiles, fasta: Path, tracks: list[str], genes: bool, locus: str) -> str:
    """The IGV session (IGV 2.x format) for a run's files.

    Args:
        tracks: the classes that have a bigWig, in the order to show them.
        genes: whether the run wrote gene models (shown first, expanded).
    """
    session = ET.Element("Session", genome=str(fasta.resolve()), locus=locus, version="8")
    resources = ET.SubElement(session, "Resources")
    panel = ET.SubElement(session, "Panel", name="DataPanel")
    if genes:
        name = files.genes_gff3.name
        ET.SubElement(resources, "Resource", path=name, type="gff3")
        ET.SubElement(panel, "Track", attrib={
            "clazz": "org.broad.igv.track.FeatureTrack", "id": name, "name": "genoseg gene models",
            "displayMode": "EXPANDED", "color": "0,90,181", "visible": "true"})
    for feature in tracks:
        name = files.bigwig(feature).name
        ET.SubElement(resources, "Resource", path=name, type="bigwig")
        track = ET.SubElement(panel, "Track", attrib={
            "clazz": "org.broad.igv.track.DataSourceTrack", "id": name, "name": feature,
            "color": style_of(feature).rgb, "autoScale": "false", "renderer": "BAR_CHART",
            "height": str(TRACK_HEIGHT), "visible": "true"})
        ET.SubElement(track, "DataRange", baseline="0.0", maximum="1.0", minimum="0.0", type="LINEAR")
    name = files.intervals_bed.name
    ET.SubElement(resources, "Resource", path=name, type="bed")
    ET.SubElement(panel, "Track", attrib={
        "clazz": "org.broad.igv.track.FeatureTrack", "id": name, "name": "genoseg class intervals",
        "displayMode": "COLLAPSED", "visible": "true"})
    ET.indent(session)
    return '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + ET.tostring(session, encoding="unicode") + "\n"


def write_session(files: RunFiles, fasta: str | Path, tracks: list[str], genes: bool, locus: str) -> tuple[Path, Path]:
    """Write the session under a temporary name; returns the rename that publishes it."""
    target = AtomicFile(files.igv_session)
    try:
        target.tmp.write_text(session_xml(files, Path(fasta), tracks, genes, locus))
    except BaseException:
        target.discard()
        raise
    return target.move
