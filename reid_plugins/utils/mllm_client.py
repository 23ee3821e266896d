"""OpenAI-compatible chat-completions client with image input (OpenAI, vLLM, Ollama, other hosted APIs).

Built on the `openai` package, which already retries 429 / 408 / 409 / 5xx responses, connection errors and
timeouts with exponential backoff and jitter, honouring Retry-After (``max_retries``). What it lacks is added here:
a client-side request-rate limit shared by all worker threads, and a count of the HTTP requests really sent (so a
run can report transport retries). The API key is read from an environment variable and registered with
`redaction`, which scrubs it from every error message, log record, journal and summary.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from .extras import require
from .redaction import register_secret

logger = logging.getLogger(__name__)

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
MODEL_ENV = "OPENAI_MODEL"


def __getattr__(name):
    # FATAL_ERRORS: fatal for the whole run (wrong key, model or URL): retrying other images would fail the same way.
    # Built on first use, so that importing this module (the CLIs' --help) does not import openai (~0.6 s).
    if name == "FATAL_ERRORS":
        openai = _openai()
        return (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _openai():
    return require("openai", "The MLLM client (captioning, grounding's openai backend)")


class MalformedResponse(RuntimeError):
    """The server answered 200 but not with a chat completion."""


class RateLimiter:
    """At most `per_minute` request starts per minute across threads, spaced evenly (0 = unlimited).

    Hand-written: the spacing is a few lines and no rate-limit package is in the environment."""

    def __init__(self, per_minute: float):
        if per_minute < 0:
            raise ValueError(f"requests per minute must be >= 0, got {per_minute}")
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


@dataclass(frozen=True)
class ChatResult:
    text: str
    refusal: Optional[str]
    finish_reason: Optional[str]


class MLLMClient:
    """``MLLMClient(model, base_url=None, api_key_env="OPENAI_API_KEY", timeout=120, max_retries=5, rpm=0)``.

    ``base_url`` None reads OPENAI_BASE_URL, then OpenAI's own endpoint. A local server (vLLM, Ollama) needs no key:
    when the named variable is unset and a base URL is given, the placeholder key "EMPTY" is sent."""

    def __init__(self, model: str, base_url: Optional[str] = None, api_key_env: str = DEFAULT_KEY_ENV,
                 timeout: float = 120.0, max_retries: int = 5, rpm: float = 0.0):
        if not model:
            raise ValueError(f"no model name: pass --model or set {MODEL_ENV}")
        base_url = base_url or os.environ.get(BASE_URL_ENV) or None
        api_key = os.environ.get(api_key_env)
        if not api_key:
            if base_url is None:
                raise ValueError(f"no API key: the environment variable {api_key_env} is unset (or pass "
                                 f"--base-url for a local server that needs none)")
            logger.info("environment variable %s is unset: sending no real API key to %s", api_key_env, base_url)
            api_key = "EMPTY"
        else:
            register_secret(api_key)
        self.model = model
        self.base_url = base_url
        self.limiter = RateLimiter(rpm)
        self._sent = 0
        self._sent_lock = threading.Lock()
        openai = _openai()
        http_client = openai.DefaultHttpxClient(event_hooks={"request": [self._count_request]})
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries,
                                     http_client=http_client)

    def _count_request(self, request: Any) -> None:
        with self._sent_lock:
            self._sent += 1

    @property
    def requests_sent(self) -> int:
        """HTTP requests really sent, the openai package's own retries included."""
        with self._sent_lock:
            return self._sent

    def chat(self, messages: List[Dict[str, Any]], *, temperature: float, max_tokens: int, json_mode: bool = False,
             seed: Optional[int] = None) -> ChatResult:
        """One chat completion (after the rate limiter). openai errors propagate after the client's own retries;
        a 200 answer that is not a chat completion raises MalformedResponse."""
        openai = _openai()
        self.limiter.acquire()
        kwargs: Dict[str, Any] = {}
        if json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        if seed is not None:
            kwargs["seed"] = seed
        try:
            resp = self._client.chat.completions.create(model=self.model, messages=messages,
                                                        temperature=temperature, max_tokens=max_tokens, **kwargs)
        except (json.JSONDecodeError, openai.APIResponseValidationError) as e:
            raise MalformedResponse(f"the server's answer is not valid JSON / a chat completion: {e}") from None
        try:
            choice = resp.choices[0]
            message = choice.message
            text = message.content
            refusal = getattr(message, "refusal", None)
        except (AttributeError, IndexError, TypeError) as e:
            raise MalformedResponse(f"the server's answer is not a chat completion ({type(e).__name__}: {e}): "
                                    f"{str(resp)[:200]!r}") from None
        if text is not None and not isinstance(text, str):
            raise MalformedResponse(f"the message content is {type(text).__name__}, expected a string")
        return ChatResult(text or "", refusal, getattr(choice, "finish_reason", None))

    def close(self) -> None:
        self._client.close()
