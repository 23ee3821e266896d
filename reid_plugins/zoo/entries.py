"""The stand-in model zoo as data: one entry per pretrained model the papers and fast-reid's baselines start from.

Each entry is trained on SynthPed-W (reid_plugins.data.synthetic, domain W) only, never on a benchmark domain, and
stands in for the real checkpoint that cannot be downloaded here. `arch` lists the config keys a config that loads
the entry must have (checked when `zoo:<name>` is resolved, so a checkpoint is never loaded into another
architecture); `recipe` is everything the training run depends on (its hash decides whether a built file is stale).

Why the backbones learn person *attributes* only, not W's identities: ImageNet teaches categories of things, never
individuals, so the faithful stand-in for an ImageNet checkpoint is a classifier of the categories people are made
of here (garment, colour, pattern, hair, bag, ...). Adding W's 3,000 identities as classes would make it a Re-ID
pretraining (as on LUPerson) that no ImageNet backbone has had: a first build that did so (id + attributes) gave
OSNet zero-shot Re-ID mAP 69 / 61 / 58 / 46 on the test splits of A / B / C / D before any fine-tuning. The choice
was made from that observation and the principle above, before any fine-tuning result existed. (`id_weight` > 0 in
a recipe turns the identity classifier back on.)
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Dict, Tuple


@dataclass(frozen=True)
class ZooEntry:
    name: str
    stands_for: str
    kind: str                  # recipe family: "clip" (contrastive image-caption) | "supervised" (id + attributes)
    weights: str               # file (or folder) under <zoo dir>/<name>/ that configs load
    files: Tuple[str, ...]     # every file written (all are hashed)
    arch: Dict[str, object]    # config key -> value the loading config must have
    recipe: Dict[str, object]
    loss: str
    used_by: Tuple[str, ...] = ()
    notes: str = ""
    config_keys: Tuple[str, ...] = field(default=())   # config keys that take "zoo:<name>"

    def recipe_hash(self) -> str:
        return hashlib.sha256(json.dumps({"kind": self.kind, "arch": self.arch, "recipe": self.recipe},
                                         sort_keys=True).encode()).hexdigest()[:16]


# Normalisations of the fine-tuning pipelines (fast-reid feeds 0-255 tensors; the model normalises): pretraining uses
# the one its fine-tuning config uses, as ImageNet / CLIP checkpoints fix theirs.
HALF = (127.5, 127.5, 127.5)
IMAGENET_MEAN, IMAGENET_STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)   # fast-reid's defaults

ENTRIES: Dict[str, ZooEntry] = {e.name: e for e in (
    ZooEntry(
        name="clip-tiny-w",
        stands_for="OpenAI CLIP ViT-B/16 (MUVA's image and text towers)",
        kind="clip",
        weights="model.safetensors", files=("model.safetensors",),
        arch={"MODEL.BACKBONE.CLIP_ARCH": "ViT-T-16-reid"},
        recipe={"arch": "ViT-T-16-reid", "size": [256, 128], "mean": HALF, "std": HALF, "steps": 1200,
                "batch": 64, "lr": 5e-4, "weight_decay": 0.1, "warmup": 100, "seed": 0, "threads": 1},
        loss="CLIP's symmetric image-text InfoNCE (open_clip ClipLoss, learnable temperature clamped at 100) over "
             "one (image, caption) pair of each of 64 distinct W identities per batch",
        used_by=("configs/MUVA/Synth/Base-MUVA-Synth.yml",),
        notes="stored in float16, as OpenAI releases CLIP",
        config_keys=("MODEL.BACKBONE.PRETRAIN_PATH",),
    ),
    ZooEntry(
        name="vit-tiny-w",
        stands_for="google/vit-base-patch16-224 (BDAM's image encoder)",
        kind="supervised",
        weights=".", files=("config.json", "model.safetensors"),
        arch={"MODEL.BDAM.IMAGE.HIDDEN_SIZE": 64, "MODEL.BDAM.IMAGE.NUM_LAYERS": 2,
              "MODEL.BDAM.IMAGE.NUM_HEADS": 4, "MODEL.BDAM.IMAGE.PATCH_SIZE": 16, "INPUT.SIZE_TRAIN": [128, 64]},
        recipe={"backbone": "vit", "size": [128, 64], "mean": HALF, "std": HALF, "steps": 6000, "batch": 64,
                "lr": 3e-3, "weight_decay": 0.05, "warmup": 100, "seed": 0, "threads": 1,
                "id_weight": 0.0, "attr_weight": 1.0, "label_smoothing": 0.1},
        loss="mean cross-entropy of the 19 person attributes (gender ... shoe colour) of W's training images, on the "
             "mean patch token (ImageNet-like category supervision; no identity classes)",
        used_by=("configs/BDAM_T2I/Synth-T2I.yml", "configs/BDAM_T2I/Synth-T2I-CC.yml"),
        config_keys=("MODEL.BDAM.IMAGE.PRETRAINED_DIR",),
    ),
    ZooEntry(
        name="osnet-x0_25-w",
        stands_for="ImageNet OSNet x0.25 (fast-reid BoT / AGW / SBS backbone)",
        kind="supervised",
        weights="model.pth", files=("model.pth",),
        arch={"MODEL.BACKBONE.NAME": "build_osnet_backbone", "MODEL.BACKBONE.DEPTH": "x0_25",
              "MODEL.BACKBONE.WITH_IBN": False, "MODEL.BACKBONE.NORM": "BN"},
        recipe={"backbone": "osnet", "size": [128, 64], "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
                "steps": 1200, "batch": 64, "lr": 2e-3, "weight_decay": 5e-4, "warmup": 100, "seed": 0,
                "threads": 1, "id_weight": 0.0, "attr_weight": 1.0, "label_smoothing": 0.1},
        loss="mean cross-entropy of the 19 person attributes of W's training images, on the global-average-pooled "
             "feature map (ImageNet-like category supervision; no identity classes)",
        used_by=("configs/Synth/Base-bagtricks.yml", "configs/Synth/Base-AGW.yml", "configs/Synth/Base-SBS.yml"),
        config_keys=("MODEL.BACKBONE.PRETRAIN_PATH",),
    ),
)}


def get_entry(name: str) -> ZooEntry:
    if name not in ENTRIES:
        raise KeyError(f"no zoo entry {name!r}; the zoo has {sorted(ENTRIES)} (python -m reid_plugins.zoo list)")
    return ENTRIES[name]
