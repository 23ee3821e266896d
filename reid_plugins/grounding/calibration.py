"""Per-part statistical calibration of grounding boxes (MUVA §3.2.3, Fig. 5, Table 9).

The paper replaces "extremely large or small" boxes by top / middle / bottom stripes; it gives no thresholds and
the authors' code does not contain this step. Here, for each part separately and over a whole dataset:

1. Sizes are box height and box area as fractions of the image (Fig. 5a plots leg-box heights).
2. Statistical bounds: Tukey fences in log-size space, [q_lo - k * iqr, q_hi + k * iqr] with (q_lo, q_hi) the
   QUANTILES of the present boxes' log sizes and iqr = max(q_hi - q_lo, MIN_LOG_IQR). Log space because sizes are
   ratios (a box half or twice the typical size is equally wrong), and the fences come from the quartiles so a few
   percent of hallucinated boxes (the spurious full-height peak) cannot move them, unlike mean +- std.
3. Absolute bounds: the fences are clipped to HEIGHT_FRAC / AREA_FRAC (min, max) per part, fractions of the image,
   so a dataset where most boxes are wrong (or with fewer than MIN_BOXES boxes, where quantiles mean little) still
   rejects the impossible ones (a "head" taller than half the image).
4. A box is replaced by its part's stripe when it is missing (no answer, unparsed, failed request) or any size is
   outside its bounds. The reason per (image, part) is kept: KEPT, MISSING, TOO_SMALL, TOO_LARGE.
5. The stripe: STRIPE_MODE "fixed" uses STRIPES (default thirds of the height, the paper's top / middle / bottom);
   "fit" uses, per part, the median top and bottom of the boxes kept in step 4 (full width), so the fallback sits
   where that part usually is in this dataset (falls back to STRIPES with fewer than MIN_BOXES kept boxes).

Defaults and how they were measured on the synthetic benchmark with `oracle-noisy`: docs/GROUNDING.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from .parts import PARTS
from .stripes import DEFAULT_STRIPES, stripe_boxes

KEPT, MISSING, TOO_SMALL, TOO_LARGE = 0, 1, 2, 3
REASONS = ("kept", "missing", "too_small", "too_large")
FEATURES = ("height", "area")
STRIPE_MODES = ("fixed", "fit")

# Fractions of the image per part, (min, max); see docs/GROUNDING.md for the measurements behind them.
DEFAULT_HEIGHT_FRAC = ((0.04, 0.45), (0.08, 0.7), (0.08, 0.7))
DEFAULT_AREA_FRAC = ((0.003, 0.25), (0.02, 0.5), (0.01, 0.5))


@dataclass(frozen=True)
class CalibrationConfig:
    quantiles: Tuple[float, float] = (0.25, 0.75)
    iqr_k: float = 3.0
    min_log_iqr: float = 0.2
    min_boxes: int = 20
    height_frac: Tuple[Tuple[float, float], ...] = DEFAULT_HEIGHT_FRAC
    area_frac: Tuple[Tuple[float, float], ...] = DEFAULT_AREA_FRAC
    stripes: Tuple[Tuple[float, float], ...] = DEFAULT_STRIPES
    stripe_mode: str = "fit"

    def __post_init__(self):
        if self.stripe_mode not in STRIPE_MODES:
            raise ValueError(f"MODEL.MASKS.STRIPE_MODE={self.stripe_mode!r}: expected one of {STRIPE_MODES}")
        lo, hi = self.quantiles
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"MODEL.MASKS.CALIB.QUANTILES: expected 0 <= lo < hi <= 1, got {self.quantiles}")
        if self.iqr_k < 0 or self.min_log_iqr < 0 or self.min_boxes < 1:
            raise ValueError(f"MODEL.MASKS.CALIB: IQR_K ({self.iqr_k}) and MIN_LOG_IQR ({self.min_log_iqr}) must be "
                             f">= 0 and MIN_BOXES ({self.min_boxes}) >= 1")
        for key, pairs in (("HEIGHT_FRAC", self.height_frac), ("AREA_FRAC", self.area_frac)):
            if len(pairs) != len(PARTS) or any(len(p) != 2 or not 0.0 <= p[0] < p[1] for p in pairs):
                raise ValueError(f"MODEL.MASKS.CALIB.{key}: expected {len(PARTS)} (min, max) pairs with "
                                 f"0 <= min < max for {PARTS}, got {pairs}")
        stripe_boxes(self.stripes)  # validates

    def to_json(self) -> dict:
        return {"quantiles": list(self.quantiles), "iqr_k": self.iqr_k, "min_log_iqr": self.min_log_iqr,
                "min_boxes": self.min_boxes, "height_frac": [list(p) for p in self.height_frac],
                "area_frac": [list(p) for p in self.area_frac], "stripes": [list(p) for p in self.stripes],
                "stripe_mode": self.stripe_mode}


def box_sizes(boxes: np.ndarray) -> Dict[str, np.ndarray]:
    """{"height": [...], "area": [...]} of normalised boxes [..., 4] (NaN where missing)."""
    b = np.asarray(boxes, dtype=np.float64)
    h = b[..., 3] - b[..., 1]
    return {"height": h, "area": h * (b[..., 2] - b[..., 0])}


@dataclass
class Calibrator:
    """``Calibrator(config).fit(raw_boxes)`` then ``apply(raw_boxes) -> (calibrated, reasons)``.

    bounds[part][feature] = (lo, hi), fractions of the image; `fitted[part]` says whether the fences came from data
    (>= MIN_BOXES present boxes) or only the absolute bounds apply; `stripes` [3, 4] are the replacement boxes."""
    config: CalibrationConfig = field(default_factory=CalibrationConfig)
    bounds: Optional[Dict[str, Dict[str, Tuple[float, float]]]] = None
    fitted: Optional[Dict[str, bool]] = None
    stripes: Optional[np.ndarray] = None

    def fit(self, raw_boxes: np.ndarray) -> "Calibrator":
        b = np.asarray(raw_boxes, dtype=np.float64).reshape(-1, len(PARTS), 4)
        sizes = box_sizes(b)
        cfg = self.config
        self.bounds, self.fitted = {}, {}
        for i, part in enumerate(PARTS):
            absolute = {"height": cfg.height_frac[i], "area": cfg.area_frac[i]}
            self.bounds[part], self.fitted[part] = {}, False
            for feat in FEATURES:
                lo, hi = (float(v) for v in absolute[feat])
                vals = sizes[feat][:, i]
                vals = vals[np.isfinite(vals) & (vals > 0)]
                if len(vals) >= cfg.min_boxes:
                    q_lo, q_hi = np.quantile(np.log(vals), cfg.quantiles)
                    spread = cfg.iqr_k * max(q_hi - q_lo, cfg.min_log_iqr)
                    lo, hi = max(lo, float(np.exp(q_lo - spread))), min(hi, float(np.exp(q_hi + spread)))
                    self.fitted[part] = True
                    if lo > hi:  # the data sit outside the absolute bounds: those win
                        lo, hi = (float(v) for v in absolute[feat])
                self.bounds[part][feat] = (lo, hi)
        self.stripes = stripe_boxes(cfg.stripes)
        if cfg.stripe_mode == "fit":
            _, reasons = self.apply(b)
            for i in range(len(PARTS)):
                kept = b[reasons[:, i] == KEPT, i]
                if len(kept) >= cfg.min_boxes:
                    top, bottom = float(np.median(kept[:, 1])), float(np.median(kept[:, 3]))
                    self.stripes[i] = (0.0, top, 1.0, bottom)
        return self

    def bounds_array(self) -> np.ndarray:
        """[3, features, 2] (lo, hi)."""
        if self.bounds is None:
            raise RuntimeError("Calibrator.apply before fit (or before setting bounds from a cache header)")
        return np.array([[self.bounds[p][f] for f in FEATURES] for p in PARTS], dtype=np.float64)

    def apply(self, raw_boxes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """raw [..., 3, 4] -> (calibrated [..., 3, 4], reasons uint8 [..., 3]); missing / out-of-bounds -> stripe."""
        raw = np.asarray(raw_boxes, dtype=np.float64)
        bounds = self.bounds_array()
        sizes = box_sizes(raw)
        reasons = np.where(np.isnan(raw).any(-1), MISSING, KEPT).astype(np.uint8)
        for f, feat in enumerate(FEATURES):
            v = sizes[feat]
            small = v < bounds[:, f, 0]
            large = v > bounds[:, f, 1]
            reasons = np.where((reasons == KEPT) & small, TOO_SMALL, reasons)
            reasons = np.where((reasons == KEPT) & large, TOO_LARGE, reasons)
        stripes = self.stripes if self.stripes is not None else stripe_boxes(self.config.stripes)
        out = np.where((reasons == KEPT)[..., None], raw, stripes)
        return out, reasons.astype(np.uint8)

    def to_json(self) -> dict:
        return {"config": self.config.to_json(), "bounds": self.bounds, "fitted": self.fitted,
                "stripes": None if self.stripes is None else np.asarray(self.stripes).tolist()}


def replacement_counts(reasons: np.ndarray) -> Dict[str, Dict[str, int]]:
    """{part: {reason: count}} over reasons [..., 3]."""
    r = np.asarray(reasons).reshape(-1, len(PARTS))
    return {p: {name: int((r[:, i] == code).sum()) for code, name in enumerate(REASONS)} for i, p in enumerate(PARTS)}


def calibration_rates(reasons: np.ndarray) -> Dict[str, float]:
    """Fraction of images whose box was replaced by the stripe, per part."""
    r = np.asarray(reasons).reshape(-1, len(PARTS))
    return {p: float((r[:, i] != KEPT).mean()) if len(r) else 0.0 for i, p in enumerate(PARTS)}


def calibrator_from_json(obj: dict) -> Calibrator:
    """The inverse of Calibrator.to_json (cache headers)."""
    c = obj["config"]
    config = CalibrationConfig(quantiles=tuple(c["quantiles"]), iqr_k=c["iqr_k"], min_log_iqr=c["min_log_iqr"],
                               min_boxes=c["min_boxes"], height_frac=_pairs(c["height_frac"]),
                               area_frac=_pairs(c["area_frac"]), stripes=_pairs(c["stripes"]),
                               stripe_mode=c.get("stripe_mode", "fixed"))
    bounds = {p: {f: tuple(obj["bounds"][p][f]) for f in FEATURES} for p in PARTS}
    stripes = obj.get("stripes")
    return Calibrator(config, bounds, dict(obj.get("fitted") or {}),
                      None if stripes is None else np.asarray(stripes, dtype=np.float64))


def _pairs(seq: Sequence[Sequence[float]]) -> Tuple[Tuple[float, float], ...]:
    return tuple((float(a), float(b)) for a, b in seq)
