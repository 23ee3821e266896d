"""Binary voting of part boxes onto the ViT patch grid (MUVA §3.2.3, Fig. 6).

A patch (row i, column j) of a grid_h x grid_w grid covers [j/grid_w, (j+1)/grid_w) x [i/grid_h, (i+1)/grid_h) of
the normalised image. It votes 1 for a part when, by rule:

    "center"    its centre ((j+0.5)/grid_w, (i+0.5)/grid_h) lies in the box (x0 <= cx < x1, y0 <= cy < y1) - default
    "any"       the box overlaps it with positive area
    "fraction"  the box covers at least `fraction` of its area

Boxes are axis-aligned, so every rule factorises into a row test and a column test (the covered fraction is the
product of the two 1-D covered fractions); that keeps voting a few vectorised numpy ops for a whole dataset.
A present box that wins no patch under the rule (smaller than a patch, between centres) still marks the patch that
holds its centre (`ensure_one`), so a detected part never gets an empty mask. A missing box (NaN) votes nothing.
Output: bool [..., 3, grid_h * grid_w], row-major, PARTS order.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

VOTE_RULES = ("center", "any", "fraction")
# Comparisons are made in grid units (coordinate * cells); this slack absorbs float error of pixel / size divisions
# (e.g. 10 / 100 * 8) so a box edge exactly on a patch centre or border is judged as the exact arithmetic would.
_EPS = 1e-9


def _axis_cover(lo: np.ndarray, hi: np.ndarray, cells: int, rule: str) -> np.ndarray:
    """[..., cells]: bool membership ("center", "any") or covered fraction of each cell ("fraction")."""
    lo = lo[..., None] * cells
    hi = hi[..., None] * cells
    idx = np.arange(cells, dtype=np.float64)
    if rule == "center":
        c = idx + 0.5
        return (lo <= c + _EPS) & (c < hi - _EPS)
    overlap = np.clip(np.minimum(hi, idx + 1.0) - np.maximum(lo, idx), 0.0, 1.0)
    if rule == "any":
        return overlap > _EPS
    return overlap


def vote(boxes: np.ndarray, grid: Tuple[int, int], rule: str = "center", fraction: float = 0.5,
         ensure_one: bool = True) -> np.ndarray:
    """Normalised boxes [..., 3, 4] (NaN rows = missing) -> bool masks [..., 3, grid_h * grid_w]."""
    if rule not in VOTE_RULES:
        raise ValueError(f"vote rule {rule!r} is not one of {VOTE_RULES}")
    if rule == "fraction" and not 0.0 < fraction <= 1.0:
        raise ValueError(f"vote fraction must be in (0, 1], got {fraction}")
    gh, gw = (int(v) for v in grid)
    if gh < 1 or gw < 1:
        raise ValueError(f"grid must be two positive ints (rows, cols), got {grid}")
    b = np.asarray(boxes, dtype=np.float64)
    if b.shape[-1] != 4:
        raise ValueError(f"boxes must have shape [..., 4], got {b.shape}")
    present = ~np.isnan(b).any(-1)
    b = np.where(present[..., None], b, 0.0)  # NaN boxes: zero-size, votes nothing
    rows = _axis_cover(b[..., 1], b[..., 3], gh, rule)
    cols = _axis_cover(b[..., 0], b[..., 2], gw, rule)
    if rule == "fraction":
        mask = rows[..., :, None] * cols[..., None, :] >= fraction - _EPS
    else:
        mask = rows[..., :, None] & cols[..., None, :]
    mask &= present[..., None, None]
    if ensure_one:
        empty = present & ~mask.any(axis=(-1, -2))
        if empty.any():
            cy = np.clip(((b[..., 1] + b[..., 3]) / 2 * gh).astype(np.int64), 0, gh - 1)
            cx = np.clip(((b[..., 0] + b[..., 2]) / 2 * gw).astype(np.int64), 0, gw - 1)
            where = np.nonzero(empty)
            mask[where + (cy[where], cx[where])] = True
    return mask.reshape(mask.shape[:-2] + (gh * gw,))


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """bool [..., n] -> uint8 [..., ceil(n/8)] (8x smaller caches)."""
    return np.packbits(np.asarray(masks, dtype=bool), axis=-1)


def unpack_masks(packed: np.ndarray, n: int) -> np.ndarray:
    return np.unpackbits(packed, axis=-1, count=n).astype(bool)
