"""Reading and writing annotation JSON in the format the T2I datasets read.

That format is CUHK-PEDES's reid_raw.json: a list with one dict per image, ``{"split", "file_path", "id",
"captions": [str, ...], "processed_tokens"}``, plus the optional ``identity_description`` / ``clothing_description``
strings BDAM trains on. RSTPReid's ``img_path`` is accepted in place of ``file_path``. Every other key of an entry
is kept unchanged on output.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List

IMAGE_KEYS = ("file_path", "img_path")


def image_key(entry: Dict[str, Any]) -> str:
    """The entry's image path (relative to the image root), which also identifies it in journals."""
    for k in IMAGE_KEYS:
        if k in entry:
            return entry[k]
    raise KeyError(f"annotation entry has neither of {IMAGE_KEYS}: keys are {sorted(entry)}")


def load_annotations(path: str) -> List[Dict[str, Any]]:
    """Loads and checks an annotation file; errors name the file, the entry index and the key."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"annotation file {path!r} does not exist")
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of per-image dicts (CUHK-PEDES reid_raw.json format), "
                         f"got {type(data).__name__}")
    seen: Dict[str, int] = {}
    for i, e in enumerate(data):
        where = f"{path}: entry {i}"
        if not isinstance(e, dict):
            raise ValueError(f"{where}: expected a dict, got {type(e).__name__}")
        if not any(k in e for k in IMAGE_KEYS):
            raise ValueError(f"{where}: missing key 'file_path' (the image path relative to the image root)")
        key = image_key(e)
        if not isinstance(key, str) or not key:
            raise ValueError(f"{where}: 'file_path' must be a non-empty string, got {key!r}")
        if key in seen:
            raise ValueError(f"{where}: file_path {key!r} repeats entry {seen[key]}; image paths must be unique")
        seen[key] = i
        if not isinstance(e.get("split"), str):
            raise ValueError(f"{where} ({key}): 'split' must be a string such as 'train', got {e.get('split')!r}")
        if "id" not in e or isinstance(e["id"], bool) or not isinstance(e["id"], int):
            raise ValueError(f"{where} ({key}): 'id' must be an integer person id, got {e.get('id')!r}")
        caps = e.get("captions")
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            raise ValueError(f"{where} ({key}): 'captions' must be a list of strings, got {caps!r}")
        for k in ("identity_description", "clothing_description"):
            if k in e and not isinstance(e[k], str):
                raise ValueError(f"{where} ({key}): {k!r} must be a string, got {type(e[k]).__name__}")
    return data


def select_entries(entries: Iterable[Dict[str, Any]], splits: Iterable[str]) -> List[Dict[str, Any]]:
    splits = set(splits)
    return [e for e in entries if e["split"] in splits]
