"""Small annotation files with real images for the captioning tests (CUHK-PEDES reid_raw.json format)."""
from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, List, Tuple

from PIL import Image

# (upper colour, lower garment, shoes) per image; every caption names head, upper, lower and shoes, and the
# images with a bag also name it, so attribute coverage has something to check.
_OUTFITS = [("red", "jeans", "sneakers"), ("blue", "skirt", "boots"), ("green", "shorts", "sandals"),
            ("black", "trousers", "shoes"), ("white", "pants", "boots"), ("yellow", "skirt", "sneakers"),
            ("grey", "jeans", "shoes"), ("pink", "shorts", "sneakers"), ("purple", "trousers", "boots"),
            ("orange", "jeans", "shoes")]


def caption_for(i: int) -> str:
    up, low, shoes = _OUTFITS[i % len(_OUTFITS)]
    bag = " She carries a black backpack." if i % 3 == 0 else ""
    return f"A woman with long brown hair wears a {up} jacket, {low} and white {shoes}.{bag}"


def good_descriptions(i: int) -> Tuple[str, str]:
    """A valid (identity, clothing) pair for image i: covers every part its caption names."""
    up, low, shoes = _OUTFITS[i % len(_OUTFITS)]
    bag = " She also carries a black backpack." if i % 3 == 0 else ""
    return ("A young adult woman of average height with a slim build and an upright posture.",
            f"She has long brown hair and wears a {up} jacket with {low} and white {shoes}.{bag}")


def make_dataset(root: str, n: int = 6, n_test: int = 0) -> Tuple[str, Dict[str, str]]:
    """Writes root/ann.json and n train (+ n_test test) PNGs; returns (annotation path, image sha1 -> file_path)."""
    entries: List[dict] = []
    digests: Dict[str, str] = {}
    for i in range(n + n_test):
        split = "train" if i < n else "test"
        rel = f"imgs/{split}/{i:04d}.png"
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.new("RGB", (8, 16), (20 * i % 256, 7 * i % 256, 200)).save(path)
        with open(path, "rb") as f:
            digests[hashlib.sha1(f.read()).hexdigest()] = rel
        cap = caption_for(i)
        entries.append({"split": split, "file_path": rel, "id": i // 2 + 1, "captions": [cap],
                        "processed_tokens": [cap.lower().rstrip(".").split()]})
    ann = os.path.join(root, "ann.json")
    with open(ann, "w") as f:
        json.dump(entries, f)
    return ann, digests


def index_of(file_path: str) -> int:
    return int(os.path.basename(file_path).split(".")[0])
