"""retrieval_metrics against a direct, unblocked implementation of IRRA's formula and a hand-computed case."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import reid_plugins  # noqa: F401
from reid_plugins.evaluation import retrieval_metrics, retrieval_metrics_from_features


def irra_reference(sim, q_pids, g_pids):
    """IRRA's formula on the full matrix: sort each row, match by pid, CMC@10, AP and INP per query (float64)."""
    order = np.argsort(-sim, axis=1, kind="stable")
    matches = (g_pids[order] == q_pids[:, None]).astype(np.float64)
    cmc = np.minimum(matches[:, :10].cumsum(1), 1).mean(0) * 100
    hits = matches.cumsum(1)
    positions = np.arange(1, sim.shape[1] + 1)
    ap = (hits / positions * matches).sum(1) / matches.sum(1)
    last = np.array([np.flatnonzero(row)[-1] for row in matches])
    inp = hits[np.arange(len(sim)), last] / (last + 1)
    return {"R1": cmc[0], "R5": cmc[4], "R10": cmc[9], "mAP": ap.mean() * 100, "mINP": inp.mean() * 100}


def test_hand_computed():
    # query 0 (pid 0): ranked g0 (pid 1), g1 (pid 0), g3 (pid 2), g2 (pid 0) -> AP = (1/2 + 2/4) / 2, INP = 2/4
    # query 1 (pid 2): g3 first -> AP = INP = 1
    sim = np.array([[0.9, 0.8, 0.1, 0.5], [0.2, 0.3, 0.4, 0.9]], np.float32)
    res = retrieval_metrics(sim, [0, 2], [1, 0, 0, 2])
    assert res == pytest.approx({"R1": 50.0, "R5": 100.0, "R10": 100.0, "mAP": 75.0, "mINP": 75.0}, abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_irra_formula_on_random_data(seed):
    rng = np.random.default_rng(seed)
    nq, ng, n_ids = 90, 160, 30
    g_pids = rng.permutation(np.arange(ng) % n_ids)  # every id has gallery images
    q_pids = rng.integers(0, n_ids, nq)
    text = rng.normal(size=(nq, 16)).astype(np.float32)
    image = rng.normal(size=(ng, 16)).astype(np.float32)
    image += 1.5 * np.eye(16, dtype=np.float32)[g_pids % 16]  # some identity signal, so the metrics are not trivial
    text += 1.5 * np.eye(16, dtype=np.float32)[q_pids % 16]
    sim = (F.normalize(torch.from_numpy(text)) @ F.normalize(torch.from_numpy(image)).t()).numpy()
    expected = irra_reference(sim, q_pids, g_pids)
    assert 0 < expected["R1"] < 100

    for block_size in (None, 1, 17):
        assert retrieval_metrics(sim, q_pids, g_pids, block_size=block_size) == pytest.approx(expected, abs=1e-9)
    assert retrieval_metrics(torch.from_numpy(sim), torch.from_numpy(q_pids), g_pids,
                             max_candidates=7) == pytest.approx(expected, abs=1e-9)
    from_feats = retrieval_metrics_from_features(text, image, q_pids, g_pids, block_size=11)
    assert from_feats == pytest.approx(expected, abs=1e-9)


def test_float64_similarity_is_ranked_in_float64():
    # 1 + 1e-12 and 1 are distinct in float64 but equal in float32: the match must stay first
    sim = np.array([[1.0, 1.0 + 1e-12]])
    assert retrieval_metrics(sim, [5], [4, 5])["R1"] == 100.0


@pytest.mark.parametrize("sim, q, g, error, message", [
    (np.zeros((2, 3)), [0], [0, 1, 2], ValueError, r"query_pids has 1 entries, expected 2 \(one per similarity row"),
    (np.zeros((2, 3)), [0, 1], [0, 1], ValueError, r"gallery_pids has 2 entries, expected 3"),
    (np.zeros((0, 3)), [], [0, 1, 2], ValueError, r"non-empty 2-D"),
    (np.zeros(3), [0], [0, 1, 2], ValueError, r"non-empty 2-D"),
    (np.array([[0.1, np.nan]]), [0], [0, 1], ValueError, r"NaN or inf values \(first in row 0\)"),
    (np.array([[0.1, 0.2], [0.3, 0.4]]), [0, 7], [0, 1], ValueError, r"1 of 2 queries have no gallery item"),
    ([[0.1, 0.2]], [0], [0, 1], TypeError, r"numpy array or a torch tensor"),
])
def test_bad_inputs(sim, q, g, error, message):
    with pytest.raises(error, match=message):
        retrieval_metrics(sim, q, g)
