"""HSIC with linear kernels (BDAM eq. 2): a dependence measure between two feature sets of the same samples."""
import torch

__all__ = ["hsic_linear"]


def _check(name: str, x) -> None:
    if not torch.is_tensor(x) or x.dim() != 2:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"hsic_linear: {name} must be a 2-D tensor [N, D], got {shape}")
    if not x.is_floating_point():
        raise ValueError(f"hsic_linear: {name} must be floating point, got dtype {x.dtype}")


def hsic_linear(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """tr(K_a H K_b H) / (N - 1)^2 with K_a = a a^T, K_b = b b^T, H = I - 11^T / N.

    a: [N, Da], b: [N, Db] (row i of both = sample i; N >= 2). Returns a scalar tensor, differentiable in a and b.
    H is never formed: with column-centred a_c = H a, b_c = H b (H is symmetric and idempotent),
    tr(K_a H K_b H) = tr(a_c a_c^T b_c b_c^T) = ||a_c^T b_c||_F^2, computed through whichever of the [Da, Db]
    cross-covariance or the two [N, N] centred Gram matrices is smaller.
    """
    _check("a", a)
    _check("b", b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"hsic_linear: a and b must have the same number of samples N, got a {tuple(a.shape)} "
                         f"and b {tuple(b.shape)}")
    n = a.shape[0]
    if n < 2:
        raise ValueError(f"hsic_linear: need N >= 2 samples (the estimator divides by (N-1)^2), got N={n}")
    if a.dtype != b.dtype:
        raise ValueError(f"hsic_linear: a and b must have the same dtype, got {a.dtype} and {b.dtype}")
    a_c = a - a.mean(dim=0, keepdim=True)
    b_c = b - b.mean(dim=0, keepdim=True)
    if a.shape[1] * b.shape[1] <= n * n:
        trace = (a_c.t() @ b_c).pow(2).sum()
    else:  # tr(G_a G_b) of symmetric Gram matrices = sum of their elementwise product
        trace = ((a_c @ a_c.t()) * (b_c @ b_c.t())).sum()
    return trace / (n - 1) ** 2
