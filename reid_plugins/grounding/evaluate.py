"""How well calibration separates hallucinated boxes from good ones, measured on the synthetic benchmark.

Clean boxes come from parts.json, errors are injected by oracle.perturb (MODEL.MASKS.NOISE), the calibrator is fit on
the noisy boxes as it would be on a VLM's. Reported per error kind: injected and caught (replaced by the stripe);
for untouched boxes: how many were wrongly replaced; and the mean IoU with the clean mask of the masks voted from
the noisy boxes without and with calibration (what Table 9 compares) and of the fixed equal stripes (the
"stripe-like" partition of Table 8: how far from the true parts a fixed split is on this data).
"""
from __future__ import annotations

import os
from typing import Dict, List

import numpy as np

from .calibration import KEPT, Calibrator
from .config import settings_from_args
from .oracle import ERROR_KINDS, PARTS_FILE, load_parts_file, perturb
from .parts import PARTS
from .stripes import DEFAULT_STRIPES, stripe_boxes
from .voting import vote


def mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter = (a & b).sum(-1)
    union = (a | b).sum(-1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def evaluate_calibration(names: List[str], clean: np.ndarray, person: np.ndarray, settings) -> Dict:
    noisy, kinds = perturb(names, clean, person, settings.noise)
    cal = Calibrator(settings.calibration).fit(noisy)
    fixed, reasons = cal.apply(noisy)
    replaced = reasons != KEPT
    present = ~np.isnan(clean).any(-1)
    out: Dict = {"images": len(names), "per_kind": {}}
    for k, kind in enumerate(ERROR_KINDS):
        sel = present & (kinds == k)
        out["per_kind"][kind] = {"n": int(sel.sum()), "replaced": int((replaced & sel).sum())}
    out["hidden_parts"] = {"n": int((~present).sum()), "replaced": int((replaced & ~present).sum())}
    # Calibrating the clean boxes themselves: every replacement there is a false alarm.
    _, clean_reasons = Calibrator(settings.calibration).fit(clean).apply(clean)
    out["clean_oracle_replaced"] = int(((clean_reasons != KEPT) & present).sum())
    out["clean_oracle_present"] = int(present.sum())
    kw = dict(rule=settings.vote_rule, fraction=settings.vote_fraction, ensure_one=settings.ensure_one_patch)
    ref = vote(clean, settings.grid, **kw)
    stripes = np.broadcast_to(stripe_boxes(DEFAULT_STRIPES), clean.shape)
    for label, boxes in (("iou_raw", noisy), ("iou_calibrated", fixed), ("iou_stripes", stripes)):
        iou = mask_iou(vote(boxes, settings.grid, **kw), ref)
        out[label] = {p: float(iou[:, i][present[:, i]].mean()) for i, p in enumerate(PARTS)}
    out["bounds"] = cal.bounds
    return out


def _domain_parts_file(name: str, root: str) -> str:
    from fastreid.data.datasets import DATASET_REGISTRY

    cls = DATASET_REGISTRY.get(name)
    return os.path.join(root, getattr(cls, "dataset_dir", ""), PARTS_FILE)


def format_eval(results: Dict[str, Dict]) -> List[str]:
    kinds = [k for k in ERROR_KINDS if k != "none"]
    head = f"{'dataset':10s} " + " ".join(f"{k:>13s}" for k in kinds) + f" {'clean wrong':>13s} {'oracle wrong':>13s}"
    lines = ["caught / injected per error kind; clean boxes (noisy run) and clean oracle boxes wrongly replaced", head]
    tot: Dict[str, List[int]] = {}
    for name, r in results.items():
        cells = []
        for k in kinds + ["none"]:
            n, c = r["per_kind"][k]["n"], r["per_kind"][k]["replaced"]
            t = tot.setdefault(k, [0, 0])
            t[0] += c
            t[1] += n
            cells.append(f"{c:>6d}/{n:<6d}")
        t = tot.setdefault("oracle", [0, 0])
        t[0] += r["clean_oracle_replaced"]
        t[1] += r["clean_oracle_present"]
        cells.append(f"{r['clean_oracle_replaced']:>6d}/{r['clean_oracle_present']:<6d}")
        lines.append(f"{name:10s} " + " ".join(cells))
    lines.append(f"{'total':10s} " + " ".join(f"{tot[k][0]:>6d}/{tot[k][1]:<6d}" for k in kinds + ["none", "oracle"]))
    lines.append("mask IoU with the clean mask (present parts), raw -> calibrated [fixed equal stripes]:")
    for name, r in results.items():
        lines.append(f"  {name:10s} " + "  ".join(f"{p} {r['iou_raw'][p]:.3f} -> {r['iou_calibrated'][p]:.3f} "
                                                  f"[{r['iou_stripes'][p]:.3f}]" for p in PARTS))
    return lines


def run_eval_calibration(args) -> Dict[str, Dict]:
    if args.opts and args.opts[0] == "--":
        args.opts = args.opts[1:]
    settings = settings_from_args(args)
    results = {}
    for name in args.dataset:
        path = _domain_parts_file(name, args.root)
        if not os.path.isfile(path):
            raise SystemExit(f"{path} does not exist: eval-calibration needs the synthetic benchmark "
                             f"(python -m reid_plugins.data.synthetic --root {args.root})")
        names, clean, person = load_parts_file(path, settings.image_size)
        results[name] = evaluate_calibration(names, clean, person, settings)
    for line in format_eval(results):
        print(line)
    return results
