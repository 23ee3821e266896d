"""Base class for datasets released in the Market-1501 folder layout.

    <root>/<dataset_dir>/{bounding_box_train, bounding_box_test, query}/<pid>_c<cam>..._<n>.<ext>

fast-reid's own Market-style loaders glob without sorting (order depends on the file system) and fail with a bare
`"<path>" is not found` when a folder is missing. This base sorts, validates every file name and names the expected
layout in its errors.
"""
from __future__ import annotations

import os
import re
from typing import List, Sequence, Tuple

from fastreid.data.datasets.bases import ImageDataset

Item = Tuple[str, object, object]


class DatasetLayoutError(RuntimeError):
    """A dataset folder is missing or does not follow the expected layout."""


class MarketLayoutDataset(ImageDataset):
    dataset_dir: str = ""
    dataset_name: str = ""
    extensions: Sequence[str] = (".jpg",)
    split_dirs = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
    name_pattern = re.compile(r"^(-?\d+)_c(\d+)")
    junk_pids = (-1,)  # Market-1501 convention: pid -1 are junk detections, ignored everywhere

    def __init__(self, root: str = "datasets", **kwargs):
        self.root = root
        self.data_dir = os.path.join(root, self.dataset_dir)
        self.check_layout()
        train = lambda: self.process_dir(self.split_dirs["train"], is_train=True)  # noqa: E731
        query = lambda: self.process_dir(self.split_dirs["query"], is_train=False)  # noqa: E731
        gallery = lambda: self.process_dir(self.split_dirs["gallery"], is_train=False)  # noqa: E731
        super().__init__(train, query, gallery, **kwargs)

    # ------------------------------------------------------------------------------------------------------------
    @classmethod
    def expected_layout(cls) -> str:
        subdirs = ", ".join(cls.split_dirs.values())
        exts = "|".join(e.lstrip(".") for e in cls.extensions)
        return (f"<root>/{cls.dataset_dir or '.'}/{{{subdirs}}}/<pid>_c<camera>*.{exts} "
                f"(e.g. 0002_c1s1_000451_03.{cls.extensions[0].lstrip('.')})")

    def check_layout(self) -> None:
        if not os.path.isdir(self.data_dir):
            raise DatasetLayoutError(
                f"{type(self).__name__}: dataset folder {self.data_dir!r} does not exist (root={self.root!r}). "
                f"Expected layout: {self.expected_layout()}. Set DATASETS.ROOT or FASTREID_DATASETS to the folder "
                f"that contains {self.dataset_dir or 'the split folders'!r}.")
        for split, sub in self.split_dirs.items():
            path = os.path.join(self.data_dir, sub)
            if not os.path.isdir(path):
                raise DatasetLayoutError(
                    f"{type(self).__name__}: {split} folder {path!r} is missing. "
                    f"Expected layout: {self.expected_layout()}")

    def list_images(self, sub: str) -> List[str]:
        folder = os.path.join(self.data_dir, sub)
        names = sorted(n for n in os.listdir(folder) if os.path.splitext(n)[1].lower() in self.extensions)
        if not names:
            raise DatasetLayoutError(
                f"{type(self).__name__}: no {'/'.join(self.extensions)} images in {folder!r}. "
                f"Expected layout: {self.expected_layout()}")
        return [os.path.join(folder, n) for n in names]

    def parse_name(self, path: str) -> Tuple[int, int]:
        """(pid, camid starting at 0) from a file name."""
        m = self.name_pattern.search(os.path.basename(path))
        if m is None:
            raise DatasetLayoutError(
                f"{type(self).__name__}: file name {os.path.basename(path)!r} in {os.path.dirname(path)!r} does not "
                f"match <pid>_c<camera>...; expected layout: {self.expected_layout()}")
        pid, cam = int(m.group(1)), int(m.group(2))
        if cam < 1:
            raise DatasetLayoutError(f"{type(self).__name__}: camera ids start at 1, got c{cam} in {path!r}")
        return pid, cam - 1

    def process_dir(self, sub: str, is_train: bool) -> List[Item]:
        items: List[Item] = []
        for path in self.list_images(sub):
            pid, camid = self.parse_name(path)
            if pid in self.junk_pids:
                continue
            if is_train:
                # fast-reid's CommDataset relabels the sorted unique *strings*; prefixing keeps sources disjoint.
                items.append((path, f"{self.dataset_name}_{pid}", f"{self.dataset_name}_{camid}"))
            else:
                items.append((path, pid, camid))
        return items
