"""Atomic file writes: a reader sees the old file or the new one, never a partial one (a temporary file
`<path>.tmp<pid><suffix>` in the same folder, fsynced, then os.replace; on an error the temporary file is removed and
the old file stays as it was). `engine/guards.remove_stale_temp_files` relies on that temporary name.

And the one JSON reader, `read_json`, whose errors name the file, what it should hold and the fix."""
from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Callable, Iterator, Optional, Type


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = "", fsync: bool = True) -> Iterator[str]:
    """Yields a temporary path next to `path` for a writer that needs a file name (np.memmap, ONNX, ...); when the
    block ends without an error the file is fsynced and renamed over `path`. `suffix` keeps an extension some
    writers insist on (e.g. ".npy"). `fsync=False` keeps the rename (no reader sees a partial file) but skips the
    flush to disk, for many small files that can be regenerated (a few ms each)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}{suffix}"
    try:
        yield tmp
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_atomic(path: str, write: Callable[[Any], None], binary: bool = False, fsync: bool = True) -> str:
    """Create `path` through `write(file_object)` atomically (text files are UTF-8); returns `path`."""
    with atomic_path(path, fsync=fsync) as tmp:
        with open(tmp, "wb") if binary else open(tmp, "w", encoding="utf-8") as f:
            write(f)
    return path


def write_text_atomic(path: str, text: str) -> str:
    return write_atomic(path, lambda f: f.write(text))


def write_json_atomic(path: str, obj, indent: Optional[int] = None, sort_keys: bool = False,
                      ensure_ascii: bool = True) -> str:
    return write_atomic(path, lambda f: json.dump(obj, f, indent=indent, sort_keys=sort_keys,
                                                  ensure_ascii=ensure_ascii))


def write_bytes_atomic(path: str, data: bytes, fsync: bool = True) -> str:
    return write_atomic(path, lambda f: f.write(data), binary=True, fsync=fsync)


def torch_save_atomic(obj, path: str) -> str:
    """torch.save through a file object (the archive's inner name does not depend on the temporary file name, so
    the same object gives the same bytes)."""
    import torch

    return write_atomic(path, lambda f: torch.save(obj, f), binary=True)


class JSONFileError(ValueError):
    """A JSON file that cannot be read or parsed (read_json's default error)."""


def read_json(path: str, what: str = "JSON file", fix: str = "", error: Optional[Type[Exception]] = None) -> Any:
    """The parsed content of the UTF-8 JSON file `path`.

    `what` names what the file should hold ("zoo manifest"), `fix` says how to repair it ("rebuild it with ...");
    every message reads "<what> '<path>' <problem>[; <fix>]". The problem is one of: does not exist, cannot be read,
    is empty, is cut short (as an interrupted write leaves it), or is not valid JSON (with line and column).
    A site with its own exception class passes it as `error` and gets it for every problem; by default a missing
    file raises FileNotFoundError (so `except OSError` keeps working) and the others JSONFileError (a ValueError)."""
    def fail(problem: str, default: Type[Exception] = JSONFileError):
        return (error or default)(f"{what} {path!r} {problem}" + (f"; {fix}" if fix else ""))

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise fail("does not exist", FileNotFoundError) from None
    except UnicodeDecodeError as e:
        raise fail(f"is not UTF-8 text (byte {e.start}), so not JSON") from None
    except OSError as e:
        raise fail(f"cannot be read ({e.strerror or e})", OSError) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        if not text.strip():
            raise fail("is empty, not valid JSON") from None
        # json's messages end in " at" where the position follows ("Unterminated string starting at")
        detail = f"{e.msg}{'' if e.msg.endswith(' at') else ' at'} line {e.lineno} column {e.colno}"
        if e.pos >= len(text.rstrip()) or e.msg.startswith("Unterminated string"):
            # the parser ran out of input: the file was cut short
            raise fail(f"is not valid JSON: it is cut short ({detail}), as an interrupted write leaves a "
                       f"file") from None
        raise fail(f"is not valid JSON ({detail})") from None
