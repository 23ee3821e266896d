import pytest
import torch

from reid_plugins.losses import hsic_linear


def hsic_direct(a, b):
    """BDAM eq. 2 literally: tr(K_a H K_b H) / (N - 1)^2 with explicit N x N matrices."""
    n = a.shape[0]
    H = torch.eye(n, dtype=a.dtype) - torch.ones(n, n, dtype=a.dtype) / n
    return torch.trace((a @ a.t()) @ H @ (b @ b.t()) @ H) / (n - 1) ** 2


@pytest.mark.parametrize("n, da, db", [(8, 3, 5), (5, 16, 12), (2, 1, 1), (33, 7, 40)])
def test_matches_direct_formula(n, da, db):
    # (8, 3, 5) and (33, 7, 40) take the cross-covariance branch, (5, 16, 12) the Gram-matrix branch
    g = torch.Generator().manual_seed(n)
    a = torch.randn(n, da, generator=g, dtype=torch.float64)
    b = torch.randn(n, db, generator=g, dtype=torch.float64) + a[:, :1]  # dependent on a
    assert torch.allclose(hsic_linear(a, b), hsic_direct(a, b), rtol=1e-12, atol=1e-12)


def test_gradients_match_direct_formula():
    g = torch.Generator().manual_seed(0)
    for n, da, db in [(6, 2, 3), (4, 5, 6)]:
        a = torch.randn(n, da, generator=g, dtype=torch.float64, requires_grad=True)
        b = torch.randn(n, db, generator=g, dtype=torch.float64, requires_grad=True)
        ours = torch.autograd.grad(hsic_linear(a, b), (a, b))
        direct = torch.autograd.grad(hsic_direct(a, b), (a, b))
        for x, y in zip(ours, direct):
            assert torch.allclose(x, y, rtol=1e-10, atol=1e-12)


def test_hand_computed_3x2():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    b = torch.tensor([[1.0, 0.0], [3.0, 0.0], [2.0, 3.0]])
    # column means (1, 1) and (2, 1): a_c = [[0,-1],[-1,0],[1,1]], b_c = [[-1,-1],[1,-1],[0,2]]
    # a_c^T b_c = [[-1, 3], [1, 3]] -> squared Frobenius norm 20; (N-1)^2 = 4 -> HSIC = 5
    assert hsic_linear(a, b).item() == pytest.approx(5.0, abs=1e-6)
    assert hsic_direct(a, b).item() == pytest.approx(5.0, abs=1e-5)


def test_zero_when_one_side_is_constant_over_samples():
    a = torch.randn(10, 4)
    b = torch.tensor([[0.3, -2.0, 7.0]]).expand(10, 3)  # carries no information about the sample
    assert hsic_linear(a, b).abs().item() < 1e-6
    assert hsic_linear(b, a).abs().item() < 1e-6


def test_scaling_translation_symmetry_and_sign():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(12, 4, generator=g, dtype=torch.float64)
    b = torch.randn(12, 6, generator=g, dtype=torch.float64)
    base = hsic_linear(a, b)
    assert base.item() > 0
    assert torch.allclose(hsic_linear(3.0 * a, b), 9.0 * base)
    assert torch.allclose(hsic_linear(2.0 * a, -0.5 * b), base)        # 2^2 * 0.5^2 = 1
    assert torch.allclose(hsic_linear(a + 5.0, b - torch.arange(6.0, dtype=torch.float64)), base)
    assert torch.allclose(hsic_linear(b, a), base)
    rotation, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
    assert torch.allclose(hsic_linear(a @ rotation, b), base)           # linear kernel: only a a^T matters


def test_joint_sample_permutation_invariance():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(9, 3, generator=g, dtype=torch.float64)
    b = a @ torch.randn(3, 2, generator=g, dtype=torch.float64)       # strongly dependent
    perm = torch.randperm(9, generator=g)
    assert torch.allclose(hsic_linear(a[perm], b[perm]), hsic_linear(a, b))
    # permuting only one side breaks the pairing and changes the value
    assert not torch.allclose(hsic_linear(a[perm], b), hsic_linear(a, b))


@pytest.mark.parametrize("a, b, match", [
    (torch.randn(4, 2), torch.randn(5, 2), "same number of samples"),
    (torch.randn(1, 2), torch.randn(1, 3), "N >= 2"),
    (torch.randn(4), torch.randn(4, 2), "a must be a 2-D tensor"),
    (torch.randn(4, 2), torch.ones(4, 2, dtype=torch.long), "b must be floating point"),
    (torch.randn(4, 2), torch.randn(4, 2, dtype=torch.float64), "same dtype"),
])
def test_bad_input_errors(a, b, match):
    with pytest.raises(ValueError, match=match):
        hsic_linear(a, b)
