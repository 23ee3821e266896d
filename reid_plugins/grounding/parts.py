"""The three body parts, their grounding prompts (MUVA §3.2.3, verbatim), and the errors every backend shares.

Boxes inside this package are normalised: ``[x0, y0, x1, y1]`` as fractions of the image width / height, x1 and y1
exclusive; a missing box is a row of NaN. Arrays of boxes are ``[..., 3, 4]`` in PARTS order.
"""
from __future__ import annotations

PARTS = ("head", "upper", "legs")

# Every source of part boxes by name, and where it can be named: "label" = `python -m reid_plugins.grounding label
# --backend` (asks it for boxes and writes a cache), "provider" = MODEL.MASKS.BACKEND (what training reads). The VLMs
# (openai, hf) are too slow to call while training, so the provider reads their answers from a cache; the reference
# sources compute their boxes and serve both.
MASK_SOURCES = {"openai": ("label",), "hf": ("label",), "oracle": ("label", "provider"),
                "oracle-noisy": ("label", "provider"), "stripes": ("label", "provider"), "cache": ("provider",),
                "official-pickle": ("provider",)}
LABEL_BACKENDS = tuple(n for n, uses in MASK_SOURCES.items() if "label" in uses)
PROVIDER_BACKENDS = tuple(n for n, uses in MASK_SOURCES.items() if "provider" in uses)

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
