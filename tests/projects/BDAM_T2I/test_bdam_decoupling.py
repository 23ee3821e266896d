import bdam_path  # noqa: F401
import pytest
import torch

from bdam.decoupling import BDAM


def _module(**kw):
    torch.manual_seed(0)
    args = dict(in_dim=24, dim=16, num_layers=2, num_heads=4, mlp_ratio=2, dropout=0.0)
    args.update(kw)
    return BDAM(**args).eval()


def test_shapes_and_gate_range():
    m = _module()
    out = m(torch.randn(3, 10, 24) * 5)
    for key in ("f_id_hat", "f_clo_hat", "gate", "f_id_gate", "f_clo_gate"):
        assert out[key].shape == (3, 16), key
    g = out["gate"]
    assert ((g > 0) & (g < 1)).all()
    assert torch.allclose(out["f_id_gate"], g * out["f_id_hat"])
    assert torch.allclose(out["f_clo_gate"], (1 - g) * out["f_clo_hat"])
    # the gate is the sigmoid of a linear map of [f_id_hat; f_clo_hat]
    expect = torch.sigmoid(torch.cat([out["f_id_hat"], out["f_clo_hat"]], 1) @ m.gate.weight.t() + m.gate.bias)
    assert torch.allclose(g, expect, atol=1e-6)


def test_pooling_is_over_all_tokens_and_order_free():
    """No [CLS]: the module pools every token, so permuting tokens changes nothing (no position information)."""
    m = _module()
    x = torch.randn(2, 7, 24)
    perm = torch.randperm(7)
    a, b = m(x), m(x[:, perm])
    assert torch.allclose(a["f_id_gate"], b["f_id_gate"], atol=1e-5)


def test_cross_attention_exchanges_information():
    """With cross-attention the identity output depends on the clothing branch; without it, it does not."""
    x = torch.randn(2, 6, 24)
    for cross, should_change in ((True, True), (False, False)):
        m = _module(cross_attention=cross)
        base = m(x)["f_id_hat"]
        with torch.no_grad():
            m.clo_proj.weight.add_(torch.randn_like(m.clo_proj.weight))
        changed = not torch.allclose(m(x)["f_id_hat"], base, atol=1e-6)
        assert changed == should_change


def test_without_gate_passes_features_through():
    m = _module(gate=False)
    out = m(torch.randn(2, 5, 24))
    assert out["gate"] is None
    assert torch.equal(out["f_id_gate"], out["f_id_hat"]) and torch.equal(out["f_clo_gate"], out["f_clo_hat"])
    assert not hasattr(m, "gate")


def test_layer_count_and_errors():
    m = _module(num_layers=3, cross_layers=2)
    assert len(m.id_layers) == 3 and len(m.clo_layers) == 3 and len(m.id_cross) == 2
    with pytest.raises(ValueError, match="divisible"):
        BDAM(in_dim=8, dim=10, num_heads=4)
    with pytest.raises(ValueError, match=r"\[B, L, D\]"):
        m(torch.randn(2, 24))
