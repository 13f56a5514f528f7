"""The hand-offs between the pipeline's threads: the live slot, and the bounded FIFO of file mode."""

from __future__ import annotations

import threading

from camapp.pipeline.handoff import END, FrameQueue, LatestSlot


def test_the_live_slot_keeps_only_the_newest_item_and_counts_the_ones_it_replaced():
    dropped: list[int] = []
    slot: LatestSlot[int] = LatestSlot(on_drop=dropped.append)

    assert slot.put(1) == 0
    assert slot.put(2) == 1
    assert slot.put(3) == 1

    assert slot.get(timeout=1) == 3
    assert slot.replaced == 2
    assert dropped == [1, 2]  # handed back, e.g. so their buffers can be reused


def test_the_live_slot_does_not_count_an_item_that_was_taken_in_time():
    slot: LatestSlot[int] = LatestSlot()
    for i in range(5):
        assert slot.put(i) == 0
        assert slot.get(timeout=1) == i
    assert slot.replaced == 0


def test_the_live_slot_delivers_its_last_item_before_reporting_the_end():
    slot: LatestSlot[int] = LatestSlot()
    slot.put(7)
    slot.put(END)
    assert not slot.ended
    assert slot.get(timeout=1) == 7
    assert slot.get(timeout=1) is None
    assert slot.ended


def test_the_live_slot_wakes_a_waiting_consumer():
    slot: LatestSlot[str] = LatestSlot()
    got: list[str | None] = []
    consumer = threading.Thread(target=lambda: got.append(slot.get(timeout=10)))
    consumer.start()
    slot.put("frame")
    consumer.join(timeout=10)
    assert got == ["frame"]


def test_an_empty_slot_times_out_with_none_but_has_not_ended():
    slot: LatestSlot[int] = LatestSlot()
    assert slot.get(timeout=0.01) is None
    assert not slot.ended


def test_the_blocking_queue_hands_over_every_item_in_order_whatever_the_speeds():
    q: FrameQueue[int] = FrameQueue(maxsize=2)
    received: list[int] = []

    def consume() -> None:
        while (item := q.get(timeout=10)) is not None:
            received.append(item)

    consumer = threading.Thread(target=consume)
    consumer.start()
    for i in range(200):
        assert q.put(i) == 0  # waits for room instead of dropping
    q.put(END)
    consumer.join(timeout=10)

    assert received == list(range(200))
    assert q.ended
    assert q.dropped == 0


def test_a_full_blocking_queue_gives_up_when_stop_is_set_so_a_dead_consumer_cannot_hang_the_producer():
    q: FrameQueue[int] = FrameQueue(maxsize=1)
    q.put(1)
    stop = threading.Event()
    stop.set()
    assert q.put(2, stop) == 0
    assert len(q) == 1
    assert q.get(timeout=1) == 1


def test_the_drop_oldest_queue_never_blocks_and_hands_back_what_it_dropped():
    dropped: list[int] = []
    q: FrameQueue[int] = FrameQueue(maxsize=2, overflow="drop_oldest", on_drop=dropped.append)
    assert [q.put(i) for i in range(5)] == [0, 0, 1, 1, 1]
    assert q.dropped == 3
    assert dropped == [0, 1, 2]
    assert [q.get(timeout=1), q.get(timeout=1)] == [3, 4]


def test_the_queue_reports_the_end_only_after_its_items():
    q: FrameQueue[int] = FrameQueue(maxsize=4)
    q.put(1)
    q.put(2)
    q.put(END)
    assert not q.ended
    assert q.get(timeout=1) == 1
    assert q.get(timeout=1) == 2
    assert q.get(timeout=1) is None
    assert q.ended


def test_an_empty_queue_times_out_with_none_but_has_not_ended():
    q: FrameQueue[int] = FrameQueue()
    assert q.get(timeout=0.01) is None
    assert not q.ended


def test_a_file_queue_bounded_by_bytes_holds_fewer_large_items_but_always_one():
    q: FrameQueue[bytes] = FrameQueue(maxsize=4, size_of=len, max_bytes=10)
    stop = threading.Event()
    assert q.put(b"x" * 6) == 0
    assert q.put(b"y" * 4) == 0  # 10 bytes: still within the budget
    stop.set()  # a third item would wait for room: with stop set, put() gives up instead
    q.put(b"z", stop)
    assert len(q) == 2 and q.queued_bytes == 10
    assert q.get() == b"x" * 6 and q.get() == b"y" * 4
    assert q.queued_bytes == 0
    assert q.put(b"w" * 50) == 0  # larger than the whole budget, but an empty queue lets one in
    assert len(q) == 1 and q.queued_bytes == 50


def test_a_bytes_bound_frees_room_as_items_are_taken():
    q: FrameQueue[bytes] = FrameQueue(maxsize=4, size_of=len, max_bytes=8)
    q.put(b"a" * 8)
    done = threading.Event()

    def producer() -> None:
        q.put(b"b" * 8)
        done.set()

    threading.Thread(target=producer, daemon=True).start()
    assert not done.wait(0.2)  # blocked: the budget is taken
    assert q.get() == b"a" * 8
    assert done.wait(2)
    assert q.get() == b"b" * 8
