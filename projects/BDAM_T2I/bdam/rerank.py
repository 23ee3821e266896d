"""Two-stage text-to-image retrieval.

Stage 1 (dual encoder): cosine similarity of every text with every gallery image, as in IRRA.
Stage 2 (fusion re-scoring): for each text, the fusion head scores its K most similar images; those K are re-ordered
by the fusion logit (+ DUAL_WEIGHT x stage-1 cosine) and stay ahead of the rest, which keep the stage-1 order.
The result is returned as a similarity matrix, so the same retrieval_metrics computes both modes.

Why: the fusion head needs an (image, text) pair, so ranking all 6,156 x 3,074 CUHK-PEDES pairs with it would cost
19M head evaluations; re-scoring K = 32 per text costs 197k (benchmarks/bdam_rerank.py measures the overhead).
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import torch


@torch.no_grad()
def rerank_topk(similarity: torch.Tensor, score_pairs: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                k: int, dual_weight: float = 0.0, chunk: int = 4096) -> Dict[str, torch.Tensor]:
    """similarity [Nq, Ng]; score_pairs(query_idx [n], gallery_idx [n]) -> fusion logits [n].

    Returns {"similarity": re-ranked matrix [Nq, Ng], "topk": gallery indices [Nq, k] in stage-1 order,
    "scores": fusion logits [Nq, k]}. Within the top-K the value is hi + (k - new_rank), above every stage-1 value."""
    nq, ng = similarity.shape
    k = min(int(k), ng)
    if k < 1:
        raise ValueError(f"TEST.RERANK_T2I.TOPK must be >= 1, got {k}")
    top_val, top_idx = similarity.topk(k, dim=1)
    q_idx = torch.arange(nq).view(-1, 1).expand(nq, k).reshape(-1)
    g_idx = top_idx.reshape(-1)
    scores = torch.cat([score_pairs(q_idx[s:s + chunk], g_idx[s:s + chunk]).float().cpu()
                        for s in range(0, len(q_idx), chunk)]).view(nq, k)
    key = scores + dual_weight * top_val.float().cpu()
    order = key.argsort(dim=1, descending=True)
    new_top = top_idx.cpu().gather(1, order)
    out = similarity.detach().float().cpu().clone()
    hi = out.max() + 1.0
    ranks = torch.arange(k, 0, -1, dtype=out.dtype).view(1, -1).expand(nq, k)
    out.scatter_(1, new_top, hi + ranks)
    return {"similarity": out, "topk": top_idx.cpu(), "scores": scores}


def fusion_pair_scorer(fusion, img_feats: torch.Tensor, txt_feats: torch.Tensor,
                       weights_out: Optional[list] = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """score_pairs for rerank_topk from a MambaFusion head: aligns every image / text once, fuses pairs on demand.
    If ``weights_out`` is a list, the modality-gate weights [n, 2] of every scored pair are appended to it."""
    device = next(fusion.parameters()).device
    with torch.no_grad():
        a_img = torch.cat([fusion.align_img(img_feats[s:s + 4096].to(device)) for s in range(0, len(img_feats), 4096)])
        a_txt = torch.cat([fusion.align_txt(txt_feats[s:s + 4096].to(device)) for s in range(0, len(txt_feats), 4096)])

    def score(q_idx: torch.Tensor, g_idx: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = fusion.fuse(a_img[g_idx.to(device)], a_txt[q_idx.to(device)])
        if weights_out is not None:
            weights_out.append(out["weights"].cpu())
        return out["score"]

    return score
