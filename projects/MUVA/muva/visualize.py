"""Predicted part masks over test images (paper Fig. 7): per image the picture, then the last layer's sigmoid mask of
each part on the patch grid (brighter = higher probability). One PNG per test set, written after evaluation to
TEST.VIS.DIR (default <OUTPUT_DIR>/visualizations)/part_masks_<dataset>.png."""
from __future__ import annotations

import logging
import os
from typing import List, Optional

import numpy as np
import torch

from reid_plugins.utils.figures import save_figure

from .config import PART_NAMES
from .data import build_test_set

logger = logging.getLogger("fastreid." + __name__)  # under fast-reid's configured logger


@torch.no_grad()
def predicted_masks(model, images: torch.Tensor) -> Optional[torch.Tensor]:
    """Raw (0-255) image batch -> last-layer part probabilities [B, R, rows, cols], or None without a predictor."""
    if getattr(model.backbone, "mask_predictor", None) is None:
        return None
    was_training = model.training
    model.eval()
    out = model.features(model.preprocess_image(images))
    model.train(was_training)
    rows, cols = model.backbone.grid
    probs = out["mask_probs"][-1]
    return probs.reshape(probs.shape[0], probs.shape[1], rows, cols).float().cpu()


def save_mask_figure(images: List[np.ndarray], probs: torch.Tensor, part_names: List[str], path: str,
                     title: str = "") -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, cols = len(images), 1 + len(part_names)
    fig, axes = plt.subplots(n, cols, figsize=(1.3 * cols, 2.4 * n), squeeze=False)
    for i, img in enumerate(images):
        axes[i, 0].imshow(img)
        for j, name in enumerate(part_names):
            axes[i, 1 + j].imshow(probs[i, j].numpy(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest",
                                  aspect="auto")
            if i == 0:
                axes[i, 1 + j].set_title(name, fontsize=8)
        if i == 0:
            axes[i, 0].set_title("image", fontsize=8)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def save_part_mask_figures(cfg, model) -> List[str]:
    if getattr(model.backbone, "mask_predictor", None) is None:
        logger.info("No mask predictor (MODEL.MUVA.PARTS / ATTENTION_MASKS): no part-mask figure")
        return []
    out_dir = cfg.TEST.VIS.DIR or os.path.join(cfg.OUTPUT_DIR, "visualizations")
    part_names = [PART_NAMES[i] for i in model.backbone.part_index]
    paths = []
    for name in cfg.DATASETS.TESTS:
        test_set, num_query = build_test_set(cfg, name)
        n = min(cfg.TEST.VIS.NUM_IMAGES, num_query)
        picks = np.linspace(0, num_query - 1, n).round().astype(int) if n > 0 else []
        items = [test_set[int(i)] for i in picks]
        if not items:
            continue
        batch = torch.stack([it["images"] for it in items])
        probs = predicted_masks(model, batch)
        pictures = [it["images"].permute(1, 2, 0).clamp(0, 255).byte().numpy() for it in items]
        path = os.path.join(out_dir, f"part_masks_{name}.png")
        paths.append(save_mask_figure(pictures, probs, part_names, path, f"{name}: predicted part masks (last layer)"))
        logger.info("Part-mask figure: %s", path)
    return paths
