"""Style clustering of caption embeddings (paper §3.3): DBSCAN, noise re-assigned to the nearest cluster centroid,
clusters below a size threshold merged into their nearest cluster. The Table-4 alternatives (HDBSCAN, k-means,
GMM, agglomerative, random grouping) are available for the ablation; all come from scikit-learn.

Embeddings are L2-normalised, so cosine distance is what DBSCAN's eps measures, and "nearest centroid" means the
highest cosine similarity to the (re-normalised) mean of a cluster.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import List, Tuple

import numpy as np

logger = logging.getLogger(__name__)


@dataclass
class StyleClustering:
    labels: np.ndarray  # [N] final cluster 0..K-1, clusters numbered by decreasing size
    centroids: np.ndarray  # [K, D] L2-normalised
    raw_clusters: int  # clusters the algorithm found (before merging)
    noise: int  # points the algorithm left as noise (then re-assigned)
    merged: List[Tuple[int, int]] = field(default_factory=list)  # (small raw cluster, raw cluster it joined)
    fitted: int = 0  # points the algorithm was fitted on (the rest joined the nearest centroid)

    @property
    def sizes(self) -> List[int]:
        return np.bincount(self.labels, minlength=len(self.centroids)).tolist()

    @property
    def num_clusters(self) -> int:
        return len(self.centroids)


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def raw_labels(x: np.ndarray, method: str, *, eps: float, min_samples: int, n_clusters: int,
               seed: int) -> np.ndarray:
    """The algorithm's own labels for normalised `x` (-1 = noise, only DBSCAN / HDBSCAN produce it)."""
    from sklearn import cluster, mixture

    if method == "dbscan":
        return cluster.DBSCAN(eps=eps, min_samples=min_samples, metric="cosine").fit_predict(x)
    if method == "hdbscan":
        # Euclidean on unit vectors orders pairs exactly as cosine distance does.
        return cluster.HDBSCAN(min_cluster_size=max(2, min_samples), min_samples=min_samples).fit_predict(x)
    k = min(n_clusters, len(x))
    if method == "kmeans":
        return cluster.KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)
    if method == "gmm":
        return mixture.GaussianMixture(n_components=k, covariance_type="diag", random_state=seed).fit_predict(x)
    if method == "agglomerative":
        return cluster.AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average").fit_predict(x)
    if method == "random":
        return np.random.default_rng(seed).integers(0, k, size=len(x))
    raise ValueError(f"CAPTIONING.STYLE.METHOD={method!r}: expected dbscan, hdbscan, kmeans, gmm, agglomerative "
                     f"or random")


def cluster_styles(embeddings: np.ndarray, method: str = "dbscan", *, eps: float = 0.2, min_samples: int = 5,
                   min_cluster_size: int = 10, n_clusters: int = 8, max_points: int = 20000,
                   seed: int = 0) -> StyleClustering:
    x = _normalize(np.asarray(embeddings, dtype=np.float64))
    n = len(x)
    if n == 0:
        raise ValueError("no embeddings to cluster")
    fit_idx = np.arange(n)
    if n > max_points:  # DBSCAN's neighbourhoods grow quadratically: fit a seeded subsample
        fit_idx = np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))
    raw = raw_labels(x[fit_idx], method, eps=eps, min_samples=min_samples, n_clusters=n_clusters, seed=seed)
    found = sorted(set(raw.tolist()) - {-1})
    if not found:
        raise ValueError(f"{method} found no cluster: all {len(fit_idx)} captions are noise at "
                         f"CAPTIONING.STYLE.EPS={eps}, MIN_SAMPLES={min_samples}; raise EPS or lower MIN_SAMPLES")
    noise = int((raw == -1).sum())

    # Clusters as member lists keyed by raw label; noise joins the nearest centroid of the clusters found.
    members = {c: list(np.flatnonzero(raw == c)) for c in found}
    cents = {c: _normalize(x[fit_idx[m]].mean(0, keepdims=True))[0] for c, m in members.items()}
    noise_idx = np.flatnonzero(raw == -1)
    if len(noise_idx):
        ids = np.array(found)
        nearest = ids[np.argmax(x[fit_idx[noise_idx]] @ np.stack([cents[c] for c in found]).T, axis=1)]
        for i, c in zip(noise_idx, nearest):
            members[int(c)].append(int(i))
        cents = {c: _normalize(x[fit_idx[m]].mean(0, keepdims=True))[0] for c, m in members.items()}

    # Merge the smallest cluster below the threshold into its nearest other cluster, one at a time.
    merged = []
    while len(members) > 1:
        small = min(members, key=lambda c: (len(members[c]), c))
        if len(members[small]) >= min_cluster_size:
            break
        others = [c for c in members if c != small]
        into = others[int(np.argmax(np.stack([cents[c] for c in others]) @ cents[small]))]
        members[into] += members.pop(small)
        cents.pop(small)
        cents[into] = _normalize(x[fit_idx[members[into]]].mean(0, keepdims=True))[0]
        merged.append((int(small), int(into)))
    if merged:
        logger.info("merged %d clusters smaller than %d captions", len(merged), min_cluster_size)

    order = sorted(members, key=lambda c: (-len(members[c]), c))
    centroids = np.stack([cents[c] for c in order])
    # Every point (fitted or not) gets the final cluster it belongs to; unfitted ones the nearest centroid.
    labels = np.argmax(x @ centroids.T, axis=1)
    for new, c in enumerate(order):
        labels[fit_idx[members[c]]] = new
    return StyleClustering(labels=labels.astype(np.int64), centroids=centroids.astype(np.float32),
                           raw_clusters=len(found), noise=noise, merged=merged, fitted=len(fit_idx))
