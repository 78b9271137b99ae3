"""Running the model over windows: a background producer prepares token batches while the
main thread runs the forward pass, so the accelerator never waits on sequence handling."""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from genoseg import stopping
from genoseg.errors import UsageError
from genoseg.fasta import FastaReader, reverse_complement
from genoseg.model import SegmentNT
from genoseg.model.limits import WINDOW_MULTIPLE
from genoseg.tiling import Window
from genoseg.model.tokenizer import Tokenizer


_DONE = object()


@dataclass
class Batch:
    windows: list[Window]
    # (B, 1 + L/6) int64, pinned when the model runs on CUDA; with both strands the reverse
    # complements follow as rows B..2B-1.
    token_ids: torch.Tensor
    both_strands: bool = False
    order: list[int] | None = None  # each window's place in the run's sequence of windows
    # (rows,) real tokens per row, <cls> included, when short windows are padded to one length.
    lengths: torch.Tensor | None = None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise UsageError(f"--device {name}: not a device name (auto, cpu, cuda or cuda:N)") from None
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"--device {name}: genoseg runs on cpu or cuda, not {device.type}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {name}: requested but no CUDA device is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"--device {name}: there are only {torch.cuda.device_count()} CUDA devices")
    return device


def default_threads() -> int:
    # sched_getaffinity respects the CPU set a batch scheduler (SLURM, cgroups) grants the job.
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


PADDING_STEPS = 8  # short windows above window/8 are padded to the next multiple of window/8


def padded_length(length: int, window: int) -> int | None:
    """The length a short window is padded to, or None for a full window (never padded).

    Short windows (whole short contigs) are padded to the next multiple of window/8, or below
    that to the smallest of window/16, window/32, ... that holds them (all multiples of 24): at
    most an eighth of a window, or double a tiny window, is padding. They always run padded,
    whatever else is in their batch, so a window's result depends only on itself.
    """
    if length >= window:
        return None
    step = -(-window // PADDING_STEPS // WINDOW_MULTIPLE) * WINDOW_MULTIPLE
    if length > step:
        return min(window, -(-length // step) * step)
    size = step
    while True:
        half = -(-size // 2 // WINDOW_MULTIPLE) * WINDOW_MULTIPLE
        if half < length or half >= size:
            return size
        size = half


def pack_batches(
    windows: Iterable[Window], batch_size: int, window: int, lookahead: int = 4
) -> Iterator[tuple[list[tuple[int, Window]], int | None]]:
    """Groups of (index, window) to run together, with the length they are padded to (None: full).

    Full windows go in order, batch_size at a time. Short windows (contigs shorter than a
    window: thousands in a fragmented assembly) are packed by padded length, batch_size x
    window/length of them per batch so a batch holds as many bases as a full one; packing
    reorders them, so at most `lookahead` full batches' worth of bases wait for a partner.
    Nothing is batched across windows' `block`s, so batches depend on the block alone.
    """
    full: list[tuple[int, Window]] = []
    short: dict[int, list[tuple[int, Window]]] = {}
    waiting = 0  # padded bases in `short`
    limit = lookahead * batch_size * window
    block = None

    def release(size: int) -> tuple[list[tuple[int, Window]], int]:
        nonlocal waiting
        group = short.pop(size)
        waiting -= size * len(group)
        return group, size

    def oldest_first() -> list[int]:
        return sorted(short, key=lambda size: short[size][0][0])

    def flush() -> Iterator[tuple[list[tuple[int, Window]], int | None]]:
        nonlocal full
        if full:
            yield full, None
            full = []
        for pending in oldest_first():
            yield release(pending)

    for index, item in enumerate(windows):
        if item.block != block:  # batches never cross a block
            yield from flush()
            block = item.block
        size = padded_length(item.length, window)
        if size is None:
            for pending in oldest_first():
                yield release(pending)
            full.append((index, item))
            if len(full) == batch_size:
                yield full, None
                full = []
            continue
        if full:
            yield full, None
            full = []
        short.setdefault(size, []).append((index, item))
        waiting += size
        if len(short[size]) >= batch_size * max(1, window // size):
            yield release(size)
        elif waiting > limit:
            yield release(oldest_first()[0])
    yield from flush()


class BatchProducer:
    """Fetches and tokenizes batches on a background thread, a few batches ahead."""

    def __init__(
        self, reader: FastaReader, windows: Iterable[Window], batch_size: int, tokenizer: Tokenizer,
        pin_memory: bool, window: int, depth: int = 4, both_strands: bool = False, context: int = 0,
    ) -> None:
        self.reader = reader
        self.context = context  # bases of sequence fetched on each side of a window
        self.window = window
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
            for group, size in pack_batches(self.windows, self.batch_size, self.window):
                windows = [w for _, w in group]
                if not self._put(self._batch(windows, [i for i, _ in group], size)):
                    return
            self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(exc)

    def _fetch(self, window: Window) -> np.ndarray:
        """A window's bases, with `context` bases of the record on each side (N beyond its ends)
        for a model that predicts only the middle of its input (SegmentBorzoi)."""
        if not self.context:
            return self.reader.fetch(window.record, window.start, window.end)
        length = self.reader.length(window.record)
        lo, hi = max(0, window.start - self.context), min(length, window.end + self.context)
        seq = np.full(window.length + 2 * self.context, ord("N"), dtype=np.uint8)
        offset = lo - (window.start - self.context)
        seq[offset : offset + hi - lo] = self.reader.fetch(window.record, lo, hi)
        return seq

    def _batch(self, windows: list[Window], order: list[int], size: int | None) -> Batch:
        seqs = [self._fetch(w) for w in windows]
        if self.both_strands:
            seqs += [reverse_complement(seq) for seq in seqs]
        lengths = None
        if size is None:
            ids = self.tokenizer.encode_batch(np.stack(seqs))
        else:
            padded = np.full((len(seqs), size + 2 * self.context), self.tokenizer.pad_base, dtype=np.uint8)
            for row, seq in enumerate(seqs):
                padded[row, : len(seq)] = seq
            ids = self.tokenizer.encode_batch(padded)
            real = np.array([self.tokenizer.token_count(len(seq)) for seq in seqs])
            ids[np.arange(ids.shape[1])[None, :] >= real[:, None]] = self.tokenizer.pad_id
            lengths = torch.from_numpy(real)
        token_ids = torch.from_numpy(ids)
        if self.pin_memory:
            token_ids = token_ids.pin_memory()
        return Batch(windows, token_ids, self.both_strands, order, lengths)

    def __iter__(self) -> Iterator[Batch]:
        self.thread.start()
        try:
            while True:
                try:
                    with stopping.deferred():
                        item = self.queue.get(timeout=stopping.POLL_SECONDS)
                except queue.Empty:
                    continue
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.stop.set()
            stopping.join(self.thread, timeout=5)


class Predictor:
    """Model forward over batches: bf16 autocast on CUDA, float32 on CPU, inference mode."""

    def __init__(self, model: SegmentNT, device: torch.device) -> None:
        self.model = model.to(device).eval()
        self.device = device
        self.seconds = 0.0  # time inside the forward pass, for the overhead figure in run.json
        self.batches = 0
        self.windows = 0

    @torch.inference_mode()
    def __call__(self, batch: Batch) -> np.ndarray:
        started = time.perf_counter()
        ids = batch.token_ids.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            probs = self.model(ids, batch.lengths)
        if batch.both_strands:
            # Labels are strand-agnostic, so the reverse strand's prediction, flipped back onto
            # forward coordinates, is a second opinion on the same bases.
            forward, reverse = probs.chunk(2)
            if batch.lengths is None:
                probs = (forward + reverse.flip(1)) / 2
            else:  # each row's real part is flipped; the padding after it stays where it is
                probs = forward.clone()
                for row, window in enumerate(batch.windows):
                    n = window.length
                    probs[row, :n] = (forward[row, :n] + reverse[row, :n].flip(0)) / 2
        result = probs.float().cpu().numpy()  # waits for the device, so the timing is complete
        self.seconds += time.perf_counter() - started
        self.batches += 1
        self.windows += len(batch.windows)
        return result


def in_window_order(batches: Iterable[Batch], predict: Callable[[Batch], np.ndarray]) -> Iterator[list[tuple[Window, np.ndarray]]]:
    """After each batch, the (window, probabilities) now ready in the run's window order.

    Packed batches of short windows arrive out of order; stitching and writing need order.
    """
    waiting: dict[int, tuple[Window, np.ndarray]] = {}
    following = 0
    for batch in batches:
        probs = predict(batch)
        order = batch.order if batch.order is not None else range(following, following + len(batch.windows))
        for index, window, values in zip(order, batch.windows, probs):
            waiting[index] = (window, values[: window.length])
        ready = []
        while following in waiting:
            ready.append(waiting.pop(following))
            following += 1
        yield ready
    if waiting:
        raise RuntimeError(f"windows {sorted(waiting)[:3]}... never became ready: a batch went missing")
