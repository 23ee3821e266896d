import math

import pytest
import torch
from mambapy.mamba import MambaBlock as MambapyBlock
from mambapy.mamba import MambaConfig as MambapyConfig
from transformers import MambaConfig as HFMambaConfig
from transformers.models.mamba.modeling_mamba import MambaMixer

from reid_plugins.modeling import mamba
from reid_plugins.modeling.mamba import MambaBlock, selective_scan, selective_scan_reference

PARAM_SHAPES = {  # mamba-ssm's names and shapes for d_model 32, d_state 8, d_conv 4, expand 2 (d_inner 64, rank 2)
    "in_proj.weight": (128, 32), "conv1d.weight": (64, 1, 4), "conv1d.bias": (64,), "x_proj.weight": (18, 64),
    "dt_proj.weight": (64, 2), "dt_proj.bias": (64,), "A_log": (64, 8), "D": (64,), "out_proj.weight": (32, 64),
}


def scan_args(length, dtype, batch=2, d_inner=6, d_state=4, seed=0, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.randn(*shape, generator=g, dtype=dtype)  # noqa: E731
    args = dict(u=rand(batch, d_inner, length), delta=rand(batch, d_inner, length) - 1.0,
                A=-torch.rand(d_inner, d_state, generator=g, dtype=dtype) * 4 - 0.1,
                B=rand(batch, d_state, length), C=rand(batch, d_state, length), D=rand(d_inner),
                z=rand(batch, d_inner, length), delta_bias=rand(d_inner) * 0.5)
    return {k: v.requires_grad_(requires_grad) for k, v in args.items()}


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("length", [1, 7, 64, 257])
def test_parallel_scan_matches_step_by_step(dtype, tol, length):
    args = scan_args(length, dtype)
    expected = selective_scan_reference(**args)
    for chunk in (None, 1, 5, 16):   # single-step, odd and power-of-two chunks; 257 leaves a 1-step tail
        out = selective_scan(**args, chunk_size=chunk)
        assert out.dtype == dtype and out.shape == expected.shape
        assert (out - expected).abs().max().item() <= tol


@pytest.mark.parametrize("bias", [40.0, -40.0])
def test_extreme_time_steps_stay_finite(bias):
    # softplus(40) = 40 with A down to -4.1: decays exp(-164) underflow to 0 (the state resets every step);
    # softplus(-40) ~ 4e-18: decays are 1 to float32 precision (the state never forgets)
    args = scan_args(100, torch.float32, requires_grad=True)
    args["delta_bias"] = torch.full((6,), bias)
    out = selective_scan(**args, chunk_size=16)
    expected = selective_scan_reference(**args)
    assert torch.isfinite(out).all() and torch.allclose(out, expected, atol=1e-5, rtol=1e-5)
    grads = torch.autograd.grad(out.sum(), [args["u"], args["A"], args["B"]])
    grads_ref = torch.autograd.grad(expected.sum(), [args["u"], args["A"], args["B"]])
    for g, r in zip(grads, grads_ref):
        assert torch.isfinite(g).all() and torch.allclose(g, r, atol=1e-4, rtol=1e-4)


def test_batch_tiles_give_the_same_result(monkeypatch):
    monkeypatch.setattr(mamba, "_TILE_BYTES", 400)   # 8 * 400 bytes: tiles of 3 samples x 5 float64 steps
    assert mamba._batch_tile(7, 5, 6, 4, 8) == 3                  # 3200 // (5 * 6 * 4 * 8 bytes)
    args = scan_args(9, torch.float64, batch=7, requires_grad=True)
    out = selective_scan(**args, chunk_size=5)
    expected = selective_scan_reference(**args)
    assert torch.allclose(out, expected, atol=1e-12)
    grads = torch.autograd.grad(out.sum(), list(args.values()))
    for g, r in zip(grads, torch.autograd.grad(expected.sum(), list(args.values()))):
        assert torch.allclose(g, r, atol=1e-10)


def test_scan_without_optional_terms():
    args = scan_args(9, torch.float64)
    for drop in ({"D": None}, {"z": None}, {"delta_bias": None}, {"delta_softplus": False}):
        kw = {**args, **drop}
        if "delta_softplus" in drop:
            kw["delta"] = args["delta"].abs()   # raw time steps must be positive without the softplus
        assert torch.allclose(selective_scan(**kw, chunk_size=4), selective_scan_reference(**kw), atol=1e-12)


@pytest.mark.parametrize("dtype, rtol", [(torch.float32, 1e-4), (torch.float64, 1e-9)])
@pytest.mark.parametrize("length, chunk", [(1, None), (7, 3), (64, None), (64, 8)])
def test_gradients_match_reference_autograd(dtype, rtol, length, chunk):
    args = scan_args(length, dtype, requires_grad=True)
    grad_out = torch.randn(2, 6, length, dtype=dtype, generator=torch.Generator().manual_seed(1))
    ours = torch.autograd.grad(selective_scan(**args, chunk_size=chunk), list(args.values()), grad_out)
    ref = torch.autograd.grad(selective_scan_reference(**args), list(args.values()), grad_out)
    for name, g, r in zip(args, ours, ref):
        scale = r.abs().max().item()
        assert (g - r).abs().max().item() <= rtol * max(scale, 1.0), name


def test_gradcheck_float64():
    args = scan_args(6, torch.float64, batch=2, d_inner=3, d_state=2, requires_grad=True)
    fn = lambda u, delta, A, B, C, D, z, bias: selective_scan(u, delta, A, B, C, D, z, bias, chunk_size=4)  # noqa
    assert torch.autograd.gradcheck(fn, tuple(args.values()))


@pytest.mark.parametrize("reverse", [False, True])
def test_in_place_log_depth_scan_every_length(reverse):
    g = torch.Generator().manual_seed(0)
    for length in range(1, 34):
        a = torch.rand(2, length, 3, generator=g, dtype=torch.float64)
        b = torch.randn(2, length, 3, generator=g, dtype=torch.float64)
        expected, state = torch.empty_like(b), torch.zeros_like(b[:, 0])
        for t in (reversed(range(length)) if reverse else range(length)):
            state = a[:, t] * state + b[:, t]
            expected[:, t] = state
        out = mamba._linear_scan_(a.clone(), b.clone(), reverse=reverse)
        assert torch.allclose(out, expected, atol=1e-12), length


def test_half_precision_is_computed_in_float32():
    args = scan_args(20, torch.float32)
    half = {k: v.to(torch.bfloat16) for k, v in args.items()}
    out = selective_scan(**half)
    assert out.dtype == torch.bfloat16
    expected = selective_scan_reference(**{k: v.float() for k, v in half.items()})
    assert torch.allclose(out.float(), expected, atol=0.05, rtol=0.02)


def test_parameter_names_shapes_and_init():
    torch.manual_seed(0)
    block = MambaBlock(32, d_state=8, d_conv=4, expand=2)
    assert {k: tuple(v.shape) for k, v in block.state_dict().items()} == PARAM_SHAPES
    assert block.dt_rank == math.ceil(32 / 16)
    assert torch.equal(block.A_log, torch.log(torch.arange(1.0, 9.0)).expand(64, 8))
    assert torch.equal(block.D, torch.ones(64))
    dt = torch.nn.functional.softplus(block.dt_proj.bias)        # the initial time steps, log-uniform in range
    assert dt.min() >= 1e-3 * (1 - 1e-5) and dt.max() <= 0.1 * (1 + 1e-5)
    assert (dt.log() < math.log(0.01)).any() and (dt.log() > math.log(0.01)).any()
    bound = block.dt_rank ** -0.5
    assert block.dt_proj.weight.abs().max() <= bound and block.dt_proj.weight.std() > 0.3 * bound
    const = MambaBlock(32, d_state=8, dt_init="constant", dt_scale=2.0)
    assert torch.allclose(const.dt_proj.weight, torch.full((64, 2), 2.0 / math.sqrt(2)))


def mambapy_block():
    return MambapyBlock(MambapyConfig(d_model=32, n_layers=1, d_state=8, expand_factor=2, d_conv=4))


def hf_mixer():
    config = HFMambaConfig(hidden_size=32, state_size=8, conv_kernel=4, expand=2, use_bias=False,
                           use_conv_bias=True, num_hidden_layers=1, vocab_size=16)
    return MambaMixer(config, layer_idx=0).eval()


@pytest.mark.parametrize("other_factory", [mambapy_block, hf_mixer], ids=["mambapy", "transformers"])
def test_state_dict_interchangeable_and_outputs_match(other_factory):
    torch.manual_seed(0)
    ours, other = MambaBlock(32, d_state=8, d_conv=4, expand=2), other_factory()
    other.load_state_dict(ours.state_dict(), strict=True)
    for length in (1, 7, 64, 37):
        x = torch.randn(2, length, 32)
        with torch.no_grad():
            assert (ours(x) - other(x)).abs().max().item() <= 1e-5, length
    # and the other way round: their (differently initialised) weights load into ours
    theirs = other_factory()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(3, 13, 32)
    with torch.no_grad():
        assert (ours(x) - theirs(x)).abs().max().item() <= 1e-5


def test_block_forward_is_out_proj_of_reference_scan_and_trains():
    torch.manual_seed(0)
    block = MambaBlock(16, d_state=4, expand=2).double()
    x = torch.randn(2, 11, 16, dtype=torch.float64, requires_grad=True)
    out = block(x)
    expected = block.out_proj(selective_scan_reference(**block.ssm_inputs(x)).transpose(1, 2))
    assert out.shape == (2, 11, 16) and out.dtype == torch.float64
    assert torch.allclose(out, expected, atol=1e-12)
    grads = torch.autograd.grad(out.square().sum(), [x, *block.parameters()])
    grads_ref = torch.autograd.grad(expected.square().sum(), [x, *block.parameters()])
    for g, r in zip(grads, grads_ref):
        assert torch.allclose(g, r, atol=1e-10)


class FakeMambaSSM(MambapyBlock):
    """Stands in for mamba_ssm.Mamba (same constructor keywords; forward reads the bound submodules)."""

    def __init__(self, d_model, d_state, d_conv, expand, dt_rank, dt_min, dt_max, dt_init, dt_scale,
                 dt_init_floor, conv_bias, bias, device=None, dtype=None):
        super().__init__(MambapyConfig(d_model=d_model, n_layers=1, d_state=d_state, expand_factor=expand,
                                       d_conv=d_conv, dt_rank=dt_rank, bias=bias, conv_bias=conv_bias))


def test_mamba_ssm_delegate_shares_this_blocks_parameters(monkeypatch):
    torch.manual_seed(0)
    block = MambaBlock(32, d_state=8)
    x = torch.randn(2, 9, 32)
    monkeypatch.setattr(mamba, "_MAMBA_SSM", [None])
    assert not block.uses_mamba_ssm(x)                         # no mamba_ssm
    monkeypatch.setattr(mamba, "_MAMBA_SSM", [FakeMambaSSM])
    assert not block.uses_mamba_ssm(x)                         # mamba_ssm, but a CPU tensor
    monkeypatch.setattr(MambaBlock, "uses_mamba_ssm", lambda self, t: True)   # as for a CUDA tensor
    expected = block._forward_torch(x)
    out = block(x)
    delegate = block._kernel[0]
    for name in mamba._SHARED_NAMES:
        assert getattr(delegate, name) is getattr(block, name)
    assert sorted(block.state_dict()) == sorted(PARAM_SHAPES)  # the delegate is not registered as a child
    assert torch.allclose(out, expected, atol=1e-5)
    with torch.no_grad():
        block.D.add_(1.0)                                      # later updates are seen by the delegate
    assert torch.allclose(block(x), block._forward_torch(x), atol=1e-5)


@pytest.mark.parametrize("change, match", [
    ({"B": torch.randn(2, 3, 5)}, r"B must be \[batch, d_state, L\]"),
    ({"A": torch.randn(7, 4)}, r"A must be \[d_inner=6, d_state\]"),
    ({"delta": torch.randn(2, 6, 4)}, "delta must have u's shape"),
    ({"D": torch.randn(5)}, r"D must be \[d_inner\]"),
    ({"u": torch.randn(6, 5)}, r"u must be \[batch, d_inner, L\]"),
])
def test_scan_bad_shapes(change, match):
    args = {**scan_args(5, torch.float32), **change}
    with pytest.raises(ValueError, match=match):
        selective_scan(**args)
    with pytest.raises(ValueError, match=match):
        selective_scan_reference(**args)


def test_block_bad_arguments():
    with pytest.raises(ValueError, match="chunk_size"):
        selective_scan(**scan_args(5, torch.float32), chunk_size=0)
    with pytest.raises(ValueError, match="d_state must be a positive int"):
        MambaBlock(16, d_state=0)
    with pytest.raises(ValueError, match="dt_rank"):
        MambaBlock(16, dt_rank="big")
    with pytest.raises(ValueError, match=r"input must be \[batch, L, d_model=16\]"):
        MambaBlock(16)(torch.randn(2, 5, 8))
