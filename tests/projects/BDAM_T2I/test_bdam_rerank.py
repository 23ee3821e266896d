import math

import bdam_path  # noqa: F401
import pytest
import torch

from bdam.rerank import (DUAL, Setting, candidate_settings, reranked_similarity, select_setting, standardize,
                         topk_fusion_scores)
from reid_plugins.evaluation import retrieval_metrics


def _order(sim):
    return sim.argsort(dim=1, descending=True).tolist()


def test_topk_scores_and_reordering_only_inside_the_top_k():
    sim = torch.tensor([[0.9, 0.8, 0.7, 0.1, 0.0],
                        [0.0, 0.1, 0.2, 0.3, 0.4]])
    stage2 = topk_fusion_scores(sim, lambda q, g: g.float(), k=3)   # the fusion prefers higher gallery indices
    assert stage2["topk"].tolist() == [[0, 1, 2], [4, 3, 2]]
    assert stage2["scores"].tolist() == [[0.0, 1.0, 2.0], [4.0, 3.0, 2.0]]
    torch.testing.assert_close(stage2["cosine"], torch.tensor([[0.9, 0.8, 0.7], [0.4, 0.3, 0.2]]))
    new = reranked_similarity(sim, stage2, Setting(3, 0.0))          # lambda 0: the fusion order alone
    # text 0: top-3 {0, 1, 2} re-ordered by fusion -> 2, 1, 0, then the rest in stage-1 order
    assert _order(new) == [[2, 1, 0, 3, 4], [4, 3, 2, 1, 0]]
    assert new[0, 3] == sim[0, 3] and new[1, 0] == sim[1, 0]          # outside the top-K untouched
    # K = 2 uses the first two columns of the same stage-2 scores
    assert _order(reranked_similarity(sim, stage2, Setting(2, 0.0)))[0] == [1, 0, 2, 3, 4]
    assert torch.equal(reranked_similarity(sim, stage2, DUAL), sim)


def test_z_scored_key_hand_values():
    """Row cosines (0.9, 0.8, 0.7), fusion logits (0, 10, 20): z = (-1.2247, 0, 1.2247) and its mirror. lambda 0 and
    0.5: key = (1 - lambda) z_fusion, the fusion order; lambda 2: key = -z_fusion, the stage-1 order. The logits'
    scale (x10) does not matter, only their standardised values within the top-K."""
    sim = torch.tensor([[0.9, 0.8, 0.7]])
    stage2 = topk_fusion_scores(sim, lambda q, g: 10.0 * g.float(), k=3)
    z = math.sqrt(1.5)
    torch.testing.assert_close(standardize(stage2["scores"]), torch.tensor([[-z, 0.0, z]]))
    assert _order(reranked_similarity(sim, stage2, Setting(3, 0.0))) == [[2, 1, 0]]
    assert _order(reranked_similarity(sim, stage2, Setting(3, 2.0))) == [[0, 1, 2]]
    assert _order(reranked_similarity(sim, stage2, Setting(3, 0.5))) == [[2, 1, 0]]
    # a constant row standardises to zeros (K = 1, or a head that scores everything alike)
    assert torch.equal(standardize(torch.ones(2, 4)), torch.zeros(2, 4))


def test_chunking_is_invisible():
    torch.manual_seed(0)
    sim = torch.rand(7, 11)
    score = lambda q, g: ((q * 13 + g * 7) % 5).float()  # noqa: E731
    a, b = topk_fusion_scores(sim, score, k=4, chunk=3), topk_fusion_scores(sim, score, k=4, chunk=1000)
    for key in a:
        assert torch.equal(a[key], b[key])


def test_selection_prefers_the_dual_order_on_ties_and_takes_a_real_gain():
    # 2 texts (pids 0, 1), 3 images (pids 0, 1, 2). Stage 1 ranks the wrong image first for text 0.
    sim = torch.tensor([[0.5, 0.6, 0.1], [0.2, 0.9, 0.3]])
    q, g = torch.tensor([0, 1]), torch.tensor([0, 1, 2])
    good = topk_fusion_scores(sim, lambda qi, gi: (gi == qi).float(), k=3)    # the head knows the answer
    settings = candidate_settings([2, 3], [0.0, 1.0])
    assert settings[0] == DUAL and len(settings) == 5
    sel = select_setting(sim, good, q, g, settings)
    assert sel["metrics"][DUAL]["R1"] == pytest.approx(50.0)
    assert sel["best"] == Setting(2, 0.0) and sel["metrics"][sel["best"]]["R1"] == pytest.approx(100.0)
    useless = topk_fusion_scores(sim, lambda qi, gi: torch.zeros(len(qi)), k=3)  # no information: all ties
    sel = select_setting(sim, useless, q, g, settings)
    assert sel["best"] == DUAL and sel["best_fused"] is not None
    # without a fusion head only the dual order is evaluated
    assert select_setting(sim, None, q, g, settings)["best"] == DUAL


def test_chosen_setting_is_never_below_the_dual_encoder_where_it_was_chosen():
    g = torch.Generator().manual_seed(3)
    settings = candidate_settings([2, 4, 8], [0.0, 0.5, 2.0])
    for _ in range(5):
        q, gal = torch.randint(0, 6, (30,), generator=g), torch.arange(12) % 6
        sim = torch.rand(30, 12, generator=g)
        noise = torch.randn(30, 12, generator=g)
        stage2 = topk_fusion_scores(sim, lambda qi, gi: noise[qi, gi], k=8)
        sel = select_setting(sim, stage2, q, gal, settings)
        dual = retrieval_metrics(sim, q, gal)["R1"]
        assert sel["metrics"][sel["best"]]["R1"] >= dual


@pytest.mark.parametrize("topks, lambdas", [([], [1.0]), ([0], [1.0]), ([4], [-1.0]), ([4], [])])
def test_bad_grids_fail_with_the_keys(topks, lambdas):
    with pytest.raises(ValueError, match="TOPKS must be integers >= 1 and LAMBDAS"):
        candidate_settings(topks, lambdas)


def test_bad_k():
    with pytest.raises(ValueError, match="top-K must be >= 1"):
        topk_fusion_scores(torch.rand(1, 2), lambda q, g: g.float(), k=0)
    out = topk_fusion_scores(torch.tensor([[0.2, 0.1]]), lambda q, g: -g.float(), k=32)  # K > gallery
    assert out["topk"].shape == (1, 2)
