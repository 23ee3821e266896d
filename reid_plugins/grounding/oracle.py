"""Ground-truth part boxes of the synthetic benchmark (`parts.json`), and a seeded noisy version of them.

An image <root>/synthped/domain_X/<split>/<name>.jpg has its boxes in <root>/synthped/domain_X/parts.json, keyed by
<name>.jpg, in pixels of the image (IMAGE_SIZE, (H, W) = (256, 128)), x1/y1 exclusive, null = part hidden. The
whole file is read once and turned into a [N, 3, 4] array of normalised boxes; images are never opened.

`perturb` injects the errors the paper describes (Fig. 5), each (image, part) independently with the given rates and
at most one error, from a random generator seeded by (seed, image name), so a box's noise does not depend on which
other images are loaded or in what order:

    drop       the box is missing (no / unparsable answer)
    shift      moved by 30-70 % of its width and height, in random directions, clipped to the image
    swap       replaced by another part's true box (the model grounded the wrong part)
    oversize   replaced by the whole person's box, grown by 0-10 % (Fig. 5b: "containing the whole person body")
    oversplit  a piece 10-30 % as tall and 30-70 % as wide, inside the true box (Fig. 5c,d: over-split regions)
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

from ..utils.io import read_json
from .parts import PARTS

ERROR_KINDS = ("none", "drop", "shift", "swap", "oversize", "oversplit")
PARTS_FILE = "parts.json"


@dataclass(frozen=True)
class NoiseRates:
    drop: float = 0.03
    shift: float = 0.05
    swap: float = 0.02
    oversize: float = 0.08
    oversplit: float = 0.05
    seed: int = 0

    def __post_init__(self):
        rates = self.as_array()
        if np.any(rates < 0) or rates.sum() > 1.0:
            raise ValueError(f"MODEL.MASKS.NOISE rates must be >= 0 and sum to <= 1, got {self.to_json()}")

    def as_array(self) -> np.ndarray:
        return np.array([self.drop, self.shift, self.swap, self.oversize, self.oversplit], dtype=np.float64)

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in ("drop", "shift", "swap", "oversize", "oversplit", "seed")}


def parts_file_for(img_path: str) -> str:
    """<domain dir>/parts.json for <domain dir>/<split>/<name>."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(img_path))), PARTS_FILE)


def _pixel_box(value, size_hw: Tuple[int, int], where: str):
    if value is None:
        return None
    H, W = size_hw
    if (not isinstance(value, (list, tuple)) or len(value) != 4
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise ValueError(f"{where}: expected null or [x0, y0, x1, y1] pixel numbers, got {value!r}")
    x0, y0, x1, y1 = (float(v) for v in value)
    if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
        raise ValueError(f"{where}: box {value} is not inside a {W}(w) x {H}(h) image with x0 < x1, y0 < y1 "
                         f"(check MODEL.MASKS.IMAGE_SIZE, (H, W))")
    return (x0 / W, y0 / H, x1 / W, y1 / H)


def load_parts_file(path: str, size_hw: Tuple[int, int]) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """parts.json -> (basenames, boxes [N, 3, 4], person [N, 4]), normalised, NaN where null / absent."""
    data = read_json(path, "part boxes", fix="regenerate the synthetic benchmark "
                                            "(python -m reid_plugins.data.synthetic --force)")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object {{image basename: {{part: box}}}}, got {type(data).__name__}")
    names = list(data)
    boxes = np.full((len(names), len(PARTS), 4), np.nan)
    person = np.full((len(names), 4), np.nan)
    for n, name in enumerate(names):
        entry = data[name]
        if not isinstance(entry, dict) or any(p not in entry for p in PARTS):
            raise ValueError(f"{path}[{name!r}]: expected an object with keys {list(PARTS)} (+ 'person'), got "
                             f"{str(entry)[:100]}")
        for i, part in enumerate(PARTS):
            b = _pixel_box(entry[part], size_hw, f"{path}[{name!r}][{part!r}]")
            if b is not None:
                boxes[n, i] = b
        b = _pixel_box(entry.get("person"), size_hw, f"{path}[{name!r}]['person']")
        if b is not None:
            person[n] = b
    return names, boxes, person


def _rng_for(name: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode("utf-8"))])


def perturb(names: List[str], boxes: np.ndarray, person: np.ndarray, rates: NoiseRates
            ) -> Tuple[np.ndarray, np.ndarray]:
    """Noisy copy of `boxes` [N, 3, 4] and the injected error per (image, part) as indices into ERROR_KINDS."""
    out = np.array(boxes, dtype=np.float64, copy=True)
    kinds = np.zeros(out.shape[:2], dtype=np.uint8)
    cum = np.cumsum(rates.as_array())
    for n, name in enumerate(names):
        rng = _rng_for(name, rates.seed)
        u = rng.random((len(PARTS), 8))  # fixed draws per part: one chooses the error, the rest shape it
        for i in range(len(PARTS)):
            true = boxes[n, i]
            if np.isnan(true).any():
                continue
            kind = int(np.searchsorted(cum, u[i, 0], side="right")) + 1
            if kind > len(cum):
                continue
            kinds[n, i] = kind
            out[n, i] = _inject(ERROR_KINDS[kind], true, boxes[n], person[n], i, u[i, 1:])
    return out, kinds


def _inject(kind: str, true: np.ndarray, all_true: np.ndarray, person: np.ndarray, part: int,
            u: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = true
    w, h = x1 - x0, y1 - y0
    if kind == "drop":
        return np.full(4, np.nan)
    if kind == "shift":
        dx = w * (0.3 + 0.4 * u[0]) * (1 if u[1] < 0.5 else -1)
        dy = h * (0.3 + 0.4 * u[2]) * (1 if u[3] < 0.5 else -1)
        b = np.array([x0 + dx, y0 + dy, x1 + dx, y1 + dy])
    elif kind == "swap":
        others = [j for j in range(len(PARTS)) if j != part]
        return np.array(all_true[others[int(u[0] * len(others)) % len(others)]], dtype=np.float64)
    elif kind == "oversize":
        p = person if not np.isnan(person).any() else np.array([0.0, 0.0, 1.0, 1.0])
        grow = 0.1 * u[0]
        pw, ph = p[2] - p[0], p[3] - p[1]
        b = np.array([p[0] - grow * pw / 2, p[1] - grow * ph / 2, p[2] + grow * pw / 2, p[3] + grow * ph / 2])
    else:  # oversplit
        nh, nw = h * (0.1 + 0.2 * u[0]), w * (0.3 + 0.4 * u[1])
        by, bx = y0 + (h - nh) * u[2], x0 + (w - nw) * u[3]
        b = np.array([bx, by, bx + nw, by + nh])
    b = np.clip(b, 0.0, 1.0)
    if b[2] <= b[0] or b[3] <= b[1]:  # shifted fully out of the image: nothing left to ground
        return np.full(4, np.nan)
    return b

