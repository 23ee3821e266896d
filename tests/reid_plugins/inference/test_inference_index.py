"""faiss gallery indexes from memory-mapped features: exact equals brute force, approximate recall, files, shards."""
import numpy as np
import pytest

from reid_plugins.inference.index import (FLAT, HNSW, IVFPQ, GalleryIndex, IndexParams, StaleIndexError, build_index,
                                          choose_kind, feature_chunks, merge_shard_results)


def clustered(n, d=64, seed=0, noise=0.15):
    """Re-ID-like: identities of ~8 images around a centre (centres shared by all calls, queries are new images)."""
    centres = np.random.default_rng(123).standard_normal((max(1, n // 8), d)).astype(np.float32)
    rng = np.random.default_rng(seed)
    x = centres[rng.integers(0, len(centres), n)] + noise * rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def memmapped(tmp_path, x, name="g.npy"):
    np.save(tmp_path / name, x)
    return np.load(tmp_path / name, mmap_mode="r")


def brute_force(g, q, k):
    s = q @ g.T
    order = np.lexsort((np.broadcast_to(np.arange(len(g)), s.shape), -s), axis=1)[:, :k]  # ties: lower row first
    return np.take_along_axis(s, order, 1), order


def test_flat_index_from_memmap_equals_brute_force(tmp_path):
    g, q = clustered(3000), clustered(40, seed=1)
    feats = memmapped(tmp_path, g)
    index = build_index(feats, "flat", IndexParams(chunk_rows=700))  # 5 chunks, the last one partial
    assert index.kind == FLAT and index.ntotal == 3000
    scores, ids = index.search(q, 10)
    want_s, want_i = brute_force(g, q, 10)
    np.testing.assert_array_equal(ids, want_i)
    np.testing.assert_allclose(scores, want_s, atol=1e-5)
    # chunks cover every row once and release_pages leaves the data intact
    rows = np.concatenate([c for _, c in feature_chunks(feats, 700)])
    np.testing.assert_array_equal(rows, g)
    s, i = index.search(q[:2], 3005)  # more than the gallery: padded with -1 / -inf
    assert (i[:, 3000:] == -1).all() and np.isneginf(s[:, 3000:]).all() and (i[:, :3000] >= 0).all()


@pytest.mark.parametrize("kind, params", [(HNSW, IndexParams()), (IVFPQ, IndexParams(nlist=32, nprobe=8))])
def test_approximate_indexes_find_the_true_neighbours(tmp_path, kind, params):
    g, q = clustered(4000), clustered(100, seed=2)
    index = build_index(memmapped(tmp_path, g), kind, params)
    _, ids = index.search(q, 10)
    _, want = brute_force(g, q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, want)])
    assert recall >= 0.9, recall
    if kind == IVFPQ:  # re-scored exactly: returned scores are the true inner products
        np.testing.assert_allclose(index.search(q, 5)[0], np.take_along_axis(q @ g.T, index.search(q, 5)[1], 1),
                                   atol=1e-5)


def test_choice_by_size_and_ivfpq_needs_enough_vectors(tmp_path):
    assert choose_kind(10_000) == HNSW and choose_kind(1_000_000) == IVFPQ
    with pytest.raises(ValueError, match="needs >= 1248 vectors to train, the gallery has 500"):
        build_index(memmapped(tmp_path, clustered(500)), IVFPQ, IndexParams(nlist=32))
    with pytest.raises(ValueError, match="empty"):
        build_index(np.zeros((0, 8), np.float32), FLAT)
    with pytest.raises(ValueError, match="2-D float32"):
        build_index(np.zeros((5, 8), np.float64), FLAT)


def test_saved_index_is_reused_and_stale_one_refused(tmp_path):
    g = clustered(2000)
    feats = memmapped(tmp_path, g)
    index = build_index(feats, HNSW)
    index.save(str(tmp_path / "g.hnsw.faiss"))
    again = GalleryIndex.load(str(tmp_path / "g.hnsw.faiss"), feats)
    q = clustered(5, seed=3)
    np.testing.assert_array_equal(again.search(q, 5)[1], index.search(q, 5)[1])
    feats2 = memmapped(tmp_path, clustered(2000, seed=9))  # the features file is rewritten
    with pytest.raises(StaleIndexError, match="built from other features"):
        GalleryIndex.load(str(tmp_path / "g.hnsw.faiss"), feats2)


def test_shards_merge_to_the_single_index_result():
    """What a sharded deployment does (benchmarks/README.md): each shard indexes a contiguous block of rows; the
    merged top-k equals one index over everything; faiss.IndexShards (in one process) agrees."""
    import faiss

    g, q = clustered(2500), clustered(20, seed=4)
    g[100] = g[1700]  # an exact tie across two shards: the lower global row must come first
    q[0] = g[100]
    bounds = [0, 900, 1800, 2500]
    shards = [build_index(g[a:b], FLAT) for a, b in zip(bounds, bounds[1:])]
    merged = merge_shard_results([s.search(q, 10) for s in shards], bounds[:-1], 10)
    want_s, want_i = brute_force(g, q, 10)
    np.testing.assert_array_equal(merged[1], want_i)
    assert merged[1][0, :2].tolist() == [100, 1700]
    combined = faiss.IndexShards(g.shape[1], True, True)  # threaded, successive ids
    for s in shards:
        combined.add_shard(s.index)
    _, ids = combined.search(q, 10)
    assert all(set(a) == set(b) for a, b in zip(ids, want_i))  # faiss orders exact ties arbitrarily
