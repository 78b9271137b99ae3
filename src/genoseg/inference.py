"""Running the model over windows: a background producer prepares token batches while the
main thread runs the forward pass, so the accelerator never waits on sequence handling."""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import torch

from genoseg.fasta import FastaReader, reverse_complement
from genoseg.model import SegmentNT
from genoseg.tiling import Window
from genoseg.tokenizer import Tokenizer

_DONE = object()


@dataclass
class Batch:
    windows: list[Window]
    # (B, 1 + L/6) int64, pinned when the model runs on CUDA; with both strands the reverse
    # complements follow as rows B..2B-1.
    token_ids: torch.Tensor
    both_strands: bool = False


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda requested but no CUDA device is available")
    return device


def default_threads() -> int:
    # sched_getaffinity respects the CPU set a batch scheduler (SLURM, cgroups) grants the job.
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def batches_of(windows: Iterable[Window], batch_size: int) -> Iterator[list[Window]]:
    """Consecutive windows of equal length in groups of at most batch_size (never padded)."""
    group: list[Window] = []
    for window in windows:
        if group and (len(group) == batch_size or window.length != group[0].length):
            yield group
            group = []
        group.append(window)
    if group:
        yield group


class BatchProducer:
    """Fetches and tokenizes batches on a background thread, a few batches ahead."""

    def __init__(
        self, reader: FastaReader, windows: Iterable[Window], batch_size: int, tokenizer: Tokenizer,
        pin_memory: bool, depth: int = 4, both_strands: bool = False,
    ) -> None:
        self.reader = reader
        self.windows = windows
        self.batch_size = batch_size
        self.tokenizer = tokenizer
        self.pin_memory = pin_memory
        self.both_strands = both_strands
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="genoseg-producer", daemon=True)

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for group in batches_of(self.windows, self.batch_size):
                seqs = np.stack([self.reader.fetch(w.record, w.start, w.end) for w in group])
                if self.both_strands:
                    seqs = np.concatenate([seqs, reverse_complement(seqs)])
                ids = torch.from_numpy(self.tokenizer.encode_batch(seqs))
                if self.pin_memory:
                    ids = ids.pin_memory()
                if not self._put(Batch(group, ids, self.both_strands)):
                    return
            self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(exc)

    def __iter__(self) -> Iterator[Batch]:
        self.thread.start()
        try:
            while True:
                item = self.queue.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.stop.set()
            self.thread.join(timeout=5)


class Predictor:
    """Model forward over batches: bf16 autocast on CUDA, float32 on CPU, inference mode."""

    def __init__(self, model: SegmentNT, device: torch.device) -> None:
        self.model = model.to(device).eval()
        self.device = device
        self.seconds = 0.0  # time inside the forward pass, for the overhead figure in run.json

    @torch.inference_mode()
    def __call__(self, batch: Batch) -> np.ndarray:
        started = time.perf_counter()
        ids = batch.token_ids.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            probs = self.model(ids)
        if batch.both_strands:
            # Labels are strand-agnostic, so the reverse strand's prediction, flipped back onto
            # forward coordinates, is a second opinion on the same bases.
            forward, reverse = probs.chunk(2)
            probs = (forward + reverse.flip(1)) / 2
        result = probs.float().cpu().numpy()  # waits for the device, so the timing is complete
        self.seconds += time.perf_counter() - started
        return result
