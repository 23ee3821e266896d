import bdam_path  # noqa: F401
import pytest
import torch

from bdam.fusion import MambaFusion


def _head(**kw):
    torch.manual_seed(0)
    args = dict(img_dim=24, txt_dim=12, dim=16, out_dim=8, d_state=4, dropout=0.0)
    args.update(kw)
    return MambaFusion(**args).eval()


def test_shapes_and_modality_gate_is_a_distribution():
    head = _head()
    out = head(torch.randn(5, 24), torch.randn(5, 12))
    assert out["score"].shape == (5,) and out["final"].shape == (5, 8) and out["weights"].shape == (5, 2)
    w = out["weights"]
    assert ((w > 0) & (w < 1)).all()
    assert torch.allclose(w.sum(1), torch.ones(5))
    # w = softmax(W_f [f_img; f_txt])
    f_img, f_txt = head.align_img(torch.zeros(1, 24)), head.align_txt(torch.zeros(1, 12))
    expect = torch.softmax(head.gate(torch.cat([f_img, f_txt], 1)), 1)
    assert torch.allclose(head.fuse(f_img, f_txt)["weights"], expect)


def test_paper_dimensions_use_two_mamba_layers():
    head = MambaFusion(768, 768)
    assert len(head.mamba) == 2
    block = head.mamba[0]
    assert block.in_proj.in_features == 256 and block.A_log.shape == (512, 16) and block.conv1d.kernel_size == (4,)
    assert head.proj.out_features == 256


def test_without_mamba_the_head_is_a_projection_of_the_weighted_sum():
    head = _head(mamba_layers=0)
    f_img, f_txt = torch.randn(3, 16), torch.randn(3, 16)
    out = head.fuse(f_img, f_txt)
    w = out["weights"]
    fused = w[:, :1] * f_img + w[:, 1:] * f_txt
    assert torch.allclose(out["final"], head.proj(head.norm(fused)), atol=1e-6)


def test_without_gate_weights_are_half():
    head = _head(gate=False)
    out = head(torch.randn(4, 24), torch.randn(4, 12))
    assert torch.equal(out["weights"], torch.full((4, 2), 0.5))
    assert not hasattr(head, "gate")


def test_mamba_layers_are_residual_and_causal():
    """The image token's output cannot see the text (causal scan), the fused token sees both."""
    head = _head()
    f_img, f_txt = torch.randn(2, 16), torch.randn(2, 16)
    w = torch.full((2, 2), 0.5)
    x = torch.stack([w[:, :1] * f_img, w[:, 1:] * f_txt, w[:, :1] * f_img + w[:, 1:] * f_txt], 1)
    x2 = x.clone()
    x2[:, 1:] += 1.0  # change the text and fused tokens only
    layer = head.mamba[0]
    y, y2 = layer(x) + x, layer(x2) + x2
    assert torch.allclose(y[:, 0], y2[:, 0], atol=1e-6) and not torch.allclose(y[:, 2], y2[:, 2])


def test_linear_alignment_and_bad_align():
    head = _head(align="linear")
    assert isinstance(head.align_img, torch.nn.Linear) and head.align_img.out_features == 16
    with pytest.raises(ValueError, match="'mlp' or 'linear'"):
        _head(align="conv")
