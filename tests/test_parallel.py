"""ordered_map: threads, but results in input order and bounded in flight."""

from __future__ import annotations

import threading
import time

from forensics.concurrency import ordered_map


def test_results_come_back_in_input_order_even_when_later_items_finish_first():
    def slow_first(x):
        time.sleep(0.05 if x % 2 == 0 else 0.0)
        return x * 10

    assert list(ordered_map(slow_first, range(9), ahead=2)) == [x * 10 for x in range(9)]


def test_at_most_ahead_items_are_taken_before_a_result_is_used():
    taken, lock = [], threading.Lock()

    def items():
        for i in range(10):
            with lock:
                taken.append(i)
            yield i

    seen = []
    for r in ordered_map(lambda x: x, items(), ahead=2):
        seen.append((r, len(taken)))
    # when result r is handed out, at most r + 2 items have been drawn
    assert all(n <= r + 2 for r, n in seen)
    assert [r for r, _ in seen] == list(range(10))


def test_an_exception_in_a_worker_reaches_the_caller():
    def boom(x):
        if x == 3:
            raise ValueError("bad item")
        return x

    out = []
    try:
        for r in ordered_map(boom, range(6), ahead=2):
            out.append(r)
    except ValueError as exc:
        assert str(exc) == "bad item"
    else:
        raise AssertionError("the worker's exception was swallowed")
    assert out == [0, 1, 2]


def test_one_thread_is_a_plain_map():
    assert list(ordered_map(str, [1, 2], ahead=1)) == ["1", "2"]
