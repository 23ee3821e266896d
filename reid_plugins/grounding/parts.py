"""The three body parts, their grounding prompts (MUVA §3.2.3, verbatim), and the errors every backend shares.

Boxes inside this package are normalised: ``[x0, y0, x1, y1]`` as fractions of the image width / height, x1 and y1
exclusive; a missing box is a row of NaN. Arrays of boxes are ``[..., 3, 4]`` in PARTS order.
"""
from __future__ import annotations

import numpy as np

PARTS = ("head", "upper", "legs")

# MUVA §3.2.3: 'Guide me to the location of <p> within the image by providing its bounding boxes', <p> = "the
# head/upper body/legs of the person".
PROMPT_TEMPLATE = "Guide me to the location of {part} within the image by providing its bounding boxes"
PART_PHRASES = {"head": "the head of the person", "upper": "the upper body of the person",
                "legs": "the legs of the person"}
PROMPTS = {p: PROMPT_TEMPLATE.format(part=PART_PHRASES[p]) for p in PARTS}


class MissingMaskError(KeyError):
    """No part mask is available for an image; the message names the image and the command that makes one."""

    def __str__(self) -> str:  # KeyError would repr() the message (quotes, escaped newlines)
        return str(self.args[0]) if self.args else ""


class StaleCacheError(RuntimeError):
    """A cache entry was made for another image file / backend / prompt / grid; the message says how to remake it."""


def missing_boxes(n: int | None = None) -> np.ndarray:
    """[3, 4] (or [n, 3, 4]) of NaN: no box for any part."""
    shape = (3, 4) if n is None else (n, 3, 4)
    return np.full(shape, np.nan, dtype=np.float64)


def check_box(box, what: str) -> np.ndarray:
    """A normalised box as float64 [4]; raises ValueError naming `what` unless 0 <= x0 < x1 <= 1 and same for y."""
    b = np.asarray(box, dtype=np.float64)
    if b.shape != (4,) or not np.all(np.isfinite(b)):
        raise ValueError(f"{what}: expected 4 finite numbers [x0, y0, x1, y1], got {box!r}")
    if not (0.0 <= b[0] < b[2] <= 1.0 and 0.0 <= b[1] < b[3] <= 1.0):
        raise ValueError(f"{what}: expected a normalised box with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, got "
                         f"{b.tolist()}")
    return b
