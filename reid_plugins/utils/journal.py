"""Append-only JSONL journal of finished work: a killed run loses nothing finished and re-sends nothing finished.

Every finished item is one line, written and fsynced before the worker takes its next item. Reopening the journal
reads the finished items back (the caller skips them). A kill in the middle of a write leaves at most one
unterminated last line; it is an unfinished record, so it is cut off (with a warning) before appending resumes.
Records hold results only, never credentials.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any, Dict, List

from .redaction import redact_obj

logger = logging.getLogger(__name__)


class JournalError(ValueError):
    pass


class Journal:
    """``Journal(path)``: loads ``path`` if it exists; ``done`` maps item key -> its record (last one wins)."""

    def __init__(self, path: str):
        self.path = path
        self.done: Dict[str, Dict[str, Any]] = {}
        self.runs: List[Dict[str, Any]] = []
        self._lock = threading.Lock()
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        if os.path.exists(path):
            self._recover_and_load()
        self._f = open(path, "ab")
        _fsync_dir(folder)

    def _recover_and_load(self) -> None:
        with open(self.path, "rb") as f:
            data = f.read()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            logger.warning("journal %s: dropping an unfinished last record (%d bytes, the run was interrupted while "
                           "writing it)", self.path, len(data) - complete)
            with open(self.path, "r+b") as f:
                f.truncate(complete)
                f.flush()
                os.fsync(f.fileno())
        for lineno, line in enumerate(data[:complete].splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise JournalError(f"journal {self.path} line {lineno} is not valid JSON ({e}); the file was edited "
                                   f"or corrupted; fix or remove that line") from None
            if not isinstance(rec, dict) or rec.get("type") not in ("item", "run"):
                raise JournalError(f"journal {self.path} line {lineno}: expected a record with type 'item' or 'run', "
                                   f"got {str(rec)[:80]!r}")
            if rec["type"] == "run":
                self.runs.append(rec)
            else:
                if not isinstance(rec.get("key"), str):
                    raise JournalError(f"journal {self.path} line {lineno}: item record without a string 'key'")
                self.done[rec["key"]] = rec

    def append(self, record: Dict[str, Any]) -> None:
        """Writes one record (secrets scrubbed) and fsyncs it; thread-safe."""
        if record.get("type") not in ("item", "run"):
            raise ValueError(f"journal record needs type 'item' or 'run', got {record.get('type')!r}")
        record = redact_obj(record)
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self._f.write(line)
            self._f.flush()
            os.fsync(self._f.fileno())
            if record["type"] == "item":
                self.done[record["key"]] = record
            else:
                self.runs.append(record)

    def close(self) -> None:
        with self._lock:
            if not self._f.closed:
                self._f.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _fsync_dir(folder: str) -> None:
    # Makes the journal's directory entry durable too (a new file could otherwise vanish on power loss).
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
