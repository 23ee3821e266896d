"""Runs journaled jobs on a thread pool with a progress bar.

Each job is (key, fn); keys already in the journal are skipped. A worker journals its job's record (fsynced) before
it takes the next job, so a kill loses nothing finished and a resumed run re-sends nothing finished. A job that
fails transiently (server errors after the client's retries) is not journaled and is retried by the next run.
Errors that would fail every job the same way (wrong key, model or URL) stop the run.
"""
from __future__ import annotations

import concurrent.futures as cf
import functools
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Sequence, Tuple

from tqdm import tqdm

from ..utils.extras import require
from ..utils.journal import Journal
from ..utils.mllm_client import FATAL_ERRORS, MalformedResponse
from ..utils.pool import completed_in_window
from ..utils.redaction import redact

logger = logging.getLogger(__name__)

# Failures of one job that a later run may not repeat: server errors after the client's own retries, a server
# that answered with something other than a chat completion.
TRANSIENT_ERRORS = (require("openai", "MLLM captioning").APIError, MalformedResponse)


class FatalServerError(RuntimeError):
    pass


@dataclass
class RunResult:
    skipped: int = 0  # already in the journal
    finished: int = 0  # journaled by this run
    failed: Dict[str, str] = field(default_factory=dict)  # key -> error, not journaled


def run_journaled(jobs: Sequence[Tuple[str, Callable[[], Dict[str, Any]]]], journal: Journal, *, workers: int = 1,
                  desc: str = "jobs", progress: bool = True) -> RunResult:
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    result = RunResult()
    todo: List[Tuple[str, Callable[[], Dict[str, Any]]]] = []
    for key, fn in jobs:
        if key in journal.done:
            result.skipped += 1
        else:
            todo.append((key, fn))

    def work(key: str, fn: Callable[[], Dict[str, Any]]) -> None:
        record = fn()
        journal.append({"type": "item", "key": key, **record})

    with tqdm(total=len(jobs), initial=result.skipped, desc=desc, unit="item", disable=not progress,
              dynamic_ncols=True) as bar, cf.ThreadPoolExecutor(max_workers=workers) as pool:
        # On a fatal error or Ctrl-C nothing more is sent; leaving the pool's `with` waits for the running jobs,
        # which journal themselves.
        calls = ((key, functools.partial(work, key, fn)) for key, fn in todo)
        for key, fut in completed_in_window(pool, calls, workers):
            try:
                fut.result()
            except FATAL_ERRORS as e:
                raise FatalServerError(_fatal_message(e)) from None
            except TRANSIENT_ERRORS as e:
                result.failed[key] = redact(f"{type(e).__name__}: {e}")
                logger.warning("%s: %s (not journaled; a re-run retries it)", key, result.failed[key])
            else:
                result.finished += 1
            bar.update(1)
            bar.set_postfix(failed=len(result.failed))
    return result


def _fatal_message(e: Exception) -> str:
    status = getattr(e, "status_code", "?")
    hint = {401: "the API key was refused: check the environment variable named by --api-key-env",
            403: "access denied for this key / model",
            404: "not found: check --base-url (it usually ends in /v1) and --model"}.get(status, "")
    return redact(f"the server answered {status} ({type(e).__name__}); {hint}. Stopped; finished items are "
                  f"journaled")
