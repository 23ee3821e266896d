"""muva.timing: call order (warm-up, hook, alternation) and medians, with a fake clock (nothing is really timed)."""
import muva_path  # noqa: F401
import pytest
import torch

from muva import timing


@pytest.fixture
def fake_clock(monkeypatch):
    """perf_counter advances by the duration the running callable announces."""
    state = {"now": 0.0}
    monkeypatch.setattr(timing.time, "perf_counter", lambda: state["now"])
    return state


def test_alternate_medians_order_and_values(fake_clock):
    calls = []
    a_durations = iter([9.0, 3.0, 1.0, 2.0])  # warm-up 9 (ignored), then 3, 1, 2 -> median 2
    b_durations = iter([9.0, 10.0, 30.0, 20.0])  # warm-up 9 (ignored), then 10, 30, 20 -> median 20

    def a():
        calls.append("a")
        fake_clock["now"] += next(a_durations)

    def b():
        calls.append("b")
        fake_clock["now"] += next(b_durations)

    med_a, med_b = timing.alternate_medians(a, b, 3, torch.device("cpu"), after_warmup=lambda: calls.append("hook"))
    assert calls == ["a", "b", "hook", "a", "b", "a", "b", "a", "b"]
    assert (med_a, med_b) == (2.0, 20.0)


def test_timed_measures_one_call(fake_clock):
    def work():
        fake_clock["now"] += 0.25

    assert timing.timed(work, torch.device("cpu")) == 0.25


def test_alternate_medians_needs_an_iteration():
    with pytest.raises(ValueError, match="iters=0"):
        timing.alternate_medians(lambda: None, lambda: None, 0, torch.device("cpu"))
