"""Boxes out of a grounding model's text answer. Tried in this order; the first that yields a box names the record's
`parser`:

    cogvlm     CogVLM grounding: ``[[x0,y0,x1,y1]]`` in 0-1000 normalised coordinates (the model writes 3 digits,
               e.g. ``[[302,065,620,256]]``); several boxes as ``[[a,b,c,d];[e,f,g,h]]`` or repeated ``[[...]]``
    qwen_json  Qwen2.5-VL JSON: ``[{"bbox_2d": [x0, y0, x1, y1], "label": ...}]``, bare or in a ```json fence.
               Coordinates per `json_coords`: "pixels" (of the image, the default), "qwen25-resized" (pixels of
               the image as Qwen2.5-VL resized it: transformers' smart_resize, factor 28), "norm1000" (Qwen3-VL)
    plain      bracketed groups of four numbers ``[12, 30, 100, 200]`` / ``(12, 30, 100, 200)``, or an answer with
               exactly four numbers. Coordinates per `plain_coords`; "auto": all <= 1 -> fractions, all inside the
               image -> pixels, all <= 1000 -> 0-1000 normalised, else unparsed
    unparsed   anything else (the box is then missing and calibration puts the part's stripe there)

Several boxes for one part (two legs, two candidate people) are merged by `multi_box`: "union" (default: the
enclosing box, right for a part split in pieces such as two legs), "largest" (by area) or "first".
Corners given in the wrong order are sorted; boxes are clipped to the image; a box with no area is unparsed.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

MULTI_BOX_RULES = ("union", "largest", "first")
JSON_COORDS = ("pixels", "qwen25-resized", "norm1000")
PLAIN_COORDS = ("auto", "pixels", "norm1000", "norm1")

_NUM = r"[-+]?\d+(?:\.\d+)?"
_COGVLM = re.compile(r"\[\[([0-9.,;\s\[\]+-]*?)\]\]")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_GROUP4 = re.compile(r"[\[\(]\s*(" + _NUM + r")\s*,\s*(" + _NUM + r")\s*,\s*(" + _NUM + r")\s*,\s*(" + _NUM +
                     r")\s*[\]\)]")


@dataclass(frozen=True)
class ParsedBox:
    box: Optional[Tuple[float, float, float, float]]  # normalised, x1/y1 exclusive; None when unparsed
    parser: str
    n_boxes: int = 0


def _numbers(s: str) -> List[float]:
    return [float(v) for v in re.findall(_NUM, s)]


def _cogvlm(text: str) -> List[List[float]]:
    boxes = []
    for inner in _COGVLM.findall(text):
        nums = _numbers(inner)
        if not nums or len(nums) % 4:  # a malformed group; other groups may still be boxes
            continue
        boxes += [[v / 1000.0 for v in nums[i:i + 4]] for i in range(0, len(nums), 4)]
    return boxes


def _json_candidates(text: str) -> List[str]:
    fenced = _FENCE.findall(text)
    if fenced:
        return fenced
    starts = [i for i in (text.find("["), text.find("{")) if i >= 0]
    return [text[min(starts):]] if starts else []


def _bbox_dicts(obj) -> List[Sequence]:
    if isinstance(obj, dict):
        return [obj["bbox_2d"]] if "bbox_2d" in obj else []
    if isinstance(obj, list):
        return [b for o in obj for b in _bbox_dicts(o)]
    return []


def _qwen(text: str, image_wh: Tuple[int, int], coords: str) -> List[List[float]]:
    if "bbox_2d" not in text:
        return []
    for cand in _json_candidates(text):
        try:
            obj, _ = json.JSONDecoder().raw_decode(cand.strip())
        except json.JSONDecodeError:
            continue
        raw = _bbox_dicts(obj)
        if not raw or any(not isinstance(b, (list, tuple)) or len(b) != 4 or
                          not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b) for b in raw):
            continue
        if coords == "norm1000":
            sx = sy = 1000.0
        elif coords == "qwen25-resized":
            sy, sx = qwen25_input_size(image_wh)
        else:
            sx, sy = image_wh
        return [[b[0] / sx, b[1] / sy, b[2] / sx, b[3] / sy] for b in raw]
    return []


def qwen25_input_size(image_wh: Tuple[int, int]) -> Tuple[int, int]:
    """(H, W) Qwen2.5-VL's processor resizes an image to (its absolute coordinates refer to that size)."""
    from ..utils.extras import require

    smart_resize = require("transformers.models.qwen2_vl.image_processing_qwen2_vl",
                           "The qwen25-resized box coordinates").smart_resize
    return smart_resize(int(image_wh[1]), int(image_wh[0]))


def _plain(text: str, image_wh: Tuple[int, int], coords: str) -> List[List[float]]:
    groups = [[float(v) for v in g] for g in _GROUP4.findall(text)]
    if not groups:
        nums = _numbers(text)
        groups = [nums] if len(nums) == 4 else []
    if not groups:
        return []
    W, H = image_wh
    flat = np.array(groups)
    if coords == "auto":
        if flat.min() >= 0 and flat.max() <= 1.0:
            coords = "norm1"
        elif flat.min() >= 0 and flat[:, [0, 2]].max() <= W and flat[:, [1, 3]].max() <= H:
            coords = "pixels"
        elif flat.min() >= 0 and flat.max() <= 1000:
            coords = "norm1000"
        else:
            return []
    sx, sy = {"norm1": (1.0, 1.0), "pixels": (float(W), float(H)), "norm1000": (1000.0, 1000.0)}[coords]
    return [[g[0] / sx, g[1] / sy, g[2] / sx, g[3] / sy] for g in groups]


def _clean(box: Sequence[float]) -> Optional[Tuple[float, float, float, float]]:
    x0, x1 = sorted((box[0], box[2]))
    y0, y1 = sorted((box[1], box[3]))
    x0, y0, x1, y1 = (min(max(v, 0.0), 1.0) for v in (x0, y0, x1, y1))
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1, y1)


def merge_boxes(boxes: List[Tuple[float, float, float, float]], rule: str) -> Tuple[float, float, float, float]:
    if rule == "first":
        return boxes[0]
    if rule == "largest":
        return max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    b = np.array(boxes)
    return (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))


def parse_answer(text: Optional[str], image_wh: Tuple[int, int], multi_box: str = "union",
                 json_coords: str = "pixels", plain_coords: str = "auto") -> ParsedBox:
    """One part's answer -> ParsedBox (normalised box or None, which parser matched, how many boxes it found)."""
    if multi_box not in MULTI_BOX_RULES:
        raise ValueError(f"multi_box rule {multi_box!r} is not one of {MULTI_BOX_RULES}")
    if json_coords not in JSON_COORDS or plain_coords not in PLAIN_COORDS:
        raise ValueError(f"json_coords {json_coords!r} / plain_coords {plain_coords!r}: expected one of "
                         f"{JSON_COORDS} / {PLAIN_COORDS}")
    if not text:
        return ParsedBox(None, "unparsed")
    for name, fn in (("cogvlm", lambda: _cogvlm(text)), ("qwen_json", lambda: _qwen(text, image_wh, json_coords)),
                     ("plain", lambda: _plain(text, image_wh, plain_coords))):
        found = fn()
        if found:
            boxes = [b for b in (_clean(f) for f in found) if b is not None]
            if not boxes:
                return ParsedBox(None, "unparsed", len(found))
            return ParsedBox(merge_boxes(boxes, multi_box), name, len(found))
    return ParsedBox(None, "unparsed")
