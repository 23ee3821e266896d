"""2-D map of the style clusters (PCA or t-SNE from scikit-learn), saved as a PNG (matplotlib, Agg)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..utils.figures import save_figure

MAX_POINTS = 5000  # t-SNE is quadratic; a seeded subsample keeps the map quick and readable


def project_2d(x: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(x)
    if method == "tsne":
        from threadpoolctl import threadpool_limits

        # One OpenMP thread: on a shared, busy CPU t-SNE's spinning worker threads made it ~15x slower.
        with threadpool_limits(limits=1):
            return TSNE(n_components=2, perplexity=min(30.0, max(2.0, (len(x) - 1) / 3)), init="pca",
                        random_state=seed).fit_transform(x)
    raise ValueError(f"CAPTIONING.STYLE.MAP_METHOD={method!r}: expected 'pca' or 'tsne'")


def save_style_map(path: str, embeddings: np.ndarray, labels: Sequence[int], method: str = "pca", seed: int = 0,
                   title: str = "") -> str:
    """Scatter of the embeddings in 2-D, one colour per cluster, legend with cluster sizes; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = np.asarray(labels)
    sizes = np.bincount(labels)
    idx = np.arange(len(labels))
    if len(idx) > MAX_POINTS:
        idx = np.sort(np.random.default_rng(seed).choice(len(idx), MAX_POINTS, replace=False))
    xy = project_2d(np.asarray(embeddings)[idx], method, seed)
    cmap = plt.get_cmap("tab10" if len(sizes) <= 10 else "tab20")  # tab20 pairs similar shades
    fig, ax = plt.subplots(figsize=(8, 7), dpi=110)
    for c in np.unique(labels[idx]):
        sel = labels[idx] == c
        ax.scatter(xy[sel, 0], xy[sel, 1], s=8, alpha=0.7, color=cmap(int(c) % cmap.N),
                   label=f"style {c} (n={sizes[c]})")
    if len(sizes) <= 20:
        ax.legend(loc="best", fontsize=7, markerscale=2, frameon=True)
    ax.set_title(title or f"{len(sizes)} caption style clusters ({method.upper()}, {len(idx)} of {len(labels)} "
                          f"captions shown)", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return save_figure(fig, path)
