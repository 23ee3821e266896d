"""Client pieces that need no server: the rate limiter (with a fake clock), key and model handling."""

import pytest

from reid_plugins.utils import mllm_client as client_mod
from reid_plugins.utils.mllm_client import MLLMClient, RateLimiter


def test_rate_limiter_spaces_request_starts(monkeypatch):
    clock = {"t": 100.0}
    sleeps = []

    def sleep(s):
        sleeps.append(round(s, 6))
        clock["t"] += s

    monkeypatch.setattr(client_mod.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(client_mod.time, "sleep", sleep)
    limiter = RateLimiter(per_minute=120)  # one start every 0.5 s
    for _ in range(3):
        limiter.acquire()
    assert sleeps == [0.5, 0.5]
    clock["t"] += 10  # idle for a while: the next request goes at once
    limiter.acquire()
    assert sleeps == [0.5, 0.5]
    RateLimiter(0).acquire()  # unlimited
    with pytest.raises(ValueError, match=">= 0"):
        RateLimiter(-1)


def test_key_and_model_requirements(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="NO_SUCH_KEY_VAR is unset"):
        MLLMClient("m", api_key_env="NO_SUCH_KEY_VAR")  # OpenAI's own endpoint needs a key
    local = MLLMClient("m", base_url="http://127.0.0.1:9/v1", api_key_env="NO_SUCH_KEY_VAR")  # vLLM / Ollama
    assert local.base_url == "http://127.0.0.1:9/v1" and local.requests_sent == 0
    local.close()
    with pytest.raises(ValueError, match="--model"):
        MLLMClient("", base_url="http://127.0.0.1:9/v1")
