import math

import muva_path  # noqa: F401
import pytest
import torch
import torch.nn as nn

from muva.ammsa import (CrossAttention, MaskPredictor, ResidualMaskPredictor, additive_from_bool,
                        attention_mask_template, build_attention_mask, gate, stripe_part_masks)

I = float("-inf")


def test_attention_mask_template_known_answer():
    # T = 1 + R + L = 1 + 2 + 3; rows are queries
    expected = torch.tensor([
        [0, 0, 0, 0, 0, 0],  # CLS sees everything
        [0, 0, I, I, I, I],  # part 1: CLS, itself, (patches filled per sample)
        [0, I, 0, I, I, I],  # part 2
        [0, I, I, 0, 0, 0],  # patches: CLS, (parts filled per sample), all patches
        [0, I, I, 0, 0, 0],
        [0, I, I, 0, 0, 0],
    ])
    assert torch.equal(attention_mask_template(2, 3), expected)


def test_build_attention_mask_symmetric_gating():
    template = attention_mask_template(2, 3)
    part = torch.tensor([[[0, I, 0], [I, 0, I]]])  # part 1 -> patches 1, 3; part 2 -> patch 2
    mask = build_attention_mask(template, part)
    assert mask.shape == (1, 6, 6)
    assert torch.equal(mask[0, 1:3, 3:], part[0]) and torch.equal(mask[0, 3:, 1:3], part[0].t())
    assert torch.equal(mask[0, 0], torch.zeros(6)) and torch.equal(mask[0, :, 0], torch.zeros(6))
    assert mask[0, 1, 2] == I and mask[0, 2, 1] == I and mask[0, 1, 1] == 0  # parts isolated from each other
    assert torch.equal(mask[0, 3:, 3:], torch.zeros(3, 3))
    with pytest.raises(ValueError, match="do not fit"):
        build_attention_mask(template, torch.zeros(1, 2, 4))


def test_gate_strict_threshold_and_detached():
    probs = torch.tensor([[[0.5, 0.5001, 0.2, 0.99]]], requires_grad=True)
    gated = gate(probs, 0.5)
    assert torch.equal(gated, torch.tensor([[[I, 0.0, I, 0.0]]]))
    assert not gated.requires_grad


def test_additive_from_bool():
    m = torch.tensor([[True, False], [False, True]])
    assert torch.equal(additive_from_bool(m), torch.tensor([[0.0, I], [I, 0.0]]))
    assert torch.equal(additive_from_bool(m.float()), additive_from_bool(m))


def test_stripe_part_masks_equal_thirds():
    stripes = stripe_part_masks((16, 8)).reshape(3, 16, 8)
    assert stripes.sum(dim=(1, 2)).tolist() == [5 * 8, 6 * 8, 5 * 8]  # rows 0-4, 5-10, 11-15
    assert stripes[0, :5].all() and stripes[1, 5:11].all() and stripes[2, 11:].all()
    assert (stripes.sum(0) == 1).all()


def test_cross_attention_reference():
    torch.manual_seed(0)
    ca = CrossAttention(8, 2)
    q_in, ctx = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    q, k, v = q_in @ ca.q.weight.t(), ctx @ ca.k.weight.t(), ctx @ ca.v.weight.t()
    heads = []
    for h in range(2):
        s = slice(4 * h, 4 * h + 4)
        att = torch.softmax(q[..., s] @ k[..., s].transpose(1, 2) / math.sqrt(4), dim=-1)
        heads.append(att @ v[..., s])
    expected = torch.cat(heads, -1) @ ca.out.weight.t() + ca.out.bias
    assert torch.allclose(ca(q_in, ctx), expected, atol=1e-6)
    assert ca.q.bias is None and ca.k.bias is None and ca.v.bias is None and ca.out.bias is not None
    with pytest.raises(ValueError, match="NUM_HEADS=3"):
        CrossAttention(8, 3)


@pytest.mark.parametrize("layer_norm,shortcut", [(True, True), (False, True), (True, False), (False, False)])
def test_mask_predictor_structure(layer_norm, shortcut):
    torch.manual_seed(0)
    mp = MaskPredictor(8, 2, 6, layer_norm=layer_norm, inner_shortcut=shortcut)
    parts, patches = torch.randn(2, 3, 8), torch.randn(2, 6, 8)
    norm = (lambda m, x: m(x)) if layer_norm else (lambda m, x: x)
    assert isinstance(mp.norm_part, nn.LayerNorm if layer_norm else nn.Identity)
    x = mp.cross_attn(norm(mp.norm_part, parts), norm(mp.norm_patch, patches))
    if shortcut:
        x = x + parts
    expected = mp.mlp(norm(mp.norm_mlp, x))
    assert torch.allclose(mp(parts, patches), expected, atol=1e-6)
    assert mp(parts, patches).shape == (2, 3, 6)


def test_rmp_parameter_count_matches_table13_design():
    # one ViT-B/16 layer: 3 LayerNorms + q/k/v without bias + output projection + MLP 768 -> 128 -> 128
    mp = MaskPredictor(768, 2, 128)
    assert sum(p.numel() for p in mp.parameters()) == 3 * 1536 + 3 * 768 * 768 + (768 * 768 + 768) + \
        (768 * 128 + 128) + (128 * 128 + 128) == 2_479_616


def test_residual_logits_accumulate_over_layers():
    torch.manual_seed(0)
    rmp = ResidualMaskPredictor(num_layers=3, num_parts=2, num_patches=4, dim=8, num_heads=2, tau=2.0)
    tokens = [torch.randn(2, 1 + 2 + 4, 8) for _ in range(3)]
    prev, running = None, torch.zeros(2, 2, 4)
    for layer in range(3):
        probs, logits = rmp(tokens[layer], layer, prev)
        running = running + rmp.layers[layer](tokens[layer][:, 1:3], tokens[layer][:, 3:])
        assert torch.allclose(logits, running, atol=1e-6)
        assert torch.allclose(probs, torch.sigmoid(running / 2.0), atol=1e-6)
        prev = logits
