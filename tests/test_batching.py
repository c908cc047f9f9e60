"""BackgroundBatches: items from many threads, handled in order, in batches, never lost."""

from __future__ import annotations

import threading
import time

from pys3local.batching import BackgroundBatches


def test_items_arrive_in_order_in_few_batches_and_close_drains() -> None:
    batches: list[list[int]] = []
    worker = BackgroundBatches(batches.append, interval=0.05, name="test-batches")
    for number in range(1000):
        assert worker.submit(number)
    deadline = time.monotonic() + 5
    while sum(map(len, batches)) < 1000:
        assert time.monotonic() < deadline, "the background thread handled nothing"
        time.sleep(0.01)
    assert [n for batch in batches for n in batch] == list(range(1000))
    assert len(batches) <= 3  # gathered, not one call per item
    worker.submit(1000)
    worker.close()  # no waiting for the interval: close hands over what is left
    assert batches[-1][-1] == 1000


def test_threads_lose_nothing_and_overflow_is_refused() -> None:
    seen: list[int] = []
    gate = threading.Event()

    def slow(batch: list[int]) -> None:
        gate.wait()
        seen.extend(batch)

    worker = BackgroundBatches(slow, interval=0.01, name="test-overflow", max_pending=10)
    accepted = [worker.submit(n) for n in range(50)]
    assert accepted.count(True) >= 10 and False in accepted  # the handler is stuck
    gate.set()
    worker.close()
    assert sorted(seen) == [n for n, ok in enumerate(accepted) if ok]

    many: list[int] = []
    worker = BackgroundBatches(many.extend, interval=0.01, name="test-threads")
    threads = [
        threading.Thread(target=lambda base=base: [worker.submit(base + i) for i in range(500)])
        for base in range(0, 4000, 500)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    worker.close()
    assert sorted(many) == list(range(4000))
