"""BackgroundWorker: slow outputs on their own thread, bounded, never blocking."""

from __future__ import annotations

import logging
import threading

import pytest

from camapp.outputs.threaded import BackgroundWorker
from tests.outputs.conftest import wait_until


def test_items_are_handled_in_order_on_the_worker_thread() -> None:
    seen: list[tuple[int, str]] = []
    worker: BackgroundWorker[int] = BackgroundWorker("ordered", lambda i: seen.append((i, threading.current_thread().name)), 100).start()
    for i in range(50):
        assert worker.submit(i) is True
    assert worker.join(10)
    worker.close()
    assert [i for i, _ in seen] == list(range(50))
    assert {name for _, name in seen} == {"camapp-ordered"}
    assert (worker.counters.submitted, worker.counters.done, worker.counters.dropped) == (50, 50, 0)


def test_a_blocked_handler_never_blocks_submit_and_the_oldest_items_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    handled: list[int] = []

    def slow(i: int) -> None:
        release.wait()
        handled.append(i)

    worker: BackgroundWorker[int] = BackgroundWorker("stuck", slow, maxsize=3).start()
    with caplog.at_level(logging.INFO, logger="camapp.outputs.threaded"):
        worker.submit(0)
        wait_until(lambda: worker.pending == 0, 5, "the worker to take item 0")  # now blocked inside slow(0)
        # 100 submits into a queue of 3 while the handler is stuck: each one returns at once.
        results = [worker.submit(i) for i in range(1, 101)]
        release.set()
        assert worker.join(10)
    worker.close()
    assert results[:3] == [True, True, True] and not any(results[3:])
    assert worker.counters.dropped == 97
    assert handled == [0, 98, 99, 100]  # the newest items survive an outage, not the oldest
    # One line when dropping starts and one when it is over, not one per dropped item.
    assert sum("dropping the oldest" in r.message for r in caplog.records) == 1
    assert sum("caught up" in r.message for r in caplog.records) == 1


def test_a_handler_that_raises_is_counted_logged_once_and_the_worker_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    done: list[int] = []

    def flaky(i: int) -> None:
        if i < 5:
            raise OSError(28, "No space left on device")
        done.append(i)

    worker: BackgroundWorker[int] = BackgroundWorker("disk", flaky).start()
    with caplog.at_level(logging.INFO, logger="camapp.outputs.threaded"):
        for i in range(8):
            worker.submit(i)
        assert worker.join(10)
    worker.close()
    assert worker.counters.errors == 5 and done == [5, 6, 7]
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1 and "No space left on device" in failures[0].message
    assert any("working again" in r.message for r in caplog.records)


def test_close_finishes_what_is_queued_and_later_submits_are_dropped() -> None:
    done: list[int] = []
    worker: BackgroundWorker[int] = BackgroundWorker("closing", done.append, 100).start()
    for i in range(20):
        worker.submit(i)
    worker.close()
    assert done == list(range(20))
    assert worker.submit(99) is False and worker.counters.dropped == 1
