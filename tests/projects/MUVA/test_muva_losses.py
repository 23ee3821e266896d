import math

import muva_path  # noqa: F401
import pytest
import torch

from muva.losses import cmp_loss, i2tce_loss, id_loss, mask_bce_loss, mask_dice_loss


def test_id_loss_label_smoothing_known_answer():
    # logits [0, ln 3] -> p = [1/4, 3/4]; smoothed target (1-0.1)*onehot + 0.1/2 = [0.05, 0.95]
    loss = id_loss(torch.tensor([[0.0, math.log(3.0)]]), torch.tensor([1]), 0.1)
    assert float(loss) == pytest.approx(-(0.05 * math.log(0.25) + 0.95 * math.log(0.75)), abs=1e-6)  # 0.342613
    assert float(id_loss(torch.tensor([[0.0, math.log(3.0)]]), torch.tensor([1]), 0.0)) == pytest.approx(
        -math.log(0.75), abs=1e-6)


def test_cmp_loss_known_answer_and_count_weights():
    text = torch.tensor([[3.0, 4.0]])  # normalised -> [0.6, 0.8]
    centroids = torch.eye(2)
    loss = cmp_loss(text, centroids, torch.tensor([0]), temp=1.0)
    assert float(loss) == pytest.approx(math.log(1 + math.exp(0.2)), abs=1e-6)  # -log(e^.6 / (e^.6 + e^.8))
    assert float(cmp_loss(text, centroids, torch.tensor([0]), temp=0.5)) == pytest.approx(
        math.log(1 + math.exp(0.4)), abs=1e-6)
    # one row per identity weighted by its count == the PK batch with repeated rows
    t = torch.randn(3, 4)
    c = torch.nn.functional.normalize(torch.randn(5, 4), dim=1)
    y = torch.tensor([4, 0, 2])
    counts = torch.tensor([4, 4, 2])
    repeated = cmp_loss(t.repeat_interleave(counts, 0), c, y.repeat_interleave(counts))
    assert float(cmp_loss(t, c, y, weights=counts)) == pytest.approx(float(repeated), abs=1e-6)


def test_i2tce_known_answer():
    img, mem, y = torch.tensor([[1.0, 2.0]]), torch.eye(2), torch.tensor([1])
    lse = math.log(math.e + math.e ** 2)
    expected = 0.05 * (lse - 1.0) + 0.95 * (lse - 2.0)  # 0.363262
    assert float(i2tce_loss(img, mem, y, 0.1, 1.0, False)) == pytest.approx(expected, abs=1e-6)
    a, b = 1 / math.sqrt(5), 2 / math.sqrt(5)  # normalised image feature, cosine logits / tau (0.5)
    lse = math.log(math.exp(a / 0.5) + math.exp(b / 0.5))
    expected = 0.05 * (lse - a / 0.5) + 0.95 * (lse - b / 0.5)
    assert float(i2tce_loss(img, 3 * mem, y, 0.1, 0.5, True)) == pytest.approx(expected, abs=1e-6)


def test_mask_bce_over_all_layers():
    target = torch.tensor([[[1, 0]]], dtype=torch.bool)  # [B=1, R=1, L=2]
    logits = torch.stack([torch.zeros(1, 1, 2), torch.tensor([[[2.0, -2.0]]])])  # 2 layers
    expected = (2 * math.log(2.0) + 2 * math.log(1 + math.exp(-2.0))) / 4
    assert float(mask_bce_loss(logits, target)) == pytest.approx(expected, abs=1e-6)


def test_mask_dice_over_layers_and_rows():
    target = torch.tensor([[[1, 1, 0, 0]]], dtype=torch.bool)
    probs = torch.stack([torch.tensor([[[1.0, 0.0, 1.0, 0.0]]]), torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])])
    # layer 1: 2*1 / (2 + 2) = 0.5; layer 2: 2*2 / 4 = 1 -> loss 1 - 0.75
    assert float(mask_dice_loss(probs, target, smooth=0.0)) == pytest.approx(0.25, abs=1e-6)
    # the code's smoothing (1e-3 unscaled): empty target and prediction give dice 1
    assert float(mask_dice_loss(torch.zeros(1, 1, 1, 4), torch.zeros(1, 1, 4, dtype=torch.bool))) == pytest.approx(0.0)
    # the code's scaled form (2 I / 1000 + 1e-6) / (U / 1000 + 1e-6) equals smooth = 1e-3 here
    p = torch.tensor([[[[0.3, 0.9, 0.2, 0.0]]]])
    g = torch.tensor([[[1, 1, 0, 0]]], dtype=torch.bool)
    i, u = float((p * g).sum()) / 1000, (float(p.sum()) + 2) / 1000
    assert float(mask_dice_loss(p, g)) == pytest.approx(1 - (2 * i + 1e-6) / (u + 1e-6), abs=1e-6)
