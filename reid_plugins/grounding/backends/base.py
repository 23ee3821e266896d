"""What every grounding backend returns, and the helpers the VLM backends share."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from PIL import Image

from ..parts import PARTS, PROMPTS
from ..parsing import ParsedBox, parse_answer


@dataclass
class PartAnswer:
    """One part of one image: the normalised box (None = no box), which parser matched (cache.PARSERS), the model's
    raw text, how many boxes it named, and the error when the request failed."""
    box: Optional[Tuple[float, float, float, float]]
    parser: str
    text: str = ""
    n_boxes: int = 0
    error: str = ""

    def to_json(self) -> dict:
        return {"box": None if self.box is None else [float(v) for v in self.box], "parser": self.parser,
                "text": self.text, "n_boxes": self.n_boxes, "error": self.error}

    @classmethod
    def from_json(cls, obj: dict) -> "PartAnswer":
        box = obj.get("box")
        return cls(None if box is None else tuple(float(v) for v in box), str(obj.get("parser", "none")),
                   str(obj.get("text", "")), int(obj.get("n_boxes", 0)), str(obj.get("error", "")))


Answers = Dict[str, PartAnswer]


class Backend:
    """name: CLI / header name; backend_id: what makes two runs' answers interchangeable (cache keys);
    prompts: the text sent per part (None: no prompt); concurrent: worth a thread pool (HTTP)."""
    name = ""
    concurrent = False

    @property
    def backend_id(self) -> str:
        return self.name

    @property
    def prompts(self) -> Optional[Tuple[str, ...]]:
        return None

    def ground(self, image_path: str) -> Tuple[Tuple[int, int], Answers]:
        """(image (W, H), {part: PartAnswer}). Exceptions mean the whole image failed (the runner records them)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class VLMBackend(Backend):
    """A model asked once per part with the paper's prompt; its text parsed by parsing.parse_answer."""

    def __init__(self, multi_box: str = "union", json_coords: str = "pixels", plain_coords: str = "auto"):
        self.parse_options = {"multi_box": multi_box, "json_coords": json_coords, "plain_coords": plain_coords}
        parse_answer("", (1, 1), **self.parse_options)  # validates the options now, not on the first answer

    @property
    def prompts(self) -> Tuple[str, ...]:
        return tuple(PROMPTS[p] for p in PARTS)

    def parse(self, text: str, image_wh: Tuple[int, int]) -> PartAnswer:
        parsed: ParsedBox = parse_answer(text, image_wh, **self.parse_options)
        return PartAnswer(parsed.box, parsed.parser, text, parsed.n_boxes)


def image_size(path: str) -> Tuple[int, int]:
    """(W, H) from the file header (PIL opens lazily; no pixel decoding)."""
    with Image.open(path) as im:
        return im.size


def check_image(path: str) -> None:
    """The file exists and decodes completely: a truncated or corrupt image fails here, by name, before anything is
    sent (a server may well answer for a half image)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image {path!r} does not exist")
    from fastreid.data.data_utils import read_image  # reid_plugins.compat's read_image_rgb: errors name the file

    read_image(path)
