"""Bidirectional Decoupling Alignment Module (paper Sec. 3.2).

    f_i [B, L, D_in] (all ViT patch tokens, no [CLS])
      -> dual-branch linear projection               f'_id, f'_clo  [B, L, D]
      -> N self-attention layers per branch          (independent parameters)
      -> cross-branch cross-attention                 id queries attend to clothing tokens and vice versa
      -> global average pooling                       f_id_hat, f_clo_hat  [B, D]
      -> gate g = sigmoid(W_g [f_id_hat; f_clo_hat] + b_g)   [B, D]
      -> f_id^gate = g * f_id_hat,  f_clo^gate = (1 - g) * f_clo_hat

Also returned: ``id_tokens`` [B, L, D], the normalised identity tokens whose mean is f_id_hat (so g * id_tokens are
the gated identity tokens whose mean is f_id^gate; the "sequence" fusion variant scans them).
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import nn


class CrossAttentionBlock(nn.Module):
    """Pre-norm cross-attention + MLP (torch.nn.MultiheadAttention); the queries' branch keeps its residual."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: int = 4, dropout: float = 0.1, attn_dropout: float = 0.1):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, dropout=attn_dropout, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(dim * mlp_ratio, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(context)
        x = x + self.drop(self.attn(self.norm_q(x), kv, kv, need_weights=False)[0])
        return x + self.mlp(self.norm_mlp(x))


def _self_attention_stack(dim, num_layers, num_heads, mlp_ratio, dropout, attn_dropout) -> nn.ModuleList:
    layers = nn.ModuleList(
        nn.TransformerEncoderLayer(dim, num_heads, dim_feedforward=dim * mlp_ratio, dropout=dropout,
                                   activation="gelu", batch_first=True, norm_first=True)
        for _ in range(num_layers))
    for layer in layers:
        layer.self_attn.dropout = attn_dropout  # attention-probability dropout (0 enables the fused kernels)
    return layers


class BDAM(nn.Module):
    def __init__(self, in_dim: int, dim: int = 768, num_layers: int = 6, num_heads: int = 12, mlp_ratio: int = 4,
                 dropout: float = 0.1, cross_attention: bool = True, cross_layers: int = 1, gate: bool = True,
                 attn_dropout: Optional[float] = None):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"BDAM: DIM ({dim}) must be divisible by NUM_HEADS ({num_heads})")
        self.dim = dim
        attn_dropout = dropout if attn_dropout is None else attn_dropout
        self.id_proj = nn.Linear(in_dim, dim)
        self.clo_proj = nn.Linear(in_dim, dim)
        self.id_layers = _self_attention_stack(dim, num_layers, num_heads, mlp_ratio, dropout, attn_dropout)
        self.clo_layers = _self_attention_stack(dim, num_layers, num_heads, mlp_ratio, dropout, attn_dropout)
        self.cross_attention = cross_attention
        if cross_attention:
            self.id_cross = nn.ModuleList(CrossAttentionBlock(dim, num_heads, mlp_ratio, dropout, attn_dropout)
                                          for _ in range(cross_layers))
            self.clo_cross = nn.ModuleList(CrossAttentionBlock(dim, num_heads, mlp_ratio, dropout, attn_dropout)
                                           for _ in range(cross_layers))
        self.id_norm = nn.LayerNorm(dim)
        self.clo_norm = nn.LayerNorm(dim)
        self.use_gate = gate
        if gate:
            self.gate = nn.Linear(2 * dim, dim)

    def forward(self, tokens: torch.Tensor) -> Dict[str, torch.Tensor]:
        if tokens.dim() != 3:
            raise ValueError(f"BDAM expects patch tokens [B, L, D], got shape {tuple(tokens.shape)}")
        f_id, f_clo = self.id_proj(tokens), self.clo_proj(tokens)
        for layer in self.id_layers:
            f_id = layer(f_id)
        for layer in self.clo_layers:
            f_clo = layer(f_clo)
        if self.cross_attention:
            for id_block, clo_block in zip(self.id_cross, self.clo_cross):
                # both directions read the other branch as it was before this exchange
                f_id, f_clo = id_block(f_id, f_clo), clo_block(f_clo, f_id)
        id_tokens = self.id_norm(f_id)
        f_id_hat = id_tokens.mean(dim=1)
        f_clo_hat = self.clo_norm(f_clo).mean(dim=1)
        if self.use_gate:
            g = torch.sigmoid(self.gate(torch.cat([f_id_hat, f_clo_hat], dim=1)))
            f_id_gate, f_clo_gate = g * f_id_hat, (1 - g) * f_clo_hat
        else:
            g, f_id_gate, f_clo_gate = None, f_id_hat, f_clo_hat
        return {"f_id_hat": f_id_hat, "f_clo_hat": f_clo_hat, "gate": g, "f_id_gate": f_id_gate,
                "f_clo_gate": f_clo_gate, "id_tokens": id_tokens}
