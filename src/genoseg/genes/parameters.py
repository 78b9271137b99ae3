"""The decoder's parameters besides the network: sequence models, weights, lengths (gene_model.json).

The sequence models (site models, a three-periodic fifth-order Markov chain for coding potential,
a fifth-order chain for intron sequence, length priors) are fitted from a reference annotation by
`genoseg fit-genes` (`genes.fit`); the weights are tuned separately (docs/models.md). Without a
fitted file the decoder uses neutral signals and relies on the network alone (right for
full-size SegmentNT, whose splice-site classes are sharp).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from genoseg.genes.locus import LocusModel
from genoseg.genes.sequence import hexamer_index, hexamers_ending_at
from genoseg.genes.site_models import SITE_CLASSIFIER_FILE, Pwm, SiteClassifier

FILE_NAME = "gene_model.json"
# The bundled model's, whose weights were tuned with fitted sequence models (docs/models.md).
BUNDLED_FILE = Path(__file__).parent.parent / "models" / "default" / FILE_NAME


# What `fit-genes` estimates; the rest of GeneParameters (weights, lengths) is tuned separately.
FITTED_FIELDS = ("donor", "acceptor", "start", "hexamer", "coding_markov", "intron_markov", "donor_floor",
                 "acceptor_floor", "intron_length_log_odds", "exon_length_log_odds", "site_classifier",
                 "typical_gene_gap", "typical_intron_rate", "start_first_log_odds", "notes")


# Shapes of the list fields of GeneParameters (None: any length) and minimums of the whole-number
# fields, for check_fields.
_ARRAY_FIELDS: dict[str, tuple[int | None, ...]] = {
    "hexamer": (4096,), "coding_markov": (3, 4096), "intron_markov": (4096,),
    "intron_length_log_odds": (None,), "exon_length_log_odds": (None,), "start_first_log_odds": (2,),
}
_WHOLE_FIELDS = {"max_utr_introns": 0, "min_intron": 1, "min_exon": 1, "min_cds": 0, "min_gene_gap": 0}


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
        elif name == "locus_model":
            if value is not None:
                LocusModel.from_dict(value)
        elif not (name in ("utr_intron_penalty", "typical_gene_gap", "typical_intron_rate") and value is None):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"field {name} must be a finite number, not {value!r}")
            if name.startswith(("weight_", "intron_penalty", "intron_base", "gene_penalty", "utr_intron", "typical_",
                                                "masked_")) and value < 0:
                raise ValueError(f"field {name} must not be negative, not {value!r}")


@dataclass
class GeneParameters:
    """Everything the decoder needs besides the network's probabilities; stored as JSON."""

    donor: Pwm | None = None  # site = first intron base (G of GT)
    acceptor: Pwm | None = None  # site = first exon base after AG
    start: Pwm | None = None  # site = A of ATG
    # Log-odds of a true start against the ATGs inside genes, for [an ATG with another in frame
    # upstream before any stop, the first ATG of its reading frame] (sequence.first_in_orf); added
    # to the start score times weight_signal (as the start matrix) and weight_start_first.
    # None: not scored.
    start_first_log_odds: list[float] | None = None
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
    weight_start_first: float = 1.0
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
    # The training annotation's median space between neighbouring coding genes (CDS to CDS, any
    # strand; `genes.fit.median_gene_gap`). Adaptation compares a genome's decoded genes with it:
    # a more compact genome gets a proportionally smaller min_gene_gap. None: not compared.
    typical_gene_gap: float | None = None
    # The training annotation's CDS introns per coding base. The intron penalty reads as the
    # decoder's cost of -log(rate): adaptation rescales it by log(genome's rate) / log(this).
    typical_intron_rate: float | None = None
    # Convolutional donor/acceptor classifiers (genes/site_models.py), stored beside the JSON;
    # their log-likelihood ratios are added to the site scores with this weight.
    site_classifier: SiteClassifier | None = field(default=None, repr=False, compare=False)
    weight_site_classifier: float = 0.0
    # With --softmasking: the cost of each soft-masked (lower-case: repeat) base in a coding exon.
    # Measured on the tuning slice; see docs/models.md "Soft-masked repeats".
    masked_coding_cost: float = 0.05
    # The learned locus score (genes/locus.py): coding genes it scores below its threshold are
    # dropped as transposon ORFs or pseudogenes. None: every decoded gene is kept.
    locus_model: LocusModel | None = field(default=None, compare=False)
    notes: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """What the JSON file holds; the site classifier appears as its file name and digest."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "site_classifier"}
        for name in ("donor", "acceptor", "start"):
            if data[name] is not None:
                data[name] = asdict(data[name])
        data["locus_model"] = self.locus_model.as_dict() if self.locus_model is not None else None
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
        if data.get("locus_model") is not None:
            data["locus_model"] = LocusModel.from_dict(data["locus_model"])
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
