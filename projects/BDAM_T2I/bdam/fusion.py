"""Mamba fusion head (paper Sec. 3.4) used as a pairwise re-scorer, in three variants (MODEL.BDAM.FUSION.VARIANT).

Common to all: the inputs are standardised (FUSION.INPUT_NORM, ours), aligned by an MLP to d_model, weighted by the
softmax modality gate, passed through residual Mamba layers, projected and scored:

    f_img = Align_img(Norm(f_id^gate)), f_txt = Align_txt(Norm(f_id^t))     MLP alignment to d_model (256)
    (w1, w2) = softmax(W_f [f_img; f_txt])                                   2-way modality gate, w1 + w2 = 1
    X_{l+1} = Mamba(X_l) + X_l                                                residual Mamba layers (2)
    f_final = Proj(LN(X_L[readout])),  score = Linear(f_final)               image-text matching logit

What X_0 is, per variant:
- ``vector`` (the paper's literal formula, default): X_0 = [f_fusion], f_fusion = w1 f_img + w2 f_txt, one token
  (L = 1: the scan reduces to an input-gated MLP of the fused vector).
- ``tokens3``: X_0 = [w1 f_img, w2 f_txt, f_fusion], read at the last (fused) token, which the causal scan reaches
  after both modalities.
- ``sequence``: X_0 = [w1 * gated identity tokens (L_img), w2 * text tokens (L_txt)], one scan over the image tokens
  followed by the text tokens, read at the last real text token (after a causal scan it has seen the whole pair);
  ``BIDIRECTIONAL`` adds a second Mamba per layer that scans the pair backwards (the outputs are summed, Vim-style).
  This is the reading under which the paper's motivation (long-range dependencies at linear cost, the comparison
  with a 4-layer Transformer in Sec. 4.5) applies. Here (w1, w2) comes from the masked token means.
Without Mamba (Table 2 "w/o Mamba") the head reduces to Proj(LN(X_0[readout])). The clothing feature f_clo^gate never
enters the head (paper: discarded).

Input standardisation (ours; the paper's "MLP performs dimensional alignment to mitigate distributional
discrepancies" names no normalisation): ``bn`` is a BatchNorm over the samples (and valid tokens) of each input
dimension. The raw f_id^gate of a randomly initialised encoder is dominated by a component every image shares (mean
pairwise cosine 0.95 on Synth-T2I); BatchNorm removes what all samples share, which a per-sample LayerNorm (``ln``)
does not. tests/projects/BDAM_T2I/test_bdam_fusion.py shows the listwise loss pinned at log(1 + M) on such input
without it and learning with it.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import nn

VARIANTS = ("vector", "tokens3", "sequence")
INPUT_NORMS = ("bn", "ln", "none")


def _align(in_dim: int, dim: int, kind: str, dropout: float) -> nn.Module:
    if kind == "mlp":
        return nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim),
                             nn.LayerNorm(dim))
    if kind == "linear":  # Table 2 "w/o Alignment": only the resize to d_model that the sum needs
        return nn.Linear(in_dim, dim)
    raise ValueError(f"MODEL.BDAM.FUSION.ALIGN must be 'mlp' or 'linear', got {kind!r}")


class InputNorm(nn.Module):
    """Standardises fusion inputs [N, D] or tokens [N, L, D] per dimension; with a token mask [N, L] only the valid
    tokens enter the statistics (and padding stays zero)."""

    def __init__(self, dim: int, kind: str):
        super().__init__()
        if kind not in INPUT_NORMS:
            raise ValueError(f"MODEL.BDAM.FUSION.INPUT_NORM must be one of {INPUT_NORMS}, got {kind!r}")
        self.kind = kind
        self.norm = {"bn": lambda: nn.BatchNorm1d(dim), "ln": lambda: nn.LayerNorm(dim),
                     "none": nn.Identity}[kind]()

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.kind == "none":
            return x
        if x.dim() == 2:
            return self.norm(x)
        if mask is None:
            return self.norm(x.reshape(-1, x.shape[-1])).view_as(x)
        keep = mask.bool()
        out = x.new_zeros(x.shape)
        out[keep] = self.norm(x[keep])
        return out


def _flip_valid(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverses the first lengths[i] positions of every row of x [N, L, D]; padding stays at the end (an involution).
    """
    pos = torch.arange(x.shape[1], device=x.device).view(1, -1)
    idx = torch.where(pos < lengths.view(-1, 1), lengths.view(-1, 1) - 1 - pos, pos)
    return x.gather(1, idx.unsqueeze(-1).expand_as(x))


class MambaFusion(nn.Module):
    def __init__(self, img_dim: int, txt_dim: int, dim: int = 256, align: str = "mlp", gate: bool = True,
                 mamba_layers: int = 2, d_state: int = 16, d_conv: int = 4, expand: int = 2, out_dim: int = 256,
                 dropout: float = 0.1, variant: str = "vector", input_norm: str = "bn", bidirectional: bool = False):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"MODEL.BDAM.FUSION.VARIANT must be one of {VARIANTS}, got {variant!r}")
        if bidirectional and variant != "sequence":
            raise ValueError(f"MODEL.BDAM.FUSION.BIDIRECTIONAL needs VARIANT 'sequence' (a backward scan over "
                             f"{'one token' if variant == 'vector' else 'three tokens'} is not a sequence model), "
                             f"got VARIANT {variant!r}")
        self.variant, self.bidirectional = variant, bidirectional
        self.norm_img, self.norm_txt = InputNorm(img_dim, input_norm), InputNorm(txt_dim, input_norm)
        self.align_img = _align(img_dim, dim, align, dropout)
        self.align_txt = _align(txt_dim, dim, align, dropout)
        self.use_gate = gate
        if gate:
            self.gate = nn.Linear(2 * dim, 2)
        from reid_plugins.modeling.mamba import MambaBlock

        def blocks():
            return nn.ModuleList(MambaBlock(dim, d_state=d_state, d_conv=d_conv, expand=expand)
                                 for _ in range(mamba_layers))

        self.mamba = blocks()
        self.mamba_backward = blocks() if bidirectional else nn.ModuleList()
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, out_dim)
        self.score = nn.Linear(out_dim, 1)

    @property
    def uses_tokens(self) -> bool:
        """True for ``sequence``: the head takes token sequences, not pooled vectors."""
        return self.variant == "sequence"

    def align_images(self, feats: torch.Tensor) -> torch.Tensor:
        """Pooled identity features [N, D_img] (or gated identity tokens [N, L, D_img] for ``sequence``) ->
        standardised and aligned [N, (L,) dim]."""
        return self.align_img(self.norm_img(feats))

    def align_texts(self, feats: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Pooled text features [N, D_txt] (or token states [N, L, D_txt] with their mask for ``sequence``)."""
        out = self.align_txt(self.norm_txt(feats, mask))
        return out if mask is None else out * mask.unsqueeze(-1).to(out.dtype)

    def _modality_weights(self, f_img: torch.Tensor, f_txt: torch.Tensor) -> torch.Tensor:
        if self.use_gate:
            return torch.softmax(self.gate(torch.cat([f_img, f_txt], dim=1)), dim=1)
        return f_img.new_full((f_img.shape[0], 2), 0.5)

    def fuse(self, f_img: torch.Tensor, f_txt: torch.Tensor,
             txt_mask: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Aligned features of N (image, text) pairs ([N, dim], or [N, L_img, dim] / [N, L_txt, dim] + mask
        [N, L_txt] for ``sequence``) -> score [N], weights [N, 2], final [N, out_dim]."""
        if self.variant == "sequence":
            return self._fuse_sequence(f_img, f_txt, txt_mask)
        w = self._modality_weights(f_img, f_txt)
        img_tok, txt_tok = w[:, :1] * f_img, w[:, 1:] * f_txt
        if self.variant == "vector":
            x = (img_tok + txt_tok).unsqueeze(1)
        else:
            x = torch.stack([img_tok, txt_tok, img_tok + txt_tok], dim=1)
        for layer in self.mamba:
            x = self.drop(layer(x)) + x
        return self._head(x[:, -1], w)

    def _fuse_sequence(self, f_img, f_txt, txt_mask):
        if f_img.dim() != 3 or f_txt.dim() != 3:
            raise ValueError(f"FUSION.VARIANT 'sequence' takes token sequences [N, L, dim]; got image "
                             f"{tuple(f_img.shape)} and text {tuple(f_txt.shape)}")
        n, l_img = f_img.shape[:2]
        if txt_mask is None:
            txt_mask = f_txt.new_ones(f_txt.shape[:2])
        m = txt_mask.to(f_txt.dtype)
        txt_len = m.sum(1).clamp_min(1)
        pooled_txt = (f_txt * m.unsqueeze(-1)).sum(1) / txt_len.unsqueeze(1)
        w = self._modality_weights(f_img.mean(1), pooled_txt)
        x = torch.cat([w[:, :1, None] * f_img, w[:, 1:, None] * f_txt * m.unsqueeze(-1)], dim=1)
        lengths = l_img + txt_len.long()                   # padding only at the end of the text
        for i, layer in enumerate(self.mamba):
            y = layer(x)
            if self.bidirectional:
                y = y + _flip_valid(self.mamba_backward[i](_flip_valid(x, lengths)), lengths)
            x = self.drop(y) + x
        last = x[torch.arange(n, device=x.device), lengths - 1]
        return self._head(last, w)

    def _head(self, token: torch.Tensor, w: torch.Tensor) -> Dict[str, torch.Tensor]:
        final = self.proj(self.norm(token))
        return {"score": self.score(final).squeeze(1), "weights": w, "final": final}

    def forward(self, img_feat: torch.Tensor, txt_feat: torch.Tensor,
                txt_mask: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        return self.fuse(self.align_images(img_feat), self.align_texts(txt_feat, txt_mask), txt_mask)
