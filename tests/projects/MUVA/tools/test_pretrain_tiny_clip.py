"""projects/MUVA/tools/pretrain_tiny_clip.py on the tiny synthetic preset: caption pairs of the training split only,
distinct identities per batch, the contrastive step really aligns images and captions, and the checkpoint is what
MODEL.BACKBONE.PRETRAIN_PATH loads into MUVA."""
import json
import os
import sys

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import muva_path  # noqa: E402

sys.path.insert(0, os.path.join(muva_path.PROJECT, "tools"))
import pretrain_tiny_clip as pt  # noqa: E402
from fastreid.modeling import build_model  # noqa: E402
from open_clip.loss import ClipLoss  # noqa: E402

from muva import add_muva_config  # noqa: E402
from reid_plugins.config import build_cfg  # noqa: E402
from reid_plugins.modeling.clip import build_clip, get_tokenizer  # noqa: E402

CONFIG = os.path.join(muva_path.PROJECT, "..", "..", "configs", "MUVA", "Synth", "MUVA_tiny_A_clip_pretrained.yml")


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _train_captions(root, domain):
    with open(os.path.join(root, "synthped", f"domain_{domain}", "captions.json")) as f:
        entries = json.load(f)
    return [(e["file_path"], c) for e in entries if e["split"] == "train" for c in e["captions"]]


def test_caption_pairs_are_training_captions_with_offset_identities(synth_root):
    pairs = pt.caption_pairs(["SynthPedT2IA", "SynthPedT2IB"], synth_root)
    expected_a, expected_b = _train_captions(synth_root, "A"), _train_captions(synth_root, "B")
    assert len(pairs) == len(expected_a) + len(expected_b)
    assert [(os.path.relpath(p, os.path.join(synth_root, "synthped", "domain_A")), c)
            for p, _, c in pairs[:len(expected_a)]] == expected_a
    assert all("/bounding_box_train/" in p for p, _, _ in pairs)
    # tiny preset: 8 training identities in A and 8 in B; B's are offset past A's
    assert sorted({pid for _, pid, _ in pairs[:len(expected_a)]}) == list(range(8))
    assert sorted({pid for _, pid, _ in pairs[len(expected_a):]}) == list(range(8, 16))


def test_identity_batches_hold_distinct_identities(synth_root):
    pairs = pt.caption_pairs(["SynthPedT2IA"], synth_root)
    stream = iter(pt.identity_batches(pairs, 6, seed=0))
    for _ in range(10):
        batch = [next(stream) for _ in range(6)]
        assert len({pairs[i][1] for i in batch}) == 6
    with pytest.raises(ValueError, match="--batch 9 is larger than the 8 identities"):
        pt.identity_batches(pairs, 9, seed=0)


def test_contrastive_steps_align_a_fixed_batch(synth_root):
    """Known answer: 8 image-caption pairs start near chance (ClipLoss ~ ln 8 = 2.08) and are memorised, twins
    included (the tiny preset's pids 7 and 8 differ only in the shirt's pattern)."""
    # the flips and the initialisation draw from torch's global generator, whose seed differs per process
    torch.manual_seed(0)
    pairs = pt.caption_pairs(["SynthPedT2IA"], synth_root)
    pick = [next(i for i, p in enumerate(pairs) if p[1] == pid) for pid in range(8)]
    data = pt.CaptionPairs([pairs[i] for i in pick], get_tokenizer(pt.DEFAULT_ARCH), pt.train_transform())
    images = torch.stack([data[i][0] for i in range(8)])
    tokens = torch.stack([data[i][1] for i in range(8)])
    model = build_clip(pt.DEFAULT_ARCH)
    model.train()
    optimizer = torch.optim.AdamW(pt.param_groups(model, 0.1), lr=1e-3)
    loss_fn = ClipLoss()
    first, _ = pt.train_step(model, loss_fn, optimizer, images, tokens)
    for _ in range(80):
        last, _ = pt.train_step(model, loss_fn, optimizer, images, tokens)
    chance = torch.log(torch.tensor(8.0)).item()
    assert first > 0.75 * chance     # random init: near chance (CLIP's initial logit scale 1/0.07 can put it above)
    assert last < 0.2 * chance
    model.eval()
    with torch.no_grad():
        image_features, text_features, _ = model(images, tokens)
    # every image now retrieves its own caption and every caption its own image
    assert torch.equal((image_features @ text_features.t()).argmax(1), torch.arange(8))
    assert torch.equal((text_features @ image_features.t()).argmax(1), torch.arange(8))


def test_weight_decay_groups_follow_open_clip():
    model = build_clip(pt.DEFAULT_ARCH)
    no_decay, decay = pt.param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert "logit_scale" in {names[id(p)] for p in no_decay["params"]}
    assert "visual.transformer.resblocks.0.attn.in_proj_weight" in {names[id(p)] for p in decay["params"]}
    assert all(p.ndim >= 2 for p in decay["params"]) and decay["weight_decay"] == 0.1
    assert no_decay["weight_decay"] == 0.0
    assert len(no_decay["params"]) + len(decay["params"]) == len(list(model.parameters()))


def test_checkpoint_is_what_muva_loads(synth_root, tmp_path):
    out = str(tmp_path / "tiny_clip.pth")
    meta = pt.pretrain(pt.caption_pairs(["SynthPedT2IA"], synth_root), out, epochs=1, batch=8, workers=0)
    assert meta["history"][0]["epoch"] == 1 and os.path.isfile(out)
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]  # written atomically
    state = torch.load(out, map_location="cpu", weights_only=True)["state_dict"]
    torch.manual_seed(0)
    assert not torch.equal(build_clip(pt.DEFAULT_ARCH).state_dict()["visual.proj"], state["visual.proj"])
    cfg = build_cfg(CONFIG, ["MODEL.BACKBONE.PRETRAIN_PATH", out, "MODEL.HEADS.NUM_CLASSES", "8"], (add_muva_config,))
    model = build_model(cfg)
    visual = model.backbone.visual
    key = "visual.transformer.resblocks.1.attn.in_proj_weight"
    assert torch.equal(visual.transformer.resblocks[1].attn.in_proj_weight, state[key])
    assert torch.equal(visual.proj, state["visual.proj"])
    # MUVA's positional embedding: [pe_cls, pe_cls x 3 parts, pe_patches] of the checkpoint
    pe = state["visual.positional_embedding"]
    assert torch.equal(visual.positional_embedding[:4], pe[:1].repeat(4, 1))
    assert torch.equal(visual.positional_embedding[4:], pe[1:])
    assert torch.equal(model.text_encoder.text_projection, state["text_projection"])
