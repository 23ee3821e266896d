"""Registered text-to-image datasets: CUHK-PEDES, ICFG-PEDES, RSTPReid and the synthetic benchmark's captions.

They live in fast-reid's DATASET_REGISTRY (so configs name them in DATASETS.NAMES / DATASETS.TESTS) but are not
fast-reid ImageDatasets: a T2I dataset has one training sample per caption and a test split made of a gallery of
images and a query set of captions. :mod:`reid_plugins.data.t2i.tokenized` turns them into torch datasets.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from typing import Dict, List, NamedTuple, Optional

from fastreid.data.datasets import DATASET_REGISTRY

from ..annotations import T2IAnnotationError, T2IEntry, check_pid_splits, load_annotations
from ..datasets.synthped import register_domain_datasets

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


class T2ISample(NamedTuple):
    """One training sample (one caption of one image). Index 1 is the pid, as fast-reid's identity samplers expect."""
    img_path: str
    pid: int                               # contiguous 0..num_train_pids-1
    image_id: int                          # running index over training images
    caption: str
    identity_description: Optional[str]
    clothing_description: Optional[str]


@dataclass
class T2ISplit:
    """An evaluation split: the gallery is every image, the queries are every caption (IRRA protocol)."""
    img_paths: List[str] = field(default_factory=list)
    image_pids: List[int] = field(default_factory=list)             # raw ids from the file
    captions: List[str] = field(default_factory=list)
    caption_pids: List[int] = field(default_factory=list)
    caption_image_index: List[int] = field(default_factory=list)    # index into img_paths of the captioned image

    @property
    def num_pids(self) -> int:
        return len(set(self.image_pids))


def _evaluation_split(entries) -> T2ISplit:
    split = T2ISplit()
    for e in entries:
        split.img_paths.append(e.img_path)
        split.image_pids.append(e.pid)
        for caption in e.captions:
            split.captions.append(caption)
            split.caption_pids.append(e.pid)
            split.caption_image_index.append(len(split.img_paths) - 1)
    return split


class T2IDataset:
    """Base of the annotation-list datasets.

    <root>/<dataset_dir>/<annotation_name>                    the annotation list
    <root>/<dataset_dir>/<image_subdir>/<entry[image_key]>    the images

    ``annotation_file`` replaces the released annotation by another file in the same format, e.g. the output of
    ``reid_plugins.captioning`` that adds identity_description / clothing_description to each entry (absolute, or
    relative to the dataset folder)."""
    dataset_dir: str = ""
    dataset_name: str = ""
    annotation_name: str = ""
    image_key: str = "file_path"
    image_subdir: str = "imgs"

    def __init__(self, root: str = "datasets", annotation_file: str = "", check_images: bool = True, **kwargs):
        self.root = root
        self.data_dir = os.path.join(root, self.dataset_dir)
        self.prepare()
        if not os.path.isdir(self.data_dir):
            raise T2IAnnotationError(
                f"{type(self).__name__}: dataset folder {self.data_dir!r} does not exist (root={root!r}). Expected "
                f"layout: {self.expected_layout()}. Set DATASETS.ROOT or FASTREID_DATASETS.")
        if annotation_file and not os.path.isabs(annotation_file) and not os.path.isfile(annotation_file):
            annotation_file = os.path.join(self.data_dir, annotation_file)
        self.annotation_path = annotation_file or os.path.join(self.data_dir, self.annotation_name)
        self.image_root = os.path.join(self.data_dir, self.image_subdir) if self.image_subdir else self.data_dir
        entries = load_annotations(self.annotation_path, image_key=self.image_key, image_root=self.image_root,
                                   check_images=check_images)
        check_pid_splits(entries, self.annotation_path)
        self.entries = entries
        self.train: List[T2ISample] = []
        self.val = T2ISplit()
        self.test = T2ISplit()
        self._build(entries)

    # ------------------------------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Hook for datasets that can create themselves (the synthetic benchmark)."""

    @classmethod
    def expected_layout(cls) -> str:
        img = f"{cls.image_subdir}/" if cls.image_subdir else ""
        return (f"<root>/{cls.dataset_dir}/{cls.annotation_name} (a JSON list of {{split, {cls.image_key}, id, "
                f"captions}}) and <root>/{cls.dataset_dir}/{img}<{cls.image_key}>")

    def _build(self, entries: List[T2IEntry]) -> None:
        train_entries = [e for e in entries if e.split == "train"]
        pid_map: Dict[int, int] = {p: i for i, p in enumerate(sorted({e.pid for e in train_entries}))}
        for image_id, e in enumerate(train_entries):
            for caption in e.captions:
                self.train.append(T2ISample(e.img_path, pid_map[e.pid], image_id, caption,
                                            e.identity_description, e.clothing_description))
        self.train_pid_map = pid_map
        self.val = _evaluation_split(e for e in entries if e.split == "val")
        self.test = _evaluation_split(e for e in entries if e.split == "test")

    @property
    def num_train_pids(self) -> int:
        return len(self.train_pid_map)

    @staticmethod
    def _evenly_spaced(pids: List[int], n: int) -> List[int]:
        return [pids[i * len(pids) // n] for i in range(n)]

    def hold_out_validation(self, fraction: float) -> List[int]:
        """For a dataset without a val split: move ``fraction`` of the training identities (at least one; evenly
        spaced in sorted raw-id order, so the same ones whatever the seed) into a new val split, out of training.
        Returns their raw ids (empty when the dataset has its own val split or fraction is 0)."""
        if not 0 <= fraction < 1:
            raise ValueError(f"{type(self).__name__}: the fraction of training identities held out for validation "
                             f"must be in [0, 1), got {fraction!r}")
        if fraction == 0 or self.val.img_paths:
            return []
        pids = sorted({e.pid for e in self.entries if e.split == "train"})
        n = max(1, round(fraction * len(pids)))
        if n >= len(pids):
            raise ValueError(f"{type(self).__name__}: holding out {n} of {len(pids)} training identities for "
                             f"validation leaves none to train on (fraction {fraction})")
        held = set(self._evenly_spaced(pids, n))
        self.entries = [replace(e, split="val") if e.split == "train" and e.pid in held else e for e in self.entries]
        self.train = []
        self._build(self.entries)
        logger.info("%s: %d of %d training identities held out as the val split", type(self).__name__, n,
                    len(pids))
        return sorted(held)

    def train_identity_split(self, num_ids: int) -> T2ISplit:
        """``num_ids`` training identities (evenly spaced in sorted raw-id order) as an evaluation split: their
        training images as the gallery and their captions as the queries (raw ids, as in val / test)."""
        pids = sorted({e.pid for e in self.entries if e.split == "train"})
        keep = set(self._evenly_spaced(pids, min(int(num_ids), len(pids)))) if num_ids > 0 else set()
        return _evaluation_split(e for e in self.entries if e.split == "train" and e.pid in keep)

    def split(self, name: str) -> T2ISplit:
        if name not in ("val", "test"):
            raise ValueError(f"{type(self).__name__}: evaluation split must be 'val' or 'test', got {name!r}")
        s = getattr(self, name)
        if not s.img_paths:
            raise T2IAnnotationError(f"{type(self).__name__}: {self.annotation_path} has no {name!r} entries "
                                     f"(ICFG-PEDES, for one, has no val split)")
        return s

    def description_coverage(self) -> Dict[str, int]:
        """How many training images carry each MLLM description key."""
        train = [e for e in self.entries if e.split == "train"]
        return {"images": len(train),
                "identity_description": sum(e.identity_description is not None for e in train),
                "clothing_description": sum(e.clothing_description is not None for e in train)}

    def summary(self) -> str:
        from tabulate import tabulate

        rows = [["train", self.num_train_pids, len({s.image_id for s in self.train}), len(self.train)]]
        for name in ("val", "test"):
            s = getattr(self, name)
            rows.append([name, s.num_pids, len(s.img_paths), len(s.captions)])
        table = tabulate(rows, headers=["split", "ids", "images", "captions"], tablefmt="pipe")
        return f"=> Loaded {type(self).__name__} from {self.annotation_path}\n{table}"


@DATASET_REGISTRY.register()
class CUHKPEDES(T2IDataset):
    """CUHK-PEDES: <root>/CUHK-PEDES/{reid_raw.json, imgs/<file_path>}; splits train / val / test; ids 1-based."""
    dataset_dir = "CUHK-PEDES"
    dataset_name = "cuhkpedes"
    annotation_name = "reid_raw.json"


@DATASET_REGISTRY.register()
class ICFGPEDES(T2IDataset):
    """ICFG-PEDES: <root>/ICFG-PEDES/{ICFG-PEDES.json, imgs/<file_path>}; splits train / test only."""
    dataset_dir = "ICFG-PEDES"
    dataset_name = "icfgpedes"
    annotation_name = "ICFG-PEDES.json"


@DATASET_REGISTRY.register()
class RSTPReid(T2IDataset):
    """RSTPReid: <root>/RSTPReid/{data_captions.json, imgs/<img_path>}; splits train / val / test."""
    dataset_dir = "RSTPReid"
    dataset_name = "rstpreid"
    annotation_name = "data_captions.json"
    image_key = "img_path"


class _SynthPedT2I(T2IDataset):
    """The synthetic benchmark's captions: <root>/synthped/<domain>/captions.json, file_path relative to the domain
    folder; carries identity_description / clothing_description for every image. Generated on first use like the
    image datasets (preset from env REID_SYNTH_PRESET)."""
    domain = ""
    annotation_name = "captions.json"
    image_subdir = ""

    def prepare(self) -> None:
        from reid_plugins.data.synthetic import ensure_domain

        ensure_domain(self.root, self.domain, self.annotation_name, type(self).__name__)


SYNTH_T2I_DATASETS = register_domain_datasets(_SynthPedT2I, "SynthPedT2I",
                                              "Synthetic benchmark domain {letter} as a text-to-image dataset.",
                                              __name__)
SynthPedT2IA, SynthPedT2IB, SynthPedT2IC, SynthPedT2ID, SynthPedT2IE = SYNTH_T2I_DATASETS  # E: clothes change

T2I_DATASETS = ("CUHKPEDES", "ICFGPEDES", "RSTPReid", *(cls.__name__ for cls in SYNTH_T2I_DATASETS))


def build_t2i_dataset(name: str, root: str, **kwargs) -> T2IDataset:
    """DATASET_REGISTRY lookup that insists on a T2I dataset (fast-reid's image datasets have no captions)."""
    cls = DATASET_REGISTRY.get(name)
    if not (isinstance(cls, type) and issubclass(cls, T2IDataset)):
        raise ValueError(f"dataset {name!r} is not a text-to-image dataset; expected one of {T2I_DATASETS}")
    return cls(root=root, **kwargs)
