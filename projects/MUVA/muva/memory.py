"""Visual prototypical memory VPM-2 of L_imp (paper Eqs. 2-3; the code's ClusterMemoryAMP with CM_Hard).

The memory holds one L2-normalised centroid per identity. It is rebuilt at the start of every stage-2 epoch (the
trainer's hook calls `reset`) and, after each training batch, every identity of the batch moves towards its hardest
instance (the lowest similarity to its entry): m <- gamma * m + (1 - gamma) * f_hard, then re-normalised
(gamma = 0.2 weights the old entry). With hard=False every instance updates its entry in batch order.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class PrototypeMemory(nn.Module):
    def __init__(self, num_classes: int, dim: int, temp: float = 0.01, momentum: float = 0.2, hard: bool = True):
        super().__init__()
        self.temp = float(temp)
        self.momentum = float(momentum)
        self.hard = bool(hard)
        self.register_buffer("features", torch.zeros(num_classes, dim))

    @torch.no_grad()
    def reset(self, centroids: torch.Tensor) -> None:
        if centroids.shape != self.features.shape:
            raise ValueError(f"memory centroids have shape {tuple(centroids.shape)}; expected "
                             f"{tuple(self.features.shape)}")
        self.features.copy_(F.normalize(centroids.float(), dim=1))

    @torch.no_grad()
    def update(self, features: torch.Tensor, targets: torch.Tensor) -> None:
        """features: L2-normalised [B, D] (detached), targets [B]."""
        features = features.to(self.features.dtype)
        m = self.momentum
        if self.hard:
            for label in torch.unique(targets).tolist():
                group = features[targets == label]
                hardest = group[torch.argmin(group @ self.features[label])]
                entry = m * self.features[label] + (1.0 - m) * hardest
                self.features[label] = entry / entry.norm()
        else:
            for f, label in zip(features, targets.tolist()):
                entry = m * self.features[label] + (1.0 - m) * f
                self.features[label] = entry / entry.norm()

    def forward(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """L_imp = CE(normalize(f) . memory^T / temp); in training mode the memory is then updated."""
        features = F.normalize(features, dim=1)
        # the logits use the memory as it was before this batch's update (a copy: the update is in place)
        loss = F.cross_entropy(features @ self.features.clone().t() / self.temp, targets)
        if self.training:
            self.update(features.detach(), targets)
        return loss
