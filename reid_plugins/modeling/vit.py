"""Small Vision-Transformer helpers shared by the projects (open_clip ViTs at Re-ID resolutions).

- `patch_grid`: the patch grid of an image size (256x128 with 16-pixel patches -> 16x8).
- `resize_pos_embed`: interpolate a ViT positional embedding to another patch grid, keeping the leading extra tokens
  (CLS, ...) untouched. open_clip's own `resize_pos_embed` only resizes square source grids into its model, always
  bicubic with anti-aliasing; the Re-ID CLIP codes (CLIP-ReID, MUVA) use bilinear interpolation on a rectangular target,
  so that is the default here and the mode is a parameter.
- `block_forward`: run an open_clip `ResidualAttentionBlock` with an additive attention mask that is shared by all
  heads ([B, N, N] or [N, N]), through `torch.nn.functional.scaled_dot_product_attention`. `nn.MultiheadAttention`
  only accepts [N, N] or per-head [B*heads, N, N] masks, so a per-sample mask would have to be copied once per head;
  this helper broadcasts it instead and reuses the block's own parameters (in_proj, out_proj, LayerNorms, MLP,
  LayerScale), so the result equals the block's forward with the per-head copy of the mask.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

__all__ = ["patch_grid", "resize_pos_embed", "block_forward", "attention_sdpa"]


def patch_grid(image_size: Sequence[int], patch_size: int | Sequence[int], stride: Optional[Sequence[int]] = None
               ) -> Tuple[int, int]:
    """(rows, cols) of patches for an (H, W) image; `stride` defaults to the patch size (non-overlapping)."""
    h, w = int(image_size[0]), int(image_size[1])
    ph, pw = (patch_size, patch_size) if isinstance(patch_size, int) else (int(patch_size[0]), int(patch_size[1]))
    sh, sw = (ph, pw) if stride is None else (int(stride[0]), int(stride[1]))
    if h < ph or w < pw:
        raise ValueError(f"image size {(h, w)} is smaller than the patch size {(ph, pw)}")
    return (h - ph) // sh + 1, (w - pw) // sw + 1


def resize_pos_embed(pos_embed: torch.Tensor, new_grid: Sequence[int], num_extra_tokens: int = 1,
                     old_grid: Optional[Sequence[int]] = None, mode: str = "bilinear") -> torch.Tensor:
    """[extra + gh*gw, D] -> [extra + new_h*new_w, D], interpolating the grid part (row-major, like ViT patches).

    old_grid: the source grid; None -> a square grid (what CLIP checkpoints at 224x224 have: 14x14)."""
    if pos_embed.dim() != 2:
        raise ValueError(f"positional embedding must be [tokens, dim], got shape {tuple(pos_embed.shape)}")
    extra, grid = pos_embed[:num_extra_tokens], pos_embed[num_extra_tokens:]
    n = grid.shape[0]
    if old_grid is None:
        side = int(round(math.sqrt(n)))
        if side * side != n:
            raise ValueError(f"positional embedding has {n} grid tokens (after {num_extra_tokens} extra): not a square "
                             f"grid; pass old_grid=(rows, cols)")
        old_grid = (side, side)
    oh, ow = int(old_grid[0]), int(old_grid[1])
    if oh * ow != n:
        raise ValueError(f"old_grid {old_grid} has {oh * ow} cells but the embedding has {n} grid tokens")
    nh, nw = int(new_grid[0]), int(new_grid[1])
    if (oh, ow) == (nh, nw):
        return pos_embed.clone()
    dtype = pos_embed.dtype
    grid = grid.float().reshape(1, oh, ow, -1).permute(0, 3, 1, 2)
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    grid = F.interpolate(grid, size=(nh, nw), mode=mode, **kwargs)
    grid = grid.permute(0, 2, 3, 1).reshape(nh * nw, -1).to(dtype)
    return torch.cat([extra, grid], dim=0)


def attention_sdpa(attn: torch.nn.MultiheadAttention, x: torch.Tensor,
                   attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Self-attention of a batch-first `nn.MultiheadAttention` (packed in_proj) on x [B, N, D], with an additive or
    boolean mask [N, N] / [B, N, N] / [B, 1, N, N] broadcast over the heads."""
    B, N, D = x.shape
    heads = attn.num_heads
    if attn.in_proj_weight is None:
        raise ValueError("attention_sdpa needs a MultiheadAttention with a packed in_proj_weight (q, k, v same size)")
    qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = qkv.view(B, N, 3, heads, D // heads).permute(2, 0, 3, 1, 4)  # each [B, heads, N, D/heads]
    if attn_mask is not None:
        if attn_mask.dim() == 3:
            attn_mask = attn_mask.unsqueeze(1)  # [B, 1, N, N]: one mask for all heads
        if attn_mask.dtype != torch.bool:
            attn_mask = attn_mask.to(q.dtype)
    dropout = attn.dropout if attn.training else 0.0
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout)
    out = out.transpose(1, 2).reshape(B, N, D)
    return attn.out_proj(out)


def block_forward(block, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Forward of an open_clip `ResidualAttentionBlock` (batch-first x [B, N, D]) with a head-shared mask."""
    x = x + block.ls_1(attention_sdpa(block.attn, block.ln_1(x), attn_mask))
    return x + block.ls_2(block.mlp(block.ln_2(x)))
