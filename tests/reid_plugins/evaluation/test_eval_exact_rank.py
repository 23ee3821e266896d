"""exact_rank: score codes keep the float order, and tie-heavy data matches a brute-force stable-sort reference."""
import numpy as np
import pytest

import reid_plugins  # noqa: F401
from reid_plugins.evaluation.exact_rank import _score_codes, match_ranks
from reid_plugins.evaluation.scores import matrix_score_blocks


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_score_codes_order_like_the_scores(dtype):
    special = [-3e38, -1.0, -1e-30, -0.0, 0.0, 1e-30, 0.5, 1.0, 3e38, 0.5, -1.0]
    s = np.concatenate([special, np.random.default_rng(0).normal(size=200)]).astype(dtype)
    codes = _score_codes(s)
    a, b = np.meshgrid(np.arange(len(s)), np.arange(len(s)))
    np.testing.assert_array_equal(codes[a] < codes[b], s[a] > s[b])  # better score <=> smaller code
    np.testing.assert_array_equal(codes[a] == codes[b], s[a] == s[b])  # -0.0 == 0.0 included
    assert codes.max() < 2 ** 32


def brute_force(sim, q_pids, g_pids, q_cams, g_cams):
    """Full stable sort of every row by decreasing score (ties: lower gallery index first), junk removed."""
    first, last, ap = [], [], []
    for i, row in enumerate(sim):
        order = np.argsort(-row, kind="stable")
        same = g_pids[order] == q_pids[i]
        keep = ~(same & (g_cams[order] == q_cams[i]))
        hits = np.flatnonzero(same[keep])
        if len(hits) == 0:
            first.append(-1), last.append(-1), ap.append(np.nan)
            continue
        first.append(hits[0]), last.append(hits[-1])
        ap.append(np.mean(np.arange(1, len(hits) + 1) / (hits + 1)))
    return np.array(first), np.array(last), np.array(ap)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("max_candidates", [1, 64, 10 ** 6])
def test_tie_heavy_scores_match_the_stable_sort_reference(dtype, max_candidates):
    rng = np.random.default_rng(4)
    nq, ng = 40, 90
    sim = rng.integers(-3, 4, size=(nq, ng)).astype(dtype) / 4  # 7 distinct values: ties everywhere
    q_pids, g_pids = rng.integers(0, 12, nq), rng.integers(0, 10, ng)
    q_cams, g_cams = rng.integers(0, 2, nq), rng.integers(0, 2, ng)
    ranks = match_ranks(matrix_score_blocks(sim, block_size=9), q_pids, g_pids, q_cams, g_cams, max_candidates)
    first, last, ap = brute_force(sim, q_pids, g_pids, q_cams, g_cams)
    assert (first == -1).any() and (first > 0).any()
    np.testing.assert_array_equal(ranks.first, first)
    np.testing.assert_array_equal(ranks.last, last)
    np.testing.assert_allclose(ranks.ap, ap, rtol=0, atol=1e-12)


def test_blocks_must_cover_the_queries_in_order():
    sim = np.zeros((4, 3), np.float32)
    labels = np.zeros(4, np.int64), np.zeros(3, np.int64)
    with pytest.raises(ValueError, match="covered 2 of 4 query rows"):
        match_ranks(matrix_score_blocks(sim[:2]), *labels)
    with pytest.raises(ValueError, match="does not continue rows"):
        match_ranks(iter([(1, sim)]), *labels)
