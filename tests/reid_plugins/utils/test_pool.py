import concurrent.futures as cf
import threading
import time

import pytest

from reid_plugins.utils.pool import completed_in_window


def _tracked_calls(n, hold=0.02, together=0):
    """n calls that record how many of them run at once and which ones started; the first `together` wait for
    each other (a barrier that breaks unless that many run at once)."""
    lock, state = threading.Lock(), {"now": 0, "peak": 0, "started": []}
    barrier = threading.Barrier(together, timeout=10) if together else None

    def make(i):
        def call():
            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
                state["started"].append(i)
            if i < together:
                barrier.wait()
            time.sleep(hold)
            with lock:
                state["now"] -= 1
            return i * i
        return call

    return [(i, make(i)) for i in range(n)], state


@pytest.mark.parametrize("window", [1, 3])
def test_every_call_once_with_at_most_window_in_flight(window):
    calls, state = _tracked_calls(10, together=window)
    running = {}
    with cf.ThreadPoolExecutor(max_workers=4) as pool:
        results = {tag: fut.result() for tag, fut in completed_in_window(pool, calls, window, running)}
    assert results == {i: i * i for i in range(10)} and running == {}
    assert state["peak"] == window and sorted(state["started"]) == list(range(10))


def test_nothing_is_submitted_after_the_consumer_stops():
    calls, state = _tracked_calls(10, hold=0.0)
    running = {}
    pool = cf.ThreadPoolExecutor(max_workers=2)
    with pytest.raises(KeyboardInterrupt):
        for k, (tag, fut) in enumerate(completed_in_window(pool, calls, 2, running), 1):
            time.sleep(0.05)  # a slow consumer: idle workers must not take queued calls meanwhile
            if k == 3:
                raise KeyboardInterrupt
    pool.shutdown(wait=True)
    # 3 consumed + what was in flight when the 3rd was handed over (the window was refilled after the 2nd)
    assert len(state["started"]) == 3 + len(running) and len(running) <= 2
    assert set(state["started"]) == set(range(len(state["started"])))  # taken in the order given


def test_window_must_be_positive():
    with cf.ThreadPoolExecutor(max_workers=1) as pool, pytest.raises(ValueError, match="window.*>= 1, got 0"):
        next(completed_in_window(pool, [], 0, {}))
