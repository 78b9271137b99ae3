"""Sequence signals the gene-model decoder adds to the network's probabilities.

The network says roughly where exons and introns are, but its boundaries are blurred over tens
of bases (the bundled model's exon probability crosses 0.5 within ±40 bp of a true splice site),
and a gene model must be exact to the base and in frame. So, like every ab initio gene finder,
the decoder scores candidate boundaries with small sequence models fitted on the training
genome: weight array models for donor and acceptor contexts and a matrix for start codons
(log-odds against every other GT/GC, AG or ATG), a three-periodic fifth-order Markov chain
for coding potential and a fifth-order chain for intron sequence. Fitting takes seconds
(`genoseg fit-genes`); without a fitted file the decoder uses neutral signals and relies on the
network alone (right for full-size SegmentNT, whose splice-site classes are sharp).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from genoseg.annotation import CODING, Annotation, read_annotation
from genoseg.fasta import FastaReader, reverse_complement
from genoseg.regions import resolve_region
from genoseg.site_classifier import FILE_NAME as SITE_CLASSIFIER_FILE, SiteClassifier, fit_site_classifier

FILE_NAME = "gene_model.json"
# The bundled model's, whose weights were tuned with fitted sequence models (docs/models.md).
BUNDLED_FILE = Path(__file__).parent / "models" / "default" / FILE_NAME

# Base → 0..3, anything else → 4.
CODE = np.full(256, 4, dtype=np.int64)
for _i, _b in enumerate(b"ACGT"):
    CODE[_b] = _i


@dataclass(frozen=True)
class Pwm:
    """Log-odds of a site against decoys with the same core dinucleotide, per position.

    order 0: a position weight matrix, log_odds[column][base]. order k > 0: a weight array
    model, log_odds[column][context][base] with the k bases before as context (context index
    = the k previous bases read as a base-4 number, nearest first), which also scores
    neighbouring bases' dependence (the acceptor's polypyrimidine tract, the donor's consensus
    runs). On TAIR10 chr1, order 1 leaves 37 % fewer acceptor and 23 % fewer donor decoys above
    the 5th percentile of true sites than order 0; order 2 another 7 % fewer acceptor decoys.
    """

    offset: int  # column 0 is this many bases from the site position
    log_odds: list  # (length, 4), or (length, 4**order, 4)
    order: int = 0

    def score(self, codes: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Score at each site position (0 for columns that fall off the sequence or on an N)."""
        table = np.asarray(self.log_odds, dtype=np.float64).reshape(len(self.log_odds), -1, 4)
        total = np.zeros(len(positions), dtype=np.float64)
        for column in range(len(table)):
            at = positions + self.offset + column
            base = _base_at(codes, at)
            context, valid = _context(codes, at, self.order)
            valid &= base < 4
            total += np.where(valid, table[column, context, np.minimum(base, 3)], 0.0)
        return total


def _context(codes: np.ndarray, at: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Index of the `order` bases before each position (0..4^order-1), and where none is an N."""
    context = np.zeros(len(at), dtype=np.int64)
    valid = np.ones(len(at), dtype=bool)
    for back in range(1, order + 1):
        before = _base_at(codes, at - back)
        valid &= before < 4
        context = context * 4 + np.minimum(before, 3)
    return context, valid


def _base_at(codes: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Base codes at `at`, 4 where it falls off the sequence."""
    inside = (at >= 0) & (at < len(codes))
    return np.where(inside, codes[np.clip(at, 0, max(len(codes) - 1, 0))], 4) if len(codes) else np.full(len(at), 4)


# What `fit-genes` estimates; the rest of GeneParameters (weights, lengths) is tuned separately.
FITTED_FIELDS = ("donor", "acceptor", "start", "hexamer", "coding_markov", "intron_markov", "donor_floor",
                 "acceptor_floor", "intron_length_log_odds", "exon_length_log_odds", "site_classifier", "notes")
def _finite_array(value, name: str, shape: tuple[int | None, ...]) -> None:
    """A nested list of finite numbers of `shape` (None: any length)."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"field {name} must be a list of numbers") from None
    if array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, shape)):
        raise ValueError(f"field {name} must have shape {tuple('any' if w is None else w for w in shape)}, "
                         f"not {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"field {name} holds NaN or infinite values")


def _check_pwm(value, name: str) -> None:
    if not isinstance(value, dict) or set(value) - {"offset", "log_odds", "order"} or "log_odds" not in value:
        raise ValueError(f"field {name} must be an object with offset, log_odds and order")
    order, offset = value.get("order", 0), value.get("offset", 0)
    if type(order) is not int or not 0 <= order <= 4 or type(offset) is not int or abs(offset) > 1000:
        raise ValueError(f"field {name}: order must be 0-4 and offset a whole number")
    shape = (None, 4) if order == 0 else (None, 4 ** order, 4)
    _finite_array(value["log_odds"], f"{name}.log_odds", shape)
    if not 1 <= len(value["log_odds"]) <= 1000:
        raise ValueError(f"field {name}.log_odds must have 1 to 1000 columns")


def check_fields(data: object) -> None:
    """Check a gene-parameter JSON object field by field (see GeneParameters.load)."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    known = set(GeneParameters.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    for name, value in data.items():
        if name in ("donor", "acceptor", "start"):
            if value is not None:
                _check_pwm(value, name)
        elif name in _ARRAY_FIELDS:
            if value is not None:
                _finite_array(value, name, _ARRAY_FIELDS[name])
        elif name in _WHOLE_FIELDS:
            low = _WHOLE_FIELDS[name]
            if type(value) is not int or value < low:
                raise ValueError(f"field {name} must be a whole number of at least {low}, not {value!r}")
        elif name == "site_classifier":
            if value is not None and not (isinstance(value, dict) and isinstance(value.get("file"), str)
                                          and isinstance(value.get("sha256"), str)):
                raise ValueError("field site_classifier must be null or {file, sha256}")
            if value is not None and Path(value["file"]).name != value["file"]:
                raise ValueError(f"field site_classifier: {value['file']!r} must be a file name beside the JSON, not a path")
        elif name == "notes":
            if not isinstance(value, dict):
                raise ValueError("field notes must be an object")
        elif not (name == "utr_intron_penalty" and value is None):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"field {name} must be a finite number, not {value!r}")
            if name.startswith(("weight_", "intron_penalty", "intron_base", "gene_penalty", "utr_intron")) and value < 0:
                raise ValueError(f"field {name} must not be negative, not {value!r}")


# The intron length prior runs from 0 to this length, past the mode (86 nt in TAIR10), and the
# per-base cost takes over beyond it: on the tuning slice a prior joined at 150-250 nt scored
# best; the exon prior stops at its mode (a prior over longer exons cost precision).
INTRON_PRIOR_JOIN = 200


@dataclass
class GeneParameters:
    """Everything the decoder needs besides the network's probabilities; stored as JSON."""

    donor: Pwm | None = None  # site = first intron base (G of GT)
    acceptor: Pwm | None = None  # site = first exon base after AG
    start: Pwm | None = None  # site = A of ATG
    hexamer: list[float] | None = None  # 4096 in-frame log-odds, index = base-4 number of the 6-mer
    # Three-periodic fifth-order Markov chain: coding_markov[p][h] is the log-odds of the last
    # base of 6-mer h given the five before it, when that base sits at codon position p, against
    # the same in non-coding sequence. Scores every base, where `hexamer` scores one per codon.
    coding_markov: list[list[float]] | None = None
    # Fifth-order Markov chain of intron sequence against the same non-coding background, on the
    # gene's strand: intron_markov[h] scores the last base of 6-mer h. Plant introns are U-rich,
    # so an exon that a path would skip as "intron" is scored as the intron it does not look like.
    intron_markov: list[float] | None = None
    donor_floor: float = -1e9  # candidates below this matrix score are not considered
    acceptor_floor: float = -1e9
    # Weights for a network without fitted sequence models (neutral signals): what a model with
    # sharp splice-site classes is decoded with. The bundled model's gene_model.json holds the
    # weights tuned with its sequence models (see docs/models.md), and `fit-genes` starts from it.
    weight_emission: float = 0.35
    weight_signal: float = 10.0
    weight_coding: float = 12.0
    weight_intron: float = 0.0  # of intron_markov
    weight_network_site: float = 1.0
    intron_penalty: float = 14.0
    intron_base_penalty: float = 0.0  # per intron base
    gene_penalty: float = 4.0
    # UTRs are decoded after the CDS, outward from the start and stop codons, each with at most
    # one intron (a UTR intron pays this; None: UTRs are never spliced). Their network terms
    # are weighted by weight_utr_network; sites, intron content and intron base cost are the CDS's.
    utr_intron_penalty: float | None = 14.0
    weight_utr_network: float = 1.0
    max_utr_introns: int = 1  # per UTR
    # 99.7 % of TAIR10 chr1 introns are ≥ 60 nt and 99.8 % of internal coding exons ≥ 20 nt (the
    # bundled file uses 30: shorter decoded exons were mostly wrong; see docs/models.md).
    min_intron: int = 60
    min_exon: int = 20
    # Length priors of CDS introns and internal coding exons: entry L is log(density(L) /
    # density(J)) for L < J (J = len(list)); from J on, lengths cost only intron_base_penalty.
    # Without them the per-base intron cost makes a 62 nt intron likelier than an 88 nt one,
    # where TAIR10 has 19 times fewer (see docs/models.md). Scaled by weight_length.
    intron_length_log_odds: list[float] | None = None
    exon_length_log_odds: list[float] | None = None
    weight_length: float = 0.0
    min_cds: int = 150
    min_gene_gap: int = 20
    # Convolutional donor/acceptor classifiers (site_classifier.py), stored beside the JSON;
    # their log-likelihood ratios are added to the site scores with this weight.
    site_classifier: SiteClassifier | None = field(default=None, repr=False, compare=False)
    weight_site_classifier: float = 0.0
    notes: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """What the JSON file holds; the site classifier appears as its file name and digest."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "site_classifier"}
        for name in ("donor", "acceptor", "start"):
            if data[name] is not None:
                data[name] = asdict(data[name])
        data["site_classifier"] = None
        if self.site_classifier is not None:
            data["site_classifier"] = {"file": SITE_CLASSIFIER_FILE, "sha256": self.site_classifier.digest()}
        return data

    def save(self, path: str | Path) -> None:
        """Write the JSON, and the site classifier's safetensors beside it."""
        path = Path(path)
        if self.site_classifier is not None:
            self.site_classifier.save(path.parent / SITE_CLASSIFIER_FILE)
        path.write_text(json.dumps(self.as_dict()) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "GeneParameters":
        """Read a gene-parameter file, checking every field before any is used.

        Raises:
            ValueError: naming the first field that is missing its type, shape or range (NaN
                and infinite values included), an unknown field, or a site classifier that is
                missing, not beside the file, or not the one the file was saved with.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except UnicodeDecodeError:
            raise ValueError("not UTF-8 text") from None
        check_fields(data)
        for name in ("donor", "acceptor", "start"):
            if data.get(name) is not None:
                data[name] = Pwm(**data[name])
        if data.get("site_classifier") is not None:
            stored = path.parent / data["site_classifier"]["file"]
            if not stored.is_file():
                raise ValueError(f"its site classifier {stored} is missing")
            classifier = SiteClassifier.load(stored)
            if classifier.digest() != data["site_classifier"]["sha256"]:
                raise ValueError(f"{stored} is not the site classifier this file was saved with")
            data["site_classifier"] = classifier
        return cls(**data)

    def coding_per_base(self, codes: np.ndarray) -> list[np.ndarray]:
        """(3, n): coding log-odds of each base read in frame class r (codons start at ≡ r mod 3).

        An exon [s, e) in class r scores sum(row r [s:e]). From a `hexamer` table alone (files
        fitted before coding_markov), a codon's 6-mer score sits on its third base.
        """
        n = len(codes)
        if self.coding_markov is not None:
            table = np.zeros((3, 4097), dtype=np.float64)
            table[:, :4096] = self.coding_markov
            ending = hexamers_ending_at(codes)
            phase = np.arange(n) % 3
            return [table[(phase - r) % 3, ending] for r in range(3)]
        per_codon = self.hexamer_table()[hexamer_index(codes)]
        shifted = np.zeros(n)
        shifted[2:] = per_codon[: max(n - 2, 0)]
        frame = (np.arange(n) - 2) % 3
        return [np.where(frame == r, shifted, 0.0) for r in range(3)]

    def intron_per_base(self, codes: np.ndarray) -> np.ndarray:
        """(n,) intron log-odds of each base given the five before it; zeros without a chain."""
        if self.intron_markov is None:
            return np.zeros(len(codes))
        table = np.zeros(4097, dtype=np.float64)
        table[:4096] = self.intron_markov
        return table[hexamers_ending_at(codes)]

    def hexamer_table(self) -> np.ndarray:
        """(4097,) float64: 4096 hexamers plus a 0 for windows containing an N."""
        table = np.zeros(4097, dtype=np.float64)
        if self.hexamer is not None:
            table[:4096] = self.hexamer
        return table


def hexamer_index(codes: np.ndarray) -> np.ndarray:
    """(n,) index of the 6-mer starting at each position; 4096 where it runs off the end or hits N."""
    n = len(codes)
    index = np.zeros(n, dtype=np.int64)
    bad = np.zeros(n, dtype=bool)
    for k in range(6):
        shifted = np.full(n, 4, dtype=np.int64)
        if k < n:
            shifted[: n - k] = codes[k:]
        bad |= shifted == 4
        index = index * 4 + np.minimum(shifted, 3)
    index[bad] = 4096
    return index


def hexamers_ending_at(codes: np.ndarray) -> np.ndarray:
    """(n,) index of the 6-mer ending at each position (a Markov chain's context and base);
    4096 for the first five positions and where an N falls inside."""
    n = len(codes)
    ending = np.full(n, 4096, dtype=np.int64)
    ending[5:] = hexamer_index(codes)[: max(n - 5, 0)]
    return ending


def _site_counts(codes: np.ndarray, positions: np.ndarray, offset: int, length: int, order: int) -> np.ndarray:
    counts = np.ones((length, 4**order, 4), dtype=np.float64)  # +1 pseudocount
    for column in range(length):
        at = positions + offset + column
        base = _base_at(codes, at)
        context, valid = _context(codes, at, order)
        valid &= base < 4
        np.add.at(counts[column], (context[valid], base[valid]), 1)
    return counts if order else counts[:, 0, :]


def _pwm(codes: np.ndarray, true_sites: np.ndarray, decoys: np.ndarray, offset: int, length: int, order: int = 0) -> Pwm:
    real = _site_counts(codes, true_sites, offset, length, order)
    background = _site_counts(codes, decoys, offset, length, order)
    log_odds = np.log(real / real.sum(-1, keepdims=True)) - np.log(background / background.sum(-1, keepdims=True))
    return Pwm(offset, np.round(log_odds, 4).tolist(), order)


def _markov_log_odds(counts: np.ndarray) -> np.ndarray:
    """log P(last base | the five before) for each 6-mer, from (rows, 4096) 6-mer counts."""
    grouped = counts.reshape(len(counts), 1024, 4)
    return np.log(grouped / grouped.sum(-1, keepdims=True)).reshape(len(counts), 4096)


def find_motif(codes: np.ndarray, motif: str) -> np.ndarray:
    """Positions where `motif` (ACGT text) starts in a 0..4 code array."""
    hits = np.ones(max(len(codes) - len(motif) + 1, 0), dtype=bool)
    for k, base in enumerate(motif):
        hits &= codes[k : k + len(hits)] == "ACGT".index(base)
    return np.flatnonzero(hits)


def spliced(codes: np.ndarray, pieces: list[tuple[int, int]]) -> np.ndarray:
    """The pieces [start, end) of `codes` joined in order (a transcript's CDS, say)."""
    return np.concatenate([codes[s:e] for s, e in pieces])


def length_log_odds(lengths: list[int], join: int = 0, smooth: int = 4, lowest: float = -8.0) -> list[float] | None:
    """log(density(L) / density(J)) for L < J, J the larger of `join` and the mode of the
    smoothed length histogram (see GeneParameters.intron_length_log_odds)."""
    if not lengths:
        return None
    counts = np.bincount(np.asarray(lengths, dtype=np.int64), minlength=max(join, 2 * smooth) + 2).astype(np.float64)
    kernel = np.ones(2 * smooth + 1) / (2 * smooth + 1)
    density = np.convolve(counts, kernel, mode="same") + 0.5 / len(counts)
    join = max(join, int(np.argmax(density)))
    return np.round(np.maximum(np.log(density[:join] / density[join]), lowest), 3).tolist()


def _floor(pwm: Pwm, codes: np.ndarray, sites: list[int], percentile: float) -> float:
    if not sites:
        return -1e9
    return round(float(np.percentile(pwm.score(codes, np.array(sites)), percentile)), 3)


def fit_gene_parameters(fasta: str, annotation_path: str, regions: list[str] | None = None,
                        site_epochs: int = 0) -> GeneParameters:
    """Fit site models, the start-codon matrix and the coding models on the coding transcripts
    inside `regions`; with `site_epochs`, also train the convolutional site classifiers for that
    many passes over the sites (minutes on a CPU, where the rest takes seconds).

    Sites are counted in transcript orientation: each record is read forward and reverse
    complemented, and every transcript is taken on the strand it lies on.
    """
    annotation: Annotation = read_annotation(annotation_path)
    coding_counts = np.ones(4097, dtype=np.float64)
    background_counts = np.ones(4097, dtype=np.float64)
    markov_counts = np.ones((3, 4097), dtype=np.float64)
    markov_background = np.ones(4097, dtype=np.float64)
    intron_counts = np.ones(4097, dtype=np.float64)
    donors_true, acceptors_true, starts_true = [], [], []
    intron_lengths: list[int] = []  # between CDS segments
    exon_lengths: list[int] = []  # internal CDS segments
    donors_decoy, acceptors_decoy, starts_decoy = [], [], []
    chunks: list[np.ndarray] = []
    transcripts_used = 0
    with FastaReader(fasta) as reader:
        lengths = {r.name: r.length for r in reader.records}
        spans = [resolve_region(text, lengths) for text in regions or []] or [
            resolve_region(name, lengths) for name in lengths
        ]
        base = 0
        for span in spans:
            end = span.end if span.end is not None else lengths[span.record]
            bases = reader.fetch(span.record, span.start, end)
            forward, backward = CODE[bases], CODE[reverse_complement(bases)]
            n = len(forward)
            genes_seen: set[str] = set()
            transcripts = sorted(
                (t for t in annotation.on(span.record)
                 if t.biotype == CODING and t.cds and t.start >= span.start and t.end <= end),
                key=lambda t: -sum(e - s for s, e in t.cds),
            )
            for orientation, codes in (("+", forward), ("-", backward)):
                def local(x: int) -> int:
                    return x - span.start if orientation == "+" else end - x

                genic = np.zeros(n, dtype=bool)
                in_cds = np.zeros(n, dtype=bool)
                in_intron = np.zeros(n, dtype=bool)
                for t in transcripts:
                    if t.strand != orientation or (t.gene_id or t.id) in genes_seen:
                        continue
                    genes_seen.add(t.gene_id or t.id)
                    transcripts_used += 1
                    exons = sorted((min(local(s), local(e)), max(local(s), local(e))) for s, e in t.exons)
                    cds = sorted((min(local(s), local(e)), max(local(s), local(e))) for s, e in t.cds)
                    genic[exons[0][0] : exons[-1][1]] = True
                    for (_, left_end), (right_start, _) in zip(exons, exons[1:]):
                        in_intron[left_end:right_start] = True
                        donors_true.append(base + left_end)
                        acceptors_true.append(base + right_start)
                    starts_true.append(base + cds[0][0])
                    intron_lengths += [b - a for (_, a), (b, _) in zip(cds, cds[1:])]
                    exon_lengths += [e - s for s, e in cds[1:-1]]
                    for s, e in cds:
                        in_cds[s:e] = True
                    spliced_index = hexamer_index(spliced(codes, cds))
                    coding_counts += np.bincount(spliced_index[0::3], minlength=4097)
                    # 6-mer starting at k ends at k + 5, whose codon position is (k + 5) % 3.
                    for position in range(3):
                        markov_counts[position] += np.bincount(spliced_index[(position - 5) % 3 :: 3], minlength=4097)
                index = hexamer_index(codes)
                background_counts += np.bincount(index[~in_cds], minlength=4097)
                ends_outside = np.zeros(n, dtype=bool)
                ends_outside[: max(n - 5, 0)] = ~in_cds[5:]
                markov_background += np.bincount(index[ends_outside], minlength=4097)
                within_intron = np.zeros(n, dtype=bool)  # the whole 6-mer inside one intron
                within_intron[: max(n - 5, 0)] = in_intron[: max(n - 5, 0)] & in_intron[5:]
                intron_counts += np.bincount(index[within_intron], minlength=4097)
                # Decoys: every occurrence of the core motif inside genes, so the matrices learn
                # what tells a real site from the many look-alikes the decoder will meet.
                for motif, shift, decoys in (("GT", 0, donors_decoy), ("GC", 0, donors_decoy),
                                             ("AG", 2, acceptors_decoy), ("ATG", 0, starts_decoy)):
                    hits = find_motif(codes, motif) + shift
                    decoys.extend((base + hits[genic[np.clip(hits, 0, n - 1)]]).tolist())
                chunks.append(codes)
                base += n
            genes_seen.clear()
    codes = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
    coding = coding_counts[:4096] / coding_counts[:4096].sum()
    background = background_counts[:4096] / background_counts[:4096].sum()
    # Windows: donor -3..+8 (exon end, GT, 7 intron bases), acceptor -40..+2 (branch point and
    # polypyrimidine tract, AG, 3 exon bases); wider windows and order 2 added nothing for donors.
    donor = _pwm(codes, np.array(donors_true), np.array(donors_decoy), -3, 12, order=1)
    acceptor = _pwm(codes, np.array(acceptors_true), np.array(acceptors_decoy), -40, 43, order=2)
    classifier = None
    if site_epochs > 0 and donors_true:
        classifier = fit_site_classifier(codes, {"donor": (np.array(donors_true), np.array(donors_decoy)),
                                                 "acceptor": (np.array(acceptors_true), np.array(acceptors_decoy))},
                                         epochs=site_epochs)
    return GeneParameters(
        donor=donor,
        acceptor=acceptor,
        # Floors low in the true sites' score distribution: the decoder skips the decoys below
        # them. Besides speed this was the largest single gain in accuracy measured (exon F1
        # 0.11 → 0.33 on the tuning slice, at the 5th percentile): weak decoys are where the
        # blurred network lets a wrong path win. Once introns carried their own penalty, lower
        # floors (keeping more weak true sites) paid: tuned on TAIR10 to the 0.78th (donor) and
        # 2.16th (acceptor) percentiles; with the site classifiers, which tell weak true sites
        # from decoys far better than the matrices, lower still: the 0.1th and 1st (see
        # docs/models.md, step 11), which the bundled gene_model.json holds.
        donor_floor=_floor(donor, codes, donors_true, 0.1),
        acceptor_floor=_floor(acceptor, codes, acceptors_true, 1.0),
        start=_pwm(codes, np.array(starts_true), np.array(starts_decoy), -9, 15),
        hexamer=np.round(np.log(coding) - np.log(background), 4).tolist(),
        coding_markov=np.round(_markov_log_odds(markov_counts[:, :4096]) - _markov_log_odds(markov_background[None, :4096]), 4).tolist(),
        intron_length_log_odds=length_log_odds(intron_lengths, join=INTRON_PRIOR_JOIN),
        exon_length_log_odds=length_log_odds(exon_lengths),
        intron_markov=np.round(_markov_log_odds(intron_counts[None, :4096]) - _markov_log_odds(markov_background[None, :4096]), 4)[0].tolist(),
        site_classifier=classifier,
        notes={"fasta": Path(fasta).name, "annotation": Path(annotation_path).name, "regions": list(regions or []),
               "coding_transcripts": transcripts_used, "donors": len(donors_true), "acceptors": len(acceptors_true)},
    )


# Shapes of the list fields of GeneParameters (None: any length) and minimums of the whole-number
# fields, for check_fields.
_ARRAY_FIELDS: dict[str, tuple[int | None, ...]] = {
    "hexamer": (4096,), "coding_markov": (3, 4096), "intron_markov": (4096,),
    "intron_length_log_odds": (None,), "exon_length_log_odds": (None,),
}
_WHOLE_FIELDS = {"max_utr_introns": 0, "min_intron": 1, "min_exon": 1, "min_cds": 0, "min_gene_gap": 0}
