"""Side-by-side timing of MUVA against plain CLIP (tools/model_stats.py, benchmarks/muva_cost.py).

Both callables get one warm-up call, then `iters` alternating calls (a, b, a, b, ...) so that both see the same
machine load; the result is the median wall time of each, in seconds. On CUDA the device is synchronised around every
call (kernels run asynchronously).
"""
from __future__ import annotations

import statistics
import time
from typing import Callable, Optional, Tuple

import torch


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Wall time of one call of `fn` in seconds."""
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def alternate_medians(a: Callable[[], object], b: Callable[[], object], iters: int, device: torch.device,
                      after_warmup: Optional[Callable[[], None]] = None) -> Tuple[float, float]:
    """(median time of a, median time of b) over `iters` alternating calls after one warm-up call of each;
    `after_warmup` runs between the warm-up and the timed calls (e.g. resetting CUDA's peak-memory counter)."""
    if iters < 1:
        raise ValueError(f"iters={iters}: need at least one timed call")
    a(), b()
    if after_warmup is not None:
        after_warmup()
    times_a, times_b = [], []
    for _ in range(iters):
        times_a.append(timed(a, device))
        times_b.append(timed(b, device))
    return statistics.median(times_a), statistics.median(times_b)
