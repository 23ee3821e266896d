"""Which images a domain has: identities per split, their cameras, file names, and the query/gallery choice.

Planning is cheap and done in the parent process; every image carries its own index, so the pixels a worker draws
for it depend only on (seed, domain, index), never on how the images were shared out among workers.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, List

import numpy as np

from .attributes import OUTFIT_GROUPS, sample_families, sample_outfit, signature, wear
from .domains import DomainStyle
from .presets import SplitSize
from .web import sample_clothing_priors

SPLIT_DIRS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
# family-size weights: P(size = 1, 2, 3); about two identities in three have a near-twin differing in one attribute
FAMILY_SIZES = (0.45, 0.35, 0.2)


@dataclass(frozen=True)
class ImageTask:
    index: int          # stable per-domain image index (seeds the renderer)
    split: str          # "train" | "query" | "gallery"
    rel_path: str       # relative to the domain folder, e.g. "query/0012_c3s1_000451_00.jpg"
    pid: int
    camid: int          # 1-based
    outfit: int = 0     # which of the identity's outfits it wears (only domains whose people change clothes)


def file_name(pid: int, camid: int, frame: int) -> str:
    return f"{pid:04d}_c{camid}s1_{frame:06d}_00.jpg"


@dataclass
class DomainPlan:
    style: DomainStyle
    identities: Dict[int, dict]     # pid -> attributes (+ "split", "family", "differs_from_family_base" and, where
                                    # people change clothes, "outfits" [{"upper", "legs"}] and "outfit_by_camera")
    tasks: List[ImageTask]


def plan_domain(style: DomainStyle, domain_index: int, size: SplitSize, seed: int, taken: set) -> DomainPlan:
    """Identities (families never straddle train/test), pids, cameras, frames and the query/gallery split.
    `taken` holds the signatures of identities already used by other domains and is extended (where people change
    clothes, with the full signature of every outfit each person wears too)."""
    rng = np.random.default_rng([seed, domain_index, 1])
    changes = style.changes_clothes
    sampler = sample_clothing_priors if style.web else None
    train = sample_families(rng, size.train_ids, style.priors, FAMILY_SIZES, taken, changes, sampler)
    test = sample_families(rng, size.test_ids, style.priors, FAMILY_SIZES, taken, changes, sampler)
    outfit_rng = np.random.default_rng([seed, domain_index, 4])   # own stream: the other draws stay as they were
    n_train_fam = max(i["family"] for i in train) + 1
    for ident in test:
        ident["family"] += n_train_fam
    pids = rng.permutation(size.train_ids + size.test_ids) + 1     # Market-style: train/test pids interleave
    identities: Dict[int, dict] = {}
    sightings = []   # (split, pid, camid, n_images, n_query)
    n_cams = style.num_cameras
    for k, ident in enumerate(train + test):
        pid = int(pids[k])
        split = "train" if k < size.train_ids else "test"
        identities[pid] = {**ident, "split": split}
        lo, hi = size.cams_per_id[0], min(size.cams_per_id[1], n_cams)
        n = int(rng.integers(min(lo, hi), hi + 1))
        cams = np.sort(rng.choice(n_cams, size=n, replace=False)) + 1
        counts = rng.integers(size.imgs_per_cam[0], size.imgs_per_cam[1] + 1, size=n)
        if changes:
            _dress(identities[pid], cams, style, outfit_rng)
        if split == "train":
            sightings += [("train", pid, int(c), int(m), 0) for c, m in zip(cams, counts)]
            continue
        # Market protocol: one query per (pid, camera) for a subset of the pid's cameras; the pid must stay in the
        # gallery under another camera, so if every camera gives a query each keeps at least one gallery image.
        q = int(rng.integers(1, min(n, size.max_query_cams) + 1))
        qcams = set(int(c) for c in rng.choice(cams, size=q, replace=False))
        if q == n:
            counts = np.maximum(counts, 2)
        sightings += [("test", pid, int(c), int(m), int(c in qcams)) for c, m in zip(cams, counts)]

    tasks: List[ImageTask] = []
    for split, pid, cam, m, n_query in sightings:
        frames = np.cumsum(rng.integers(5, 80, size=m)) + int(rng.integers(0, 5000))
        query_at = int(rng.integers(m)) if n_query else -1
        outfit = identities[pid]["outfit_by_camera"][str(cam)] if changes else 0
        for j, frame in enumerate(frames):
            s = "train" if split == "train" else ("query" if j == query_at else "gallery")
            tasks.append(ImageTask(-1, s, f"{SPLIT_DIRS[s]}/{file_name(pid, cam, int(frame))}", pid, cam, outfit))
    tasks.sort(key=lambda t: t.rel_path)
    tasks = [dataclasses.replace(t, index=i) for i, t in enumerate(tasks)]
    if changes:
        # later domains must not repeat any look of these people either: a person in each outfit they wear
        taken.update(signature(wear(ident, k)) for ident in identities.values()
                     for k in range(len(ident["outfits"])))
    return DomainPlan(style, identities, tasks)


def _dress(ident: dict, cams: np.ndarray, style: DomainStyle, rng: np.random.Generator) -> None:
    """Which outfit `ident` wears in each of its cameras: its own (0) in the first; in each other camera, with
    probability style.outfit_change_prob, a new one, worn in that camera only (so every change shows across
    cameras). Adds "outfits" (outfit 0 = the identity's upper / legs) and "outfit_by_camera"."""
    outfits = [{g: ident[g] for g in OUTFIT_GROUPS}]
    by_camera = {}
    for k, cam in enumerate(cams):
        if k and rng.random() < style.outfit_change_prob:
            outfits.append(sample_outfit(rng, style.priors, ident))
            by_camera[str(int(cam))] = len(outfits) - 1
        else:
            by_camera[str(int(cam))] = 0
    ident["outfits"], ident["outfit_by_camera"] = outfits, by_camera


def split_counts(tasks: List[ImageTask]) -> Dict[str, dict]:
    """{"train"|"query"|"gallery": {"ids", "images", "cameras"}} of a plan (also written to the manifest)."""
    out = {}
    for split in SPLIT_DIRS:
        ts = [t for t in tasks if t.split == split]
        out[split] = {"ids": len({t.pid for t in ts}), "images": len(ts), "cameras": len({t.camid for t in ts})}
    return out
