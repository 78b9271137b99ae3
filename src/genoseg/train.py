"""Training SegmentNT-architecture models on a genome with its reference annotation.

Labels are per nucleotide and strand-agnostic (`annotation.build_labels`); the model predicts
exactly the classes the annotation supports. Loss is the focal loss SegmentNT was trained with.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genoseg.errors import DataError
from genoseg import __version__
from genoseg.annotation import LABEL_FEATURES, build_labels, read_annotation, supported_features
from genoseg.fasta import IS_ACGT, FastaReader, reverse_complement
from genoseg.metrics import Confusion
from genoseg.model import SegmentNT, SegmentNTConfig, load_model
from genoseg.model.limits import WINDOW_MULTIPLE
from genoseg.regions import Region, parse_region
from genoseg.model.tokenizer import Tokenizer

MODEL_SIZES: dict[str, dict] = {
    # 2.2 M parameters: trains at ~70 kb/s on 2 CPU cores; the bundled default.
    "tiny": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=8, intermediate_size=256),
    "small": dict(hidden_size=256, num_hidden_layers=6, num_attention_heads=8, intermediate_size=512),
    "base": dict(hidden_size=512, num_hidden_layers=12, num_attention_heads=8, intermediate_size=1024),
}


@dataclass
class TrainSettings:
    fasta: str
    annotation: str
    output: str
    size: str = "tiny"
    window_nt: int = 3072
    batch_size: int = 8
    steps: int = 20_000
    learning_rate: float = 1e-3
    warmup_steps: int = 500
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    focal_gamma: float = 2.0
    seed: int = 0
    val_regions: list[str] = field(default_factory=list)
    val_every: int = 500
    val_windows: int = 96
    max_minutes: float | None = None
    device: str = "auto"
    save_dtype: str = "float32"
    resume: bool = False
    # Fine-tuning: start from a saved model's weights (its size and classes) instead of random ones.
    init_from: str | None = None
    # Loss weight of the positive bases of the splice-site classes: 2 bases per intron end, about
    # 0.5 % of bases, which the focal loss alone leaves below 0.5 probability everywhere.
    splice_weight: float = 1.0
    # Further (FASTA, annotation) pairs trained on with the first one (TrainingData).
    extra_genomes: list[tuple[str, str]] = field(default_factory=list)

    def genomes(self) -> list[tuple[str, str]]:
        return [(self.fasta, self.annotation)] + [tuple(pair) for pair in self.extra_genomes]


SPLICE_CLASSES = ("splice_donor", "splice_acceptor")


class TrainingError(DataError, RuntimeError):
    pass


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float,
               positive_weight: torch.Tensor | None = None, known: torch.Tensor | None = None) -> torch.Tensor:
    """Mean focal loss over (B, N, F, 2) two-way logits and (B, N, F) {0,1} targets; positive
    bases of class f weigh positive_weight[f] (1 without it). With `known` ((B, F) bool), the
    mean is over the classes each window's annotation labels."""
    log_probs = F.log_softmax(logits.float(), dim=-1)
    log_pt = log_probs.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)
    loss = -(1.0 - log_pt.exp()) ** gamma * log_pt
    if positive_weight is not None:
        loss = loss * torch.where(targets.bool(), positive_weight, torch.ones((), device=loss.device))
    if known is None or bool(known.all()):
        return loss.mean()
    mask = known[:, None, :].expand_as(loss)
    return loss[mask].sum() / mask.sum().clamp(min=1)


def reverse_complement_example(windows: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Labels are strand-agnostic, so the reverse complement's labels are the reversed labels.
    return reverse_complement(windows), labels[:, ::-1]


class GenomeData:
    """Sequences and labels of one genome's annotated records, split into training and validation.

    `val_regions` may name records of other genomes; those are left to them (load_training_data
    checks that every region names some genome's record).
    """

    def __init__(self, reader: FastaReader, annotation_path: str, val_regions: list[Region], window: int) -> None:
        annotation = read_annotation(annotation_path)
        self.fasta = fasta = str(reader.path)
        self.features = supported_features(annotation)
        if not self.features:
            raise TrainingError(f"{annotation_path}: no protein-coding or lncRNA transcripts to learn from")
        self.window = window
        self.sequences: dict[str, np.ndarray] = {}
        self.labels: dict[str, np.ndarray] = {}
        self.train_ok: dict[str, np.ndarray] = {}  # window starts allowed for training
        annotated = {t.seqid for t in annotation.transcripts}
        self.lengths = {r.name: r.length for r in reader.records}
        self.val_regions = [r for r in val_regions if r.record in self.lengths]
        for region in self.val_regions:
            if region.end is not None and region.end > self.lengths[region.record]:
                raise TrainingError(f"{fasta}: --val-region {region}: ends beyond record {region.record} "
                                    f"(length {self.lengths[region.record]})")
        for record in reader.records:
            if record.name not in annotated or record.length < window:
                continue
            seq = reader.fetch(record.name, 0, record.length)
            self.sequences[record.name] = seq
            self.labels[record.name] = build_labels(annotation, record.name, record.length, self.features)
        if not self.sequences:
            raise TrainingError(f"{fasta}: no record is annotated in {annotation_path} and at least {window} nt long")
        for name, seq in self.sequences.items():
            bad = np.concatenate(([0], np.cumsum(~IS_ACGT[seq])))
            starts = np.arange(len(seq) - window + 1)
            ok = bad[starts + window] - bad[starts] == 0
            for region in self.val_regions:
                if region.record == name:
                    ok &= (starts + window <= region.start) | (starts >= region.end)
            self.train_ok[name] = np.flatnonzero(ok)
        self.train_starts = sum(len(v) for v in self.train_ok.values())

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
        names = [n for n in self.train_ok if len(self.train_ok[n])]
        weights = np.array([len(self.train_ok[n]) for n in names], dtype=np.float64)
        picks = rng.choice(len(names), size=batch, p=weights / weights.sum())
        windows, labels = [], []
        for pick in picks:
            name = names[pick]
            start = int(self.train_ok[name][rng.integers(len(self.train_ok[name]))])
            windows.append(self.sequences[name][start : start + self.window])
            labels.append(self.labels[name][start : start + self.window])
        w, l = np.stack(windows), np.stack(labels)
        flip = rng.random(batch) < 0.5
        if flip.any():
            w[flip], l[flip] = reverse_complement_example(w[flip], l[flip])
        return w, l

    def validation_starts(self) -> list[tuple[str, int]]:
        """Every N-free window of the validation regions, tiled without overlap."""
        starts = []
        for region in self.val_regions:
            seq = self.sequences.get(region.record)
            if seq is None:
                continue
            for start in range(region.start, region.end - self.window + 1, self.window):
                if IS_ACGT[seq[start : start + self.window]].all():
                    starts.append((region.record, start))
        return starts


class TrainingData:
    """One or more genomes trained on together.

    The model's classes are every class some genome's annotation labels. A genome whose annotation
    cannot label a class (no lncRNA, no UTRs) leaves that class out of the loss on its windows
    instead of teaching that it is absent. Each window comes from each genome with equal chance,
    however large the genome is, so a big genome with a sparse annotation does not outweigh a
    small, richly annotated one.
    """

    def __init__(self, genomes: list[GenomeData]) -> None:
        self.genomes = genomes
        seen: dict[str, str] = {}
        for genome in genomes:
            for name in genome.lengths:
                if name in seen:
                    raise TrainingError(f"{genome.fasta}: record {name!r} is also in {seen[name]}; "
                                        f"genomes trained together need distinct record names")
                seen[name] = genome.fasta
        self.features = [f for f in LABEL_FEATURES if any(f in g.features for g in genomes)]
        self.window = genomes[0].window
        self.train_starts = sum(g.train_starts for g in genomes)
        if self.train_starts == 0:
            raise TrainingError("no N-free training window outside the validation regions")
        self._trainable = [g for g in genomes if g.train_starts]

    def known(self, genome: GenomeData) -> np.ndarray:
        """(F,) bool: the classes `genome`'s annotation labels."""
        return np.array([f in genome.features for f in self.features])

    def _widen(self, genome: GenomeData, labels: np.ndarray) -> np.ndarray:
        """Labels in the genome's own columns -> the model's columns (0 where unknown)."""
        wide = np.zeros(labels.shape[:-1] + (len(self.features),), np.uint8)
        wide[..., [self.features.index(f) for f in genome.features]] = labels
        return wide

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(windows, labels, known): known is (batch, F) bool."""
        if len(self._trainable) == 1:
            genome = self._trainable[0]
            w, l = genome.sample(rng, batch)
            return w, self._widen(genome, l), np.tile(self.known(genome), (batch, 1))
        picks = rng.integers(len(self._trainable), size=batch)
        parts = [(self._trainable[i], int((picks == i).sum())) for i in range(len(self._trainable))]
        sampled = [(g, *g.sample(rng, n)) for g, n in parts if n]
        windows = np.concatenate([w for _, w, _ in sampled])
        labels = np.concatenate([self._widen(g, l) for g, _, l in sampled])
        known = np.concatenate([np.tile(self.known(g), (len(w), 1)) for g, w, _ in sampled])
        return windows, labels, known

    def validation_windows(self, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Evenly spread N-free windows from the validation regions, the same every time:
        (windows, labels, known)."""
        candidates = [(g, name, start) for g in self.genomes for name, start in g.validation_starts()]
        if not candidates:
            empty = np.zeros((0, self.window), np.uint8)
            return empty, np.zeros((0, self.window, len(self.features)), np.uint8), np.zeros((0, len(self.features)), bool)
        chosen = [candidates[i] for i in np.linspace(0, len(candidates) - 1, min(limit, len(candidates))).astype(int)]
        w = np.stack([g.sequences[n][s : s + self.window] for g, n, s in chosen])
        l = np.stack([self._widen(g, g.labels[n][s : s + self.window]) for g, n, s in chosen])
        known = np.stack([self.known(g) for g, _, _ in chosen])
        return w, l, known


def load_training_data(genomes: list[tuple[str, str]], val_regions: list[Region], window: int) -> TrainingData:
    """Read every (FASTA, annotation) pair; each validation region must name one of their records.
    The record names are checked first, from the FASTA indexes, so a mistyped region fails before
    any annotation is read or label built."""
    with ExitStack() as stack:
        readers = [stack.enter_context(FastaReader(fasta)) for fasta, _ in genomes]
        names = {r.name for reader in readers for r in reader.records}
        for region in val_regions:
            if region.record not in names:
                raise TrainingError(f"{', '.join(f for f, _ in genomes)}: --val-region {region}: "
                                    f"no record named {region.record!r}")
        return TrainingData([GenomeData(reader, annotation, val_regions, window)
                             for reader, (_, annotation) in zip(readers, genomes)])


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _lr_at(step: int, s: TrainSettings) -> float:
    if step < s.warmup_steps:
        return s.learning_rate * (step + 1) / s.warmup_steps
    progress = (step - s.warmup_steps) / max(1, s.steps - s.warmup_steps)
    return s.learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


@torch.no_grad()
def validate(model: SegmentNT, windows: np.ndarray, labels: np.ndarray, device: torch.device, batch: int,
             known: np.ndarray | None = None) -> dict:
    """Per-class confusion figures on validation windows; with `known` ((W, F) bool), a class is
    scored on the windows whose annotation labels it."""
    if known is None:
        known = np.ones((len(windows), len(model.features)), bool)
    model.eval()
    tokenizer = Tokenizer()
    confusions = [Confusion() for _ in model.features]
    for i in range(0, len(windows), batch):
        ids = torch.from_numpy(tokenizer.encode_batch(windows[i : i + batch])).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            probs = model(ids).float().cpu().numpy()
        for f, confusion in enumerate(confusions):
            rows = known[i : i + batch, f]
            confusion.add(probs[rows, :, f] >= 0.5, labels[i : i + batch][rows, :, f])
    model.train()
    return {name: c.as_dict() for name, c in zip(model.features, confusions)}


@dataclass
class Progress:
    """Where training stands; saved in training_state.pt with the weights, for --resume."""

    step: int = 0
    best: float = -1.0  # the best mean validation MCC (or negative training loss) so far
    elapsed_before: float = 0.0  # training seconds of earlier runs of a resumed training
    history: list[dict] = field(default_factory=list)


def train(settings: TrainSettings, progress=None, log=print) -> dict:
    """Train a model; writes `save_pretrained` output and train_report.json under settings.output."""
    if settings.size not in MODEL_SIZES:
        raise TrainingError(f"unknown model size {settings.size!r}; choose from {', '.join(MODEL_SIZES)}")
    if settings.window_nt % WINDOW_MULTIPLE:
        raise TrainingError(f"--window must be a multiple of {WINDOW_MULTIPLE}")
    out = Path(settings.output)
    state_path = out / "training_state.pt"
    device = pick_device(settings.device)
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    val_regions = [parse_region(r) for r in settings.val_regions]
    t0 = time.time()
    data = load_training_data(settings.genomes(), val_regions, settings.window_nt)
    records = sum(len(g.sequences) for g in data.genomes)
    log(f"labels for {records} record(s) of {len(data.genomes)} genome(s), features {', '.join(data.features)}; "
        f"{data.train_starts:,} training window starts ({time.time() - t0:.1f}s)")
    model = _initial_model(settings, data.features, device)
    out.mkdir(parents=True, exist_ok=True)  # only once the data and the starting model are usable
    positive_weight = torch.tensor([settings.splice_weight if f in SPLICE_CLASSES else 1.0 for f in data.features],
                                   device=device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    state = Progress()
    if settings.resume and state_path.is_file():
        state = _load_state(state_path, model, optimizer, rng, device)
        log(f"resumed at step {state.step}")
    val_w, val_l, val_known = data.validation_windows(settings.val_windows)
    tokenizer = Tokenizer()
    start_time = time.time()

    def elapsed() -> float:
        return state.elapsed_before + time.time() - start_time

    losses: list[float] = []
    task = progress.add_task("training", total=settings.steps, completed=state.step) if progress else None
    while state.step < settings.steps:
        if settings.max_minutes and elapsed() / 60 > settings.max_minutes:
            log(f"time limit of {settings.max_minutes} min reached at step {state.step}")
            break
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(state.step, settings)
        windows, labels, known = data.sample(rng, settings.batch_size)
        ids = torch.from_numpy(tokenizer.encode_batch(np.ascontiguousarray(windows))).to(device)
        target = torch.from_numpy(np.ascontiguousarray(labels)).to(device)
        losses.append(_train_step(model, optimizer, ids, target, positive_weight, torch.from_numpy(known).to(device),
                                  settings, device))
        state.step += 1
        if progress:
            progress.update(task, advance=1, description=f"training loss {np.mean(losses[-50:]):.4f}")
        if state.step % settings.val_every == 0 or state.step == settings.steps:
            _validate_and_keep(model, state, losses, (val_w, val_l, val_known), settings, device, elapsed(), out, log)
            _save_state(state_path, model, optimizer, rng, state, elapsed())
    if not (out / "config.json").is_file():
        _save(model, out, settings.save_dtype)
    report = _report(settings, data.features, model, state, elapsed(), device, validated=bool(len(val_w)))
    (out / "train_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _initial_model(settings: TrainSettings, features: list[str], device: torch.device) -> SegmentNT:
    """A new model of settings.size for `features`, or the --init-from model (same classes)."""
    if settings.init_from:
        # The strict loader: a checkpoint with missing or unexpected weights is refused, not
        # silently completed with random ones.
        model = load_model(settings.init_from)
        if list(model.features) != features:
            raise TrainingError(f"{settings.init_from}: classes {', '.join(model.features)} differ from the "
                                f"annotation's {', '.join(features)}")
        return model.to(device).train()
    config = SegmentNTConfig(
        **MODEL_SIZES[settings.size], features=features, genoseg_window_nt=settings.window_nt,
        genoseg_description=f"genoseg {settings.size} model trained on "
                            f"{', '.join(Path(fasta).name for fasta, _ in settings.genomes())}",
    )
    return SegmentNT(config).to(device).train()


def _train_step(model: SegmentNT, optimizer, ids: torch.Tensor, target: torch.Tensor, positive_weight: torch.Tensor,
                known: torch.Tensor, settings: TrainSettings, device: torch.device) -> float:
    """One optimizer step on a batch; returns its loss."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        logits = model.logits(ids)
    loss = focal_loss(logits, target, settings.focal_gamma, positive_weight, known)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
    optimizer.step()
    return loss.item()


def _validate_and_keep(model: SegmentNT, state: Progress, losses: list[float], validation: tuple,
                       settings: TrainSettings, device: torch.device, elapsed: float, out: Path, log) -> None:
    """Score the validation windows, log a history entry, and save the weights when they are the best."""
    val_w, val_l, val_known = validation
    metrics = validate(model, val_w, val_l, device, settings.batch_size, val_known) if len(val_w) else {}
    mean_mcc = float(np.mean([m["mcc"] for m in metrics.values()])) if metrics else -float(np.mean(losses[-50:]))
    entry = {"step": state.step, "train_loss": round(float(np.mean(losses[-settings.val_every:])), 5),
             "elapsed_s": round(elapsed, 1),
             "mean_mcc": round(mean_mcc, 4), "mcc": {k: v["mcc"] for k, v in metrics.items()}}
    state.history.append(entry)
    log(json.dumps(entry))
    if mean_mcc > state.best:
        state.best = mean_mcc
        _save(model, out, settings.save_dtype)


def _save_state(path: Path, model: SegmentNT, optimizer, rng: np.random.Generator, state: Progress,
                elapsed: float) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": state.step, "best": state.best,
        "elapsed": elapsed, "history": json.dumps(state.history),
        "torch_rng": torch.get_rng_state(), "numpy_rng": json.dumps(rng.bit_generator.state),
    }, tmp)
    os.replace(tmp, path)


def _load_state(path: Path, model: SegmentNT, optimizer, rng: np.random.Generator, device: torch.device) -> Progress:
    """Weights, optimizer and random states of an interrupted training (weights_only: no code runs)."""
    saved = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["torch_rng"])
    rng.bit_generator.state = json.loads(saved["numpy_rng"])
    return Progress(saved["step"], saved["best"], saved["elapsed"], json.loads(saved["history"]))


def _report(settings: TrainSettings, features: list[str], model: SegmentNT, state: Progress, elapsed: float,
            device: torch.device, validated: bool) -> dict:
    """train_report.json: the command, settings, model size, device and the validation history."""
    return {
        "genoseg_version": __version__,
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "settings": asdict(settings),
        "features": features,
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps_done": state.step,
        "train_seconds": round(elapsed, 1),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores, {platform.processor() or platform.machine()})",
        "torch_threads": torch.get_num_threads(),
        # Without validation windows the kept weights are those of the lowest training loss.
        "best_mean_mcc": state.best if validated else None,
        "history": state.history,
    }


def _save(model: SegmentNT, out: Path, dtype: str) -> None:
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    if dtype == "float16":
        copy = SegmentNT(model.config)
        copy.load_state_dict(model.state_dict())
        copy.half().save_pretrained(out)
    else:
        model.save_pretrained(out)
