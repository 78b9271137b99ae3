"""Ctrl-C and SIGTERM that stop a threaded run cleanly.

Python runs a signal handler between any two bytecodes of the main thread. A handler that
raises can therefore fire after a lock has been acquired but before the `with` that releases it
has begun (CPython issue bpo-29988); in a `queue.Queue` call that leaves the queue's mutex held
by the main thread, and the cleanup that follows (handing the writer thread its end marker)
blocks on that mutex for ever. CI hit it once: a SIGTERM'd run still had not exited after 60 s.

So the main thread enters `deferred()` around every wait on a queue or a thread. Inside it the
handler only records the signal; leaving the block raises it. Everywhere else the handler raises
at once, so Ctrl-C still interrupts a long forward pass or a model load between operators.
Waits inside `deferred()` use short timeouts so the raise comes within a tenth of a second.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType


class Terminated(BaseException):
    """SIGTERM (a batch scheduler's time limit): unwinds like Ctrl-C so partial outputs are removed."""


POLL_SECONDS = 0.1

_depth = 0  # nesting of deferred() blocks on the main thread
_pending: type[BaseException] | None = None


def _exception_for(signum: int) -> type[BaseException]:
    return KeyboardInterrupt if signum == signal.SIGINT else Terminated


def handle_signal(signum: int, frame: FrameType | None) -> None:
    """The handler the CLI installs for SIGINT and SIGTERM."""
    global _pending
    if _depth > 0:
        _pending = _pending or _exception_for(signum)
        return
    raise _exception_for(signum)()


class deferred:
    """A block in which SIGINT/SIGTERM are held back, then raised when the block is left."""

    def __enter__(self) -> None:
        global _depth
        if threading.current_thread() is threading.main_thread():
            _depth += 1

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        global _depth, _pending
        if threading.current_thread() is not threading.main_thread():
            return
        _depth -= 1
        if _depth == 0 and _pending is not None:
            pending, _pending = _pending, None
            raise pending()


def join(thread: threading.Thread, timeout: float | None = None) -> None:
    """`thread.join` that a signal can still stop, and never while a lock is half taken."""
    waited = 0.0
    while thread.is_alive() and (timeout is None or waited < timeout):
        with deferred():
            thread.join(POLL_SECONDS)
        waited += POLL_SECONDS
