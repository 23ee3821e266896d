import pytest
import torch
from open_clip.transformer import ResidualAttentionBlock

from reid_plugins.modeling.vit import attention_sdpa, block_forward, patch_grid, resize_pos_embed


def test_patch_grid():
    assert patch_grid((256, 128), 16) == (16, 8)
    assert patch_grid((224, 224), 16) == (14, 14)
    assert patch_grid((256, 128), 16, stride=(12, 12)) == (21, 10)  # (256-16)//12+1, (128-16)//12+1
    with pytest.raises(ValueError, match="smaller than the patch"):
        patch_grid((8, 8), 16)


def test_resize_pos_embed_known_answer():
    # extra token + 2x2 grid whose value is 4 * column; bilinear (align_corners=False) to 2x4 gives columns
    # 0, 1, 3, 4 (sample points -0.25 -> 0, 0.25, 0.75, 1.25 -> 1 on the old grid) and leaves rows alone.
    grid = torch.tensor([[0.0, 4.0], [0.0, 4.0]]).reshape(4, 1).repeat(1, 3)
    pe = torch.cat([torch.full((1, 3), 7.0), grid])
    out = resize_pos_embed(pe, (2, 4))
    assert out.shape == (1 + 8, 3)
    assert torch.equal(out[0], torch.full((3,), 7.0))
    expected = torch.tensor([0.0, 1.0, 3.0, 4.0, 0.0, 1.0, 3.0, 4.0])
    assert torch.allclose(out[1:, 0], expected) and torch.allclose(out[1:, 2], expected)


def test_resize_pos_embed_clip_grid_and_identity():
    pe = torch.randn(1 + 14 * 14, 8)
    out = resize_pos_embed(pe, (16, 8))
    assert out.shape == (1 + 128, 8)
    # constant grids stay constant whatever the interpolation
    const = torch.cat([torch.zeros(1, 2), torch.full((196, 2), 3.0)])
    assert torch.allclose(resize_pos_embed(const, (16, 8))[1:], torch.full((128, 2), 3.0))
    assert torch.equal(resize_pos_embed(pe, (14, 14)), pe)
    rect = torch.randn(2 + 16 * 8, 4)
    assert resize_pos_embed(rect, (8, 4), num_extra_tokens=2, old_grid=(16, 8)).shape == (2 + 32, 4)


def test_resize_pos_embed_errors():
    with pytest.raises(ValueError, match="not a square"):
        resize_pos_embed(torch.randn(1 + 128, 4), (14, 14))
    with pytest.raises(ValueError, match="cells"):
        resize_pos_embed(torch.randn(1 + 128, 4), (14, 14), old_grid=(10, 10))
    with pytest.raises(ValueError, match="tokens, dim"):
        resize_pos_embed(torch.randn(2, 3, 4), (2, 2))


@pytest.mark.parametrize("mask_kind", ["none", "shared", "per_sample"])
def test_block_forward_matches_open_clip_block_with_per_head_mask(mask_kind):
    torch.manual_seed(0)
    B, N, D, H = 3, 7, 16, 4
    block = ResidualAttentionBlock(D, H, batch_first=True).eval()
    x = torch.randn(B, N, D)
    if mask_kind == "none":
        mask, ref_mask = None, None
    else:
        blocked = torch.rand(B if mask_kind == "per_sample" else 1, N, N) < 0.4
        blocked[..., 0] = False  # every query keeps one key
        mask = torch.zeros(blocked.shape).masked_fill(blocked, float("-inf"))
        if mask_kind == "shared":
            mask, ref_mask = mask[0], mask[0]
        else:
            # nn.MultiheadAttention needs the mask copied once per head: [B * heads, N, N]
            ref_mask = mask.repeat_interleave(H, dim=0)
    expected = block(x, attn_mask=ref_mask)
    assert torch.allclose(block_forward(block, x, mask), expected, atol=1e-5)


def test_attention_sdpa_bool_mask_equals_additive():
    torch.manual_seed(1)
    attn = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()
    x = torch.randn(2, 5, 8)
    allowed = torch.rand(2, 5, 5) > 0.3
    allowed[..., 0] = True
    additive = torch.zeros(2, 5, 5).masked_fill(~allowed, float("-inf"))
    assert torch.allclose(attention_sdpa(attn, x, allowed), attention_sdpa(attn, x, additive), atol=1e-6)
