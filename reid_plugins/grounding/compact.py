"""Journal records -> calibrated, voted masks.npz (+ calibration histogram PNG): the compaction step of a run."""
from __future__ import annotations

import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .cache import MASKS_FILE, PARSERS, MaskCache, entry_key, write_mask_cache
from .calibration import Calibrator, calibration_rates, replacement_counts
from .parts import PARTS
from .plots import save_calibration_histograms
from .voting import pack_masks, vote

CALIBRATION_PNG = "calibration.png"
_VLM_PARSERS = ("cogvlm", "qwen_json", "plain", "unparsed")


def records_to_arrays(records: Sequence[dict], reparse: Optional[Callable[[str, Tuple[int, int]], object]] = None
                      ) -> Tuple[np.ndarray, np.ndarray]:
    """(raw boxes [N, 3, 4], parser codes [N, 3]) from journal records; VLM answers are re-parsed from their text
    with the current parse options when `reparse` is given (parsing is cheap, requests are not)."""
    raw = np.full((len(records), len(PARTS), 4), np.nan)
    parsers = np.zeros((len(records), len(PARTS)), dtype=np.uint8)
    for n, rec in enumerate(records):
        wh = tuple(rec.get("image_wh") or (1, 1))
        for i, part in enumerate(PARTS):
            a = rec["parts"][part]
            box, parser = a.get("box"), a.get("parser", "none")
            if reparse is not None and parser in _VLM_PARSERS:
                parsed = reparse(a.get("text", ""), wh)
                box, parser = parsed.box, parsed.parser
            parsers[n, i] = PARSERS.index(parser) if parser in PARSERS else 0
            if box is not None:
                raw[n, i] = box
    return raw, parsers


def write_cache(out_dir: str, relpaths: List[str], sizes: List[int], records: Sequence[dict], settings, header: dict,
                reparse=None) -> Tuple[MaskCache, dict]:
    """Calibrates and votes the journal's boxes, writes <out_dir>/masks.npz (atomically) and calibration.png; returns
    the cache as read_mask_cache would read it back, and the stats."""
    raw, parsers = records_to_arrays(records, reparse)
    calibrator = Calibrator(settings.calibration).fit(raw)
    boxes, reasons = calibrator.apply(raw)
    grid = tuple(int(v) for v in settings.grid)
    kw = dict(rule=settings.vote_rule, fraction=settings.vote_fraction, ensure_one=settings.ensure_one_patch)
    masks = vote(boxes, grid, **kw)
    keys = [entry_key(r, s, header["backend_id"], header["prompt_id"], grid) for r, s in zip(relpaths, sizes)]
    stats = {"images": len(relpaths), "calibration_rate": calibration_rates(reasons),
             "replacements": replacement_counts(reasons),
             "parsers": {p: {name: int((parsers[:, i] == k).sum()) for k, name in enumerate(PARSERS)
                             if (parsers[:, i] == k).any()} for i, p in enumerate(PARTS)},
             "mask_coverage": {p: float(masks[:, i].mean()) if len(relpaths) else 0.0
                               for i, p in enumerate(PARTS)}}
    header = dict(header, grid=list(grid), vote_rule=settings.vote_rule, vote_fraction=settings.vote_fraction,
                  ensure_one_patch=settings.ensure_one_patch, calibration=calibrator.to_json(), stats=stats)
    arrays = {"relpaths": np.array(relpaths, dtype=str), "sizes": np.array(sizes, dtype=np.int64),
              "keys": np.array(keys, dtype=str), "raw_boxes": raw.astype(np.float32),
              "boxes": boxes.astype(np.float32), "reasons": reasons, "parsers": parsers,
              "masks": pack_masks(masks), "raw_masks": pack_masks(vote(raw, grid, **kw))}
    cache = write_mask_cache(os.path.join(out_dir, MASKS_FILE), header, arrays)
    if len(relpaths):
        save_calibration_histograms(raw, boxes, calibrator, os.path.join(out_dir, CALIBRATION_PNG),
                                    title=f"{header.get('dataset', '')} ({header.get('backend_id', '')}): box sizes, "
                                          f"raw (blue) vs calibrated (red)")
    return cache, stats


def empty_record_parts(error: str) -> Dict[str, dict]:
    return {p: {"box": None, "parser": "error", "text": "", "n_boxes": 0, "error": error} for p in PARTS}
