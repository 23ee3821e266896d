"""Fake copies of the released text-to-image layouts (exact folder names, file names and JSON keys), tiny images.

Each person gets a distinct colour so that a tiny model can tell people apart; captions name the colour.
"""
from __future__ import annotations

import json
import os
from typing import Dict, List

from PIL import Image

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black", "pink", "brown", "grey", "cyan"]
RGB = {"red": (220, 30, 30), "green": (30, 180, 30), "blue": (30, 30, 220), "yellow": (230, 220, 30),
       "purple": (140, 40, 160), "orange": (240, 140, 20), "white": (245, 245, 245), "black": (15, 15, 15),
       "pink": (240, 150, 190), "brown": (120, 70, 30), "grey": (128, 128, 128), "cyan": (30, 220, 220)}


def _image(path: str, colour: str, k: int, size=(32, 64)) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    w, h = size
    img = Image.new("RGB", (w, h), (90 + 10 * k, 90, 90))
    top = Image.new("RGB", (w - 8, h // 2 - 4), RGB[colour])
    img.paste(top, (4, 4))
    legs = Image.new("RGB", (w - 12, h // 2 - 6), RGB[COLOURS[(COLOURS.index(colour) + 5) % len(COLOURS)]])
    img.paste(legs, (6, h // 2 + 2))
    img.save(path)


def _captions(colour: str, k: int) -> List[str]:
    legs = COLOURS[(COLOURS.index(colour) + 5) % len(COLOURS)]
    return [f"A person wearing a {colour} shirt and {legs} trousers.",
            f"The pedestrian has a {colour} top, {legs} pants and walks {'left' if k % 2 else 'right'}."]


def _write(path: str, data) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f)
    return path


def make_cuhk_pedes(root: str, n_train: int = 4, n_val: int = 2, n_test: int = 3, per_id: int = 2) -> str:
    """<root>/CUHK-PEDES/reid_raw.json + imgs/; ids 1-based; keys split/captions/file_path/processed_tokens/id."""
    entries, pid = [], 0
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        for _ in range(n):
            pid += 1
            colour = COLOURS[(pid - 1) % len(COLOURS)]
            for k in range(per_id):
                rel = f"CUHK01/{pid:04d}{k:03d}.png" if split == "train" else f"test_query/p{pid}_s{k}.jpg"
                _image(os.path.join(root, "CUHK-PEDES", "imgs", rel), colour, k)
                caps = _captions(colour, k)
                entries.append({"split": split, "captions": caps, "file_path": rel,
                                "processed_tokens": [c.lower().rstrip(".").split() for c in caps], "id": pid})
    return _write(os.path.join(root, "CUHK-PEDES", "reid_raw.json"), entries)


def make_icfg_pedes(root: str, n_train: int = 3, n_test: int = 2, per_id: int = 2) -> str:
    """<root>/ICFG-PEDES/ICFG-PEDES.json + imgs/{train,test}/; one caption per image, 0-based ids, no val split."""
    entries, pid = [], 0
    for split, n in (("train", n_train), ("test", n_test)):
        for _ in range(n):
            colour = COLOURS[pid % len(COLOURS)]
            for k in range(per_id):
                rel = f"{split}/{pid:04d}/{pid:04d}_00{k}_01_0303morning_0001_{k}.jpg"
                _image(os.path.join(root, "ICFG-PEDES", "imgs", rel), colour, k)
                cap = _captions(colour, k)[0]
                entries.append({"split": split, "captions": [cap], "file_path": rel,
                                "processed_tokens": [cap.lower().rstrip(".").split()], "id": pid})
            pid += 1
    return _write(os.path.join(root, "ICFG-PEDES", "ICFG-PEDES.json"), entries)


def make_rstpreid(root: str, n_train: int = 3, n_val: int = 1, n_test: int = 2, per_id: int = 2) -> str:
    """<root>/RSTPReid/data_captions.json + imgs/; keys id/img_path/captions/split, 2 captions per image."""
    entries, pid = [], 0
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        for _ in range(n):
            colour = COLOURS[pid % len(COLOURS)]
            for k in range(per_id):
                rel = f"{pid:04d}_c{k + 1}_{k:04d}.jpg"
                _image(os.path.join(root, "RSTPReid", "imgs", rel), colour, k)
                entries.append({"id": pid, "img_path": rel, "captions": _captions(colour, k), "split": split})
            pid += 1
    return _write(os.path.join(root, "RSTPReid", "data_captions.json"), entries)


def make_synthped_captions(root: str, domain: str = "A", n_train: int = 6, n_test: int = 4,
                           per_id: int = 4) -> str:
    """<root>/synthped/domain_<X>/captions.json (file_path relative to the domain folder, Market-1501 names) with
    identity_description / clothing_description / styles, plus a manifest so that nothing is generated."""
    base = os.path.join(root, "synthped", f"domain_{domain}")
    entries = []
    for pid in range(1, n_train + n_test + 1):
        split = "train" if pid <= n_train else "test"
        colour = COLOURS[(pid - 1) % len(COLOURS)]
        folder = "bounding_box_train" if split == "train" else "bounding_box_test"
        for k in range(per_id):
            rel = f"{folder}/{pid:04d}_c{k % 2 + 1}s1_{k:06d}_00.jpg"
            _image(os.path.join(base, rel), colour, k)
            caps = _captions(colour, k)
            legs = COLOURS[(COLOURS.index(colour) + 5) % len(COLOURS)]
            entries.append({"split": split, "file_path": rel, "id": pid, "captions": caps,
                            "processed_tokens": [c.lower().split() for c in caps], "styles": [0, 1],
                            "identity_description": f"A {'tall' if pid % 2 else 'short'} adult, person {pid}.",
                            "clothing_description": f"A {colour} shirt and {legs} trousers."})
    _write(os.path.join(root, "synthped", "manifest.json"), {"complete": True, "preset": "fake"})
    return _write(os.path.join(base, "captions.json"), entries)


def load(path: str) -> List[Dict]:
    with open(path) as f:
        return json.load(f)


def save(path: str, data) -> None:
    _write(path, data)
