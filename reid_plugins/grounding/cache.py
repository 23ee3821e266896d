"""The compacted, fast-loading part-mask cache of one dataset: <cache root>/<dataset name>/masks.npz.

Made by the CLI from the answer journal (answers.jsonl, resumable) once a labelling run ends; read by
PartMaskProvider. One uncompressed .npz (numpy arrays only, loaded with allow_pickle=False):

    header      JSON string: format, backend, backend_id, prompt_id, prompts, grid, vote rule, calibration
                (config + fitted bounds), counts, the command that regenerates the cache
    relpaths    str [N]         image path relative to the dataset root ("/" separators)
    sizes       int64 [N]       image file size in bytes when it was labelled
    keys        str [N]         entry_key(relpath, size, backend_id, prompt_id, grid)
    raw_boxes   float32 [N,3,4] normalised boxes as the backend gave them (NaN = none)
    boxes       float32 [N,3,4] after calibration
    reasons     uint8 [N,3]     calibration.REASONS code
    parsers     uint8 [N,3]     PARSERS code (which box format matched)
    masks       uint8 [N,3,B]   np.packbits of the calibrated masks [N,3,grid_h*grid_w]
    raw_masks   uint8 [N,3,B]   the same voted from the raw boxes (the "w/o calibration" ablation, Table 9)

A stale entry (the image file changed size, or the cache was made for another backend / prompt / grid) is detected
by recomputing its key; the error carries the header's regenerate command.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..utils.io import write_atomic
from .parts import StaleCacheError
from .voting import unpack_masks

FORMAT_VERSION = 1
MASKS_FILE = "masks.npz"
JOURNAL_FILE = "answers.jsonl"
PARSERS = ("none", "cogvlm", "qwen_json", "plain", "unparsed", "error", "oracle", "stripes")
_ARRAYS = ("relpaths", "sizes", "keys", "raw_boxes", "boxes", "reasons", "parsers", "masks", "raw_masks")


def prompt_id(prompts: Optional[Sequence[str]]) -> str:
    """Short hash of the prompts sent (\"none\" for backends that take no prompt)."""
    if not prompts:
        return "none"
    return hashlib.sha1("\x1f".join(prompts).encode("utf-8")).hexdigest()[:12]


def journal_key(relpath: str, size: int, backend_id: str, prompt: str) -> str:
    """Identity of one backend answer (grid-independent: a new grid re-votes journaled answers, no new requests)."""
    return hashlib.sha1(f"{relpath}\x1f{size}\x1f{backend_id}\x1f{prompt}".encode("utf-8")).hexdigest()[:24]


def entry_key(relpath: str, size: int, backend_id: str, prompt: str, grid: Tuple[int, int]) -> str:
    return hashlib.sha1(f"{relpath}\x1f{size}\x1f{backend_id}\x1f{prompt}\x1f{int(grid[0])}x{int(grid[1])}"
                        .encode("utf-8")).hexdigest()[:24]


def dataset_cache_dir(cache_root: str, dataset_name: str) -> str:
    return os.path.join(cache_root, dataset_name)


@dataclass
class MaskCache:
    header: dict
    relpaths: np.ndarray
    sizes: np.ndarray
    keys: np.ndarray
    raw_boxes: np.ndarray
    boxes: np.ndarray
    reasons: np.ndarray
    parsers: np.ndarray
    masks: np.ndarray
    raw_masks: np.ndarray
    path: str = ""
    _index: Optional[Dict[str, int]] = field(default=None, repr=False)

    @property
    def grid(self) -> Tuple[int, int]:
        g = self.header["grid"]
        return int(g[0]), int(g[1])

    def __len__(self) -> int:
        return len(self.relpaths)

    def row(self, relpath: str) -> Optional[int]:
        if self._index is None:
            self._index = {p: i for i, p in enumerate(self.relpaths.tolist())}
        return self._index.get(relpath)

    def mask(self, row: int, calibrated: bool = True) -> np.ndarray:
        packed = self.masks if calibrated else self.raw_masks
        gh, gw = self.grid
        return unpack_masks(packed[row], gh * gw)

    def check_entry(self, row: int, actual_size: int, grid: Tuple[int, int], image_path: str) -> None:
        """Raises StaleCacheError (saying which of size / grid / key differs) unless the stored key matches."""
        h = self.header
        rel = str(self.relpaths[row])
        if entry_key(rel, actual_size, h["backend_id"], h["prompt_id"], grid) == str(self.keys[row]):
            return
        redo = f"regenerate it with: {h.get('command', '(command unknown)')}"
        if int(self.sizes[row]) != int(actual_size):
            why = (f"the image file is {actual_size} bytes but was {int(self.sizes[row])} bytes when it was labelled "
                   f"(the image changed)")
        elif tuple(grid) != self.grid:
            why = f"the cache was voted on a {self.grid} grid but MODEL.MASKS.GRID is {tuple(grid)}"
        else:
            why = "its key does not match the header's backend / prompt (the file was edited or mixed)"
        raise StaleCacheError(f"stale part-mask cache entry for {image_path!r} in {self.path}: {why}; {redo}")


def write_mask_cache(path: str, header: dict, arrays: Dict[str, np.ndarray]) -> MaskCache:
    """Written atomically (utils.io); returns the cache as read_mask_cache reads it back."""
    missing = [k for k in _ARRAYS if k not in arrays]
    if missing:
        raise ValueError(f"write_mask_cache: arrays {missing} missing")
    text = json.dumps(dict(header, format=FORMAT_VERSION))
    write_atomic(path, lambda f: np.savez(f, header=np.array(text), **{k: arrays[k] for k in _ARRAYS}), binary=True)
    return MaskCache(header=json.loads(text), path=path, **{k: np.asarray(arrays[k]) for k in _ARRAYS})


def read_mask_cache(path: str) -> MaskCache:
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"part-mask cache {path!r} cannot be read ({e}); delete it and rerun the labelling "
                         f"command (answers already journaled are not re-requested)") from None
    missing = [k for k in ("header",) + _ARRAYS if k not in data]
    if missing:
        raise ValueError(f"part-mask cache {path!r} lacks arrays {missing}; delete it and rerun the labelling command")
    header = json.loads(str(data.pop("header")))
    if header.get("format") != FORMAT_VERSION:
        raise StaleCacheError(f"part-mask cache {path!r} has format {header.get('format')!r}, this code reads "
                              f"{FORMAT_VERSION}; regenerate it with: {header.get('command', '(command unknown)')}")
    n = len(data["relpaths"])
    for k in _ARRAYS:
        if len(data[k]) != n:
            raise ValueError(f"part-mask cache {path!r}: array {k!r} has {len(data[k])} rows, relpaths has {n}")
    return MaskCache(header=header, path=path, **{k: data[k] for k in _ARRAYS})

