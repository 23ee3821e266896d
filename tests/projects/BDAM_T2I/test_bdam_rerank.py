import bdam_path  # noqa: F401
import pytest
import torch

from bdam.rerank import rerank_topk


def test_rerank_reorders_only_the_top_k():
    sim = torch.tensor([[0.9, 0.8, 0.7, 0.1, 0.0],
                        [0.0, 0.1, 0.2, 0.3, 0.4]])
    # fusion prefers higher gallery index
    out = rerank_topk(sim, lambda q, g: g.float(), k=3)
    new = out["similarity"]
    order = new.argsort(dim=1, descending=True)
    # text 0: top-3 {0, 1, 2} re-ordered by the fusion score -> 2, 1, 0; then the rest in stage-1 order (3, 4)
    assert order[0].tolist() == [2, 1, 0, 3, 4]
    # text 1: top-3 {4, 3, 2} already in fusion order; the rest keep the stage-1 order (1, 0)
    assert order[1].tolist() == [4, 3, 2, 1, 0]
    assert out["topk"].tolist() == [[0, 1, 2], [4, 3, 2]]
    assert out["scores"].tolist() == [[0.0, 1.0, 2.0], [4.0, 3.0, 2.0]]
    # values outside the top-K are untouched
    assert new[0, 3] == sim[0, 3] and new[1, 0] == sim[1, 0]


def test_dual_weight_blends_and_chunking_is_invisible():
    torch.manual_seed(0)
    sim = torch.rand(7, 11)
    score = lambda q, g: ((q * 13 + g * 7) % 5).float()  # noqa: E731
    a = rerank_topk(sim, score, k=4, chunk=3)
    b = rerank_topk(sim, score, k=4, chunk=1000)
    assert torch.equal(a["similarity"], b["similarity"])
    # a huge dual weight restores the stage-1 order
    c = rerank_topk(sim, score, k=4, dual_weight=1e6)
    assert torch.equal(c["similarity"].argsort(1, descending=True), sim.argsort(1, descending=True))


def test_k_larger_than_gallery_and_bad_k():
    sim = torch.tensor([[0.2, 0.1]])
    out = rerank_topk(sim, lambda q, g: -g.float(), k=32)
    assert out["topk"].shape == (1, 2)
    with pytest.raises(ValueError, match="TOPK must be >= 1"):
        rerank_topk(sim, lambda q, g: g.float(), k=0)
