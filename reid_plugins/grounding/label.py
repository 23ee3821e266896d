"""A labelling run: ask a backend for the part boxes of every image, journal the answers, then compact.

Resumable: each answered image is one fsynced line of <out>/answers.jsonl (reid_plugins.utils.journal.Journal),
keyed by journal_key(relpath, file size, backend_id, prompt id); a rerun asks only for images without a record.
An image whose request failed (after the client's retries) is not journaled, so the next run asks again; in this
run's cache its failed parts become the calibrated stripe, and the summary counts them as fallbacks. When every
image has been tried, masks.npz is (re)written atomically from the journal (see compact.py), unless more than
`max_failed_fraction` of the images failed (default 0: any failure): a cache of stripes must not pass for labels.
"""
from __future__ import annotations

import concurrent.futures as cf
import functools
import logging
import os
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

from tqdm import tqdm

from ..utils import mllm_client  # its FATAL_ERRORS import openai on first use
from ..utils.io import write_json_atomic
from ..utils.journal import Journal
from ..utils.pool import completed_in_window
from ..utils.redaction import redact, redact_obj
from .backends import Backend, VLMBackend
from .cache import JOURNAL_FILE, journal_key, prompt_id
from .compact import empty_record_parts, write_cache
from .parts import PARTS

logger = logging.getLogger(__name__)
SUMMARY_FILE = "summary.json"


class FatalBackendError(RuntimeError):
    """Every image would fail the same way (refused key, unknown model or URL): the run stops."""


@dataclass(frozen=True)
class LabelItem:
    path: str       # as given (absolute or relative to the working directory)
    relpath: str    # key in the cache: relative to the dataset root / image folder, "/" separators


def _record(item: LabelItem, size: int, key: str, wh, answers) -> dict:
    return {"type": "item", "key": key, "relpath": item.relpath, "size": size, "image_wh": list(wh),
            "parts": {p: answers[p].to_json() for p in PARTS}}


def label_items(items: Sequence[LabelItem], backend: Backend, out_dir: str, settings, *, dataset: str = "",
                command: str = "", workers: int = 1, limit: Optional[int] = None,
                on_image: Optional[Callable[[str], None]] = None, progress: bool = True,
                max_failed_fraction: float = 0.0) -> dict:
    """Runs (or resumes) the labelling of `items` into `out_dir`; returns the summary (also <out>/summary.json).

    `limit`: ask for at most this many images now (the cache is written only when none is left).
    `max_failed_fraction`: the cache is written only if at most this fraction of the images failed (summary
    "cache_written"; their parts are calibrated stripes in it, and a rerun asks for them again).
    `on_image(relpath)` runs in the calling thread after each answered image (progress hooks; an exception it raises
    stops the run like Ctrl-C: journaled answers stay, images not yet sent are left for the next run)."""
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if not 0.0 <= max_failed_fraction <= 1.0:
        raise ValueError(f"--max-failed-fraction must be in [0, 1], got {max_failed_fraction}")
    if not items:
        raise ValueError(f"nothing to label for {dataset or out_dir!r}: the image list is empty")
    t0 = time.time()
    os.makedirs(out_dir, exist_ok=True)
    pid = prompt_id(backend.prompts)
    sizes = [os.path.getsize(it.path) for it in items]
    keys = [journal_key(it.relpath, s, backend.backend_id, pid) for it, s in zip(items, sizes)]
    failures: Dict[str, dict] = {}
    with Journal(os.path.join(out_dir, JOURNAL_FILE)) as journal:
        pending = [n for n, k in enumerate(keys) if k not in journal.done]
        reused = len(items) - len(pending)
        todo = pending if limit is None else pending[:max(0, int(limit))]
        sent_before = getattr(backend, "requests_sent", 0)
        calls_before = getattr(backend, "calls", 0)
        n_workers = workers if backend.concurrent else 1
        settle = _Settler(items, sizes, keys, backend, journal, failures)
        with tqdm(total=len(items), initial=reused, desc=f"grounding {dataset or 'images'}", unit="img",
                  disable=not progress, dynamic_ncols=True) as bar, \
                cf.ThreadPoolExecutor(max_workers=n_workers) as pool:
            running: Dict[cf.Future, int] = {}
            calls = ((n, functools.partial(backend.ground, items[n].path)) for n in todo)
            try:
                for n, fut in completed_in_window(pool, calls, n_workers, running):
                    settle(fut, n)
                    bar.update(1)
                    bar.set_postfix(failed=len(failures))
                    if on_image is not None:
                        on_image(items[n].relpath)
            finally:
                # the running requests finish and are journaled too, so the next run asks for none of them again
                pool.shutdown(wait=True)
                settle.remaining(running)
        left = len(pending) - len(todo)
        summary = {"dataset": dataset, "backend": backend.name, "backend_id": backend.backend_id,
                   "images": len(items), "requested_now": len(todo), "reused_from_journal": reused,
                   "failed_images": len(failures),
                   "failed_parts": sum(r["parts"][p]["parser"] == "error" for r in failures.values() for p in PARTS),
                   "left_for_next_run": left, "cache_written": False}
        if hasattr(backend, "requests_sent"):
            sent = backend.requests_sent - sent_before
            summary["http_requests"] = sent
            summary["retries"] = sent - (backend.calls - calls_before)
        if left == 0 and len(failures) <= max_failed_fraction * len(items):
            records = [journal.done.get(k) or failures[k] for k in keys]
            header = {"dataset": dataset, "backend": backend.name, "backend_id": backend.backend_id,
                      "prompt_id": pid, "prompts": list(backend.prompts or ()), "command": command,
                      "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                      "parse_options": getattr(backend, "parse_options", None)}
            reparse = (lambda text, wh: backend.parse(text, wh)) if isinstance(backend, VLMBackend) else None
            _, stats = write_cache(out_dir, [it.relpath for it in items], sizes, records, settings, header, reparse)
            summary.update(stats)
            summary["cache_written"] = True
        summary["seconds"] = round(time.time() - t0, 3)
        write_json_atomic(os.path.join(out_dir, SUMMARY_FILE), redact_obj(summary), indent=1)
    return summary


class _Settler:
    """Turns one finished ground() call into a journal line (success) or a failure record (kept for this run's
    cache and summary, not journaled so that the next run asks again)."""

    def __init__(self, items, sizes, keys, backend, journal, failures):
        self.items, self.sizes, self.keys = items, sizes, keys
        self.backend, self.journal, self.failures = backend, journal, failures

    def __call__(self, fut: cf.Future, n: int) -> None:
        item = self.items[n]
        try:
            wh, answers = fut.result()
        except mllm_client.FATAL_ERRORS as e:
            raise FatalBackendError(_fatal_message(e)) from None
        except Exception as e:  # one bad image (unreadable, ...) must not stop the run
            msg = redact(f"{type(e).__name__}: {e}")[:300]
            logger.warning("%s: %s (its parts fall back to the calibrated stripes)", item.relpath, msg)
            self.failures[self.keys[n]] = {"type": "item", "key": self.keys[n], "relpath": item.relpath,
                                           "size": self.sizes[n], "image_wh": None, "parts": empty_record_parts(msg)}
            return
        rec = _record(item, self.sizes[n], self.keys[n], wh, answers)
        failed = {p: a.error for p, a in answers.items() if a.parser == "error"}
        if failed:
            logger.warning("%s: request failed for %s: %s (falls back to the calibrated stripe; a rerun asks again)",
                           item.relpath, ", ".join(failed), next(iter(failed.values())))
            self.failures[self.keys[n]] = rec
        else:
            self.journal.append(rec)

    def remaining(self, running: Dict[cf.Future, int]) -> None:
        """Settles the calls that were still running when the run stopped (the pool has waited for them)."""
        for fut, n in running.items():
            try:
                self(fut, n)
            except Exception:  # already stopping; the original error is the one to report
                pass


def _fatal_message(e: Exception) -> str:
    status = getattr(e, "status_code", "?")
    hint = {401: "the API key was refused: check the environment variable named by --api-key-env",
            403: "the API key may not use this model", 404: "unknown model or wrong --base-url"}.get(status, "")
    return redact(f"the server refused the request (HTTP {status}: {type(e).__name__}); {hint}; nothing else was "
                  f"sent. Journaled answers are kept: fix it and rerun the same command")


def format_summary(s: dict) -> List[str]:
    lines = [f"dataset {s['dataset'] or '-'} | backend {s['backend_id']} | {s['images']} images "
             f"({s['requested_now']} asked now, {s['reused_from_journal']} from the journal) | "
             f"{s['seconds']:.1f} s"]
    if "http_requests" in s:
        lines.append(f"HTTP requests {s['http_requests']} (retries {s['retries']})")
    lines.append(f"failed images (parts fall back to calibrated stripes): {s['failed_images']} of {s['images']} "
                 f"({s['failed_parts']} parts)")
    if s.get("left_for_next_run"):
        lines.append(f"{s['left_for_next_run']} images left (--limit); rerun the same command to continue; the cache "
                     f"is written when all are done")
    if "calibration_rate" in s:
        for p in PARTS:
            r = s["replacements"][p]
            lines.append(f"  {p:6s} calibrated {100 * s['calibration_rate'][p]:5.1f}% (missing {r['missing']}, "
                         f"too small {r['too_small']}, too large {r['too_large']}) | parsers {s['parsers'][p]} | "
                         f"mask coverage {100 * s['mask_coverage'][p]:.1f}%")
    return lines
