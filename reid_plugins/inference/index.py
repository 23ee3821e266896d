"""Gallery indexes on faiss, built in chunks from memory-mapped .npy features (unit-norm rows, inner product).

    flat   faiss.IndexFlatIP: exact; holds every vector (n x d x 4 bytes)
    hnsw   faiss.IndexHNSWFlat (M=32): approximate, for galleries below HNSW_MAX_ITEMS; holds every vector plus the
           graph, builds in about a minute per 100k 512-d vectors on 2 cores
    ivfpq  faiss IVF<nlist>,PQ<d/8>x4fs (4-bit fast-scan PQ, 32 bytes per 512-d vector) whose top `refine`
           candidates per query are re-scored exactly from the memory-mapped features: for large galleries (the codes
           take 1/64 of the features; k-means on 39 x nlist vectors, nlist ~ 4 sqrt(n) rounded to a power of 2). The
           features' pages are read in once the index is ready (the re-scoring reads random rows), so the process
           holds about the features' size plus the codes

`choose_kind(n)` picks the approximate one by size. Measured speed / recall / memory: benchmarks/README.md
(benchmarks/gallery_search.py). Chunks are copied out of the mapping one at a time and their pages released
(madvise(MADV_DONTNEED)), so building never holds more of the file in memory than one chunk.

Sharding (several machines): benchmarks/README.md, "Sharding a gallery"; `merge_shard_results` merges the top-k
lists of shards that each index a contiguous block of rows.
"""
from __future__ import annotations

import mmap
import os
from dataclasses import asdict, dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..utils.io import read_json, write_bytes_atomic, write_json_atomic

FLAT, HNSW, IVFPQ = "flat", "hnsw", "ivfpq"
KINDS = (FLAT, HNSW, IVFPQ)
HNSW_MAX_ITEMS = 50_000  # from here on IVF-PQ builds faster and searches faster at equal recall (benchmarks/)
DEFAULT_CHUNK_ROWS = 65_536


@dataclass
class IndexParams:
    hnsw_m: int = 32
    ef_construction: int = 40
    ef_search: int = 128
    nlist: int = 0  # 0: default_nlist(n)
    train_per_list: int = 39  # k-means training vectors per inverted list (faiss warns below 39)
    kmeans_iters: int = 10
    nprobe: int = 16
    refine: int = 100  # IVF-PQ candidates per query re-scored exactly
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    seed: int = 0


def choose_kind(num_items: int) -> str:
    """The approximate index for a gallery of this size."""
    return HNSW if num_items < HNSW_MAX_ITEMS else IVFPQ


def default_nlist(num_items: int) -> int:
    """4 sqrt(n) rounded to a power of 2, the low end of faiss's guideline (4 to 16 sqrt(n)). With sqrt(n) lists,
    1M Re-ID-like features kept only 76 % of the true top-10 in the 16 lists closest to the query (lists mixing
    several look-alike groups); with 4 sqrt(n), all of them in the closest 8 (benchmarks/README.md)."""
    return int(2 ** round(np.log2(max(1.0, 4 * np.sqrt(num_items)))))


def check_features(features, name: str = "gallery features") -> None:
    if not isinstance(features, np.ndarray) or features.ndim != 2 or features.dtype != np.float32:
        raise ValueError(f"{name} must be a 2-D float32 array (an .npy written by python -m reid_plugins.extract), "
                         f"got {type(features).__name__} {getattr(features, 'shape', '')} "
                         f"{getattr(features, 'dtype', '')}")
    if len(features) == 0:
        raise ValueError(f"{name} are empty (0 rows): nothing to index")


def feature_chunks(features: np.ndarray, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                   start: int = 0, stop: Optional[int] = None) -> Iterator[Tuple[int, np.ndarray]]:
    """(first row, contiguous float32 copy of the rows) over [start, stop); a memory-mapped array's pages are released
    after each copy, so its resident size stays at one chunk."""
    stop = len(features) if stop is None else stop
    for s in range(start, stop, chunk_rows):
        e = min(s + chunk_rows, stop)
        chunk = np.array(features[s:e], dtype=np.float32, order="C", copy=True)
        release_pages(features, s, e)
        yield s, chunk


def load_pages(features: np.ndarray) -> None:
    """Read every page of a np.memmap once, sequentially (no-op for in-memory arrays). IVF-PQ re-scores candidates
    at random rows: from a cold disk each such read costs a seek (200k random rows took 36 s here, 0.3 s once
    cached)."""
    mm = getattr(features, "_mmap", None)
    if mm is None:
        return
    if hasattr(mm, "madvise") and hasattr(mmap, "MADV_WILLNEED"):
        mm.madvise(mmap.MADV_WILLNEED)
    pages = np.frombuffer(mm, dtype=np.uint8)
    for s in range(0, len(pages), 1 << 28):
        int(pages[s:s + (1 << 28):mmap.PAGESIZE].sum())  # one byte per page


def release_pages(features: np.ndarray, start: int, stop: int) -> None:
    """madvise(MADV_DONTNEED) the file pages of rows [start, stop) of a np.memmap (no-op for in-memory arrays)."""
    mm = getattr(features, "_mmap", None)
    if mm is None or not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return
    row_bytes = features.shape[1] * features.itemsize
    base = features.offset % mmap.ALLOCATIONGRANULARITY  # where the array starts inside the mapping
    first = (base + start * row_bytes + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
    last = (base + stop * row_bytes) // mmap.PAGESIZE * mmap.PAGESIZE
    if last > first:
        mm.madvise(mmap.MADV_DONTNEED, first, last - first)


class GalleryIndex:
    """A faiss index over gallery rows 0..n-1; search returns inner-product scores (cosine for unit-norm rows)."""

    def __init__(self, kind: str, index, features: np.ndarray, params: IndexParams):
        self.kind, self.index, self.features, self.params = kind, index, features, params
        self._apply_search_params()
        if kind == IVFPQ:  # re-scoring reads the features: bring them in once, sequentially
            load_pages(features)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def _apply_search_params(self) -> None:
        if self.kind == HNSW:
            self.index.hnsw.efSearch = self.params.ef_search
        elif self.kind == IVFPQ:
            self.index.nprobe = self.params.nprobe

    def search(self, queries: np.ndarray, k: int, batch: int = 256) -> Tuple[np.ndarray, np.ndarray]:
        """Top-k (scores float32 [q, k], gallery rows int64 [q, k], best first); rows beyond the gallery are -1
        with score -inf. Queries go `batch` at a time (IVF-PQ re-scoring gathers batch x refine rows)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.features.shape[1]:
            raise ValueError(f"queries must be [num_queries, {self.features.shape[1]}] (the gallery's dimension), "
                             f"got {queries.shape}")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        scores = np.full((len(queries), k), -np.inf, np.float32)
        ids = np.full((len(queries), k), -1, np.int64)
        for s in range(0, len(queries), batch):
            q = queries[s:s + batch]
            if self.kind == IVFPQ:
                _, cand = self.index.search(q, max(k, self.params.refine))
                sc, ix = self.rescore(q, cand, k)
            else:
                sc, ix = self.index.search(q, k)
            kk = sc.shape[1]
            scores[s:s + len(q), :kk], ids[s:s + len(q), :kk] = sc, ix
        scores[ids < 0] = -np.inf  # faiss pads missing results with id -1 and score -FLT_MAX
        return scores, ids

    def rescore(self, queries: np.ndarray, candidates: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
        """Exact inner products of each query with its candidate rows (read from the features), top-k of them."""
        valid = candidates >= 0
        rows = self.features[np.where(valid, candidates, 0).reshape(-1)].reshape(*candidates.shape, -1)
        exact = np.einsum("qcd,qd->qc", rows.astype(np.float32, copy=False), queries)
        exact[~valid] = -np.inf
        kk = min(k, candidates.shape[1])
        # order by score, ties by gallery row (as the exact evaluation orders them)
        order = np.lexsort((np.where(valid, candidates, np.iinfo(np.int64).max), -exact), axis=1)[:, :kk]
        return np.take_along_axis(exact, order, 1), np.take_along_axis(candidates, order, 1)

    # ------------------------------------------------------------------------------------------------ files
    def save(self, path: str) -> str:
        """faiss index + a JSON sidecar (kind, parameters, what features it indexes), each written atomically."""
        import faiss

        write_bytes_atomic(path, faiss.serialize_index(self.index).tobytes())
        write_json_atomic(path + ".json", {"kind": self.kind, "params": asdict(self.params),
                                     "features": features_fingerprint(self.features)})
        return path

    @classmethod
    def load(cls, path: str, features: np.ndarray) -> "GalleryIndex":
        """Raises StaleIndexError when the index was built from other features (or another version of them)."""
        import faiss

        meta_path = path + ".json"
        if not (os.path.isfile(path) and os.path.isfile(meta_path)):
            raise FileNotFoundError(f"no index at {path!r} (needs {os.path.basename(path)} and its .json)")
        meta = read_json(meta_path, "index description", fix="rebuild the index")
        if meta.get("features") != features_fingerprint(features):
            raise StaleIndexError(f"index {path!r} was built from other features ({meta.get('features')}); the "
                                  f"gallery is {features_fingerprint(features)}: rebuild it")
        index = faiss.read_index(path)
        return cls(meta["kind"], index, features, IndexParams(**meta["params"]))


class StaleIndexError(ValueError):
    pass


def features_fingerprint(features: np.ndarray) -> dict:
    """Shape, and for a memory-mapped file its path, size and modification time."""
    out = {"shape": [int(s) for s in features.shape]}
    filename = getattr(features, "filename", None)
    if filename:
        st = os.stat(filename)
        out.update(file=os.path.abspath(filename), bytes=int(st.st_size), mtime_ns=int(st.st_mtime_ns))
    return out


def build_index(features: np.ndarray, kind: str = "auto", params: Optional[IndexParams] = None,
                progress: bool = False) -> GalleryIndex:
    """Build `kind` ("flat", "hnsw", "ivfpq" or "auto" = choose_kind(n)) over all rows, chunk by chunk."""
    import faiss
    from tqdm import tqdm

    check_features(features)
    params = params or IndexParams()
    n, d = features.shape
    kind = choose_kind(n) if kind == "auto" else kind
    if kind not in KINDS:
        raise ValueError(f"index kind {kind!r} is unknown; expected one of {KINDS} or 'auto'")
    if kind == FLAT:
        index = faiss.IndexFlatIP(d)
    elif kind == HNSW:
        index = faiss.IndexHNSWFlat(d, params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params.ef_construction
    else:
        index = _trained_ivfpq(features, params)
    bar = tqdm(total=n, desc=f"building {kind} index", unit="vec", disable=not progress)
    for _, chunk in feature_chunks(features, params.chunk_rows):
        index.add(chunk)
        bar.update(len(chunk))
    bar.close()
    return GalleryIndex(kind, index, features, params)


def _trained_ivfpq(features: np.ndarray, params: IndexParams):
    import faiss

    n, d = features.shape
    if d % 8:
        raise ValueError(f"IVF-PQ needs a dimension divisible by 8 (PQ with d/8 sub-vectors), got {d}; use the "
                         f"'hnsw' or 'flat' index")
    nlist = params.nlist or default_nlist(n)
    if n < 39 * nlist:
        raise ValueError(f"IVF-PQ with {nlist} lists needs >= {39 * nlist} vectors to train, the gallery has {n}; "
                         f"use the 'hnsw' or 'flat' index (choose_kind does below {HNSW_MAX_ITEMS})")
    index = faiss.index_factory(d, f"IVF{nlist},PQ{d // 8}x4fs", faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = params.kmeans_iters
    rng = np.random.default_rng(params.seed)
    sample = np.sort(rng.choice(n, size=min(n, params.train_per_list * nlist), replace=False))
    train = np.empty((len(sample), d), np.float32)
    for s in range(0, len(sample), params.chunk_rows):  # sorted rows: sequential reads, pages released per chunk
        rows = sample[s:s + params.chunk_rows]
        train[s:s + len(rows)] = features[rows]
        release_pages(features, int(rows[0]), int(rows[-1]) + 1)
    index.train(train)
    return index


def merge_shard_results(results: Sequence[Tuple[np.ndarray, np.ndarray]], offsets: Sequence[int],
                        k: int) -> Tuple[np.ndarray, np.ndarray]:
    """Top-k over shards: results[i] = (scores, local ids) of shard i, which indexes gallery rows starting at
    offsets[i]. Ties go to the lower global row, as in a single index over the whole gallery."""
    scores = np.concatenate([s for s, _ in results], axis=1)
    ids = np.concatenate([np.where(i >= 0, i + off, -1) for (_, i), off in zip(results, offsets)], axis=1)
    order = np.lexsort((np.where(ids >= 0, ids, np.iinfo(np.int64).max), -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)


__all__: List[str] = ["FLAT", "HNSW", "IVFPQ", "KINDS", "IndexParams", "GalleryIndex", "StaleIndexError",
                      "build_index", "choose_kind", "feature_chunks", "merge_shard_results"]
