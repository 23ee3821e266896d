"""PartMaskProvider: the single way training code gets part masks (docs/ARCHITECTURE.md, "Part masks").

    provider = PartMaskProvider.from_config(cfg, dataset_names)
    mask = provider(img_path)      # bool [3, grid_h * grid_w], row-major, PARTS order

Sources by MODEL.MASKS.BACKEND:
    oracle / oracle-noisy   the synthetic benchmark's parts.json next to the image's split folder; the whole file is
                            read, (perturbed,) calibrated and voted once, on the first image of that domain
    stripes                 the same fixed stripes for every image (no file is read)
    cache                   <CACHE_DIR>/<dataset name>/masks.npz made by `python -m reid_plugins.grounding label`
    official-pickle         the authors' released {basename: [3, 128] additive mask} pickle
Images are never decoded. The provider holds only plain data (numpy arrays, dicts, frozen settings), so it pickles
into dataloader workers.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from .cache import MASKS_FILE, MaskCache, dataset_cache_dir, read_mask_cache
from .calibration import Calibrator, replacement_counts
from .config import MaskSettings
from .official import load_official_pickle
from .oracle import load_parts_file, parts_file_for, perturb
from .parts import PARTS, MissingMaskError, StaleCacheError
from .stripes import stripe_boxes
from .voting import vote

logger = logging.getLogger(__name__)


def label_command(dataset: str, root: str, backend: str, out: str, grid) -> str:
    """The CLI call that (re)makes the cache of `dataset`."""
    extra = " --model <MODEL> --base-url <URL>" if backend == "openai" else (
        " --model-dir <DIR>" if backend == "hf" else "")
    return (f"python -m reid_plugins.grounding label --dataset {dataset} --root {root} --backend {backend}{extra} "
            f"--out {out} --grid {int(grid[0])} {int(grid[1])}")


@dataclass
class LabeledSet:
    """Masks of one parts file / cache, rows addressed by `index[key]`; boxes kept for explain()."""
    index: Dict[str, int]
    masks: np.ndarray                  # bool [N, 3, G]
    raw_boxes: Optional[np.ndarray]    # [N, 3, 4] normalised
    boxes: Optional[np.ndarray]
    reasons: Optional[np.ndarray]      # uint8 [N, 3]
    source: str


class PartMaskProvider:
    def __init__(self, settings: MaskSettings, dataset_names: Sequence[str] = ()):
        self.settings = settings
        self.dataset_names = [str(n) for n in dataset_names]
        self._oracle: Dict[str, LabeledSet] = {}     # parts.json path -> set
        self._caches: Optional[List[MaskCache]] = None
        self._official: Optional[Dict[str, np.ndarray]] = None
        self._stripes = vote(stripe_boxes(settings.calibration.stripes), settings.grid, settings.vote_rule,
                             settings.vote_fraction, settings.ensure_one_patch)

    @classmethod
    def from_config(cls, cfg, dataset_names: Iterable[str] = ()) -> "PartMaskProvider":
        return cls(MaskSettings.from_config(cfg), list(dataset_names))

    @property
    def num_patches(self) -> int:
        return int(self.settings.grid[0]) * int(self.settings.grid[1])

    def __call__(self, img_path: str) -> np.ndarray:
        backend = self.settings.backend
        if backend == "stripes":
            return self._stripes.copy()
        if backend in ("oracle", "oracle-noisy"):
            s, row = self._oracle_row(img_path)
            return s.masks[row].copy()
        if backend == "official-pickle":
            return self._official_mask(img_path)
        cache, row = self._cache_row(img_path)
        return cache.mask(row, calibrated=self.settings.calibrate)

    def masks(self, img_paths: Sequence[str]) -> np.ndarray:
        """bool [len(img_paths), 3, G]."""
        out = np.zeros((len(img_paths), len(PARTS), self.num_patches), dtype=bool)
        for i, p in enumerate(img_paths):
            out[i] = self(p)
        return out

    def explain(self, img_path: str) -> dict:
        """Raw and calibrated boxes, calibration reasons and the mask of one image (visualisation, debugging)."""
        mask = self(img_path)
        if self.settings.backend == "stripes":
            return {"mask": mask, "raw_boxes": None, "boxes": stripe_boxes(self.settings.calibration.stripes),
                    "reasons": None}
        if self.settings.backend in ("oracle", "oracle-noisy"):
            s, row = self._oracle_row(img_path)
            return {"mask": mask, "raw_boxes": s.raw_boxes[row], "boxes": s.boxes[row], "reasons": s.reasons[row]}
        if self.settings.backend == "cache":
            c, row = self._cache_row(img_path)
            return {"mask": mask, "raw_boxes": c.raw_boxes[row].astype(np.float64),
                    "boxes": c.boxes[row].astype(np.float64), "reasons": c.reasons[row]}
        return {"mask": mask, "raw_boxes": None, "boxes": None, "reasons": None}

    # --- oracle ------------------------------------------------------------------------------------------------
    def _oracle_row(self, img_path: str):
        path = parts_file_for(img_path)
        s = self._oracle.get(path)
        if s is None:
            if not os.path.isfile(path):
                st = self.settings
                cmd = label_command("<DATASET>", st.root, "openai", st.cache_root, st.grid)
                raise MissingMaskError(
                    f"no part mask for {img_path!r}: MODEL.MASKS.BACKEND={st.backend!r} reads the synthetic "
                    f"benchmark's {path}, which does not exist. For a real dataset label it first: {cmd} and set "
                    f"MODEL.MASKS.BACKEND cache")
            s = self._oracle[path] = self._label_parts_file(path)
        name = os.path.basename(img_path)
        row = s.index.get(name)
        if row is None:
            raise MissingMaskError(f"no part mask for {img_path!r}: {name!r} is not a key of {path} (the image is not "
                                   f"part of the generated benchmark; regenerate it with python -m "
                                   f"reid_plugins.data.synthetic --root {self.settings.root} --force)")
        return s, row

    def _label_parts_file(self, path: str) -> LabeledSet:
        st = self.settings
        names, raw, person = load_parts_file(path, st.image_size)
        if st.backend == "oracle-noisy":
            raw, _ = perturb(names, raw, person, st.noise)
        boxes, reasons = raw, np.zeros(raw.shape[:2], dtype=np.uint8)
        if st.calibrate:
            boxes, reasons = Calibrator(st.calibration).fit(raw).apply(raw)
            counts = replacement_counts(reasons)
            logger.info("%s (%s, %d images): boxes replaced by stripes per part: %s", path, st.backend, len(names),
                        {p: len(names) - c["kept"] for p, c in counts.items()})
        masks = vote(boxes, st.grid, st.vote_rule, st.vote_fraction, st.ensure_one_patch)
        return LabeledSet({n: i for i, n in enumerate(names)}, masks, raw, boxes, reasons, path)

    # --- cache -------------------------------------------------------------------------------------------------
    def _load_caches(self) -> List[MaskCache]:
        st = self.settings
        if not self.dataset_names:
            raise ValueError("MODEL.MASKS.BACKEND='cache' needs the dataset names (PartMaskProvider.from_config(cfg, "
                             "cfg.DATASETS.NAMES)) to find <CACHE_DIR>/<name>/masks.npz")
        caches = []
        for name in self.dataset_names:
            path = os.path.join(dataset_cache_dir(st.cache_root, name), MASKS_FILE)
            if not os.path.isfile(path):
                raise MissingMaskError(
                    f"no part-mask cache for dataset {name!r}: {path} does not exist (MODEL.MASKS.CACHE_DIR="
                    f"{st.cache_dir!r}); make it with: "
                    f"{label_command(name, st.root, st.cache_backend or 'openai', st.cache_root, st.grid)}")
            cache = read_mask_cache(path)
            if st.cache_backend and cache.header.get("backend") != st.cache_backend:
                raise StaleCacheError(f"{path} was made by backend {cache.header.get('backend')!r} but "
                                      f"MODEL.MASKS.CACHE_BACKEND is {st.cache_backend!r}; regenerate it with: "
                                      f"{label_command(name, st.root, st.cache_backend, st.cache_root, st.grid)}")
            if cache.grid != tuple(st.grid):
                cmd = label_command(name, st.root, cache.header.get("backend", "openai"), st.cache_root, st.grid)
                raise StaleCacheError(f"{path} was voted on a {cache.grid} grid but MODEL.MASKS.GRID is "
                                      f"{tuple(st.grid)}; regenerate it (journaled answers are re-voted, not "
                                      f"re-requested) with: {cmd}")
            logger.info("part masks of %s: %d images from %s (backend %s)", name, len(cache), path,
                        cache.header.get("backend_id"))
            caches.append(cache)
        return caches

    def _cache_row(self, img_path: str):
        if self._caches is None:
            self._caches = self._load_caches()
        rel = os.path.relpath(os.path.abspath(img_path), os.path.abspath(self.settings.root)).replace(os.sep, "/")
        for cache in self._caches:
            row = cache.row(rel)
            if row is not None:
                if self.settings.check_file_size:
                    try:
                        size = os.path.getsize(img_path)
                    except OSError as e:
                        raise MissingMaskError(f"cannot stat image {img_path!r} to check its cached mask ({e})") \
                            from None
                    cache.check_entry(row, size, self.settings.grid, img_path)
                return cache, row
        st = self.settings
        cmds = "; ".join(label_command(n, st.root, c.header.get("backend", "openai"), st.cache_root, st.grid)
                         for n, c in zip(self.dataset_names, self._caches))
        raise MissingMaskError(f"no part mask for {img_path!r} (looked up as {rel!r} relative to the dataset root "
                               f"{st.root!r}) in the caches of {self.dataset_names}; label it with: {cmds}")

    # --- official pickle ---------------------------------------------------------------------------------------
    def _official_mask(self, img_path: str) -> np.ndarray:
        if self._official is None:
            self._official = load_official_pickle(self.settings.official_pickle, self.settings.grid)
        m = self._official.get(os.path.basename(img_path))
        if m is None:
            raise MissingMaskError(f"no part mask for {img_path!r}: {os.path.basename(img_path)!r} is not a key of "
                                   f"{self.settings.official_pickle} (MODEL.MASKS.OFFICIAL_PICKLE)")
        return m.copy()
