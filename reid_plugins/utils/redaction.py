"""The one place where API keys are scrubbed from text, for both API-calling CLIs (captioning and grounding).

`MLLMClient` registers the key it reads from the environment; every error path then goes through `redact`: the
messages logged and stored for failed items (journals, summaries), the errors printed by the CLIs, every log record
(`install_log_redaction`, which also covers the `openai` and `httpx` loggers and logged tracebacks) and uncaught
exceptions (the CLIs' excepthook). Some proxies echo the request's `Authorization: Bearer <key>` header in their error
bodies, which the `openai` package puts into its exception messages.
"""
from __future__ import annotations

import logging
import sys
import threading
import traceback
from typing import Any

MASK = "***"
_MIN_SECRET = 4  # shorter values would blank out ordinary words
_secrets: set = set()
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Scrub `value` from everything `redact` sees in this process from now on."""
    if value and len(value) >= _MIN_SECRET:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """`text` with every registered secret replaced by ***."""
    text = str(text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)  # a key that contains another is replaced whole
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def redact_obj(obj: Any) -> Any:
    """A JSON-like value (dicts, lists, strings) with every string redacted, e.g. a journal record or a summary."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact_obj(k): redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_obj(v) for v in obj)
    return obj


class RedactingFilter(logging.Filter):
    """Rewrites a log record's message (and logged traceback) with its secrets scrubbed."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
            record.exc_info = None
        return True


def install_log_redaction() -> None:
    """Scrub every record that reaches the root logger's handlers, and every uncaught exception's traceback."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    if not getattr(sys.excepthook, "_reid_plugins_redacting", False):
        def excepthook(exc_type, exc, tb):
            sys.stderr.write(redact("".join(traceback.format_exception(exc_type, exc, tb))))

        excepthook._reid_plugins_redacting = True
        sys.excepthook = excepthook


def setup_cli_logging(fmt: str) -> None:
    """The logging of both API-calling CLIs: INFO to stderr, the HTTP libraries' per-request INFO lines silenced
    (they repeat for every request, also with --quiet), secrets scrubbed."""
    logging.basicConfig(level=logging.INFO, format=fmt)
    for noisy in ("httpx", "httpx2", "httpcore", "openai"):  # httpx2: the installed httpx package
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_log_redaction()
