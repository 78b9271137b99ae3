import os
import signal
import threading
import time

import pytest

from genoseg import stopping
from genoseg.background import Behind
from genoseg.stopping import Terminated


@pytest.fixture
def sigterm_handled():
    previous = signal.signal(signal.SIGTERM, stopping.handle_signal)
    yield
    signal.signal(signal.SIGTERM, previous)


def _sigterm_in(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    return timer


def test_signal_outside_deferred_raises_at_once(sigterm_handled):
    with pytest.raises(Terminated):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted by the handler's raise


def test_signal_inside_deferred_waits_for_the_end_of_the_block(sigterm_handled):
    reached_end = False
    with pytest.raises(Terminated):
        with stopping.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)
            reached_end = True
    assert reached_end
    with stopping.deferred():  # nothing left pending once raised
        time.sleep(0.05)


def test_sigterm_stops_a_put_blocked_on_a_busy_writer_and_leaves_the_queue_usable(sigterm_handled):
    release = threading.Event()
    writer = Behind(lambda item: release.wait(30), depth=1)
    writer.put(1)  # the thread takes it and blocks in the handler
    writer.put(2)  # fills the queue
    _sigterm_in(0.3)
    started = time.time()
    with pytest.raises(Terminated):
        writer.put(3)
    assert time.time() - started < 2
    # The raise came outside the queue's lock: cleanup can take it.
    assert writer.queue.mutex.acquire(timeout=1)
    writer.queue.mutex.release()
    release.set()
    writer.stop()
    assert not writer.thread.is_alive()


def test_sigterm_stops_a_join_on_a_busy_writer(sigterm_handled):
    release = threading.Event()
    writer = Behind(lambda item: release.wait(30), depth=2)
    writer.put(1)
    _sigterm_in(0.3)
    started = time.time()
    with pytest.raises(Terminated):
        writer.close()  # waits for the handler, which does not return
    assert time.time() - started < 2
    release.set()
    writer.stop()
    assert not writer.thread.is_alive()
