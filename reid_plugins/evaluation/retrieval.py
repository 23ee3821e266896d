"""Text-to-image retrieval metrics as IRRA computes them (anosorae/IRRA utils/metrics.py `rank`), exact and blocked.

IRRA's protocol: a gallery item is a true match iff it has the query's pid (no camera junk, no same-image rule);
R@k is the fraction of queries with a match in the top k; AP and INP as in image Re-ID; every query needs a match
(IRRA's own code divides by zero / fails otherwise, so we raise). Ties: see exact_rank.py (stable by gallery index).
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch

from .exact_rank import DEFAULT_MAX_CANDIDATES, MatchRanks, match_ranks
from .inputs import as_features, as_labels, check_positive_int, check_same_dim, factorize
from .scores import feature_score_blocks, matrix_score_blocks


def retrieval_metrics(similarity, query_pids, gallery_pids, block_size: Optional[int] = None,
                      max_candidates: int = DEFAULT_MAX_CANDIDATES) -> Dict[str, float]:
    """R1, R5, R10, mAP, mINP (percent) from a [num_query, num_gallery] similarity (numpy or torch, higher = more
    similar). The matrix is read block by block (block_size query rows at a time) and never copied whole."""
    if isinstance(similarity, np.ndarray):
        shape = similarity.shape
    elif isinstance(similarity, torch.Tensor):
        shape = tuple(similarity.shape)
    else:
        raise TypeError(f"similarity must be a numpy array or a torch tensor, got {type(similarity).__name__}")
    if len(shape) != 2 or 0 in shape:
        raise ValueError(f"similarity must be a non-empty 2-D [num_query, num_gallery] matrix, got shape {shape}")
    q, g = _labels(query_pids, gallery_pids, *shape, per=("similarity row", "similarity column"))
    _check_args(block_size, max_candidates)
    return summarize_retrieval(match_ranks(matrix_score_blocks(similarity, block_size), q, g,
                                           max_candidates=max_candidates))


def retrieval_metrics_from_features(query_feats, gallery_feats, query_pids, gallery_pids,
                                    block_size: Optional[int] = None,
                                    max_candidates: int = DEFAULT_MAX_CANDIDATES) -> Dict[str, float]:
    """Same metrics from features (e.g. text queries vs image gallery): both L2-normalised, cosine similarity, as
    IRRA does; the similarity matrix is computed block by block and never held whole."""
    qf = as_features(query_feats, "query_feats")
    gf = as_features(gallery_feats, "gallery_feats")
    check_same_dim(qf, gf, "query_feats", "gallery_feats")
    q, g = _labels(query_pids, gallery_pids, len(qf), len(gf))
    _check_args(block_size, max_candidates)
    return summarize_retrieval(match_ranks(feature_score_blocks(qf, gf, "cosine", block_size), q, g,
                                           max_candidates=max_candidates))


def summarize_retrieval(ranks: MatchRanks) -> Dict[str, float]:
    missing = np.flatnonzero(~ranks.valid)
    if len(missing):
        raise ValueError(f"{len(missing)} of {len(ranks.valid)} queries have no gallery item with their pid "
                         f"(query rows {missing[:5].tolist()}{' ...' if len(missing) > 5 else ''}); IRRA's metrics "
                         "need a true match for every query")
    cmc = ranks.cmc(10)
    return {"R1": float(cmc[0]) * 100, "R5": float(cmc[4]) * 100, "R10": float(cmc[9]) * 100,
            "mAP": float(np.mean(ranks.ap)) * 100, "mINP": float(np.mean(ranks.inp)) * 100}


def _labels(query_pids, gallery_pids, num_query, num_gallery, per=("query_feats row", "gallery_feats row")):
    return factorize(as_labels(query_pids, "query_pids", num_query, per[0]),
                     as_labels(gallery_pids, "gallery_pids", num_gallery, per[1]), ("query_pids", "gallery_pids"))


def _check_args(block_size, max_candidates):
    if block_size is not None:
        check_positive_int(block_size, "block_size")
    check_positive_int(max_candidates, "max_candidates")
