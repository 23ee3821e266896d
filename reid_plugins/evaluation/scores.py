"""Query x gallery scores (higher = better), one block of query rows at a time.

The formulas are fast-reid's (`fastreid.utils.compute_dist`), so the ordering matches its distance matrix:
cosine scores are normalize(q) @ normalize(g).T (fast-reid's distance is 1 - that, a monotone map); euclidean scores
are -( |q|^2 + |g|^2 - 2 q.g ), computed with the same addmm (negating is exact, so the ordering is identical).
"""
from __future__ import annotations

from typing import Iterator, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_BLOCK_BYTES = 256 << 20  # score block size when the caller gives no block_size


def auto_block_size(num_gallery: int, block_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    """Query rows per block so that one float32 score block takes about block_bytes."""
    return max(1, block_bytes // (4 * num_gallery))


def feature_score_blocks(query: torch.Tensor, gallery: torch.Tensor, metric: str,
                         block_size: Optional[int] = None) -> Iterator[Tuple[int, torch.Tensor]]:
    """Yield (first row, scores [rows, num_gallery]) for detached float32 features; the yielded tensor is a reused
    buffer: consume it before the next step. Multi-threaded through torch's intra-op pool (torch.set_num_threads)."""
    block_size = block_size or auto_block_size(len(gallery))
    if metric == "cosine":
        query, gallery = F.normalize(query, p=2, dim=1), F.normalize(gallery, p=2, dim=1)
    else:
        q_sq = query.pow(2).sum(dim=1, keepdim=True)
        g_sq = gallery.pow(2).sum(dim=1, keepdim=True).t()
    # One preallocated buffer: a fresh 256 MB tensor per block would be paid again in page faults every time.
    buffer = torch.empty(min(block_size, len(query)), len(gallery), dtype=torch.float32)
    g_t = gallery.t()
    # (no torch.no_grad() here: a generator suspended inside it would switch autograd off for its caller; the
    # features come detached from inputs.as_features instead)
    for start in range(0, len(query), block_size):
        q = query[start:start + block_size]
        out = buffer[: len(q)]
        if metric == "cosine":
            torch.mm(q, g_t, out=out)
        else:
            torch.add(q_sq[start:start + len(q)], g_sq, out=out).neg_()
            out.addmm_(q, g_t, beta=1, alpha=2)
        yield start, out


def matrix_score_blocks(similarity, block_size: Optional[int] = None,
                        name: str = "similarity") -> Iterator[Tuple[int, torch.Tensor]]:
    """Row blocks of a given similarity matrix (numpy or torch; float64 stays float64, others become float32 block
    by block, so the matrix is never copied whole). Raises on NaN / inf, naming the first bad row."""
    sim = torch.from_numpy(similarity) if isinstance(similarity, np.ndarray) else similarity.detach().cpu()
    block_size = block_size or auto_block_size(sim.shape[1])
    for start in range(0, sim.shape[0], block_size):
        block = sim[start:start + block_size]
        if block.dtype not in (torch.float32, torch.float64):
            block = block.to(torch.float32)
        finite = torch.isfinite(block).all(1)
        if not bool(finite.all()):
            row = start + int((~finite).nonzero()[0])
            raise ValueError(f"{name} contains NaN or inf values (first in row {row})")
        yield start, block
