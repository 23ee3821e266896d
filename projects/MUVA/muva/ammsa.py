"""Adaptively Masked Multi-head Self-Attention (paper Sec. 3.2): the residual mask predictor (RMP), mask gating (MG)
and the attention-mask template of the authors' code.

Token order: [CLS, part_1 .. part_R, patch_1 .. patch_L]. Additive attention masks (rows = queries):
- the CLS row is open (0) and every token may attend to CLS (column 0 is 0);
- part -> part: only the diagonal is open, parts do not see each other;
- part -> patch: the part's gated mask (0 inside the part, -inf outside); patch -> part: its transpose (symmetric);
- patch -> patch: open.
One mask per sample is shared by all heads ([B, T, T]; vit.block_forward broadcasts it inside SDPA).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from reid_plugins.utils.extras import require

QuickGELU = require("open_clip.transformer", "MUVA").QuickGELU

NEG_INF = float("-inf")


def attention_mask_template(num_parts: int, num_patches: int) -> torch.Tensor:
    """[T, T] additive template, T = 1 + R + L; the part<->patch blocks are -inf placeholders (filled per sample)."""
    R, L = num_parts, num_patches
    T = 1 + R + L
    template = torch.zeros(T, T)
    part_block = torch.full((R, R), NEG_INF)
    part_block.fill_diagonal_(0.0)
    template[1:1 + R, 1:1 + R] = part_block
    template[1:1 + R, 1 + R:] = NEG_INF
    template[1 + R:, 1:1 + R] = NEG_INF
    return template


def build_attention_mask(template: torch.Tensor, part_masks: torch.Tensor) -> torch.Tensor:
    """template [T, T] + additive part masks [B, R, L] (0 = attend, -inf = blocked) -> [B, T, T]."""
    B, R, L = part_masks.shape
    if template.shape[0] != 1 + R + L:
        raise ValueError(f"part masks {tuple(part_masks.shape)} do not fit a template of size {tuple(template.shape)}")
    mask = template.to(part_masks.dtype).unsqueeze(0).repeat(B, 1, 1)
    mask[:, 1:1 + R, 1 + R:] = part_masks
    mask[:, 1 + R:, 1:1 + R] = part_masks.transpose(1, 2)
    return mask


def gate(probs: torch.Tensor, thresh: float = 0.5) -> torch.Tensor:
    """Mask gating (Eq. 6) on detached probabilities: 0 where prob > thresh (strict), -inf elsewhere."""
    probs = probs.detach()
    return torch.zeros_like(probs).masked_fill(~(probs > thresh), NEG_INF)


def additive_from_bool(masks: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Binary part masks (True / 1 = patch in the part, e.g. VGE pseudo labels) -> additive 0 / -inf."""
    inside = masks.bool() if masks.dtype == torch.bool else masks > 0.5
    return torch.zeros(masks.shape, dtype=dtype, device=masks.device).masked_fill(~inside, NEG_INF)


def stripe_part_masks(grid: Tuple[int, int], num_stripes: int = 3) -> torch.Tensor:
    """Equal horizontal stripes over the patch grid (top / middle / bottom), bool [num_stripes, rows*cols]."""
    rows, cols = grid
    bounds = [round(i * rows / num_stripes) for i in range(num_stripes + 1)]
    out = torch.zeros(num_stripes, rows, cols, dtype=torch.bool)
    for i in range(num_stripes):
        out[i, bounds[i]:bounds[i + 1]] = True
    return out.reshape(num_stripes, rows * cols)


class CrossAttention(nn.Module):
    """Multi-head cross-attention, queries from part tokens, keys / values from patch tokens; q/k/v without bias,
    output projection with bias, scale (dim/heads)^-0.5 (SDPA's default)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"RMP width {dim} is not divisible by MODEL.MUVA.RMP.NUM_HEADS={num_heads}")
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.out = nn.Linear(dim, dim)
        for m in (self.q, self.k, self.v, self.out):
            nn.init.trunc_normal_(m.weight, std=0.02)

    def forward(self, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        B, R, D = queries.shape
        h = self.num_heads

        def split(t):
            return t.view(B, t.shape[1], h, D // h).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.q(queries)), split(self.k(context)), split(self.v(context)))
        return self.out(out.transpose(1, 2).reshape(B, R, D))


class MaskPredictor(nn.Module):
    """One RMP layer (Eq. 5 without the residual over layers): logits [B, R, L] of the parts over the patches."""

    def __init__(self, dim: int, num_heads: int, num_patches: int, layer_norm: bool = True,
                 inner_shortcut: bool = True):
        super().__init__()
        self.cross_attn = CrossAttention(dim, num_heads)
        self.inner_shortcut = inner_shortcut
        norm = (lambda: nn.LayerNorm(dim)) if layer_norm else nn.Identity
        self.norm_part, self.norm_patch, self.norm_mlp = norm(), norm(), norm()
        self.mlp = nn.Sequential(nn.Linear(dim, num_patches), QuickGELU(), nn.Linear(num_patches, num_patches))
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, parts: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        x = self.cross_attn(self.norm_part(parts), self.norm_patch(patches))
        if self.inner_shortcut:
            x = x + parts
        return self.mlp(self.norm_mlp(x))


class ResidualMaskPredictor(nn.Module):
    """One MaskPredictor per transformer layer; logits accumulate over layers: logit_l = RMP_l(.) + logit_{l-1},
    M_l = sigmoid(logit_l / tau)."""

    def __init__(self, num_layers: int, num_parts: int, num_patches: int, dim: int, num_heads: int,
                 tau: float = 1.0, layer_norm: bool = True, inner_shortcut: bool = True):
        super().__init__()
        self.num_parts = num_parts
        self.tau = float(tau)
        self.layers = nn.ModuleList(MaskPredictor(dim, num_heads, num_patches, layer_norm, inner_shortcut)
                                    for _ in range(num_layers))

    def forward(self, tokens: torch.Tensor, layer: int, prev_logits: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """tokens [B, 1+R+L, D] entering transformer layer `layer` -> (probabilities, accumulated logits) [B, R, L]."""
        R = self.num_parts
        logits = self.layers[layer](tokens[:, 1:1 + R], tokens[:, 1 + R:])
        if prev_logits is not None:
            logits = logits + prev_logits
        return torch.sigmoid(logits / self.tau), logits


def select_parts(masks: torch.Tensor, part_index: Sequence[int]) -> torch.Tensor:
    """[B, 3, L] VGE masks -> the configured granularities [B, R, L]."""
    return masks[:, list(part_index)]
