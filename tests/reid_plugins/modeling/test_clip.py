import logging
import os

import pytest
import torch
import torch.nn as nn

from reid_plugins.modeling.clip import (CLIPTextEncoder, CLIPWeightsError, build_clip, get_tokenizer,
                                        load_clip_state_dict)
from reid_plugins.modeling.vit import resize_pos_embed

TINY = "ViT-T-16-reid"
pytestmark = pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")


def test_vit_b16_reid_shapes_and_parameter_count():
    model = build_clip("ViT-B-16-reid", device="meta")
    visual = model.visual
    assert tuple(visual.grid_size) == (16, 8)
    assert tuple(visual.positional_embedding.shape) == (1 + 128, 768)
    assert visual.conv1.stride == (16, 16)
    assert sum(p.numel() for p in visual.parameters()) == 86_140_416  # 86.14M (paper Table 13 "w/o AM-MSA": 86.1M)
    text = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("visual."))
    assert text - model.token_embedding.weight.numel() - 1 == 38_131_200  # text tower without the embedding table


def test_tiny_config_is_the_same_code_smaller():
    model = build_clip(TINY)
    assert tuple(model.visual.grid_size) == (16, 8)
    assert len(model.visual.transformer.resblocks) == 2
    assert model.visual.transformer.resblocks[0].attn.num_heads == 4
    assert model.transformer.resblocks[0].attn.num_heads == 4
    assert model.positional_embedding.shape == (77, 128)
    out = model.encode_image(torch.zeros(2, 3, 256, 128))
    assert out.shape == (2, 128)


def test_unknown_arch_names_the_key():
    with pytest.raises(ValueError, match="MODEL.BACKBONE.CLIP_ARCH='ViT-nope'"):
        build_clip("ViT-nope")


def test_tokenizer_offline_context_positions():
    tok = get_tokenizer(TINY)
    tokens = tok(["A photo of a * * * * person"])
    star = tok(["*"])[0, 1]
    assert tokens.shape == (1, 77)
    assert (tokens[0, 5:9] == star).all() and tokens[0, 0] == 49406  # <start_of_text>
    assert int(tokens.argmax(-1)) == 10 and tokens[0, 10] == 49407  # <end_of_text> after "person"


class _OpenAIStyleArchive(nn.Module):
    """A TorchScript module with CLIP's parameter names and OpenAI's extra scalars (like ViT-B-16.pt)."""

    def __init__(self, clip):
        super().__init__()
        for name in ("visual", "transformer", "token_embedding", "ln_final"):
            setattr(self, name, getattr(clip, name))
        self.positional_embedding = clip.positional_embedding
        self.text_projection = clip.text_projection
        self.logit_scale = clip.logit_scale
        for name, value in (("input_resolution", 224), ("context_length", 77), ("vocab_size", 49408)):
            self.register_buffer(name, torch.tensor(value))

    def forward(self, image):
        return self.visual(image).sum() + self.ln_final(self.positional_embedding).sum() + self.logit_scale


@pytest.fixture(scope="module")
def source_224(tmp_path_factory):
    """A randomly initialised tiny CLIP at 224x224 (14x14 grid) written in every accepted format."""
    torch.manual_seed(0)
    src = build_clip(TINY, image_size=(224, 224)).eval()
    d = tmp_path_factory.mktemp("clipw")
    state = src.state_dict()
    paths = {"state_dict": str(d / "plain.pt"), "wrapped": str(d / "wrapped.pth"),
             "safetensors": str(d / "w.safetensors"), "torchscript": str(d / "openai.pt")}
    torch.save(state, paths["state_dict"])
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, paths["wrapped"])
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, paths["safetensors"])
    traced = torch.jit.trace(_OpenAIStyleArchive(src), (torch.rand(1, 3, 224, 224),), check_trace=False)
    traced.save(paths["torchscript"])
    return src, paths


@pytest.mark.parametrize("fmt", ["state_dict", "wrapped", "safetensors", "torchscript"])
def test_load_local_checkpoint_resizes_positional_grid(source_224, fmt):
    src, paths = source_224
    model = build_clip(TINY, pretrain_path=paths[fmt])
    own, ref = model.state_dict(), src.state_dict()
    assert set(own) == set(ref)
    for key in ref:
        if key == "visual.positional_embedding":
            continue
        assert torch.equal(own[key], ref[key]), key
    expected = resize_pos_embed(ref["visual.positional_embedding"], (16, 8))  # 14x14 -> 16x8, bilinear
    assert own["visual.positional_embedding"].shape == (129, 128)
    assert torch.allclose(own["visual.positional_embedding"], expected)
    assert torch.equal(own["visual.positional_embedding"][0], ref["visual.positional_embedding"][0])


def test_random_init_warning_only_when_no_weights_follow(source_224, caplog):
    """open_clip's "initialized randomly" warning is true for a random-init build and false when our loader fills
    the weights right after; the filter that drops it is removed again afterwards."""
    message = "No pretrained weights loaded"
    with caplog.at_level(logging.WARNING):
        build_clip(TINY)
    assert any(message in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        build_clip(TINY, pretrain_path=source_224[1]["state_dict"])
        logging.getLogger().warning("%s for model 'x' (logged after the build)", message)
    assert [r.getMessage() for r in caplog.records if message in r.getMessage()] == [
        f"{message} for model 'x' (logged after the build)"]


def test_torchscript_extras_are_dropped(source_224):
    state = load_clip_state_dict(source_224[1]["torchscript"])
    assert not {"input_resolution", "context_length", "vocab_size"} & set(state)


def test_load_errors_name_the_file_and_key(tmp_path, source_224):
    missing = str(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError, match=r"MODEL.BACKBONE.PRETRAIN_PATH=.*nope.pt"):
        build_clip(TINY, pretrain_path=missing)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CLIPWeightsError, match="cannot read"):
        build_clip(TINY, pretrain_path=str(garbage))
    # a pickle that needs arbitrary code is refused by weights_only loading
    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))
    evil = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, evil)
    with pytest.raises(CLIPWeightsError, match="cannot read"):
        load_clip_state_dict(str(evil))
    # a checkpoint of another architecture: ViT-B/16's visual tower has other shapes
    with pytest.raises(CLIPWeightsError, match="does not fit"):
        build_clip("ViT-B-16-reid", pretrain_path=source_224[1]["state_dict"])
    notdict = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], notdict)
    with pytest.raises(CLIPWeightsError, match="dict of tensors"):
        load_clip_state_dict(str(notdict))


def test_text_encoder_on_embeddings_equals_encode_text():
    torch.manual_seed(0)
    model = build_clip(TINY).eval()
    tokens = get_tokenizer(TINY)(["A photo of a * * * * person", "legs of a person"])
    encoder = CLIPTextEncoder(model)
    out = encoder(model.token_embedding(tokens), tokens.argmax(-1))
    assert encoder.output_dim == 128 and encoder.width == 128
    assert torch.allclose(out, model.encode_text(tokens), atol=1e-5)
