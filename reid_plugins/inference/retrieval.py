"""Search a feature file with one query feature: index look-up, optional k-reciprocal re-ranking, JSON + rank-list PNG.

Re-ranking (Zhong et al. 2017, as fast-reid's ReidEvaluator with TEST.RERANK does it: jaccard distance from
fastreid.utils.compute_dist, on the CPU through reid_plugins.compat, then (1 - lambda) * jaccard + lambda * the
original distance) runs on the query and its `candidates` best gallery items from the index, not on the whole gallery:
k-reciprocal neighbourhoods of every gallery item cost O(n^2) for n items, and the final top-k lies within the
candidates whenever re-ranking moves items by fewer than `candidates` places. With candidates >= the gallery size it
is fast-reid's re-ranking of one query against the gallery exactly (tests/reid_plugins/inference/).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import List, Optional

import numpy as np

from ..evaluation.rank_list import JUNK, MATCH, UNKNOWN, WRONG
from .features import FeatureFile
from .index import GalleryIndex, IndexParams, StaleIndexError, build_index, choose_kind

EXACT_MAX_ITEMS = 200_000  # "auto": exact search up to here (one query reads every row once anyway)


@dataclass
class Hit:
    rank: int
    row: int
    path: str
    score: float  # what the list is ordered by, higher first: cosine similarity, or 1 - re-ranked distance
    cosine: float
    pid: Optional[str] = None
    camid: Optional[str] = None
    kind: str = UNKNOWN  # match / wrong / junk when the query's and the gallery's pids are known


@dataclass
class RerankParams:
    k1: int = 20  # fast-reid's TEST.RERANK defaults
    k2: int = 6
    lam: float = 0.3
    candidates: int = 100


def gallery_index(gallery: FeatureFile, kind: str = "auto", cache: bool = True,
                  params: Optional[IndexParams] = None, progress: bool = True) -> GalleryIndex:
    """The index to search: "exact" / "flat" builds IndexFlatIP; "approx" (or "auto" above EXACT_MAX_ITEMS) the
    approximate index for the gallery's size, cached next to the features (FEATS.<kind>.faiss) and reused while the
    features are unchanged."""
    n = len(gallery.features)
    if kind in ("exact", "flat") or (kind == "auto" and n <= EXACT_MAX_ITEMS):
        return build_index(gallery.features, "flat", params, progress=progress)
    if kind in ("approx", "auto"):
        kind = choose_kind(n)
    path = gallery.path[:-4] + f".{kind}.faiss"
    if cache and os.path.isfile(path):
        try:
            return GalleryIndex.load(path, gallery.features)
        except StaleIndexError:
            pass  # rebuilt below
    index = build_index(gallery.features, kind, params, progress=progress)
    if cache:
        index.save(path)
    return index


def search(gallery: FeatureFile, query: np.ndarray, top_k: int = 10, index: Optional[GalleryIndex] = None,
           rerank: Optional[RerankParams] = None, query_pid: Optional[str] = None,
           query_camid: Optional[str] = None) -> List[Hit]:
    """The top_k gallery items for one query feature [d] (unit norm), best first."""
    query = np.asarray(query, np.float32).reshape(1, -1)
    if query.shape[1] != gallery.features.shape[1]:
        raise ValueError(f"the query feature has dimension {query.shape[1]} but the gallery {gallery.path!r} has "
                         f"{gallery.features.shape[1]}: embed the query with the gallery's model")
    if top_k < 1:
        raise ValueError(f"--top-k must be >= 1, got {top_k}")
    index = index or build_index(gallery.features, "flat")
    n = len(gallery.features)
    depth = min(n, max(top_k, rerank.candidates) if rerank else top_k)
    scores, rows = index.search(query, depth)
    rows, scores = rows[0][rows[0] >= 0], scores[0][rows[0] >= 0]
    cosine = gallery.features[rows] @ query[0]  # exact, whichever index found them
    order_key = cosine
    if rerank is not None:
        order_key = 1.0 - rerank_distances(query[0], np.asarray(gallery.features[rows]), rerank)
    order = np.lexsort((rows, -order_key))[:top_k]
    hits = []
    for rank, i in enumerate(order, 1):
        row = int(rows[i])
        pid, cam = gallery.label("pids", row), gallery.label("camids", row)
        hits.append(Hit(rank, row, gallery.paths[row], float(order_key[i]), float(cosine[i]), pid, cam,
                        _kind(query_pid, query_camid, pid, cam)))
    return hits


def rerank_distances(query: np.ndarray, candidates: np.ndarray, params: RerankParams) -> np.ndarray:
    """fast-reid's re-ranked distance of one query to each candidate: (1 - lam) * jaccard + lam * cosine distance
    (ReidEvaluator.evaluate with TEST.RERANK and TEST.METRIC cosine), k1 / k2 capped at the candidates."""
    import torch
    import torch.nn.functional as F
    from fastreid.utils.compute_dist import build_dist  # the jaccard path is CPU-safe through reid_plugins.compat

    q = F.normalize(torch.from_numpy(np.array(query, np.float32).reshape(1, -1)), dim=1)
    g = F.normalize(torch.from_numpy(np.array(candidates, np.float32)), dim=1)
    k1 = max(1, min(params.k1, len(g)))
    k2 = max(1, min(params.k2, k1))
    dist = build_dist(q, g, metric="cosine")
    jaccard = build_dist(q, g, metric="jaccard", k1=k1, k2=k2)
    return (jaccard * (1 - params.lam) + dist * params.lam)[0]


def _kind(query_pid, query_camid, pid, camid) -> str:
    if query_pid is None or pid is None:
        return UNKNOWN
    if str(pid) != str(query_pid):
        return WRONG
    if query_camid is not None and camid is not None and str(camid) == str(query_camid):
        return JUNK
    return MATCH


def write_outputs(out: str, hits: List[Hit], query: dict, gallery: FeatureFile, title: str = "") -> tuple:
    """OUT.json ({"query": ..., "gallery": ..., "results": [hits]}) and OUT.png (the query, then the hits with their
    scores, framed by verdict); both written atomically. Returns their paths."""
    from ..utils.io import write_json_atomic
    from ..evaluation.rank_list import Cell, draw_rank_list

    base = out[:-5] if out.endswith(".json") else out[:-4] if out.endswith(".png") else out
    write_json_atomic(base + ".json", {"query": query, "gallery": gallery.path, "results": [asdict(h) for h in hits]},
                      indent=1)
    if "text" in query:
        first = Cell(query["text"], "query", "text query", text=True)
    else:
        first = Cell(query["image"], "query", "query" + (f" pid {query['pid']}" if query.get("pid") else ""))
    cells = [first] + [Cell(h.path, h.kind, f"#{h.rank} {h.score:.3f}") for h in hits]
    known = any(h.kind != UNKNOWN for h in hits)
    legend = ("green: same identity   red: another identity   grey: same identity and camera   blue: query" if known
              else "identities unknown (give the gallery labels and the query's pid for green / red frames)")
    draw_rank_list(base + ".png", [cells], title or f"top-{len(hits)} of {len(gallery.features)}", legend)
    return base + ".json", base + ".png"
