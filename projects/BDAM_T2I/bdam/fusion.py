"""Mamba fusion head (paper Sec. 3.4) used as a pairwise re-scorer.

    f_img = Align_img(f_id^gate), f_txt = Align_txt(f_id^t)           MLP alignment to d_model (256)
    (w1, w2) = softmax(W_f [f_img; f_txt])                            2-way modality gate, w1 + w2 = 1
    f_fusion = w1 * f_img + w2 * f_txt
    X0 = [w1 * f_img, w2 * f_txt, f_fusion]                            a 3-token sequence [N, 3, 256]
    X_{l+1} = Mamba(X_l) + X_l,  l = 0, 1                              2 residual Mamba layers
    f_final = Proj(LN(X_2[:, -1]))                                      [N, D_out]
    score = Linear(f_final)                                             image-text matching logit

The paper fuses two vectors and then runs Mamba "to capture sequential relationships between the modalities", without
saying what the sequence is; a single vector would give the selective scan nothing to scan (L = 1 reduces it to a
gated MLP). We feed the two gate-weighted modality tokens followed by their sum and read the output at the last
(fused) token, which the causal scan reaches after both modalities. Without Mamba (Table 2 "w/o Mamba") the head
reduces exactly to Proj(f_fusion). The clothing feature f_clo^gate never enters the head (paper: discarded).
"""
from __future__ import annotations

from typing import Dict

import torch
from torch import nn


def _align(in_dim: int, dim: int, kind: str, dropout: float) -> nn.Module:
    if kind == "mlp":
        return nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim),
                             nn.LayerNorm(dim))
    if kind == "linear":  # Table 2 "w/o Alignment": only the resize to d_model that the sum needs
        return nn.Linear(in_dim, dim)
    raise ValueError(f"MODEL.BDAM.FUSION.ALIGN must be 'mlp' or 'linear', got {kind!r}")


class MambaFusion(nn.Module):
    def __init__(self, img_dim: int, txt_dim: int, dim: int = 256, align: str = "mlp", gate: bool = True,
                 mamba_layers: int = 2, d_state: int = 16, d_conv: int = 4, expand: int = 2, out_dim: int = 256,
                 dropout: float = 0.1):
        super().__init__()
        self.align_img = _align(img_dim, dim, align, dropout)
        self.align_txt = _align(txt_dim, dim, align, dropout)
        self.use_gate = gate
        if gate:
            self.gate = nn.Linear(2 * dim, 2)
        if mamba_layers:
            from reid_plugins.modeling.mamba import MambaBlock

            self.mamba = nn.ModuleList(MambaBlock(dim, d_state=d_state, d_conv=d_conv, expand=expand)
                                       for _ in range(mamba_layers))
        else:
            self.mamba = nn.ModuleList()
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, out_dim)
        self.score = nn.Linear(out_dim, 1)

    def fuse(self, f_img: torch.Tensor, f_txt: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Aligned features [N, dim] of N (image, text) pairs -> score [N], weights [N, 2], final [N, out_dim]."""
        if self.use_gate:
            w = torch.softmax(self.gate(torch.cat([f_img, f_txt], dim=1)), dim=1)
        else:
            w = f_img.new_full((f_img.shape[0], 2), 0.5)
        img_tok, txt_tok = w[:, :1] * f_img, w[:, 1:] * f_txt
        x = torch.stack([img_tok, txt_tok, img_tok + txt_tok], dim=1)
        for layer in self.mamba:
            x = self.drop(layer(x)) + x
        final = self.proj(self.norm(x[:, -1]))
        return {"score": self.score(final).squeeze(1), "weights": w, "final": final}

    def forward(self, img_feat: torch.Tensor, txt_feat: torch.Tensor) -> Dict[str, torch.Tensor]:
        return self.fuse(self.align_img(img_feat), self.align_txt(txt_feat))
