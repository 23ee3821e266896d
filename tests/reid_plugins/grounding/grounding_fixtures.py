"""Fake synthetic-benchmark folders (parts.json + small JPEGs) and configs for the grounding tests."""
import json
import os
from typing import Dict, List, Optional

import numpy as np
from PIL import Image

from reid_plugins.config import build_cfg
from reid_plugins.grounding import add_part_mask_config

# Person layout of a 128 x 256 image used by the fakes (pixels, x1/y1 exclusive).
HEAD = [48, 16, 80, 48]
UPPER = [32, 48, 96, 128]
LEGS = [32, 128, 96, 240]
PERSON = [32, 16, 96, 240]


def write_domain(root: str, domain: str, entries: Dict[str, Dict[str, Optional[List[int]]]],
                 split: str = "bounding_box_train", color=(90, 120, 150)) -> List[str]:
    """<root>/synthped/<domain>/{parts.json, <split>/<name>} with a 128x256 JPEG per entry; returns image paths."""
    ddir = os.path.join(root, "synthped", domain)
    os.makedirs(os.path.join(ddir, split), exist_ok=True)
    parts_path = os.path.join(ddir, "parts.json")
    parts = {}
    if os.path.exists(parts_path):
        with open(parts_path) as f:
            parts = json.load(f)
    paths = []
    for i, (name, boxes) in enumerate(entries.items()):
        parts[name] = dict(boxes)
        img = np.zeros((256, 128, 3), np.uint8)
        img[:] = color
        img[:, :, 0] = (i * 37) % 255  # distinct files (and file sizes) per image
        path = os.path.join(ddir, split, name)
        Image.fromarray(img).save(path, quality=90)
        paths.append(path)
    with open(parts_path, "w") as f:
        json.dump(parts, f)
    return paths


def standard_entries(n: int, prefix: str = "") -> Dict[str, dict]:
    """n images of the standard layout, shifted down by 0..n-1 px so sizes are not all identical."""
    out = {}
    for k in range(n):
        def s(b, dy=k % 4):
            return [b[0], b[1] + dy, b[2], b[3] + dy]
        out[f"{prefix}{k + 1:04d}_c1s1_{k:06d}_00.jpg"] = {"head": s(HEAD), "upper": s(UPPER), "legs": s(LEGS),
                                                          "person": s(PERSON)}
    return out


def mask_cfg(root: str, **masks):
    cfg = build_cfg(add_fns=[add_part_mask_config], opts=["DATASETS.ROOT", root])
    for k, v in masks.items():
        node, key = cfg.MODEL.MASKS, k.upper()
        if "." in key:
            sub, key = key.split(".")
            node = node[sub]
        node[key] = v
    return cfg


def rows_cols(mask_row: np.ndarray, grid=(16, 8)):
    """(rows, cols) with any set patch, for compact assertions."""
    m = np.asarray(mask_row).reshape(grid)
    return np.flatnonzero(m.any(1)).tolist(), np.flatnonzero(m.any(0)).tolist()
