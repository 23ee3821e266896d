"""Fixed top / middle / bottom stripes: the paper's calibration fallback and its "stripe-like" ablation (Table 8).

Default bounds (fractions of the image height, full image width): head [0, 1/3), upper [1/3, 2/3), legs [2/3, 1],
the equal three-way split along the height that the paper's stripe-like partition uses. On a 16 x 8 grid with the
centre rule this gives rows 0-4 (head), 5-10 (upper) and 11-15 (legs). Configurable as MODEL.MASKS.STRIPES.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from .parts import PARTS

DEFAULT_STRIPES: Tuple[Tuple[float, float], ...] = ((0.0, 1.0 / 3.0), (1.0 / 3.0, 2.0 / 3.0), (2.0 / 3.0, 1.0))


def stripe_boxes(stripes: Sequence[Sequence[float]] = DEFAULT_STRIPES) -> np.ndarray:
    """[3, 4] normalised boxes, one full-width stripe per part; raises ValueError on bounds outside [0, 1]."""
    if len(stripes) != len(PARTS):
        raise ValueError(f"MODEL.MASKS.STRIPES: expected {len(PARTS)} (top, bottom) pairs for {PARTS}, got {stripes}")
    out = np.zeros((3, 4), dtype=np.float64)
    for i, (part, pair) in enumerate(zip(PARTS, stripes)):
        if len(pair) != 2 or not 0.0 <= float(pair[0]) < float(pair[1]) <= 1.0:
            raise ValueError(f"MODEL.MASKS.STRIPES[{i}] ({part}): expected (top, bottom) with 0 <= top < bottom <= 1 "
                             f"as fractions of the image height, got {pair}")
        out[i] = (0.0, float(pair[0]), 1.0, float(pair[1]))
    return out
