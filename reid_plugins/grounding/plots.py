"""PNGs people look at: raw vs calibrated box-size histograms (paper Fig. 5a) and image / box / mask overlays."""
from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

from ..utils.figures import save_figure
from .calibration import FEATURES, Calibrator, box_sizes
from .parts import PARTS

PART_COLORS = ("#e6194b", "#3cb44b", "#4363d8")  # head, upper, legs


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_calibration_histograms(raw_boxes: np.ndarray, calibrated: np.ndarray, calibrator: Calibrator, path: str,
                                title: str = "") -> None:
    """Per part (columns) and size (rows: height, area): raw boxes in blue, calibrated in red, bounds dashed."""
    plt = _plt()
    raw, cal = box_sizes(raw_boxes), box_sizes(calibrated)
    bounds = calibrator.bounds_array()
    fig, axes = plt.subplots(len(FEATURES), len(PARTS), figsize=(4.2 * len(PARTS), 3.2 * len(FEATURES)),
                             squeeze=False)
    for f, feat in enumerate(FEATURES):
        for i, part in enumerate(PARTS):
            ax = axes[f, i]
            r = raw[feat][..., i].ravel()
            c = cal[feat][..., i].ravel()
            r, c = r[np.isfinite(r)], c[np.isfinite(c)]
            bins = np.linspace(0.0, max(1e-6, float(max(r.max(initial=0), c.max(initial=0)))) * 1.02, 50)
            # one stairs artist per histogram (ax.hist draws a patch per bin, ~50x slower to render)
            ax.stairs(np.histogram(r, bins)[0], bins, fill=True, color="tab:blue", alpha=0.55, label=f"raw ({len(r)})")
            ax.stairs(np.histogram(c, bins)[0], bins, fill=True, color="tab:red", alpha=0.45,
                      label=f"calibrated ({len(c)})")
            for v in bounds[i, f]:
                ax.axvline(v, color="k", ls="--", lw=0.8)
            ax.set_title(f"{part}: box {feat} / image {feat}")
            ax.legend(fontsize=7)
    fig.suptitle(title or "part box sizes, raw vs calibrated (dashed: calibration bounds)")
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.08, top=0.88, wspace=0.25, hspace=0.45)
    save_figure(fig, path, dpi=110)


def save_overlay_grid(image_paths: Sequence[str], raw_boxes: Optional[np.ndarray], boxes: np.ndarray,
                      masks: np.ndarray, grid, path: str, titles: Optional[Sequence[str]] = None) -> None:
    """One column per image, one row per part: the image, the part's patch mask tinted, the calibrated box solid and
    the raw box dashed (when it differs)."""
    from fastreid.data.data_utils import read_image  # reid_plugins.compat's read_image_rgb: errors name the file

    plt = _plt()
    gh, gw = (int(v) for v in grid)
    n = len(image_paths)
    fig, axes = plt.subplots(len(PARTS), max(n, 1), figsize=(1.5 * max(n, 1) + 0.5, 3.0 * len(PARTS)),
                             squeeze=False)
    for j, p in enumerate(image_paths):
        img = np.asarray(read_image(p))
        H, W = img.shape[:2]
        for i, part in enumerate(PARTS):
            ax = axes[i, j]
            ax.imshow(img)
            m = masks[j, i].reshape(gh, gw).astype(float)
            rgba = np.zeros((gh, gw, 4))
            rgba[..., :3] = np.array([int(PART_COLORS[i][k:k + 2], 16) / 255 for k in (1, 3, 5)])
            rgba[..., 3] = 0.45 * m
            ax.imshow(rgba, extent=(0, W, H, 0), interpolation="nearest")
            for b, style in ((None if raw_boxes is None else raw_boxes[j, i], "--"), (boxes[j, i], "-")):
                if b is None or np.isnan(b).any() or (style == "--" and np.allclose(b, boxes[j, i])):
                    continue
                x0, y0, x1, y1 = b[0] * W, b[1] * H, b[2] * W, b[3] * H
                ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec=PART_COLORS[i], ls=style,
                                           lw=1.4))
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(part)
            if i == 0:
                ax.set_title((titles[j] if titles else os.path.basename(p))[:18], fontsize=6)
    fig.suptitle("patch masks (tint), calibrated boxes (solid), raw boxes (dashed)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
