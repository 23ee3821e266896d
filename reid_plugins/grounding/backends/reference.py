"""Backends that need no model: ground truth (`oracle`), perturbed ground truth (`oracle-noisy`), fixed `stripes`.

They give the CLI the same records a VLM gives, so the whole pipeline (cache, calibration, visualisation) can be run
and checked on the synthetic benchmark. Images are not opened: the size is MODEL.MASKS.IMAGE_SIZE.
"""
from __future__ import annotations

import json
import os
from typing import Dict, Tuple

import numpy as np

from ..oracle import NoiseRates, load_parts_file, parts_file_for, perturb
from ..parts import PARTS, MissingMaskError
from ..stripes import stripe_boxes
from .base import Answers, Backend, PartAnswer


class OracleBackend(Backend):
    name = "oracle"

    def __init__(self, image_size_hw: Tuple[int, int], noise: NoiseRates = None):
        self.image_size_hw = tuple(int(v) for v in image_size_hw)
        self.noise = noise
        if noise is not None:
            self.name = "oracle-noisy"
        self._files: Dict[str, Dict[str, np.ndarray]] = {}

    @property
    def backend_id(self) -> str:
        if self.noise is None:
            return "oracle"
        return "oracle-noisy:" + json.dumps(self.noise.to_json(), sort_keys=True)

    def _boxes(self, image_path: str) -> np.ndarray:
        path = parts_file_for(image_path)
        table = self._files.get(path)
        if table is None:
            if not os.path.isfile(path):
                raise MissingMaskError(f"backend {self.name!r}: {path} (the synthetic benchmark's part boxes of "
                                       f"{image_path!r}) does not exist; the oracle works on synthped domains only")
            names, boxes, person = load_parts_file(path, self.image_size_hw)
            if self.noise is not None:
                boxes, _ = perturb(names, boxes, person, self.noise)
            table = self._files[path] = dict(zip(names, boxes))
        name = os.path.basename(image_path)
        if name not in table:
            raise MissingMaskError(f"backend {self.name!r}: {name!r} is not a key of {path}")
        return table[name]

    def ground(self, image_path: str) -> Tuple[Tuple[int, int], Answers]:
        boxes = self._boxes(image_path)
        out = {}
        for i, part in enumerate(PARTS):
            b = boxes[i]
            out[part] = PartAnswer(None if np.isnan(b).any() else tuple(float(v) for v in b), "oracle",
                                   n_boxes=int(not np.isnan(b).any()))
        H, W = self.image_size_hw
        return (W, H), out


class StripesBackend(Backend):
    name = "stripes"

    def __init__(self, image_size_hw: Tuple[int, int], stripes):
        self.image_size_hw = tuple(int(v) for v in image_size_hw)
        self.stripes = stripe_boxes(stripes)

    @property
    def backend_id(self) -> str:
        return "stripes:" + json.dumps(np.round(self.stripes, 6).tolist())

    def ground(self, image_path: str) -> Tuple[Tuple[int, int], Answers]:
        H, W = self.image_size_hw
        return (W, H), {p: PartAnswer(tuple(float(v) for v in self.stripes[i]), "stripes", n_boxes=1)
                        for i, p in enumerate(PARTS)}
