import math

import muva_path  # noqa: F401
import pytest
import torch
import torch.nn.functional as F

from muva.memory import PrototypeMemory


def _memory(hard=True):
    mem = PrototypeMemory(2, 2, temp=0.01, momentum=0.2, hard=hard)
    mem.reset(torch.tensor([[2.0, 0.0], [0.0, 3.0]]))  # normalised on reset
    return mem


def test_reset_normalises_and_checks_shape():
    mem = _memory()
    assert torch.equal(mem.features, torch.eye(2))
    with pytest.raises(ValueError, match="expected"):
        mem.reset(torch.zeros(3, 2))


def test_hardest_sample_momentum_update_known_answer():
    mem = _memory()
    feats = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    mem.train()
    loss = mem(feats, labels)
    # class 0: the hardest instance has similarity 0.6 -> 0.2 [1, 0] + 0.8 [0.6, 0.8] = [0.68, 0.64], normalised
    n = math.hypot(0.68, 0.64)
    assert torch.allclose(mem.features[0], torch.tensor([0.68 / n, 0.64 / n]), atol=1e-6)
    assert torch.allclose(mem.features[1], torch.tensor([0.0, 1.0]), atol=1e-6)
    # the loss used the memory before the update: logits = f . I / 0.01
    expected = F.cross_entropy(feats @ torch.eye(2) / 0.01, labels)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)


def test_gradient_uses_pre_update_memory():
    mem = _memory()
    feats = torch.tensor([[0.6, 0.8], [0.8, 0.6]], requires_grad=True)
    mem(feats, torch.tensor([0, 0])).backward()
    ref = feats.detach().clone().requires_grad_(True)
    F.cross_entropy(F.normalize(ref, dim=1) @ torch.eye(2) / 0.01, torch.tensor([0, 0])).backward()
    assert torch.allclose(feats.grad, ref.grad, atol=1e-5)


def test_all_instances_sequential_update_and_eval_mode():
    mem = _memory(hard=False)
    mem(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([0, 0]))
    first = torch.tensor([0.2, 0.8]) / math.hypot(0.2, 0.8)
    second = 0.2 * first + 0.8 * torch.tensor([1.0, 0.0])
    assert torch.allclose(mem.features[0], second / second.norm(), atol=1e-6)
    frozen = _memory()
    frozen.eval()
    frozen(torch.tensor([[0.0, 1.0]]), torch.tensor([0]))
    assert torch.equal(frozen.features, torch.eye(2))
