"""Image Re-ID evaluation (Market-1501 protocol) from query / gallery features, exact and memory-bounded.

Same numbers as fast-reid's ReidEvaluator (build_dist + evaluate_rank) on data without score ties; see exact_rank.py
for how ranks are found without building the full distance matrix, and for the documented tie-breaking.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from .exact_rank import DEFAULT_MAX_CANDIDATES, MatchRanks, match_ranks
from .inputs import as_features, as_labels, check_metric, check_positive_int, check_same_dim, factorize
from .scores import feature_score_blocks


def rank_statistics(query_feats, gallery_feats, q_pids, g_pids, q_camids, g_camids, metric: str = "cosine",
                    block_size: Optional[int] = None,
                    max_candidates: int = DEFAULT_MAX_CANDIDATES) -> MatchRanks:
    """Per-query ranks of the true matches, AP and INP (Market-1501 protocol). Arguments as in rank_features."""
    check_metric(metric)
    qf = as_features(query_feats, "query_feats")
    gf = as_features(gallery_feats, "gallery_feats")
    check_same_dim(qf, gf, "query_feats", "gallery_feats")
    if block_size is not None:
        check_positive_int(block_size, "block_size")
    check_positive_int(max_candidates, "max_candidates")
    q_pid, g_pid = factorize(as_labels(q_pids, "q_pids", len(qf), "query_feats row"),
                             as_labels(g_pids, "g_pids", len(gf), "gallery_feats row"), ("q_pids", "g_pids"))
    q_cam, g_cam = factorize(as_labels(q_camids, "q_camids", len(qf), "query_feats row"),
                             as_labels(g_camids, "g_camids", len(gf), "gallery_feats row"),
                             ("q_camids", "g_camids"))
    return match_ranks(feature_score_blocks(qf, gf, metric, block_size), q_pid, g_pid, q_cam, g_cam, max_candidates)


def summarize(ranks: MatchRanks) -> Dict[str, float]:
    """fast-reid's result dict (percent): Rank-1/5/10, mAP, mINP and metric = (mAP + Rank-1) / 2."""
    valid = ranks.valid
    if not valid.any():
        raise ValueError(f"none of the {len(valid)} queries has a true match in the gallery (same pid, another "
                         "camera): check that q_pids/g_pids and q_camids/g_camids come from the same dataset split")
    cmc = ranks.cmc(10)
    m_ap = float(np.mean(ranks.ap[valid]))
    results = {f"Rank-{r}": float(cmc[r - 1]) * 100 for r in (1, 5, 10)}
    results["mAP"] = m_ap * 100
    results["mINP"] = float(np.mean(ranks.inp[valid])) * 100
    results["metric"] = (m_ap + float(cmc[0])) / 2 * 100
    return results


def rank_features(query_feats, gallery_feats, q_pids, g_pids, q_camids, g_camids, metric: str = "cosine",
                  max_rank: int = 50, block_size: Optional[int] = None,
                  max_candidates: int = DEFAULT_MAX_CANDIDATES) -> Dict[str, float]:
    """Exact Market-1501-protocol metrics with fast-reid's keys and scale (percent).

    query_feats [Nq, D], gallery_feats [Ng, D]: numpy arrays or torch tensors (evaluated in float32, as fast-reid's
    ReidEvaluator does). Gallery items sharing the query's pid and camera are ignored; queries without a remaining
    true match are skipped. metric: "cosine" or "euclidean". block_size: query rows per score block (memory ~
    4 * block_size * Ng bytes; default ~256 MB). max_candidates bounds the items sorted at once (see exact_rank.py).
    max_rank: kept for fast-reid's signature (the length of its CMC curve; use rank_statistics(...).cmc(k) for a
    curve); the reported Rank-1/5/10 do not depend on it and are defined for galleries of fewer than 10 items too
    (where fast-reid's ReidEvaluator fails)."""
    check_positive_int(max_rank, "max_rank")
    ranks = rank_statistics(query_feats, gallery_feats, q_pids, g_pids, q_camids, g_camids, metric, block_size,
                            max_candidates)
    return summarize(ranks)
