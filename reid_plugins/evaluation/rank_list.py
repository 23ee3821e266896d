"""Rank-list pictures: each row is a query followed by its top-k gallery items, framed green (true match), red (wrong
identity) or grey (junk: same pid and camera, ignored by the Market-1501 protocol); dark grey when the identities are
unknown. Works for any model: it only needs features, ids and image paths (plot_rank_list), or the rows themselves
(draw_rank_list, which python -m reid_plugins.search uses; a text query is drawn as its text). Ordering and ties as
in the evaluation (see exact_rank.py)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from ..utils.figures import save_figure
from .inputs import as_features, as_labels, check_metric, check_positive_int, check_same_dim
from .scores import feature_score_blocks

MATCH, WRONG, JUNK, UNKNOWN = "match", "wrong", "junk", "unknown"
COLOURS = {MATCH: "#1a9641", WRONG: "#d7191c", JUNK: "#9e9e9e", UNKNOWN: "#404040", "query": "#2c7bb6"}


@dataclass
class RankRow:
    query: int
    gallery: np.ndarray  # top-k gallery indices, best first
    scores: np.ndarray
    kinds: List[str]  # MATCH / WRONG / JUNK per gallery item
    query_pid: object


def top_k_rows(query_feats, gallery_feats, q_pids, g_pids, q_camids, g_camids, query_indices: Sequence[int],
               topk: int = 10, metric: str = "cosine") -> List[RankRow]:
    """Top-k gallery items of the chosen queries (junk included, so that it can be shown)."""
    check_metric(metric)
    topk = check_positive_int(topk, "topk")
    qf = as_features(query_feats, "query_feats")
    gf = as_features(gallery_feats, "gallery_feats")
    check_same_dim(qf, gf, "query_feats", "gallery_feats")
    q_pids, q_cams = (as_labels(x, n, len(qf), "query_feats row") for x, n in ((q_pids, "q_pids"),
                                                                               (q_camids, "q_camids")))
    g_pids, g_cams = (as_labels(x, n, len(gf), "gallery_feats row") for x, n in ((g_pids, "g_pids"),
                                                                                 (g_camids, "g_camids")))
    idx = np.asarray(query_indices, dtype=np.int64).reshape(-1)
    if len(idx) == 0 or idx.min() < 0 or idx.max() >= len(qf):
        raise ValueError(f"query_indices must be non-empty indices in [0, {len(qf)}), got {idx.tolist()[:10]}")
    rows = []
    for start, block in feature_score_blocks(qf[idx], gf, metric):
        for i, scores in enumerate(block.numpy()):
            q = int(idx[start + i])
            order = np.argsort(-scores, kind="stable")[:topk]  # stable: ties go to the lower gallery index
            same = g_pids[order] == q_pids[q]
            kinds = [JUNK if s and c == q_cams[q] else (MATCH if s else WRONG)
                     for s, c in zip(same, g_cams[order])]
            rows.append(RankRow(q, order, scores[order].copy(), kinds, q_pids[q]))
    return rows


CELL_H, CELL_W, BORDER, GAP = 128, 64, 4, 6  # pixels per picture in the grid


def plot_rank_list(out_path: str, query_paths: Sequence[str], gallery_paths: Sequence[str], query_feats,
                   gallery_feats, q_pids, g_pids, q_camids, g_camids, query_indices: Optional[Sequence[int]] = None,
                   num_queries: int = 8, topk: int = 10, metric: str = "cosine", title: str = "") -> str:
    """Write the rank-list PNG and return its path. query_indices default: num_queries evenly spaced queries."""
    if len(query_paths) != len(query_feats) or len(gallery_paths) != len(gallery_feats):
        raise ValueError(f"got {len(query_paths)} query paths for {len(query_feats)} query features and "
                         f"{len(gallery_paths)} gallery paths for {len(gallery_feats)} gallery features")
    num_q = len(query_paths)
    if query_indices is None:
        count = min(check_positive_int(num_queries, "num_queries"), num_q)
        query_indices = np.unique(np.linspace(0, num_q - 1, count).round().astype(np.int64))
    rows = top_k_rows(query_feats, gallery_feats, q_pids, g_pids, q_camids, g_camids, query_indices, topk, metric)
    cells = [[Cell(query_paths[row.query], "query", f"query pid {row.query_pid}")]
             + [Cell(gallery_paths[g], kind, f"#{k} {score:.2f}")
                for k, (g, score, kind) in enumerate(zip(row.gallery, row.scores, row.kinds), start=1)]
             for row in rows]
    return draw_rank_list(out_path, cells, title or f"top-{topk} ({metric})")


@dataclass
class Cell:
    """One picture of a rank-list row: an image path (or, with text=True, a text shown in place of a picture),
    its frame kind (COLOURS) and the caption above it."""

    content: str
    kind: str
    label: str
    text: bool = False


LEGEND = "green: true match   red: wrong identity   grey: junk (same pid and camera, ignored)   blue: query"


def draw_rank_list(out_path: str, rows: Sequence[Sequence[Cell]], title: str, legend: str = LEGEND) -> str:
    """Rows of cells (query first) on one canvas, written as a PNG; returns out_path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # One canvas shown by a single imshow: a subplot per picture is ~100x slower to draw.
    ncols = max(len(r) for r in rows)
    pitch_w, pitch_h = CELL_W + 2 * BORDER + GAP, CELL_H + 2 * BORDER + 3 * GAP
    canvas = np.full((len(rows) * pitch_h, ncols * pitch_w + GAP, 3), 255, np.uint8)
    labels, texts = [], []
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            y, x = i * pitch_h + 3 * GAP, j * pitch_w + GAP + (GAP if j else 0)
            canvas[y:y + CELL_H + 2 * BORDER, x:x + CELL_W + 2 * BORDER] = _hex_rgb(COLOURS[cell.kind])
            inner = canvas[y + BORDER:y + BORDER + CELL_H, x + BORDER:x + BORDER + CELL_W]
            if cell.text:
                inner[:] = 255
                texts.append((x + BORDER + 3, y + BORDER + 3, _wrap(cell.content)))
            else:
                inner[:] = _load_cell(cell.content)
            labels.append((x + pitch_w / 2 - GAP / 2, y - 2, cell.label, COLOURS[cell.kind]))

    dpi = 100
    fig = plt.figure(figsize=(canvas.shape[1] / dpi, canvas.shape[0] / dpi + 0.45), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, canvas.shape[0] / (canvas.shape[0] + 45)))
    ax.imshow(canvas, interpolation="nearest")
    ax.set_axis_off()
    for x, y, label, colour in labels:
        ax.text(x, y, label, ha="center", va="bottom", fontsize=6.5, color=colour)
    for x, y, text in texts:
        ax.text(x, y, text, ha="left", va="top", fontsize=5.5, color="black")
    fig.text(0.5, 1 - 0.12 / (canvas.shape[0] / dpi + 0.45), title, ha="center", va="top", fontsize=9)
    fig.text(0.5, 1 - 0.3 / (canvas.shape[0] / dpi + 0.45), legend, ha="center", va="top", fontsize=7)
    return save_figure(fig, out_path, dpi=dpi)


def _wrap(text: str, width: int = 14, max_lines: int = 14) -> str:
    import textwrap

    lines = textwrap.wrap(text, width) or [""]
    return "\n".join(lines[:max_lines - 1] + ["..."] if len(lines) > max_lines else lines)


def _hex_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[k:k + 2], 16) for k in (1, 3, 5)], np.uint8)


def _load_cell(path: str) -> np.ndarray:
    from PIL import Image

    if not os.path.isfile(path):
        raise FileNotFoundError(f"rank-list image {path!r} does not exist")
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB").resize((CELL_W, CELL_H), Image.BILINEAR))
