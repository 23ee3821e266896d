"""MUVA's data: training images with their VGE part masks, and the loaders of the code's protocol.

- Masks come only from `reid_plugins.grounding.PartMaskProvider` (cfg.MODEL.MASKS.*): bool [3, rows*cols] per image,
  part order head / upper / legs. They are read once for the whole training set when the set is built, so a missing
  mask fails before training starts (MissingMaskError names the image and the command that makes the cache).
- Training transform: fast-reid's `build_transforms` (bicubic resize, and with INPUT.PADDING / INPUT.REA the "RCRE"
  augmentations of Table 11) with its flip disabled: the horizontal flip (INPUT.FLIP) is applied here to the image
  and to its mask together.
- Test / feature-extraction transform: bilinear resize (the code's torchvision default) and fast-reid's ToTensor;
  no flip. The feature loader walks the training set in order with these transforms and the masks (stage-1
  centroids, VPM-2 memory).
"""
from __future__ import annotations

import logging
import random
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torchvision.transforms as T
from fastreid.data import build_reid_test_loader, build_reid_train_loader
from fastreid.data.common import CommDataset
from fastreid.data.data_utils import read_image
from fastreid.data.datasets import DATASET_REGISTRY
from fastreid.data.transforms import ToTensor, build_transforms
from fastreid.utils import comm
from PIL import Image

from reid_plugins.data.root import dataset_root

logger = logging.getLogger("fastreid." + __name__)  # under fast-reid's configured logger


def load_train_items(cfg) -> List[tuple]:
    items = []
    for name in cfg.DATASETS.NAMES:
        data = DATASET_REGISTRY.get(name)(root=dataset_root(cfg))
        if comm.is_main_process():
            data.show_train()
        items.extend(data.train)
    return items


def needs_masks(cfg) -> bool:
    """VGE masks are used with part tokens and predicted attention masks (single-grained / fixed stripes: none)."""
    return len(cfg.MODEL.MUVA.PARTS) > 0 and cfg.MODEL.MUVA.ATTENTION_MASKS == "predicted"


def read_masks(cfg, items: Sequence[tuple]) -> torch.Tensor:
    """VGE masks of all `items` from the provider -> bool [N, 3, rows*cols] on MODEL.MASKS.GRID, the model's patch
    grid (check_muva_config) (fails early, naming the image); all False when the configuration uses none."""
    rows, cols = cfg.MODEL.MASKS.GRID
    out = torch.zeros(len(items), 3, rows * cols, dtype=torch.bool)
    if not needs_masks(cfg):
        logger.info("MODEL.MUVA.PARTS=%s, ATTENTION_MASKS=%s: no part masks are read", tuple(cfg.MODEL.MUVA.PARTS),
                    cfg.MODEL.MUVA.ATTENTION_MASKS)
        return out
    from reid_plugins.grounding import PartMaskProvider

    provider = PartMaskProvider.from_config(cfg, list(cfg.DATASETS.NAMES))
    for i, item in enumerate(items):  # the provider votes on MODEL.MASKS.GRID and refuses caches of another grid
        out[i] = torch.from_numpy(np.asarray(provider(item[0])).astype(bool))
    logger.info("Read %d part masks (mean coverage head/upper/legs: %s)", len(items),
                [round(float(v), 3) for v in out.float().mean(dim=(0, 2))])
    return out


def flip_mask(mask: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
    """Mirror [P, rows*cols] masks left-right on the patch grid (row-major)."""
    rows, cols = grid
    return mask.reshape(mask.shape[0], rows, cols).flip(-1).reshape(mask.shape[0], rows * cols)


class MaskedReidDataset(CommDataset):
    """fast-reid's CommDataset plus "masks" ([3, rows*cols] uint8); `flip_prob` flips image and mask together."""

    def __init__(self, img_items, transform, masks: torch.Tensor, grid: Tuple[int, int], flip_prob: float = 0.0,
                 relabel: bool = True):
        super().__init__(img_items, transform, relabel)
        if len(masks) != len(img_items):
            raise ValueError(f"{len(masks)} masks for {len(img_items)} images")
        self.masks = masks
        self.grid = tuple(grid)
        self.flip_prob = float(flip_prob)

    def __getitem__(self, index):
        img_path, pid, camid = self.img_items[index][:3]
        img = read_image(img_path)
        mask = self.masks[index]
        if self.flip_prob > 0 and random.random() < self.flip_prob:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
            mask = flip_mask(mask, self.grid)
        if self.transform is not None:
            img = self.transform(img)
        if self.relabel:
            pid, camid = self.pid_dict[pid], self.cam_dict[camid]
        return {"images": img, "targets": pid, "camids": camid, "img_paths": img_path, "masks": mask.to(torch.uint8)}


def train_transforms(cfg):
    cfg = cfg.clone()
    cfg.defrost()
    cfg.INPUT.FLIP.ENABLED = False  # flipped with the mask in MaskedReidDataset
    return build_transforms(cfg, is_train=True)


def test_transforms(cfg):
    return T.Compose([T.Resize(list(cfg.INPUT.SIZE_TEST), interpolation=T.InterpolationMode.BILINEAR), ToTensor()])


class TrainData:
    """Training items and masks, read once and shared by the training and the feature loaders."""

    def __init__(self, cfg):
        self.items = load_train_items(cfg)
        self.masks = read_masks(cfg, self.items)
        self.grid = tuple(cfg.MODEL.MASKS.GRID)


def build_train_loader(cfg, train_data: TrainData):
    flip = cfg.INPUT.FLIP.PROB if cfg.INPUT.FLIP.ENABLED else 0.0
    train_set = MaskedReidDataset(train_data.items, train_transforms(cfg), train_data.masks, train_data.grid, flip)
    loader = build_reid_train_loader(cfg, train_set=train_set)
    loader.muva_train_data = train_data  # the trainer's feature loader reuses the items and masks
    return loader


def build_feature_loader(cfg, train_data: TrainData):
    """Training set in order, test transforms, masks, same label mapping as the training loader."""
    feature_set = MaskedReidDataset(train_data.items, test_transforms(cfg), train_data.masks, train_data.grid, 0.0)
    loader, _ = build_reid_test_loader(feature_set, cfg.MODEL.MUVA.FEATURE_BATCH, 0, num_workers=cfg.TEST.NUM_WORKERS)
    return loader


def build_test_set(cfg, dataset_name: str):
    data = DATASET_REGISTRY.get(dataset_name)(root=dataset_root(cfg))
    if comm.is_main_process():
        data.show_test()
    return CommDataset(data.query + data.gallery, test_transforms(cfg), relabel=False), len(data.query)


def build_test_loader(cfg, dataset_name: str):
    test_set, num_query = build_test_set(cfg, dataset_name)
    return build_reid_test_loader(test_set, cfg.TEST.IMS_PER_BATCH, num_query, num_workers=cfg.TEST.NUM_WORKERS)
