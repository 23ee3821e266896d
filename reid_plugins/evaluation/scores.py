"""Query x gallery scores (higher = better), one block of query rows at a time.

The formulas are fast-reid's (`fastreid.utils.compute_dist`), so the ordering matches its distance matrix up to
float32 rounding: cosine scores are normalize(q) @ normalize(g).T (fast-reid's distance is 1 - that, a monotone map);
euclidean scores are -( |q|^2 + |g|^2 - 2 q.g ).
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
    buffer: consume it before the next step.

    The GEMM is numpy's (OpenBLAS, its own threads) rather than torch.mm: torch's CPU wheels use MKL, whose sgemm
    runs a generic code path on AMD CPUs (1.5x slower than OpenBLAS on this project's AMD EPYC machines, measured in
    benchmarks/eval_speed.py); the scores equal torch's to float32 rounding."""
    block_size = block_size or auto_block_size(len(gallery))
    if metric == "cosine":
        query, gallery = F.normalize(query, p=2, dim=1), F.normalize(gallery, p=2, dim=1)
    q_np, g_t = query.numpy(), gallery.numpy().T
    if metric != "cosine":
        q_sq = np.einsum("ij,ij->i", q_np, q_np)[:, None]
        g_sq = np.einsum("ij,ij->i", g_t.T, g_t.T)[None, :]
    # One preallocated buffer: a fresh 256 MB array per block would be paid again in page faults every time.
    buffer = np.empty((min(block_size, len(query)), len(gallery)), dtype=np.float32)
    # (no torch.no_grad() here: a generator suspended inside it would switch autograd off for its caller; the
    # features come detached from inputs.as_features instead)
    for start in range(0, len(query), block_size):
        q = q_np[start:start + block_size]
        out = buffer[: len(q)]
        np.matmul(q, g_t, out=out)
        if metric != "cosine":  # -(|q|^2 + |g|^2 - 2 q.g), fast-reid's euclidean distance negated
            np.multiply(out, 2, out=out)
            np.subtract(out, q_sq[start:start + len(q)], out=out)
            np.subtract(out, g_sq, out=out)
        yield start, torch.from_numpy(out)


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
