"""Reading annotation JSON in the format the T2I datasets read, for the captioning tool (which rewrites it).

That format is CUHK-PEDES's reid_raw.json (see reid_plugins.data.t2i): a list with one dict per image, ``{"split",
"file_path", "id", "captions": [str, ...], "processed_tokens"}``, plus the optional ``identity_description`` /
``clothing_description`` strings BDAM trains on. RSTPReid's ``img_path`` is accepted in place of ``file_path``. Every
other key of an entry is kept unchanged on output. Reading and validation are the T2I datasets' own
(reid_plugins.data.annotations), so a file this tool accepts is one they read.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List

from ..data.annotations import IMAGE_KEYS, image_key_of
# errors (T2IAnnotationError, a ValueError) name the file, the entry index and the key
from ..data.annotations import load_annotation_dicts as load_annotations  # noqa: F401


def image_key(entry: Dict[str, Any]) -> str:
    """The entry's image path (relative to the image root), which also identifies it in journals."""
    key = image_key_of(entry)
    if key not in entry:
        raise KeyError(f"annotation entry has neither of {IMAGE_KEYS}: keys are {sorted(entry)}")
    return entry[key]


def select_entries(entries: Iterable[Dict[str, Any]], splits: Iterable[str]) -> List[Dict[str, Any]]:
    splits = set(splits)
    return [e for e in entries if e["split"] in splits]
