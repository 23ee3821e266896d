"""Style clustering on hand-made embeddings with known answers: noise re-assignment, small-cluster merge,
subsample fitting, the Table-4 alternatives; the style bank; the PNG map."""
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from reid_plugins.captioning.clustering import cluster_styles
from reid_plugins.captioning.style_bank import StyleBank
from reid_plugins.captioning.style_map import save_style_map


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _points():
    """A: 20 points at e1, B: 20 at e2, C: 3 between e3 and e1 (nearer A), two isolated points."""
    rng = np.random.default_rng(0)
    e1, e2, c = _unit([1, 0, 0]), _unit([0, 1, 0]), _unit([0.8, 0, 1])
    jitter = lambda base, n: [_unit(base + rng.normal(0, 1e-3, 3)) for _ in range(n)]  # noqa: E731
    pts = jitter(e1, 20) + jitter(e2, 20) + jitter(c, 3) + [_unit([1, 0.3, 0]), _unit([0, 1, 0.4])]
    truth = [0] * 20 + [1] * 20 + [0] * 3 + [0, 1]
    return np.stack(pts), np.array(truth)


def test_dbscan_noise_reassignment_and_small_cluster_merge():
    x, truth = _points()
    r = cluster_styles(x, "dbscan", eps=0.01, min_samples=3, min_cluster_size=5)
    assert (r.raw_clusters, r.noise, r.merged) == (3, 2, [(2, 0)])  # C (3 points) joined A
    assert r.sizes == [24, 21] and r.num_clusters == 2
    assert np.array_equal(r.labels, truth)
    assert np.allclose(np.linalg.norm(r.centroids, axis=1), 1)
    # Without the merge threshold C stays its own cluster; noise still joins the nearest centroid.
    r = cluster_styles(x, "dbscan", eps=0.01, min_samples=3, min_cluster_size=0)
    assert r.sizes == [21, 21, 3] and r.labels[40:43].tolist() == [2, 2, 2] and r.labels[43:].tolist() == [0, 1]


def test_fit_on_a_subsample_assigns_the_rest_to_the_nearest_centroid():
    x, truth = _points()
    r = cluster_styles(x, "dbscan", eps=0.01, min_samples=3, min_cluster_size=5, max_points=30, seed=1)
    assert r.fitted == 30 and adjusted_rand_score(truth, r.labels) == 1.0  # numbering follows subsample sizes


def test_all_noise_is_a_clear_error():
    x, _ = _points()
    with pytest.raises(ValueError, match=r"found no cluster: all 45 captions are noise at CAPTIONING.STYLE.EPS"):
        cluster_styles(x, "dbscan", eps=1e-9, min_samples=3)
    with pytest.raises(ValueError, match="METHOD='optics'"):
        cluster_styles(x, "optics")


@pytest.mark.parametrize("method", ["kmeans", "agglomerative", "gmm", "hdbscan"])
def test_table4_alternatives_find_the_two_groups(method):
    x, truth = _points()
    r = cluster_styles(x, method, n_clusters=2, min_samples=3, min_cluster_size=5)
    assert r.num_clusters == 2 and np.array_equal(r.labels, truth)


def test_random_grouping_uses_n_clusters():
    x, _ = _points()
    r = cluster_styles(x, "random", n_clusters=3, min_cluster_size=0, seed=0)
    assert r.num_clusters == 3 and sorted(set(r.labels.tolist())) == [0, 1, 2]


def test_style_bank_choice_is_stable_and_spreads_over_clusters(tmp_path):
    bank = StyleBank([{"id": i, "size": 10, "exemplars": [f"c{i} e{j}" for j in range(5)]} for i in range(3)],
                     {"method": "dbscan"})
    a = bank.choose("imgs/0001.png", 2, seed=0)
    assert a == bank.choose("imgs/0001.png", 2, seed=0) and len(a[1]) == 2
    assert all(e.startswith(f"c{a[0]} ") for e in a[1])
    picks = [bank.choose(f"imgs/{i:04d}.png", 1, seed=0)[0] for i in range(300)]
    assert sorted(set(picks)) == [0, 1, 2] and min(np.bincount(picks)) > 60  # uniform over clusters
    path = str(tmp_path / "bank.json")
    bank.save(path)
    loaded = StyleBank.load(path)
    assert loaded.sizes == [10, 10, 10] and loaded.choose("imgs/0001.png", 2, seed=0) == a
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="other.json: expected format"):
        StyleBank.load(str(tmp_path / "other.json"))
    with pytest.raises(FileNotFoundError, match="cluster`"):
        StyleBank.load(str(tmp_path / "missing.json"))


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_style_map_is_a_png(tmp_path, method):
    import matplotlib.image as mpimg

    x, truth = _points()
    path = save_style_map(str(tmp_path / "map.png"), x, truth, method=method)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    h, w = mpimg.imread(path).shape[:2]
    assert (w, h) == (880, 770)
    assert [p.name for p in tmp_path.iterdir()] == ["map.png"]  # no temporary file left
