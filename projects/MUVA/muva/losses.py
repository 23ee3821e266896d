"""MUVA's losses (paper Eqs. 1, 2, 4, 8; the authors' code where it is more specific). All small and written out
here because they are specific to MUVA; cross-entropy / BCE come from torch."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def id_loss(logits: torch.Tensor, targets: torch.Tensor, epsilon: float = 0.1) -> torch.Tensor:
    """L_id: cross-entropy with label smoothing (1 - eps) * onehot + eps / C (the code's CrossEntropyLabelSmooth)."""
    return F.cross_entropy(logits, targets, label_smoothing=epsilon)


def cmp_loss(text_features: torch.Tensor, centroids: torch.Tensor, targets: torch.Tensor, temp: float = 1.0,
             weights: torch.Tensor = None) -> torch.Tensor:
    """L_cmp (stage 1): the jointly L2-normalised multi-grained text feature against the fixed, normalised image
    centroids of all identities (VPM-1), cosine / temp, cross-entropy; text -> image direction only.
    weights: per-row weights of the mean (how often each identity occurs in the batch)."""
    scores = F.normalize(text_features, dim=1) @ centroids.t() / temp
    if weights is None:
        return F.cross_entropy(scores, targets)
    weights = weights.to(scores.dtype)
    return (F.cross_entropy(scores, targets, reduction="none") * weights).sum() / weights.sum()


def i2tce_loss(image_features: torch.Tensor, text_memory: torch.Tensor, targets: torch.Tensor,
               epsilon: float = 0.1, tau: float = 1.0, normalize: bool = False) -> torch.Tensor:
    """L_i2tce: the multi-grained image feature (before the BN neck) against the frozen text features of all
    identities (TPM). The code uses raw dot products (normalize=False); the paper's cosine is normalize=True."""
    if normalize:
        image_features, text_memory = F.normalize(image_features, dim=1), F.normalize(text_memory, dim=1)
    return F.cross_entropy(image_features @ text_memory.t() / tau, targets, label_smoothing=epsilon)


def mask_bce_loss(mask_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """L_bce over all layers: mask_logits [layers, B, R, L] (accumulated RMP logits), targets [B, R, L] in {0, 1};
    mean over every element."""
    targets = targets.to(mask_logits.dtype).unsqueeze(0).expand_as(mask_logits)
    return F.binary_cross_entropy_with_logits(mask_logits, targets)


def mask_dice_loss(mask_probs: torch.Tensor, targets: torch.Tensor, smooth: float = 1e-3) -> torch.Tensor:
    """L_dice over all layers: 1 - mean over (layer, sample, part) rows of (2 sum(p g) + s) / (sum p + sum g + s)."""
    targets = targets.to(mask_probs.dtype).unsqueeze(0).expand_as(mask_probs)
    inter = (mask_probs * targets).sum(-1)
    union = mask_probs.sum(-1) + targets.sum(-1)
    return 1.0 - ((2.0 * inter + smooth) / (union + smooth)).mean()
