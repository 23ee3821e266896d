"""Reading and validating text-to-image annotation files (format: see the docstring of reid_plugins.data.t2i).

The one loader of that format (CUHK-PEDES's reid_raw.json): the T2I datasets read :class:`T2IEntry` objects
(:func:`load_annotations`), the captioning tool reads and rewrites the dicts as stored (:func:`load_annotation_dicts`);
both validate every entry with :func:`parse_entry`. Light (json only), so that the captioning CLI's --help stays fast.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from ..utils.io import read_json

logger = logging.getLogger(__name__)

DESCRIPTION_KEYS = ("identity_description", "clothing_description")
IMAGE_KEYS = ("file_path", "img_path")   # CUHK-PEDES / ICFG-PEDES name the image path file_path, RSTPReid img_path


class T2IAnnotationError(ValueError):
    """An annotation file is missing, is not valid JSON, or an entry lacks a key / has a wrong type."""


@dataclass
class T2IEntry:
    """One annotated image (one element of the annotation list)."""
    index: int                      # position in the annotation list (for error messages)
    split: str                      # "train" | "val" | "test" (any other split value is read as "val")
    img_path: str                   # absolute path
    rel_path: str                   # as written in the file
    pid: int
    captions: List[str]
    identity_description: Optional[str] = None
    clothing_description: Optional[str] = None
    extra: Dict[str, object] = field(default_factory=dict)


def split_of(value: str) -> str:
    """The split rule of the official loaders: 'train' -> train, 'test' -> test, anything else -> val."""
    return value if value in ("train", "test") else "val"


def _require(entry: dict, key: str, types, path: str, index: int, what: str):
    if key not in entry:
        raise T2IAnnotationError(f"{path}: entry {index}: missing key {key!r} (expected {what}); "
                                 f"keys present: {sorted(entry)}")
    value = entry[key]
    if not isinstance(value, types) or (types is int and isinstance(value, bool)):
        raise T2IAnnotationError(f"{path}: entry {index}: key {key!r} must be {what}, got "
                                 f"{type(value).__name__} {value!r:.80}")
    return value


def parse_entry(entry, *, path: str, index: int, image_key: str, image_root: str) -> T2IEntry:
    """Validate one annotation entry and turn it into a :class:`T2IEntry`."""
    if not isinstance(entry, dict):
        raise T2IAnnotationError(f"{path}: entry {index}: expected an object with keys split/{image_key}/id/"
                                 f"captions, got {type(entry).__name__}")
    split = _require(entry, "split", str, path, index, "a string (train / val / test)")
    rel = _require(entry, image_key, str, path, index, "a relative image path string")
    if not rel.strip():
        raise T2IAnnotationError(f"{path}: entry {index}: key {image_key!r} is empty (expected a relative image "
                                 f"path)")
    if os.path.isabs(rel) or ".." in rel.replace("\\", "/").split("/"):
        raise T2IAnnotationError(f"{path}: entry {index}: key {image_key!r}={rel!r} must be a path relative to "
                                 f"{image_root!r} that stays inside it")
    pid = _require(entry, "id", int, path, index, "an integer person id")
    captions = _require(entry, "captions", list, path, index, "a non-empty list of strings")
    if not captions:
        raise T2IAnnotationError(f"{path}: entry {index}: key 'captions' is an empty list (expected at least one "
                                 f"caption)")
    for j, c in enumerate(captions):
        if not isinstance(c, str) or not c.strip():
            raise T2IAnnotationError(f"{path}: entry {index}: key 'captions'[{j}] must be a non-empty string, got "
                                     f"{c!r:.80}")
    desc = {}
    for key in DESCRIPTION_KEYS:
        if key in entry and entry[key] is not None:
            value = entry[key]
            if not isinstance(value, str) or not value.strip():
                raise T2IAnnotationError(f"{path}: entry {index}: key {key!r} must be a non-empty string when "
                                         f"present, got {value!r:.80}")
            desc[key] = value
    known = {"split", image_key, "id", "captions", *DESCRIPTION_KEYS}
    return T2IEntry(index=index, split=split_of(split), img_path=os.path.join(image_root, rel), rel_path=rel,
                    pid=pid, captions=list(captions), extra={k: v for k, v in entry.items() if k not in known},
                    **desc)


def read_annotation_list(path: str) -> list:
    """The file's JSON list, unvalidated (errors: missing file, invalid JSON, not a list, empty list)."""
    data = read_json(path, "annotation file", error=T2IAnnotationError)
    if not isinstance(data, list):
        raise T2IAnnotationError(f"{path}: expected a JSON list with one object per image, got "
                                 f"{type(data).__name__}")
    if not data:
        raise T2IAnnotationError(f"{path}: the annotation list is empty")
    return data


def _check_unique(entries: Sequence[T2IEntry], path: str, key_names: Sequence[str]) -> None:
    """One entry per image; `key_names[i]`: the name of entry i's image-path key (for the message)."""
    seen: Dict[str, int] = {}
    for e in entries:
        if e.rel_path in seen:
            raise T2IAnnotationError(f"{path}: entry {e.index}: key {key_names[e.index]!r}={e.rel_path!r} repeats "
                                     f"entry {seen[e.rel_path]} (expected one entry per image)")
        seen[e.rel_path] = e.index


def load_annotations(path: str, *, image_key: str, image_root: str, check_images: bool = True) -> List[T2IEntry]:
    """Read a T2I annotation JSON list. Errors name the file, the entry index and the key.

    ``check_images``: every referenced image must exist (reports the first missing entries and how many)."""
    data = read_annotation_list(path)
    entries = [parse_entry(e, path=path, index=i, image_key=image_key, image_root=image_root)
               for i, e in enumerate(data)]
    _check_unique(entries, path, [image_key] * len(entries))
    if check_images:
        missing = [e for e in entries if not os.path.isfile(e.img_path)]
        if missing:
            head = ", ".join(f"entry {e.index} ({e.img_path})" for e in missing[:3])
            raise T2IAnnotationError(f"{path}: {len(missing)} of {len(entries)} images are missing under "
                                     f"{image_root!r}, e.g. {head}")
    return entries


def image_key_of(entry) -> str:
    """The name of the entry's image-path key: the first of IMAGE_KEYS it has (file_path when it has none, so
    that the error names the usual key)."""
    if isinstance(entry, dict):
        for k in IMAGE_KEYS:
            if k in entry:
                return k
    return IMAGE_KEYS[0]


def load_annotation_dicts(path: str) -> List[dict]:
    """The annotation list as stored (every key of every entry kept, for tools that rewrite the file), validated
    entry by entry as :func:`load_annotations` does; each entry's image path is under whichever of IMAGE_KEYS it
    has. Images are not checked."""
    data = read_annotation_list(path)
    keys = [image_key_of(e) for e in data]
    _check_unique([parse_entry(e, path=path, index=i, image_key=keys[i], image_root="") for i, e in enumerate(data)],
                  path, keys)
    return data


def check_pid_splits(entries: Sequence[T2IEntry], path: str) -> None:
    """Splits are identity-disjoint in all released datasets; a person in two splits would leak test identities."""
    where: Dict[int, T2IEntry] = {}
    for e in entries:
        first = where.setdefault(e.pid, e)
        if first.split != e.split:
            raise T2IAnnotationError(f"{path}: entry {e.index}: person id {e.pid} is in split {e.split!r} but "
                                     f"entry {first.index} puts it in {first.split!r} (splits must not share "
                                     f"identities)")
