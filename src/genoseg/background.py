"""Work that runs beside the forward pass: the writer thread, and handing freed memory back.

Stitching, interval calling, gene decoding and bigWig compression run on a thread of their own
(`Behind`), so they overlap the next forward passes instead of waiting between them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import queue
import threading
import time
from typing import Callable

from genoseg import stopping


class Behind:
    """Runs `handle` on each item on a thread of its own, at most `depth` items behind.

    Stitching, interval calling, gene decoding and bigWig compression then overlap the next
    forward passes instead of waiting between them (zlib and NumPy release the GIL, and torch
    releases it inside every operator). Items are handled in order; an error raised by `handle`
    is re-raised in the caller at its next put or at close.
    """

    def __init__(self, handle: Callable[[object], None], depth: int = 4) -> None:
        self.handle = handle
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.busy_seconds = 0.0  # time spent in `handle`, overlapped with the caller's work
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="genoseg-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _END or self.stopping.is_set():
                return
            started = time.perf_counter()
            try:
                self.handle(item)
                self.busy_seconds += time.perf_counter() - started
            except BaseException as exc:
                self.error = exc
                return

    def put(self, item: object) -> None:
        while True:
            if self.error is not None:
                raise self.error
            try:
                with stopping.deferred():
                    self.queue.put(item, timeout=stopping.POLL_SECONDS)
                return
            except queue.Full:
                if not self.thread.is_alive():
                    raise RuntimeError("the writer thread stopped") from self.error

    def close(self) -> None:
        """Wait until every item is handled; re-raises the handler's error."""
        self.put(_END)
        stopping.join(self.thread)
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """Abandon what is queued (after an error elsewhere) and end the thread."""
        self.stopping.set()
        while self.thread.is_alive():
            with stopping.deferred():
                try:
                    self.queue.put_nowait(_END)
                except queue.Full:
                    try:
                        self.queue.get_nowait()
                    except queue.Empty:
                        pass
                self.thread.join(timeout=0.05)


_END = object()


class HeapTrimmer:
    """Hands freed heap memory back to the OS every so many batches (glibc only).

    Window-sized arrays come and go with every batch; glibc keeps the freed pages, and the
    heap fragments, so RSS crept up with the length of the run (measured: 390 MB for 3 Mb,
    471 MB for 30 Mb). Forcing such arrays to mmap instead kept RSS flat but cost 40 % of the
    forward's speed (page faults on every allocation). One arena plus `malloc_trim` every few
    batches keeps the speed and most of the flatness; a trim costs well under a millisecond.
    """

    def __init__(self, every: int = 32) -> None:
        self.every = every
        self.count = 0
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            # One arena for threads started from here on, such as the producer (30 Mb / 3 Mb peak
            # RSS with trimming: 1.15 with glibc's default arenas, 1.13 with this; 1.075 with
            # MALLOC_ARENA_MAX=1 in the environment, which also covers torch's own threads).
            libc.mallopt(-8, 1)  # M_ARENA_MAX
            self._trim = libc.malloc_trim
        except (OSError, AttributeError):
            self._trim = None

    def tick(self) -> None:
        self.count += 1
        if self._trim is not None and self.count % self.every == 0:
            self._trim(0)
