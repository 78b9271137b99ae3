"""A learned locus score: is a decoded coding gene a gene, or a transposon ORF or pseudogene?

In transposon-rich stretches (the A. thaliana pericentromere, most of a maize genome) the
network calls genes over transposon-derived pseudogenes, whose ORFs are as complete as a gene's.
A logistic model on what a decoded gene looks like (its mean exon probability, CDS length and
exon count, GC and GC3, the amino-acid composition of its protein) scores each one; genes below
the fitted threshold are dropped. The features use neither the soft-masking nor the fitted
sequence models, so the score means the same on unmasked genomes and after `genoseg adapt`.
It is fitted by `scripts/fit_locus_model.py` on the training side (docs/models.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from genoseg.genes.models import GeneModel

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
FEATURES = ("score", "log10_cds_length", "cds_exons", "gc", "gc3", *(f"aa_{a}" for a in AMINO_ACIDS))


def locus_features(model: GeneModel) -> np.ndarray:
    """The FEATURES of one coding gene model, in order."""
    coding = np.frombuffer(model.coding.encode(), np.uint8)
    is_gc = (coding == ord("G")) | (coding == ord("C"))
    protein = model.protein.rstrip("*")
    counts = [protein.count(a) / max(1, len(protein)) for a in AMINO_ACIDS]
    return np.array([model.score, np.log10(max(1, len(coding))), len(model.cds), is_gc.mean() if len(coding) else 0.0,
                     is_gc[2::3].mean() if len(coding) > 2 else 0.0, *counts])


@dataclass
class LocusModel:
    """Standardised features → logistic probability of a real gene; kept when ≥ threshold."""

    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float
    threshold: float
    features: tuple[str, ...] = FEATURES
    notes: str = ""

    def probability(self, features: np.ndarray) -> float:
        z = (features - np.asarray(self.mean)) / np.asarray(self.scale)
        return float(1 / (1 + np.exp(-(z @ np.asarray(self.weights) + self.bias))))

    def keeps(self, model: GeneModel) -> bool:
        return model.biotype != "protein_coding" or self.probability(locus_features(model)) >= self.threshold

    def as_dict(self) -> dict:
        data = asdict(self)
        data["features"] = list(self.features)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "LocusModel":
        """Raises ValueError for a model of other features or of mismatched lengths."""
        if not isinstance(data, dict) or tuple(data.get("features", ())) != FEATURES:
            raise ValueError(f"locus_model must be an object over the features {', '.join(FEATURES)}")
        model = cls(**{**data, "features": tuple(data["features"])})
        arrays = [np.asarray(v, dtype=np.float64) for v in (model.mean, model.scale, model.weights)]
        if any(a.shape != (len(FEATURES),) or not np.isfinite(a).all() for a in arrays) or (arrays[1] <= 0).any():
            raise ValueError(f"locus_model: mean, scale (positive) and weights must be {len(FEATURES)} finite numbers")
        if not (np.isfinite(model.bias) and 0 <= model.threshold < 1):
            raise ValueError("locus_model: bias must be finite and threshold in [0, 1)")
        return model


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> tuple[np.ndarray, ...]:
    """(mean, scale, weights, bias) of an L2-penalised logistic regression on standardised x,
    by Newton's method (a few dozen features: exact and quick)."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.c_[(x - mean) / scale, np.ones(len(x))]
    w = np.zeros(z.shape[1])
    penalty = l2 * np.diag(np.r_[np.ones(z.shape[1] - 1), 0.0])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-z @ w))
        gradient = z.T @ (p - y) + penalty @ w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + penalty
        w -= np.linalg.solve(hessian, gradient)
    return mean, scale, w[:-1], float(w[-1])
