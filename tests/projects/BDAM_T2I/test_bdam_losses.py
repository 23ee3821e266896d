import math

import bdam_path  # noqa: F401
import pytest
import torch

from bdam.losses import (LOSS_REGISTRY, batch_hard_triplet, clothing_adversarial, contrastive, fusion_matching,
                         gate_regularizer, get_loss, image_text_matching, info_nce, same_outfit)

E = math.e


def test_info_nce_one_positive_matches_eq3():
    img = torch.eye(2)
    # logits = I / tau with tau = 1: each row is softmax([1, 0]) -> -log(e / (e + 1)) = log(1 + 1/e)
    assert info_nce(img, img, torch.tensor([0, 1]), tau=1.0).item() == pytest.approx(math.log(1 + 1 / E), abs=1e-6)
    # tau = 0.5 doubles the logits
    assert info_nce(img, img, torch.tensor([0, 1]), tau=0.5).item() == pytest.approx(math.log(1 + E ** -2),
                                                                                     abs=1e-6)


def test_info_nce_same_pid_targets_are_uniform():
    img = torch.eye(2)
    # target (0.5, 0.5): 0.5 * [log(1+e) - 1] + 0.5 * log(1+e) = log(1+e) - 0.5
    loss = info_nce(img, img, torch.tensor([3, 3]), tau=1.0)
    assert loss.item() == pytest.approx(math.log(1 + E) - 0.5, abs=1e-6)


def test_info_nce_asymmetric_case_averages_both_directions():
    img = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    txt = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # logits = [[1, 0], [1, 0]]. i2t: row0 -log(e/(e+1)), row1 -log(1/(e+1)).  t2i (logits.T = [[1,1],[0,0]]):
    # both rows softmax of equal logits -> log 2 each.
    i2t = (math.log(1 + 1 / E) + math.log(1 + E)) / 2
    t2i = math.log(2)
    assert info_nce(img, txt, torch.tensor([0, 1]), 1.0).item() == pytest.approx((i2t + t2i) / 2, abs=1e-6)


def test_triplet_uses_squared_distances():
    feats = torch.tensor([[0.0], [2.0], [1.0]])
    # pids (0, 0, 1): anchor 0: d+ = 4, d- = 1 -> 4 - 1 + 0.5; anchor 1: d+ = 4, d- = 1 -> 3.5; anchor 2 has no positive
    assert batch_hard_triplet(feats, torch.tensor([0, 0, 1]), 0.5).item() == pytest.approx(3.5)
    far = torch.tensor([[0.0], [1.0], [3.0]])
    assert batch_hard_triplet(far, torch.tensor([0, 0, 1]), 0.5).item() == 0.0
    assert batch_hard_triplet(feats, torch.tensor([0, 1, 2]), 0.5).item() == 0.0  # no positives at all


def test_triplet_batch_hard_picks_hardest():
    feats = torch.tensor([[0.0], [1.0], [3.0], [1.5], [5.0]])
    pids = torch.tensor([0, 0, 0, 1, 1])
    # anchor 0: hardest pos 9 (at 3), hardest neg 2.25 (at 1.5) -> 9 - 2.25 + 0.1 = 6.85
    # anchor 1: pos max(1, 4) = 4, neg min(0.25, 16) = 0.25 -> 3.85
    # anchor 2: pos max(9, 4) = 9, neg min(2.25, 4) = 2.25 -> 6.85
    # anchor 3: pos 12.25, neg min(2.25, 0.25, 2.25) = 0.25 -> 12.1
    # anchor 4: pos 12.25, neg min(25, 16, 4) = 4 -> 8.35
    expected = (6.85 + 3.85 + 6.85 + 12.1 + 8.35) / 5
    assert batch_hard_triplet(feats, pids, 0.1).item() == pytest.approx(expected, abs=1e-5)


def _pid_mask(pids):
    pids = torch.tensor(pids)
    return pids.view(-1, 1) == pids.view(1, -1)


def test_adversarial_eq1():
    x = torch.eye(2)
    own = torch.eye(2, dtype=torch.bool)
    # P_pos = e / (e + 1): -log(1 - P_pos) = log(1 + e)
    assert clothing_adversarial(x, x, own, 1.0).item() == pytest.approx(math.log(1 + E), abs=1e-6)
    # orthogonal to its own text, aligned with the other one: P_pos = 1 / (1 + e) -> -log(e / (1 + e))
    swapped = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert clothing_adversarial(swapped, x, own, 1.0).item() == pytest.approx(math.log((1 + E) / E), abs=1e-6)


def test_adversarial_positive_sets_and_no_negative_rows_skip():
    img = torch.eye(3)
    txt = torch.eye(3)
    # positives {0, 1} for rows 0, 1 (same pid) -> P_pos = (e + 1) / (e + 2); row 2: P_pos = e / (e + 2)
    r01 = -math.log(1 - (E + 1) / (E + 2))
    r2 = -math.log(1 - E / (E + 2))
    got = clothing_adversarial(img, txt, _pid_mask([0, 0, 1]), 1.0).item()
    assert got == pytest.approx((2 * r01 + r2) / 3, abs=1e-6)
    # the same batch with each image's own clothing text only (other outfits of the person are negatives)
    own = clothing_adversarial(img, txt, torch.eye(3, dtype=torch.bool), 1.0).item()
    assert own == pytest.approx(-math.log(1 - E / (E + 2)), abs=1e-6)
    assert clothing_adversarial(img, txt, _pid_mask([4, 4, 4]), 1.0).item() == 0.0
    # numerically stable where P_pos -> 1 (1 - P_pos underflows in float32)
    big = clothing_adversarial(torch.eye(2), torch.eye(2), torch.eye(2, dtype=torch.bool), 1e-3)
    assert torch.isfinite(big) and big.item() == pytest.approx(1000.0, rel=1e-4)


def test_same_outfit_is_the_same_clothing_text_or_the_same_image():
    # samples 0, 1: the two captions of one image (same clothing text); 2: the same person in another outfit;
    # 3: another image whose clothing text is identical to 0's (the same outfit described the same way)
    ids = torch.tensor([[101, 7, 8, 102, 0], [101, 7, 8, 102, 0], [101, 9, 102, 0, 0], [101, 7, 8, 102, 0]])
    mask = (ids > 0).long()
    expect = torch.tensor([[1, 1, 0, 1], [1, 1, 0, 1], [0, 0, 1, 0], [1, 1, 0, 1]], dtype=torch.bool)
    assert torch.equal(same_outfit(ids, mask), expect)
    # padding positions beyond the mask do not matter
    dirty = ids.clone()
    dirty[0, 4] = 55
    assert torch.equal(same_outfit(dirty, mask), expect)
    # image ids add pairs whose texts differ (e.g. a missing description replaced by each caption)
    image_ids = torch.tensor([5, 5, 6, 7])
    texts_differ = torch.tensor([[101, 1, 102], [101, 2, 102], [101, 3, 102], [101, 4, 102]])
    got = same_outfit(texts_differ, torch.ones_like(texts_differ), image_ids)
    assert got.tolist() == [[True, True, False, False], [True, True, False, False],
                            [False, False, True, False], [False, False, False, True]]


def test_contrastive_with_positive_mask_reduces_to_info_nce():
    g = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(4, 3, generator=g), dim=1)
    b = torch.nn.functional.normalize(torch.randn(4, 3, generator=g), dim=1)
    pids = torch.tensor([0, 0, 1, 2])
    torch.testing.assert_close(contrastive(a, b, _pid_mask([0, 0, 1, 2]), 0.1), info_nce(a, b, pids, 0.1))
    # one positive per row: the two directions of eq. 3 by hand
    logits = a @ b.t() / 0.1
    eye = torch.arange(4)
    hand = (torch.nn.functional.cross_entropy(logits, eye) + torch.nn.functional.cross_entropy(logits.t(), eye)) / 2
    torch.testing.assert_close(contrastive(a, b, torch.eye(4, dtype=torch.bool), 0.1), hand)


def test_image_text_matching_is_binary_cross_entropy():
    scores = torch.tensor([2.0, -1.0, 0.0])
    labels = torch.tensor([1.0, 0.0, 0.0])
    # -log sigmoid(2), -log(1 - sigmoid(-1)) = -log sigmoid(1), -log(1/2)
    expected = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1)) + math.log(2)) / 3
    assert image_text_matching(scores, labels).item() == pytest.approx(expected, abs=1e-6)


def test_gate_regularizer_hand_values():
    g = torch.full((4, 8), 0.75)
    bern = math.log(2) + 0.75 * math.log(0.75) + 0.25 * math.log(0.25)
    assert gate_regularizer(g, None).item() == pytest.approx(bern, abs=1e-6)
    w = torch.tensor([[0.9, 0.1], [0.7, 0.3]])  # mean (0.8, 0.2)
    cat = math.log(2) + 0.8 * math.log(0.8) + 0.2 * math.log(0.2)
    assert gate_regularizer(None, w).item() == pytest.approx(cat, abs=1e-6)
    assert gate_regularizer(g, w).item() == pytest.approx(bern + cat, abs=1e-6)
    # zero at the uniform average even when every single gate is saturated, as long as they balance out
    half = torch.tensor([[0.0001, 0.9999]]).repeat(2, 1)
    assert gate_regularizer(half, None).item() == pytest.approx(0.0, abs=1e-6)
    # the paper's Fig. 3 means cost little (flat near 0.5)
    assert gate_regularizer(torch.full((1, 1), 0.62), None).item() == pytest.approx(0.0290, abs=1e-4)
    with pytest.raises(ValueError, match="both are disabled"):
        gate_regularizer(None, None)


def test_gate_regularizer_penalises_collapse_more():
    assert gate_regularizer(torch.full((1, 4), 0.99), None) > gate_regularizer(torch.full((1, 4), 0.7), None) > 0


def test_fusion_matching():
    s = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    # row0: -log(e^2 / (e^2 + 2)); row1: log 3
    expected = (math.log(1 + 2 * E ** -2) + math.log(3)) / 2
    assert fusion_matching(s).item() == pytest.approx(expected, abs=1e-6)


def test_losses_chosen_by_name():
    assert set(LOSS_REGISTRY._obj_map) == {"InfoNCE", "Triplet", "Adversarial", "HSIC", "GateReg", "FusionMatch",
                                           "ClothingMatch"}
    with pytest.raises(KeyError, match="unknown loss 'Focal'"):
        get_loss("Focal")
