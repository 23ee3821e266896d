"""MUVA's image encoder: CLIP's ViT with part tokens and AM-MSA in every block (registered as a fast-reid backbone).

Sequence: [CLS, part tokens (R), patches (L)]. The part tokens are new parameters (trunc-normal, std 0.02) placed
after CLS; the positional embedding is rebuilt as [pe_cls, pe_cls x R, pe_patches] and stays trainable.
Attention masks per layer:
- predicted (training forward and test): the RMP of layer i reads the tokens entering block i, its probabilities are
  gated (detached, > 0.5) into the additive mask of that block;
- ground truth (`gt_masks`, VGE pseudo labels): one additive mask for all layers, no predictor (stage-1 centroids and
  the VPM-2 memory);
- fixed stripes (MODEL.MUVA.ATTENTION_MASKS "fixed-stripes"): equal horizontal stripes in all layers, also where the
  other modes use the VGE masks (no VGE at all).
Output: ln_post + projection of CLS and the part tokens, [B, 1+R, E].
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
from fastreid.modeling.backbones import BACKBONE_REGISTRY

from reid_plugins.modeling.clip import build_clip_from_cfg
from reid_plugins.modeling.vit import block_forward

from .ammsa import (ResidualMaskPredictor, additive_from_bool, attention_mask_template, build_attention_mask, gate,
                    stripe_part_masks)
from .config import ATTENTION_MASKS, PART_NAMES


class MUVAImageEncoder(nn.Module):
    def __init__(self, visual: nn.Module, part_index: Sequence[int], attention_masks: str = "predicted",
                 rmp_heads: int = 2, rmp_layer_norm: bool = True, rmp_inner_shortcut: bool = True,
                 sigmoid_tau: float = 1.0, gate_thresh: float = 0.5, part_token_std: float = 0.02,
                 freeze_patch_proj: bool = True):
        super().__init__()
        if attention_masks not in ATTENTION_MASKS:
            raise ValueError(f"MODEL.MUVA.ATTENTION_MASKS={attention_masks!r}: expected one of {ATTENTION_MASKS}")
        self.visual = visual
        self.part_index = [int(i) for i in part_index]
        self.num_parts = R = len(self.part_index)
        self.grid = tuple(int(g) for g in visual.grid_size)
        self.num_patches = L = self.grid[0] * self.grid[1]
        self.attention_masks = attention_masks
        self.gate_thresh = float(gate_thresh)
        width = int(visual.class_embedding.shape[0])
        self.num_layers = len(visual.transformer.resblocks)
        if R:
            self.part_tokens = nn.Parameter(torch.zeros(R, width))
            nn.init.trunc_normal_(self.part_tokens, std=part_token_std)
            pe = visual.positional_embedding.data
            visual.positional_embedding = nn.Parameter(torch.cat([pe[:1], pe[:1].repeat(R, 1), pe[1:]], dim=0))
            self.register_buffer("mask_template", attention_mask_template(R, L), persistent=False)
        else:
            self.part_tokens = None
        self.mask_predictor = None
        if R and attention_masks == "predicted":
            self.mask_predictor = ResidualMaskPredictor(self.num_layers, R, L, width, rmp_heads, sigmoid_tau,
                                                        rmp_layer_norm, rmp_inner_shortcut)
        if R and attention_masks == "fixed-stripes":
            self.register_buffer("stripe_masks", stripe_part_masks(self.grid)[self.part_index], persistent=False)
        if freeze_patch_proj:
            for p in visual.conv1.parameters():
                p.requires_grad_(False)

    @property
    def output_dim(self) -> int:
        return int(self.visual.proj.shape[1])

    @property
    def feat_dim(self) -> int:
        return (1 + self.num_parts) * self.output_dim

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        v = self.visual
        x = v.conv1(images).flatten(2).transpose(1, 2)  # [B, L, D]
        B, _, D = x.shape
        prefix = [v.class_embedding.to(x.dtype).expand(B, 1, D)]
        if self.part_tokens is not None:
            prefix.append(self.part_tokens.to(x.dtype).expand(B, -1, -1))
        x = torch.cat(prefix + [x], dim=1) + v.positional_embedding.to(x.dtype)
        return v.ln_pre(x)

    def forward(self, images: torch.Tensor, gt_masks: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """images [B, 3, H, W] (normalised); gt_masks: binary [B, R, L] (True = patch in part) or None.

        Returns {"tokens": [B, 1+R, E]} plus, with predicted masks, "mask_logits" / "mask_probs" [layers, B, R, L]."""
        x = self.embed(images)
        blocks = self.visual.transformer.resblocks
        out: Dict[str, torch.Tensor] = {}
        R = self.num_parts
        fixed = None
        if R and self.attention_masks == "fixed-stripes":  # never uses VGE masks
            stripes = self.stripe_masks.unsqueeze(0).expand(x.shape[0], -1, -1)
            fixed = build_attention_mask(self.mask_template, additive_from_bool(stripes, x.dtype))
        elif R and gt_masks is not None:
            if tuple(gt_masks.shape[1:]) != (R, self.num_patches):
                raise ValueError(f"gt_masks has shape {tuple(gt_masks.shape)}; expected [B, {R}, {self.num_patches}]")
            fixed = build_attention_mask(self.mask_template, additive_from_bool(gt_masks.to(x.device), x.dtype))
        if not R or fixed is not None:
            for block in blocks:
                x = block_forward(block, x, fixed)
        else:
            logits_all, probs_all, logits = [], [], None
            for i, block in enumerate(blocks):
                probs, logits = self.mask_predictor(x, i, logits)
                attn_mask = build_attention_mask(self.mask_template, gate(probs, self.gate_thresh).to(x.dtype))
                x = block_forward(block, x, attn_mask)
                logits_all.append(logits)
                probs_all.append(probs)
            out["mask_logits"] = torch.stack(logits_all)
            out["mask_probs"] = torch.stack(probs_all)
        x = self.visual.ln_post(x[:, :1 + R])  # LayerNorm is per token: only the tokens that are used
        out["tokens"] = x @ self.visual.proj
        return out


def muva_encoder_from_cfg(cfg, visual: nn.Module) -> MUVAImageEncoder:
    parts = tuple(cfg.MODEL.MUVA.PARTS)
    bad = [p for p in parts if p not in PART_NAMES]
    if bad or len(set(parts)) != len(parts):
        raise ValueError(f"MODEL.MUVA.PARTS={parts}: expected distinct names among {PART_NAMES}")
    part_index = sorted(PART_NAMES.index(p) for p in parts)  # the code sorts PART_INDEX
    r = cfg.MODEL.MUVA.RMP
    m = cfg.MODEL.MUVA
    return MUVAImageEncoder(visual, part_index, m.ATTENTION_MASKS, r.NUM_HEADS, r.LAYER_NORM, r.INNER_SHORTCUT,
                            r.SIGMOID_TAU, r.GATE_THRESH, m.PART_TOKEN_STD, m.FREEZE_PATCH_PROJ)


@BACKBONE_REGISTRY.register()
def build_muva_clip_backbone(cfg, clip_model: Optional[nn.Module] = None) -> MUVAImageEncoder:
    """CLIP image tower (MODEL.BACKBONE.CLIP_ARCH, weights MODEL.BACKBONE.PRETRAIN_PATH) with MUVA's part tokens and
    AM-MSA. The meta-architecture passes the CLIP it also takes the text tower from."""
    clip_model = clip_model if clip_model is not None else build_clip_from_cfg(cfg)
    return muva_encoder_from_cfg(cfg, clip_model.visual)
