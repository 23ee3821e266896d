"""The MUVA authors' released mask pickles (e.g. blobs/market1501_patch_grounding_mask_calibrated.pkl).

Format (their ImageDatasetGroundingMask, see docs/GROUNDING.md): a dict {image basename: float array [3, 128]},
row-major over the 16 x 8 grid, parts head / upper / legs, used as an additive attention mask: 0 = patch in the
part, -inf (or a large negative number) = not. Their loss target is logical_not(bool(v)), so "in part" is exactly
v == 0; that is what `load_official_pickle` returns. `export_official_pickle` writes 0 / -inf float32 arrays.

Pickles can run code when loaded, so loading only admits the classes numpy arrays are made of.
"""
from __future__ import annotations

import os
import pickle
from typing import Dict, Mapping, Tuple

import numpy as np

from ..utils.io import write_atomic

# numpy's own pickling helpers (module name differs between numpy 1.x and 2.x); nothing else may be built.
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"), ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"), ("collections", "OrderedDict"), ("builtins", "dict")}


class _ArrayUnpickler(pickle.Unpickler):
    # Hand-written: the standard library has no allow-list unpickler and torch's weights_only loader is for
    # torch.save files, not plain pickles.
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a mask pickle holds only a dict of numpy "
                                     f"arrays")


def load_official_pickle(path: str, grid: Tuple[int, int]) -> Dict[str, np.ndarray]:
    """{basename: bool [3, grid_h * grid_w]} (True = in part); raises ValueError naming the file and key on
    anything else than 0 / large-negative float arrays of that shape."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"official mask pickle {path!r} does not exist (MODEL.MASKS.OFFICIAL_PICKLE); the "
                                f"authors' files are on their Google Drive, see docs/GROUNDING.md")
    with open(path, "rb") as f:
        try:
            data = _ArrayUnpickler(f).load()
        except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as e:
            raise ValueError(f"{path}: not a mask pickle ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict {{image basename: [3, N] array}}, got {type(data).__name__}")
    n = int(grid[0]) * int(grid[1])
    out = {}
    for key, value in data.items():
        v = np.asarray(value, dtype=np.float64)
        if v.shape != (3, n):
            raise ValueError(f"{path}[{key!r}]: expected shape (3, {n}) for the {grid[0]}x{grid[1]} grid "
                             f"(MODEL.MASKS.GRID), got {v.shape}")
        if np.isnan(v).any() or not np.all((v == 0) | (v <= -1.0)):
            raise ValueError(f"{path}[{key!r}]: expected an additive mask of 0 (in part) and -inf / large negative "
                             f"(not), got values {np.unique(v)[:6].tolist()}")
        out[str(key)] = v == 0
    return out


def export_official_pickle(path: str, masks: Mapping[str, np.ndarray]) -> None:
    """Writes {basename: float32 [3, N], 0 in part / -inf not} atomically."""
    payload = {}
    for key, m in masks.items():
        m = np.asarray(m)
        if m.ndim != 2 or m.shape[0] != 3 or m.dtype != bool:
            raise ValueError(f"mask of {key!r}: expected bool [3, N], got {m.dtype} {m.shape}")
        payload[str(key)] = np.where(m, 0.0, -np.inf).astype(np.float32)
    write_atomic(path, lambda f: pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL), binary=True)
