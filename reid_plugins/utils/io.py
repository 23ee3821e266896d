"""Atomic file writes: a reader sees the old file or the new one, never a partial one (a temporary file
`<path>.tmp<pid><suffix>` in the same folder, fsynced, then os.replace; on an error the temporary file is removed and
the old file stays as it was). `engine/guards.remove_stale_temp_files` relies on that temporary name."""
from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Callable, Iterator, Optional


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
