"""Two-stage text-to-image retrieval.

Stage 1 (dual encoder): cosine similarity of every text with every gallery image, as in IRRA.
Stage 2 (fusion re-scoring): for each text, the fusion head scores its K most similar images; those K are re-ordered
by the key

    z(fusion logit) + lambda * z(cosine),     z(x) = (x - mean_K(x)) / std_K(x) over the text's top-K,

and stay ahead of the rest, which keep the stage-1 order. Standardising both within the top-K puts them on one scale:
the raw logits of a head spread far more than the top-K cosines (about 65x in an audited Synth-T2I run), so a raw
sum lets an untrained head reorder at random. lambda = 0 is the fusion order alone, a large lambda the dual order.
The result is returned as a similarity matrix, so the same retrieval_metrics computes every mode.

K and lambda are chosen on a validation split (``select_setting``) among a grid plus the dual encoder's own order
("dual"), ties going to the dual order: on validation the chosen setting is never below the dual encoder.

Why top-K only: the fusion head needs an (image, text) pair, so ranking all 6,156 x 3,074 CUHK-PEDES pairs with it
would cost 19M head evaluations; re-scoring K = 32 per text costs 197k (benchmarks/bdam_rerank.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import torch


@dataclass(frozen=True)
class Setting:
    """A re-ranking setting; topk = 0 is the dual encoder's order."""
    topk: int = 0
    lam: float = 0.0

    @property
    def is_dual(self) -> bool:
        return self.topk == 0

    def __str__(self) -> str:
        return "dual" if self.is_dual else f"K={self.topk}, lambda={self.lam:g}"


DUAL = Setting()


@torch.no_grad()
def topk_fusion_scores(similarity: torch.Tensor, score_pairs: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                       k: int, chunk: int = 4096) -> Dict[str, torch.Tensor]:
    """similarity [Nq, Ng]; score_pairs(query_idx [n], gallery_idx [n]) -> fusion logits [n].

    Returns the text's k most similar gallery indices in stage-1 order ("topk" [Nq, k]), their cosines ("cosine")
    and fusion logits ("scores"). Any K' <= k uses the first K' columns."""
    nq, ng = similarity.shape
    k = min(int(k), ng)
    if k < 1:
        raise ValueError(f"TEST.RERANK_T2I top-K must be >= 1, got {k}")
    if chunk < 1:
        raise ValueError(f"TEST.RERANK_T2I.CHUNK must be >= 1, got {chunk}")
    top_val, top_idx = similarity.topk(k, dim=1)
    q_idx = torch.arange(nq).view(-1, 1).expand(nq, k).reshape(-1)
    g_idx = top_idx.reshape(-1)
    scores = torch.cat([score_pairs(q_idx[s:s + chunk], g_idx[s:s + chunk]).float().cpu()
                        for s in range(0, len(q_idx), chunk)]).view(nq, k)
    return {"topk": top_idx.cpu(), "cosine": top_val.float().cpu(), "scores": scores}


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Per row: (x - mean) / std (population std); a constant row gives zeros."""
    centred = x - x.mean(dim=1, keepdim=True)
    std = centred.pow(2).mean(dim=1, keepdim=True).sqrt()
    return centred / std.clamp_min(1e-12)


@torch.no_grad()
def reranked_similarity(similarity: torch.Tensor, stage2: Dict[str, torch.Tensor], setting: Setting) -> torch.Tensor:
    """The similarity matrix whose ranking is the setting's: within each text's top-K the value is hi + (K - new rank),
    above every stage-1 value; the rest is unchanged. The dual setting returns the stage-1 matrix."""
    out = similarity.detach().float().cpu()
    if setting.is_dual:
        return out
    k = min(setting.topk, stage2["topk"].shape[1])
    top, cos, scores = stage2["topk"][:, :k], stage2["cosine"][:, :k], stage2["scores"][:, :k]
    key = standardize(scores) + setting.lam * standardize(cos)
    # stable: equal keys keep the stage-1 order
    new_top = top.gather(1, key.argsort(dim=1, descending=True, stable=True))
    out = out.clone()
    hi = out.max() + 1.0
    ranks = torch.arange(k, 0, -1, dtype=out.dtype).view(1, -1).expand(len(out), k)
    out.scatter_(1, new_top, hi + ranks)
    return out


def candidate_settings(topks: Sequence[int], lambdas: Sequence[float]) -> List[Setting]:
    """The dual order first, then every (K, lambda) of the grid."""
    bad = [k for k in topks if int(k) < 1] + [lam for lam in lambdas if not lam >= 0]
    if bad or not topks or not lambdas:
        raise ValueError(f"TEST.RERANK_T2I.TOPKS must be integers >= 1 and LAMBDAS numbers >= 0, both non-empty; "
                         f"got TOPKS {list(topks)}, LAMBDAS {list(lambdas)}")
    return [DUAL] + [Setting(int(k), float(lam)) for k in topks for lam in lambdas]


def select_setting(similarity: torch.Tensor, stage2: Optional[Dict[str, torch.Tensor]], query_pids, gallery_pids,
                   settings: Sequence[Setting]) -> Dict[str, object]:
    """Evaluates every setting (IRRA metrics) and returns {"best": the setting with the highest (R1, mAP), ties to the
    earlier one, so to the dual order when it is first; "best_fused": the best non-dual setting (None if there is
    none); "metrics": {setting: metrics}}."""
    from reid_plugins.evaluation import retrieval_metrics

    metrics = {}
    for setting in settings:
        if stage2 is None and not setting.is_dual:
            continue
        metrics[setting] = retrieval_metrics(reranked_similarity(similarity, stage2, setting), query_pids,
                                             gallery_pids)

    def best(candidates):
        chosen = None
        for s in candidates:
            if chosen is None or (metrics[s]["R1"], metrics[s]["mAP"]) > (metrics[chosen]["R1"],
                                                                          metrics[chosen]["mAP"]):
                chosen = s
        return chosen

    return {"best": best(metrics), "best_fused": best([s for s in metrics if not s.is_dual]), "metrics": metrics}


def fusion_pair_scorer(fusion, img_feats: torch.Tensor, txt_feats: torch.Tensor,
                       txt_mask: Optional[torch.Tensor] = None,
                       weights_out: Optional[list] = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """score_pairs for topk_fusion_scores from a MambaFusion head and its *aligned* inputs (the eval forward's
    "fusion_img" / "fusion_txt" [/ "fusion_txt_mask"]), fused pair by pair on demand. If ``weights_out`` is a list,
    the modality-gate weights [n, 2] of every scored pair are appended to it."""
    device = next(fusion.parameters()).device

    def score(q_idx: torch.Tensor, g_idx: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            mask = None if txt_mask is None else txt_mask[q_idx].to(device)
            out = fusion.fuse(img_feats[g_idx].to(device), txt_feats[q_idx].to(device), mask)
        if weights_out is not None:
            weights_out.append(out["weights"].cpu())
        return out["score"]

    return score
