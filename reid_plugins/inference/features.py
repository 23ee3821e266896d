"""Feature files: FEATS.npy (float32 [n, d], unit-norm rows) + FEATS.json (the manifest), written by chunks that resume.

Manifest (``FORMAT``)::

    {"format": "reid_plugins.features/1", "count": n, "dim": d, "dtype": "float32", "modality": "image",
     "paths": [n absolute image paths, row i of the .npy is paths[i]],
     "pids": [n labels] | null, "camids": [n labels] | null, "labels": "none" | "market" | "list",
     "skipped": [{"path": ..., "error": ...}],   # unreadable images (--on-error skip): recorded, never silently lost
     "source": the folder or list file, "images_sha256": digest of the image list (before skipping),
     "model": ReidModel.describe() (config, weights, options: search embeds its queries with the same model)}

Extraction works in chunks of ``chunk_size`` images: each finished chunk is one .npz in FEATS.parts/, written atomically
(temporary file + os.replace), with a plan.json that pins the image list, the chunk size and the model; a killed run
started again skips the finished chunks. The last step assembles FEATS.npy chunk by chunk (never the whole array in
memory), writes FEATS.json, and removes FEATS.parts/.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from ..utils.io import atomic_path, read_json, write_atomic, write_json_atomic
from .images import ImageList

logger = logging.getLogger(__name__)

FORMAT = "reid_plugins.features/1"
ON_ERROR = ("fail", "skip")


class ImageReadError(OSError):
    """An image that cannot be read, with --on-error fail."""


def feature_paths(out: str):
    """FEATS -> (FEATS.npy, FEATS.json, FEATS.parts); a trailing .npy is accepted."""
    base = out[:-4] if out.endswith(".npy") else out
    return base + ".npy", base + ".json", base + ".parts"


@dataclass
class FeatureFile:
    features: np.ndarray  # memory-mapped float32 [n, d]
    manifest: dict
    path: str  # the .npy

    @property
    def paths(self) -> List[str]:
        return self.manifest["paths"]

    def label(self, key: str, row: int) -> Optional[str]:
        values = self.manifest.get(key)
        return None if values is None else values[row]


def load_feature_file(out: str) -> FeatureFile:
    """Memory-map FEATS.npy and check it against FEATS.json (same count and dimension, labels one per row)."""
    npy, manifest_path, parts = feature_paths(out)
    for path in (npy, manifest_path):
        if not os.path.isfile(path):
            hint = (f" ({parts}/ holds an unfinished extraction: run the same extract command again)"
                    if os.path.isdir(parts) else "")
            raise FileNotFoundError(f"feature file {path!r} does not exist{hint}; make it with "
                                    f"python -m reid_plugins.extract")
    manifest = read_json(manifest_path, "feature manifest", fix="make it again with python -m reid_plugins.extract")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{manifest_path!r} is not a reid_plugins feature manifest (format {FORMAT!r})")
    try:
        features = np.load(npy, mmap_mode="r")
    except ValueError as e:
        raise ValueError(f"{npy!r} is not a readable .npy file: {e}") from e
    if features.ndim != 2 or features.dtype != np.float32:
        raise ValueError(f"{npy!r} holds {features.dtype} {features.shape}; expected float32 [n, d]")
    n = len(manifest.get("paths", []))
    if features.shape[0] != n or manifest.get("count") != n:
        raise ValueError(f"{npy!r} has {features.shape[0]} rows but its manifest {manifest_path!r} lists {n} images "
                         f"(count {manifest.get('count')}): the two files do not belong together; extract again")
    if manifest.get("dim") != features.shape[1]:
        raise ValueError(f"{npy!r} has dimension {features.shape[1]}, its manifest says {manifest.get('dim')}")
    for key in ("pids", "camids"):
        if manifest.get(key) is not None and len(manifest[key]) != n:
            raise ValueError(f"{manifest_path!r}: {key} has {len(manifest[key])} entries for {n} images")
    if n == 0:
        raise ValueError(f"the gallery {npy!r} is empty (0 images)")
    return FeatureFile(features, manifest, npy)


def extract_features(model, images: ImageList, out: str, batch_size: int = 32, chunk_size: int = 1024,
                     on_error: str = "fail", num_workers: int = 0, progress: bool = True,
                     force: bool = False) -> FeatureFile:
    """Embed `images` with `model` (a ReidModel) into FEATS.npy / FEATS.json, resuming finished chunks. Finished
    files of the same images and model are returned as they are; of other inputs, they are only replaced with
    force=True."""
    import torch
    from tqdm import tqdm

    if on_error not in ON_ERROR:
        raise ValueError(f"on_error={on_error!r}: expected one of {ON_ERROR}")
    if chunk_size < 1 or batch_size < 1:
        raise ValueError(f"chunk_size ({chunk_size}) and batch_size ({batch_size}) must be >= 1")
    npy, manifest_path, parts = feature_paths(out)
    plan = {"format": FORMAT, "images_sha256": _digest(images.paths), "count": len(images.paths),
            "chunk_size": chunk_size, "model": model.describe()}
    if os.path.isfile(manifest_path) and not os.path.isdir(parts):
        old = read_json(manifest_path, "feature manifest", fix="delete it, or extract again with --force")
        same = {k: old.get(k) for k in ("images_sha256", "model")} == {k: plan[k] for k in ("images_sha256", "model")}
        if same and not force:
            logger.info("%s is up to date (same images and model)", npy)
            return load_feature_file(npy)
        if not force:
            raise FileExistsError(f"{manifest_path!r} exists and was made from other images or another model; "
                                  f"pass --force to replace it, or give another --out")
    _start_or_resume(parts, plan)
    chunks = [(s, min(s + chunk_size, len(images.paths))) for s in range(0, len(images.paths), chunk_size)]
    done = [i for i in range(len(chunks)) if os.path.isfile(_chunk_path(parts, i))]
    bar = tqdm(total=len(images.paths), initial=sum(chunks[i][1] - chunks[i][0] for i in done), unit="img",
               desc=f"extracting {os.path.basename(npy)}", disable=not progress)
    if done:
        logger.info("resuming: %d of %d chunks already done in %s", len(done), len(chunks), parts)
    for i, (start, stop) in enumerate(chunks):
        if i in done:
            continue
        feats, kept, errors = [], [], []
        dataset = _ImageDataset(images.paths[start:stop], model.preprocess, start)
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=num_workers,
                                             collate_fn=_collate)
        for batch_rows, batch_images, batch_errors in loader:
            for row, message in batch_errors:
                if on_error == "fail":
                    raise ImageReadError(f"{message} (image {row + 1} of {len(images.paths)}; use --on-error skip "
                                         f"to record it and go on; the {i} finished chunks are kept)")
                logger.warning("skipped: %s", message)
                errors.append({"row": row, "path": images.paths[row], "error": message})
            if batch_rows:
                feats.append(model.embed_batch(batch_images))
                kept.extend(batch_rows)
            bar.update(len(batch_rows) + len(batch_errors))
        dim = feats[0].shape[1] if feats else 0
        _save_chunk(_chunk_path(parts, i), np.concatenate(feats) if feats else np.zeros((0, dim), np.float32),
                    np.asarray(kept, np.int64), errors)
    bar.close()
    return _assemble(images, plan, parts, npy, manifest_path, len(chunks))


class _ImageDataset:
    def __init__(self, paths, preprocess, offset):
        self.paths, self.preprocess, self.offset = paths, preprocess, offset

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from PIL import Image

        try:
            return self.offset + i, self.preprocess(self.paths[i]), None
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            message = str(e) if self.paths[i] in str(e) else f"cannot read image {self.paths[i]!r}: {e}"
            return self.offset + i, None, message


def _collate(items):
    import torch

    rows = [r for r, x, _ in items if x is not None]
    images = torch.stack([x for _, x, _ in items if x is not None]) if rows else None
    return rows, images, [(r, m) for r, x, m in items if x is None]


def _digest(paths: List[str]) -> str:
    return hashlib.sha256("\n".join(paths).encode("utf-8")).hexdigest()


def _chunk_path(parts: str, i: int) -> str:
    return os.path.join(parts, f"chunk_{i:06d}.npz")


def _start_or_resume(parts: str, plan: dict) -> None:
    plan_path = os.path.join(parts, "plan.json")
    if os.path.isfile(plan_path):
        old = read_json(plan_path, "extraction plan", fix=f"delete {parts}/ to start over")
        if old != plan:
            differs = sorted(k for k in plan if old.get(k) != plan[k])
            raise ValueError(f"{parts}/ holds an unfinished extraction of other inputs (different {differs}); "
                             f"delete {parts}/ to start over, or give another --out")
        return
    os.makedirs(parts, exist_ok=True)
    write_json_atomic(plan_path, plan)


def _save_chunk(path: str, feats: np.ndarray, rows: np.ndarray, errors: list) -> None:
    write_atomic(path, lambda f: np.savez(f, feats=feats, rows=rows, errors=np.asarray(json.dumps(errors))),
                 binary=True)


def _assemble(images: ImageList, plan: dict, parts: str, npy: str, manifest_path: str, num_chunks: int):
    kept_rows, skipped, dim = [], [], None
    for i in range(num_chunks):
        with np.load(_chunk_path(parts, i)) as z:
            kept_rows.append(z["rows"])
            skipped.extend(json.loads(str(z["errors"])))
            if len(z["rows"]):
                dim = int(z["feats"].shape[1])
    rows = np.concatenate(kept_rows)
    if len(rows) == 0:
        raise ValueError(f"none of the {len(images.paths)} images could be read (e.g. {skipped[0]['error']}); "
                         f"nothing was written")
    with atomic_path(npy, ".npy") as tmp_npy:
        out = np.lib.format.open_memmap(tmp_npy, mode="w+", dtype=np.float32, shape=(len(rows), dim))
        at = 0
        for i in range(num_chunks):
            with np.load(_chunk_path(parts, i)) as z:
                out[at:at + len(z["feats"])] = z["feats"]
                at += len(z["feats"])
        out.flush()
        del out
    take = rows.tolist()
    manifest = {"format": FORMAT, "count": len(rows), "dim": dim, "dtype": "float32", "modality": "image",
                "paths": [images.paths[r] for r in take],
                "pids": [images.pids[r] for r in take] if images.pids is not None else None,
                "camids": [images.camids[r] for r in take] if images.camids is not None else None,
                "labels": images.labels, "skipped": [{"path": s["path"], "error": s["error"]} for s in skipped],
                "source": images.source, "images_sha256": plan["images_sha256"], "model": plan["model"]}
    write_json_atomic(manifest_path, manifest)
    shutil.rmtree(parts)
    if skipped:
        logger.warning("%d of %d images could not be read; they are listed under 'skipped' in %s", len(skipped),
                       len(images.paths), manifest_path)
    return load_feature_file(npy)
