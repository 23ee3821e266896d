"""Exact positions of every true match in each query's ranked gallery list, block by block, without sorting rows.

Why no full sort: CMC, mAP and mINP depend only on where a query's true matches land in its ranked list. Every true
match scores at least as well as the query's worst true match w, so only gallery items scoring >= w can precede one.
For each block of queries we (1) take the block's scores (one GEMM, done by the caller), (2) gather the scores of the
queries' true matches (few: found through a pid -> gallery index table) and keep the worst per query, (3) select the
"candidates" scoring >= it with one comparison pass, and (4) sort only the true matches and place every wrong
candidate among them by binary search (_rank_candidates). With useful features the candidates are a small fraction of
the gallery. In the worst case (features without identity information) they approach whole rows and the cost grows
towards n log m per row (m true matches); memory stays bounded by `max_candidates` either way.

Order and ties: item a precedes item b iff score_a > score_b, or the scores are equal and a has the smaller gallery
index (a stable sort by decreasing score). fast-reid's np.argsort (not stable) and IRRA's torch.argsort order ties
arbitrarily, so results equal theirs whenever the scores have no ties.

Junk (Market-1501 protocol): with cameras given, gallery items with the query's pid *and* camera are removed from the
query's list; a query whose list then holds no true match is invalid (skipped by the averages).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Tuple

import numpy as np
import torch

DEFAULT_MAX_CANDIDATES = 1 << 22  # score entries scanned (and at most candidates sorted) at once: <= ~150 MB


@dataclass
class MatchRanks:
    """Per-query results; the ranks are 0-based positions in the query's list (junk removed)."""

    first: np.ndarray  # int64, rank of the best true match, -1 for invalid queries
    last: np.ndarray  # int64, rank of the worst true match, -1 for invalid queries
    num_matches: np.ndarray  # int64, true matches (junk excluded)
    ap: np.ndarray  # float64 average precision, NaN for invalid queries

    @property
    def valid(self) -> np.ndarray:
        return self.num_matches > 0

    @property
    def inp(self) -> np.ndarray:
        """Inverse negative penalty: matches / (rank of the hardest match + 1); NaN for invalid queries."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.valid, self.num_matches / (self.last + 1.0), np.nan)

    def cmc(self, max_rank: int) -> np.ndarray:
        """CMC over valid queries at ranks 1..max_rank. Beyond a list's end the curve stays at its last value (1 for a
        valid query), so ranks larger than the gallery are defined (fast-reid instead truncates to the gallery size)."""
        first = self.first[self.valid]
        hits = np.bincount(np.minimum(first, max_rank), minlength=max_rank + 1)[:max_rank]
        return np.cumsum(hits) / len(first)


class GalleryIndex:
    """label -> gallery indices table (sorted labels + offsets), so a query's true matches are found without a scan."""

    def __init__(self, labels: np.ndarray):
        self.order = np.argsort(labels, kind="stable")
        self.labels, self.starts, self.counts = np.unique(labels[self.order], return_index=True, return_counts=True)

    def same_label_pairs(self, query_labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(row, gallery index) of every gallery item sharing row's label, grouped by row."""
        slot = np.minimum(np.searchsorted(self.labels, query_labels), len(self.labels) - 1)
        count = np.where(self.labels[slot] == query_labels, self.counts[slot], 0)
        rows = np.repeat(np.arange(len(query_labels)), count)
        within = np.arange(len(rows)) - (np.cumsum(count) - count)[rows]
        return rows, self.order[self.starts[slot][rows] + within]


def match_ranks(score_blocks: Iterable[Tuple[int, torch.Tensor]], q_labels: np.ndarray, g_labels: np.ndarray,
                q_cams: Optional[np.ndarray] = None, g_cams: Optional[np.ndarray] = None,
                max_candidates: int = DEFAULT_MAX_CANDIDATES) -> MatchRanks:
    """Consume (first query row, scores [rows, num_gallery]) blocks covering all queries in order; higher scores rank
    first. Labels and cameras are int64 arrays (cameras None: no junk removal, IRRA's protocol)."""
    nq = len(q_labels)
    result = MatchRanks(np.full(nq, -1, np.int64), np.full(nq, -1, np.int64), np.zeros(nq, np.int64),
                        np.full(nq, np.nan))
    gallery = GalleryIndex(g_labels)
    done = 0
    for start, scores in score_blocks:
        if start != done or scores.shape[1] != len(g_labels) or start + scores.shape[0] > nq:
            raise ValueError(f"score block at row {start} with shape {tuple(scores.shape)} does not continue rows "
                             f"[0, {done}) of a {nq} x {len(g_labels)} score matrix")
        end = start + scores.shape[0]
        cams = (q_cams[start:end], g_cams) if q_cams is not None else None
        _block_match_ranks(scores, q_labels[start:end], g_labels, cams, gallery, max_candidates, result, start)
        done = end
    if done != nq:
        raise ValueError(f"score blocks covered {done} of {nq} query rows")
    return result


# Past the GEMM everything is numpy: the per-candidate arrays are small, and torch's thread pool costs more than the
# work itself there (it stalls on a busy machine).
def _block_match_ranks(scores, q_lab, g_lab, cams, gallery: GalleryIndex, max_candidates, out: MatchRanks, offset):
    rows, num_gallery = scores.shape
    scores_np = scores.numpy()
    pair_row, pair_col = gallery.same_label_pairs(q_lab)
    if cams is not None:  # same pid and same camera: junk, not a true match
        keep = cams[1][pair_col] != cams[0][pair_row]
        pair_row, pair_col = pair_row[keep], pair_col[keep]
    worst = np.full(rows, np.inf, dtype=scores_np.dtype)
    np.minimum.at(worst, pair_row, scores_np[pair_row, pair_col])

    # numpy's compare + flatnonzero on row chunks that stay in cache beat torch's threaded ge + nonzero ~3x here
    gallery_bits = max(1, int(num_gallery - 1).bit_length())
    step = max(1, max_candidates // num_gallery)  # rows whose candidates can never exceed max_candidates
    step = min(step, 1 << (64 - SCORE_BITS - gallery_bits))  # (row, score, index) must pack into 64 bits
    mask = np.empty((min(step, rows), num_gallery), dtype=bool)
    for r0 in range(0, rows, step):
        r1 = min(r0 + step, rows)
        # queries without a true match get no candidates (worst = +inf)
        np.greater_equal(scores_np[r0:r1], worst[r0:r1, None], out=mask[: r1 - r0])
        r, c = np.divmod(np.flatnonzero(mask[: r1 - r0]), num_gallery)
        s = scores_np[r + r0, c]
        same = g_lab[c] == q_lab[r + r0]
        if cams is not None:  # junk leaves the list
            valid = ~(same & (cams[1][c] == cams[0][r + r0]))
            r, c, s, same = r[valid], c[valid], s[valid], same[valid]
        first, last, num, ap = _rank_candidates(r, c, s, same, r1 - r0, gallery_bits)
        sl = slice(offset + r0, offset + r1)
        out.first[sl], out.last[sl], out.num_matches[sl], out.ap[sl] = first, last, num, ap


SCORE_BITS = 32


def _score_codes(s: np.ndarray) -> np.ndarray:
    """uint64 codes, smaller for better scores, equal exactly for equal scores, below 2**SCORE_BITS."""
    if s.dtype == np.float32:  # order-preserving bit trick: no sort needed
        bits = (s + np.float32(0)).view(np.uint32)  # + 0 turns -0.0 into 0.0, which compares equal to it
        ascending = np.where(bits >> 31 == 1, ~bits, bits | np.uint32(1 << 31))
        return (~ascending).astype(np.uint64)
    _, codes = np.unique(-s, return_inverse=True)  # other dtypes: dense rank (fewer than 2**32 candidates)
    return codes.reshape(-1).astype(np.uint64)


def _rank_candidates(r, c, s, same, rows, gallery_bits):
    """Per-row first / last match rank, match count and AP from the candidates (r = row in the chunk, c = gallery
    index, s = score, same = true match; junk already removed).

    Each candidate gets one 64-bit key (row, score code, gallery index): within a row the keys are ordered exactly
    as the ranked list, ties included. Only the true matches' keys are sorted (few); each wrong candidate is located
    among them by binary search, so the rank of match j = wrong items below it + matches before it in its row."""
    key = ((r.astype(np.uint64) << np.uint64(SCORE_BITS + gallery_bits))
           | (_score_codes(s) << np.uint64(gallery_bits)) | c.astype(np.uint64))
    match_key = np.sort(key[same])  # grouped by row, best first
    match_row = (match_key >> np.uint64(SCORE_BITS + gallery_bits)).astype(np.int64)
    # wrong candidates with a key below match j: those of earlier rows plus those ranked before j in its row
    wrong_below = np.cumsum(np.bincount(np.searchsorted(match_key, key[~same]), minlength=len(match_key) + 1))
    wrong_per_row = np.bincount(r[~same], minlength=rows)
    num = np.bincount(match_row, minlength=rows)
    match_start = np.cumsum(num) - num
    hit_no = np.arange(len(match_key)) - match_start[match_row]  # 0 for the best match of its row
    rank = (wrong_below[: len(match_key)] - (np.cumsum(wrong_per_row) - wrong_per_row)[match_row]) + hit_no
    ap_sum = np.bincount(match_row, weights=(hit_no + 1.0) / (rank + 1.0), minlength=rows)

    has = num > 0
    first = np.full(rows, -1, np.int64)
    last = np.full(rows, -1, np.int64)
    first[has] = rank[match_start[has]]
    last[has] = rank[match_start[has] + num[has] - 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = np.where(has, ap_sum / num, np.nan)
    return first, last, num, ap
