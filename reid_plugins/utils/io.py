"""Atomic file writes: a reader sees the old file or the new one, never a partial one (a temporary file in the same
folder, flushed and fsynced, then os.replace)."""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Optional


def write_atomic(path: str, write: Callable[[Any], None], binary: bool = False) -> str:
    """Create `path` through `write(file_object)` atomically; returns `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def write_json_atomic(path: str, obj, indent: Optional[int] = None, sort_keys: bool = False) -> str:
    return write_atomic(path, lambda f: json.dump(obj, f, indent=indent, sort_keys=sort_keys))


def write_bytes_atomic(path: str, data: bytes) -> str:
    return write_atomic(path, lambda f: f.write(data), binary=True)


def torch_save_atomic(obj, path: str) -> str:
    """torch.save through a file object (the archive's inner name does not depend on the temporary file name, so
    the same object gives the same bytes)."""
    import torch

    return write_atomic(path, lambda f: torch.save(obj, f), binary=True)
