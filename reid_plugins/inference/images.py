"""Which images to embed: a folder (searched recursively) or a list file, with optional identity / camera labels.

A list file has one image per line: ``path`` or ``path<TAB>pid`` or ``path<TAB>pid<TAB>camid`` (relative paths are
relative to the list file's folder; blank lines and lines starting with ``#`` are skipped). ``labels="market"`` reads
pid and camera from Market-1501 names (``0001_c2s1_000151_01.jpg``: pid 1, camera 2), as the datasets here do.
Labels only colour the rank-list picture (green: same pid, red: another).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import List, Optional

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
LABEL_SOURCES = ("none", "market")
MARKET_NAME = re.compile(r"^(-?\d+)_c(\d+)")


@dataclass
class ImageList:
    paths: List[str]  # absolute
    pids: Optional[List[str]] = None  # one per path, or None when unknown
    camids: Optional[List[str]] = None
    source: str = ""
    labels: str = "none"  # how the labels were read: "none", "market" or "list"


def list_images(source: str, labels: str = "none") -> ImageList:
    """The images of a folder or a list file. Raises when there are none (naming the folder and the extensions)."""
    if labels not in LABEL_SOURCES:
        raise ValueError(f"labels={labels!r}: expected one of {LABEL_SOURCES}")
    if os.path.isdir(source):
        paths = sorted(os.path.abspath(os.path.join(d, f)) for d, _, files in os.walk(source) for f in files
                       if f.lower().endswith(IMAGE_EXTENSIONS))
        if not paths:
            raise ValueError(f"no images under {source!r} (searched recursively for {', '.join(IMAGE_EXTENSIONS)})")
        images = ImageList(paths, source=os.path.abspath(source))
    elif os.path.isfile(source):
        images = _read_list(source)
    else:
        raise FileNotFoundError(f"--images {source!r} is neither a folder nor a list file")
    if labels == "market":
        images.pids, images.camids = market_labels(images.paths)
        images.labels = "market"
    return images


def market_labels(paths: List[str]):
    pids, cams, bad = [], [], []
    for p in paths:
        m = MARKET_NAME.match(os.path.basename(p))
        if m is None:
            bad.append(p)
            continue
        pids.append(str(int(m.group(1))))
        cams.append(str(int(m.group(2))))
    if bad:
        raise ValueError(f"{len(bad)} image names are not Market-1501 names '<pid>_c<camera>...' (e.g. {bad[0]!r}); "
                         f"give labels in a list file instead (path<TAB>pid<TAB>camid)")
    return pids, cams


def _read_list(list_file: str) -> ImageList:
    base = os.path.dirname(os.path.abspath(list_file))
    rows = []
    with open(list_file, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n\r")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) > 3 or not fields[0].strip():
                raise ValueError(f"{list_file}:{lineno}: expected 'path', 'path<TAB>pid' or 'path<TAB>pid<TAB>"
                                 f"camid', got {line!r}")
            rows.append([fields[0].strip()] + [x.strip() for x in fields[1:]])
    if not rows:
        raise ValueError(f"list file {list_file!r} names no images")
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise ValueError(f"list file {list_file!r} mixes lines with and without labels (columns per line: "
                         f"{sorted(widths)}); label every line or none")
    paths = [os.path.abspath(os.path.join(base, r[0])) for r in rows]
    width = widths.pop()
    return ImageList(paths, [r[1] for r in rows] if width > 1 else None, [r[2] for r in rows] if width > 2 else None,
                     source=os.path.abspath(list_file), labels="list" if width > 1 else "none")
