import muva_path  # noqa: F401
import pytest
import torch
import torch.nn as nn

from muva.ammsa import stripe_part_masks
from muva.encoder import MUVAImageEncoder
from reid_plugins.modeling.clip import build_clip


def _visual(layers=None, seed=0):
    torch.manual_seed(seed)
    visual = build_clip("ViT-T-16-reid").visual.eval()
    if layers is not None:
        visual.transformer.resblocks = nn.ModuleList(list(visual.transformer.resblocks)[:layers])
    return visual


def _images(b=2, seed=1):
    torch.manual_seed(seed)
    return torch.randn(b, 3, 256, 128)


def test_without_parts_equals_plain_clip_image_encoder():
    visual = _visual()
    ref = visual(_images())  # open_clip: ln_post(CLS) @ proj
    enc = MUVAImageEncoder(visual, part_index=[]).eval()
    out = enc(_images())
    assert out["tokens"].shape == (2, 1, 128) and "mask_logits" not in out
    assert torch.allclose(out["tokens"][:, 0], ref, atol=1e-5)


def test_part_tokens_and_positional_embedding():
    visual = _visual()
    pe = visual.positional_embedding.detach().clone()
    enc = MUVAImageEncoder(visual, part_index=[0, 1, 2])
    new = enc.visual.positional_embedding
    assert isinstance(new, nn.Parameter) and new.requires_grad and new.shape == (1 + 3 + 128, 128)
    for i in range(1, 4):
        assert torch.equal(new[i], pe[0])  # parts share CLS's positional embedding
    assert torch.equal(new[4:], pe[1:]) and torch.equal(new[0], pe[0])
    assert enc.part_tokens.shape == (3, 128) and 0.012 < float(enc.part_tokens.detach().std()) < 0.028
    assert not any(p.requires_grad for p in enc.visual.conv1.parameters())  # patch projection frozen
    assert enc.feat_dim == 4 * 128 and enc.mask_predictor is not None
    assert len(enc.mask_predictor.layers) == len(enc.visual.transformer.resblocks)


def _gt(rows):
    """bool [1, 3, 128] masks from row ranges of the 16x8 grid per part."""
    m = torch.zeros(1, 3, 16, 8, dtype=torch.bool)
    for p, (a, b) in enumerate(rows):
        m[0, p, a:b] = True
    return m.reshape(1, 3, 128)


def test_gt_masks_isolate_parts_one_layer():
    # After one block, a part token has seen only CLS, itself and the patches of its mask.
    enc = MUVAImageEncoder(_visual(layers=1), part_index=[0, 1, 2]).eval()
    gt = _gt([(0, 4), (4, 9), (9, 16)])
    img = _images(1)
    base = enc(img, gt)["tokens"]
    changed = img.clone()
    changed[:, :, 12 * 16:13 * 16, 0:16] += 3.0  # the patch at row 12, column 0: legs only
    out = enc(changed, gt)["tokens"]
    assert torch.allclose(out[:, 1], base[:, 1], atol=1e-6) and torch.allclose(out[:, 2], base[:, 2], atol=1e-6)
    assert not torch.allclose(out[:, 3], base[:, 3], atol=1e-4)  # legs
    assert not torch.allclose(out[:, 0], base[:, 0], atol=1e-4)  # CLS sees all patches
    # parts do not see each other: changing the upper-body mask leaves head and legs alone
    out2 = enc(img, _gt([(0, 4), (2, 12), (9, 16)]))["tokens"]
    assert torch.allclose(out2[:, 1], base[:, 1], atol=1e-6) and torch.allclose(out2[:, 3], base[:, 3], atol=1e-6)
    assert not torch.allclose(out2[:, 2], base[:, 2], atol=1e-4)
    with pytest.raises(ValueError, match="expected"):
        enc(img, torch.zeros(1, 3, 100, dtype=torch.bool))


def test_predicted_path_gates_like_the_gt_path():
    # Make every RMP layer emit +5 inside a fixed mask and -5 outside (last MLP layer zeroed, +-5 added to its
    # output): accumulated logits are (l+1) * (+-5), the gate reproduces the mask in every layer, so the tokens equal
    # the ground-truth path with that mask.
    enc = MUVAImageEncoder(_visual(), part_index=[0, 1, 2]).eval()
    gt = _gt([(0, 3), (3, 10), (8, 16)])
    bias = torch.where(gt[0], 5.0, -5.0)  # [3, 128]
    for layer in enc.mask_predictor.layers:
        nn.init.zeros_(layer.mlp[-1].weight)
        nn.init.zeros_(layer.mlp[-1].bias)
    hooks = [layer.mlp.register_forward_hook(lambda m, i, o: o + bias) for layer in enc.mask_predictor.layers]
    img = _images(2)
    pred = enc(img)
    for h in hooks:
        h.remove()
    ref = enc(img, gt.expand(2, -1, -1))
    assert torch.allclose(pred["tokens"], ref["tokens"], atol=1e-5)
    assert pred["mask_logits"].shape == (2, 2, 3, 128)
    for layer in range(2):
        assert torch.allclose(pred["mask_logits"][layer], (layer + 1) * bias.expand(2, -1, -1))
        assert torch.allclose(pred["mask_probs"][layer], torch.sigmoid((layer + 1) * bias).expand(2, -1, -1))


def test_fixed_stripes_equal_gt_path_with_stripes_and_part_subset():
    enc = MUVAImageEncoder(_visual(), part_index=[0, 2], attention_masks="fixed-stripes").eval()
    assert enc.mask_predictor is None
    stripes = stripe_part_masks((16, 8))[[0, 2]].unsqueeze(0).expand(2, -1, -1)
    img = _images(2)
    ref = MUVAImageEncoder(_visual(), part_index=[0, 2]).eval()  # same weights (seeded), GT path with the stripes
    with torch.no_grad():
        ref.part_tokens.copy_(enc.part_tokens)
    assert torch.allclose(enc(img)["tokens"], ref(img, stripes)["tokens"], atol=1e-6)
    other = torch.zeros_like(stripes).bool()  # VGE masks are ignored by the stripe variant
    assert torch.allclose(enc(img, other)["tokens"], enc(img)["tokens"], atol=1e-6)
    assert enc(img)["tokens"].shape == (2, 3, 128)
    with pytest.raises(ValueError, match="ATTENTION_MASKS"):
        MUVAImageEncoder(_visual(), part_index=[0], attention_masks="boxes")
