"""Per-base and interval-level agreement between predictions and a reference annotation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Confusion:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, predicted: np.ndarray, truth: np.ndarray) -> None:
        predicted = predicted.astype(bool, copy=False)
        truth = truth.astype(bool, copy=False)
        tp = int(np.count_nonzero(predicted & truth))
        p = int(np.count_nonzero(predicted))
        t = int(np.count_nonzero(truth))
        self.tp += tp
        self.fp += p - tp
        self.fn += t - tp
        self.tn += predicted.size - p - t + tp

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def mcc(self) -> float:
        tp, fp, fn, tn = (float(x) for x in (self.tp, self.fp, self.fn, self.tn))
        denom = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return (tp * tn - fp * fn) / denom if denom else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn,
            "precision": round(self.precision, 4), "recall": round(self.recall, 4),
            "f1": round(self.f1, 4), "mcc": round(self.mcc, 4),
        }


@dataclass
class SetAgreement:
    """Exact-match agreement of two sets of items (e.g. exons as (seqid, start, end))."""

    predicted: int
    reference: int
    matched: int

    @classmethod
    def of(cls, predicted: set, reference: set) -> "SetAgreement":
        return cls(len(predicted), len(reference), len(predicted & reference))

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.reference if self.reference else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "predicted": self.predicted, "reference": self.reference, "matched": self.matched,
            "precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4),
        }


@dataclass
class GeneAgreement:
    """Gene finders' sensitivity and precision, where one item may match several (gffcompare's
    locus level): `found` reference items have a match, `right` predicted items have one."""

    reference: int
    predicted: int
    found: int
    right: int

    @property
    def sensitivity(self) -> float:
        return self.found / self.reference if self.reference else 0.0

    @property
    def precision(self) -> float:
        return self.right / self.predicted if self.predicted else 0.0

    @property
    def f1(self) -> float:
        s, p = self.sensitivity, self.precision
        return 2 * s * p / (s + p) if s + p else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "reference": self.reference, "predicted": self.predicted, "found": self.found, "right": self.right,
            "sensitivity": round(self.sensitivity, 4), "precision": round(self.precision, 4), "f1": round(self.f1, 4),
        }
