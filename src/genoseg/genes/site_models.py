"""The sequence models that score splice sites and start codons, fitted by `genes.fit`.

The network says roughly where exons and introns are, but its boundaries are blurred over tens
of bases (the bundled model's exon probability crosses 0.5 within ±40 bp of a true splice site),
and a gene model must be exact to the base and in frame. So, like every ab initio gene finder,
the decoder scores each candidate site with small sequence models fitted on the training genome:

- weight array models (`Pwm`): log-odds of a site's context against every other GT/GC, AG or
  ATG, over 12 bases around a donor, 43 around an acceptor and 24 around a start codon;
- convolutional classifiers (`SiteClassifier`) over the 160 bases around each donor or
  acceptor. A real site is also told apart by what lies farther off: the coding or intron
  sequence on either side, a branch point, competing sites nearby. The network sees that, as
  splice-site networks do (SpliceAI uses thousands of bases; 160 trains in minutes on two CPU
  cores). Its output is a log-likelihood ratio (true site against decoy), added with its own
  weight. On the bundled example (A. thaliana, held out from fitting) the bundled classifiers
  leave 0.035 of donor and 0.125 of acceptor decoys above the 5th percentile of true sites,
  where the weight array models leave 0.249 and 0.538 (docs/models.md).

Classifiers are stored as safetensors beside gene_model.json, with their layout in the file's
metadata, so loading executes no code. `genes.sites` applies these models to a locus.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

SITE_CLASSIFIER_FILE = "site_classifier.safetensors"


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
            base = base_at(codes, at)
            context, valid = context_index(codes, at, self.order)
            valid &= base < 4
            total += np.where(valid, table[column, context, np.minimum(base, 3)], 0.0)
        return total


def context_index(codes: np.ndarray, at: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Index of the `order` bases before each position (0..4^order-1), and where none is an N."""
    context = np.zeros(len(at), dtype=np.int64)
    valid = np.ones(len(at), dtype=bool)
    for back in range(1, order + 1):
        before = base_at(codes, at - back)
        valid &= before < 4
        context = context * 4 + np.minimum(before, 3)
    return context, valid


def base_at(codes: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Base codes at `at`, 4 where it falls off the sequence."""
    inside = (at >= 0) & (at < len(codes))
    return np.where(inside, codes[np.clip(at, 0, max(len(codes) - 1, 0))], 4) if len(codes) else np.full(len(at), 4)


KINDS = ("donor", "acceptor")


# Bases each side that the unpadded convolutions consume: (9 - 1) / 2 · (1 + 2 + 4).
MARGIN = 28


class SiteNet(nn.Module):
    """Three dilated convolutions over the sequence, then a dense head over the 2·flank
    positions around a site (position matters: where a motif sits relative to the site).

    The convolutions are unpadded, so a site's score depends on its 2·(flank + MARGIN) bases
    only, whether they come as one window (training) or inside a whole locus (decoding, where
    the convolutions run once per locus and only the head runs per candidate)."""

    def __init__(self, flank: int, channels: int = 32, hidden: int = 32) -> None:
        super().__init__()
        self.flank = flank
        self.conv = nn.Sequential(
            nn.Conv1d(4, channels, 9), nn.ReLU(),
            nn.Conv1d(channels, channels, 9, dilation=2), nn.ReLU(),
            nn.Conv1d(channels, channels, 9, dilation=4), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels * (2 * flank // 4), hidden), nn.ReLU(),
                                  nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4, 2·(flank + MARGIN)) one-hot windows → (B,) logits."""
        return self.head(nn.functional.avg_pool1d(self.conv(x), 4))[:, 0]

    def score_positions(self, codes: np.ndarray, positions: np.ndarray, span: int = 1 << 16) -> torch.Tensor:
        """Logits at each position of `codes`. The convolutions run once over each stretch of at
        most `span` bases holding candidates, so memory stays bounded however long the locus
        (whole-locus activations reached 1 GB of RSS on a 6 Mb run)."""
        order = np.argsort(positions, kind="stable")
        ordered = positions[order]
        out = torch.empty(len(positions))
        i = 0
        while i < len(ordered):
            j = int(np.searchsorted(ordered, ordered[i] + span))
            out[torch.from_numpy(order[i:j])] = self._score_stretch(codes, ordered[i:j])
            i = j
        return out

    def _score_stretch(self, codes: np.ndarray, positions: np.ndarray, batch: int = 4096) -> torch.Tensor:
        lo, hi = int(positions.min()) - self.flank - MARGIN, int(positions.max()) + self.flank + MARGIN
        # oneDNN keeps a compiled convolution per input length (and the allocator a differently
        # sized block), so lengths are rounded up to a few sizes: RSS then stays flat over a run.
        x = one_hot_windows(codes, np.array([lo]), padded_length(hi - lo))
        features = self.conv(x)[0]  # (C, padded length - 2·MARGIN): feature j sits on base lo + MARGIN + j
        # Mean over every 4 consecutive positions, so each candidate picks its own pooling phase.
        summed = torch.cumsum(nn.functional.pad(features, (1, 0)), dim=1)
        quarter = (summed[:, 4:] - summed[:, :-4]) / 4
        offsets = torch.arange(0, 2 * self.flank, 4)
        first = torch.from_numpy(positions - self.flank - lo - MARGIN)
        out = []
        for i in range(0, len(first), batch):
            at = first[i : i + batch, None] + offsets  # (b, flank/2)
            gathered = quarter[:, at].permute(1, 0, 2)  # (b, C, flank/2)
            out.append(self.head(gathered)[:, 0])
        return torch.cat(out)


def padded_length(length: int) -> int:
    """The smallest 2^k or 3·2^(k-1) (k ≥ 8) not below `length`: at most a third more work, and
    about two sizes per doubling of the stretch."""
    size = 256
    while size < length:
        size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
    return size


def one_hot_windows(codes: np.ndarray, starts: np.ndarray, length: int) -> torch.Tensor:
    """(N, 4, length) one-hot of codes[s : s + length] for each start; N and off-sequence bases
    are all-zero."""
    at = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(length)
    inside = (at >= 0) & (at < len(codes))
    window = np.where(inside, codes[np.clip(at, 0, max(len(codes) - 1, 0))], 4) if len(codes) else np.full(at.shape, 4)
    index = torch.from_numpy(np.asarray(window, dtype=np.int64))
    x = torch.zeros(index.shape[0], 5, index.shape[1])
    x.scatter_(1, index[:, None, :], 1.0)
    return x[:, :4]


@dataclass
class SiteClassifier:
    """Donor and acceptor networks. Sites follow CandidateSites' convention: a donor at the
    first intron base (G of GT), an acceptor at the first exon base after AG."""

    nets: dict[str, SiteNet]
    # log(true sites / decoys) in the training sample: subtracted from the logit, so a score is
    # a log-likelihood ratio against a decoy, like the weight array models' log-odds.
    priors: dict[str, float]
    flank: int
    channels: int = 32
    hidden: int = 32

    def score(self, kind: str, codes: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Log-likelihood ratio at each position of `codes` (0..4 on the gene's strand)."""
        positions = np.asarray(positions, dtype=np.int64)
        if not len(positions):
            return np.zeros(0)
        with torch.inference_mode():
            logits = self.nets[kind].score_positions(codes, positions)
        return logits.double().numpy() - self.priors[kind]

    def save(self, path: str | Path) -> None:
        tensors = {f"{kind}.{name}": value.detach().contiguous()
                   for kind, net in self.nets.items() for name, value in net.state_dict().items()}
        metadata = {"flank": str(self.flank), "channels": str(self.channels), "hidden": str(self.hidden),
                    **{f"prior.{kind}": repr(self.priors[kind]) for kind in KINDS}}
        save_file(tensors, str(path), metadata=metadata)

    @classmethod
    def load(cls, path: str | Path) -> "SiteClassifier":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
            flank, channels, hidden = (int(metadata[k]) for k in ("flank", "channels", "hidden"))
            priors = {kind: float(metadata[f"prior.{kind}"]) for kind in KINDS}
        except Exception as exc:  # safetensors' own error type, a missing or non-numeric entry
            raise ValueError(f"{path}: not a genoseg site classifier ({type(exc).__name__}: {exc})") from None
        # Sizes are checked before the networks are built, so a crafted file cannot allocate much.
        if not (1 <= flank <= 10_000 and 1 <= channels <= 1024 and 1 <= hidden <= 1024):
            raise ValueError(f"{path}: site classifier sizes out of range (flank {flank}, channels {channels}, hidden {hidden})")
        if not all(math.isfinite(p) for p in priors.values()):
            raise ValueError(f"{path}: site classifier priors must be finite")
        try:
            tensors = load_file(str(path))
            nets = {}
            for kind in KINDS:
                net = SiteNet(flank, channels, hidden)
                state = {name.split(".", 1)[1]: value for name, value in tensors.items() if name.startswith(kind + ".")}
                net.load_state_dict(state)  # strict: a missing or extra tensor is an error
                nets[kind] = net.eval()
        except Exception as exc:
            raise ValueError(f"{path}: site classifier weights do not fit its sizes ({str(exc).splitlines()[0][:200]})") from None
        if not all(bool(torch.isfinite(v).all()) for v in tensors.values() if v.is_floating_point()):
            raise ValueError(f"{path}: site classifier weights hold NaN or infinite values")
        return cls(nets, priors, flank, channels, hidden)

    def digest(self) -> str:
        """sha256 of the weights, for run fingerprints."""
        h = hashlib.sha256()
        for kind in KINDS:
            for name, value in self.nets[kind].state_dict().items():
                h.update(name.encode())
                h.update(value.detach().numpy().tobytes())
        return h.hexdigest()
