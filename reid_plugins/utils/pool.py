"""A bounded window over a thread pool: at most `window` calls in flight, the next one submitted only when the
consumer asks for the next result.

concurrent.futures' submit-everything-then-as_completed lets idle workers take queued calls while the consumer is
still handling an earlier result, so a stop decided there (a refused API key, Ctrl-C, a hook) races calls already
sent. Here nothing is submitted after the consumer stops iterating except what was already running.
"""
from __future__ import annotations

import concurrent.futures as cf
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Tuple


def completed_in_window(pool: cf.Executor, calls: Iterable[Tuple[Any, Callable[[], Any]]], window: int,
                        running: Optional[Dict[cf.Future, Any]] = None) -> Iterator[Tuple[Any, cf.Future]]:
    """Yields (tag, finished future) for every (tag, fn) of `calls`, in order of completion.

    `running` (future -> tag), when the caller passes one: after an exception in the consumer it holds the calls
    still in flight, which the caller lets finish (`pool.shutdown(wait=True)`) and settles."""
    if window < 1:
        raise ValueError(f"the window of concurrent calls must be >= 1, got {window}")
    running = {} if running is None else running
    queue = iter(calls)

    def top_up() -> None:
        for tag, fn in queue:
            running[pool.submit(fn)] = tag
            if len(running) >= window:
                return

    top_up()
    while running:
        finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
        for fut in finished:
            yield running.pop(fut), fut
        top_up()
