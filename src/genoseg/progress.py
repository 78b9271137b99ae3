"""Progress display: a rich bar on a terminal, nothing (callers log plain lines) otherwise."""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@contextlib.contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Progress | None]:
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        yield progress


class Reporter:
    """Progress for annotate: a rich bar on a terminal, a plain line every 30 s otherwise."""

    def __init__(self, enabled: bool = True, interval: float = 30.0) -> None:
        self.enabled = enabled
        self.console = Console(stderr=True)
        self.interval = interval
        self.progress: Progress | None = None
        self.task = None
        self.started = 0.0
        self.last_line = 0.0

    def __enter__(self) -> "Reporter":
        import time

        self.started = self.last_line = time.time()
        if self.enabled and self.console.is_terminal:
            self.progress = Progress(
                TextColumn("annotating"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} bp"),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(), console=self.console,
            )
            self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def update(self, done: int, total: int) -> None:
        import time

        now = time.time()
        rate = done / max(now - self.started, 1e-9)
        if self.progress is not None:
            if self.task is None:
                self.task = self.progress.add_task("annotate", total=total, rate="")
            self.progress.update(self.task, completed=done, total=total, rate=f"{rate / 1e3:,.1f} kb/s")
        elif self.enabled and (now - self.last_line >= self.interval or done == total):
            self.last_line = now
            pct = 100 * done / total if total else 100.0
            print(f"genoseg: {done:,}/{total:,} bp ({pct:.1f}%), {rate / 1e3:,.1f} kb/s", file=sys.stderr, flush=True)

    def log(self, message: str) -> None:
        if self.enabled:
            self.console.print(message, highlight=False) if self.progress else print(message, file=sys.stderr)
