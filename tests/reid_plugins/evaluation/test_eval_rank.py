"""rank_features / rank_statistics: hand-computed cases, documented ties, fast-reid's evaluate_rank as reference."""
import numpy as np
import pytest
import torch

import reid_plugins  # noqa: F401
from fastreid.evaluation.rank import evaluate_rank
from fastreid.utils.compute_dist import build_dist

from reid_plugins.evaluation import rank_features, rank_statistics


def line_features(xs):
    """1-D features: with a query at 0, the euclidean distance to x is exactly x**2."""
    return np.asarray(xs, np.float32).reshape(-1, 1)


def test_hand_computed_market_protocol():
    # query 0 (pid 1, cam 0) at 0: gallery by distance g0 junk, g1 wrong, g2 match, g3 wrong, g4 match, g5 wrong
    # -> valid list [wrong, match, wrong, match, wrong]: AP = (1/2 + 2/4) / 2 = 0.5, INP = 2/4, first match at rank 2.
    # query 1 (pid 9) has no gallery match: skipped. query 2 (pid 2, cam 0) sits on g1 (pid 2, cam 1): AP = INP = 1.
    gallery = line_features([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    g_pids, g_cams = [1, 2, 1, 3, 1, 4], [0, 1, 1, 0, 2, 1]
    query = line_features([0.0, 0.0, 0.2])
    res = rank_features(query, gallery, [1, 9, 2], g_pids, [0, 0, 0], g_cams, metric="euclidean")
    assert res == pytest.approx({"Rank-1": 50.0, "Rank-5": 100.0, "Rank-10": 100.0, "mAP": 75.0, "mINP": 75.0,
                                 "metric": 62.5}, abs=1e-9)
    stats = rank_statistics(query, gallery, [1, 9, 2], g_pids, [0, 0, 0], g_cams, metric="euclidean")
    assert stats.first.tolist() == [1, -1, 0]
    assert stats.last.tolist() == [3, -1, 0]
    assert stats.num_matches.tolist() == [2, 0, 1]
    assert stats.valid.tolist() == [True, False, True]


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_ties_go_to_the_lower_gallery_index(metric):
    # a wrong item and a true match with exactly equal scores: the lower gallery index ranks first
    q = np.array([[1.0, 0.0]], np.float32)
    same = np.array([[0.6, 0.8], [0.6, 0.8], [-1.0, 0.0]], np.float32)  # g0 and g1 identical
    match_second = rank_features(q, same, [1], [2, 1, 3], [0], [1, 1, 1], metric=metric)
    match_first = rank_features(q, same, [1], [1, 2, 3], [0], [1, 1, 1], metric=metric)
    assert (match_second["mAP"], match_second["Rank-1"]) == (50.0, 0.0)
    assert (match_first["mAP"], match_first["Rank-1"]) == (100.0, 100.0)


def random_split(rng, nq, ng, dim=8, n_ids=25, n_cams=3, missing_ids=3):
    """Identity-structured random features; some query ids never appear in the gallery (no valid match)."""
    centres = rng.normal(size=(n_ids + missing_ids, dim)).astype(np.float32)
    q_pids = rng.integers(0, n_ids + missing_ids, nq)
    g_pids = rng.integers(0, n_ids, ng)
    qf = centres[q_pids] + rng.normal(scale=0.8, size=(nq, dim)).astype(np.float32)
    gf = centres[g_pids] + rng.normal(scale=0.8, size=(ng, dim)).astype(np.float32)
    return qf, gf, q_pids, g_pids, rng.integers(0, n_cams, nq), rng.integers(0, n_cams, ng)


def fastreid_results(qf, gf, q_pids, g_pids, q_cams, g_cams, metric, max_rank=50):
    """What fast-reid's ReidEvaluator computes (build_dist + Cython evaluate_rank), in its result format."""
    dist = build_dist(torch.from_numpy(qf), torch.from_numpy(gf), metric)
    cmc, all_ap, all_inp = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank)
    res = {f"Rank-{r}": cmc[r - 1] * 100 for r in (1, 5, 10) if r <= len(cmc)}
    res.update(mAP=np.mean(all_ap) * 100, mINP=np.mean(all_inp) * 100, metric=(np.mean(all_ap) + cmc[0]) / 2 * 100)
    return res, cmc, np.asarray(all_ap), np.asarray(all_inp)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("seed", [0, 1])
def test_equals_fastreid_evaluate_rank(metric, seed):
    qf, gf, q_pids, g_pids, q_cams, g_cams = random_split(np.random.default_rng(seed), 70, 400)
    expected, cmc, all_ap, all_inp = fastreid_results(qf, gf, q_pids, g_pids, q_cams, g_cams, metric)

    stats = rank_statistics(qf, gf, q_pids, g_pids, q_cams, g_cams, metric=metric, block_size=16)
    assert 0 < stats.valid.sum() < len(qf)  # the data has skipped queries and junk
    np.testing.assert_allclose(stats.ap[stats.valid], all_ap, rtol=0, atol=1e-6)
    np.testing.assert_allclose(stats.inp[stats.valid], all_inp, rtol=0, atol=1e-6)
    np.testing.assert_allclose(stats.cmc(50), cmc, rtol=0, atol=1e-6)

    got = rank_features(qf, gf, q_pids, g_pids, q_cams, g_cams, metric=metric, block_size=16)
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == pytest.approx(expected[key], abs=1e-4), key  # percent: 1e-6 as fractions


def test_block_size_and_candidate_budget_do_not_change_results():
    qf, gf, q_pids, g_pids, q_cams, g_cams = random_split(np.random.default_rng(5), 50, 300)
    ref = rank_statistics(qf, gf, q_pids, g_pids, q_cams, g_cams)
    for block_size, max_candidates in [(1, 1), (7, 300), (13, 1000), (50, 10 ** 6)]:
        other = rank_statistics(qf, gf, q_pids, g_pids, q_cams, g_cams, block_size=block_size,
                                max_candidates=max_candidates)
        np.testing.assert_array_equal(other.first, ref.first)
        np.testing.assert_array_equal(other.last, ref.last)
        np.testing.assert_array_equal(other.ap, ref.ap)


def test_torch_inputs_and_string_ids_give_the_same_result():
    qf, gf, q_pids, g_pids, q_cams, g_cams = random_split(np.random.default_rng(2), 30, 120)
    ref = rank_features(qf, gf, q_pids, g_pids, q_cams, g_cams)
    got = rank_features(torch.from_numpy(qf), torch.from_numpy(gf).double(), torch.from_numpy(q_pids),
                        torch.from_numpy(g_pids), q_cams.tolist(), torch.from_numpy(g_cams).to(torch.int32))
    assert got == ref
    as_str = rank_features(qf, gf, [f"p{p}" for p in q_pids], [f"p{p}" for p in g_pids], q_cams.astype(str),
                           g_cams.astype(str))
    assert as_str == ref
    with pytest.raises(ValueError, match="q_pids .* and g_pids .* must both be numbers or both be strings"):
        rank_features(qf, gf, q_pids, [f"p{p}" for p in g_pids], q_cams, g_cams)


def test_gallery_smaller_than_max_rank():
    # 8 gallery items, none junk: fast-reid truncates its CMC to 8 ranks (and its ReidEvaluator then fails on
    # Rank-10); ours keeps the CMC flat after the list's end, so Rank-10 = 100 for valid queries.
    rng = np.random.default_rng(3)
    qf, gf = rng.normal(size=(12, 4)).astype(np.float32), rng.normal(size=(8, 4)).astype(np.float32)
    q_pids, g_pids = rng.integers(0, 4, 12), np.array([0, 1, 2, 3, 0, 1, 2, 3])
    q_cams, g_cams = np.zeros(12, int), np.ones(8, int)
    expected, cmc, all_ap, _ = fastreid_results(qf, gf, q_pids, g_pids, q_cams, g_cams, "cosine", max_rank=50)
    assert len(cmc) == 8 and "Rank-10" not in expected
    got = rank_features(qf, gf, q_pids, g_pids, q_cams, g_cams, max_rank=50)
    for key in ("Rank-1", "Rank-5", "mAP", "mINP"):
        assert got[key] == pytest.approx(expected[key], abs=1e-4), key
    assert got["Rank-10"] == 100.0
    np.testing.assert_allclose(rank_statistics(qf, gf, q_pids, g_pids, q_cams, g_cams).cmc(50)[:8], cmc, atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(qf=np.zeros((0, 4))), r"query_feats is empty"),
    (dict(gf=np.zeros((0, 4))), r"gallery_feats is empty"),
    (dict(gf=np.ones((5, 3))), r"query_feats has dimension 4 but gallery_feats has 3"),
    (dict(qf=np.ones(4)), r"query_feats must be 2-D"),
    (dict(gf=np.full((5, 4), np.nan)), r"gallery_feats contains NaN"),
    (dict(q_pids=[1, 2]), r"q_pids has 2 entries, expected 3"),
    (dict(g_camids=[0] * 6), r"g_camids has 6 entries, expected 5"),
    (dict(metric="jaccard"), r"metric='jaccard' is not supported"),
    (dict(block_size=0), r"block_size must be a positive integer"),
    (dict(max_rank=0), r"max_rank must be a positive integer"),
    (dict(q_pids=[7, 8, 9]), r"none of the 3 queries has a true match"),
])
def test_bad_input_errors_name_the_argument(kwargs, message):
    args = dict(qf=np.ones((3, 4)), gf=np.arange(20, dtype=np.float32).reshape(5, 4), q_pids=[1, 2, 3],
                g_pids=[1, 2, 3, 4, 5], q_camids=[0, 0, 0], g_camids=[1, 1, 1, 1, 1])
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        rank_features(args.pop("qf"), args.pop("gf"), **args)
