"""BDAMT2I on a tiny config: training losses, eval outputs, gate ranges, GradNorm's shared layer, dropout plumbing and
config errors."""
import os

import bdam_path  # noqa: F401
import pytest
import torch
import torch.nn.functional as F
from fastreid.modeling import build_model

from bdam.losses import info_nce
from bdam_tiny import CONFIGS, tiny_cfg
from reid_plugins.config import flatten_cfg
from reid_plugins.losses import hsic_linear

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

P, K, L = 3, 2, 12  # identities x captions per batch, text length (TINY_TEXT)


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 3000, (P * K, L), generator=g)
    ids[:, 0], ids[:, -1] = 101, 102
    mask = torch.ones(P * K, L, dtype=torch.long)
    mask[1, 7:] = 0  # one padded text
    return {"images": torch.rand(P * K, 3, 64, 32, generator=g) * 255,
            "targets": torch.arange(P).repeat_interleave(K),
            "id_input_ids": ids, "id_attention_mask": mask,
            "clo_input_ids": ids.flip(0), "clo_attention_mask": mask.flip(0)}


def _model(*extra, dropout="0.0"):
    torch.manual_seed(0)
    return build_model(tiny_cfg(extra=["MODEL.BDAM.DROPOUT", dropout, *extra]))


def test_training_losses_are_finite_scalars_and_reach_every_trainable_part():
    model = _model().train()
    losses = model(_batch())
    assert set(losses) == {"loss_infonce", "loss_triplet", "loss_adversarial", "loss_hsic", "loss_gatereg",
                           "loss_fusionmatch"}
    for name, value in losses.items():
        assert value.shape == () and torch.isfinite(value) and value.requires_grad, name
    assert losses["loss_hsic"] >= 0 and losses["loss_gatereg"] >= 0 and losses["loss_adversarial"] > 0
    sum(losses.values()).backward()
    for part in ("image_encoder", "text_encoder", "bdam", "clo_proj", "img_embed", "txt_embed", "fusion"):
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(part) and p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), part


def test_losses_match_an_independent_recomputation_from_the_encoders():
    """Without dropout the training forward's InfoNCE / HSIC equal the formulas applied to encode_image/encode_text."""
    model = _model().train()
    batch = _batch()
    losses = model(batch)
    with torch.no_grad():
        img = model.encode_image(batch["images"])
        txt = model.encode_text(batch["id_input_ids"], batch["id_attention_mask"])
    tau = model.loss_cfg.INFONCE.TAU
    torch.testing.assert_close(losses["loss_infonce"].detach(),
                               info_nce(img["img_emb"], txt["txt_emb"], batch["targets"], tau))
    torch.testing.assert_close(losses["loss_hsic"].detach(), hsic_linear(img["f_id_gate"], img["f_clo_gate"]))
    # the fusion candidates per text: its own image + NUM_NEGATIVES (2) images of other identities -> CE >= 0
    assert losses["loss_fusionmatch"] > 0


def test_eval_outputs_shapes_norms_and_gate_range():
    model = _model().eval()
    batch = _batch()
    with torch.no_grad():
        out = model({"images": batch["images"]})
        txt = model({"input_ids": batch["id_input_ids"], "attention_mask": batch["id_attention_mask"]})
        parts = model.encode_image(batch["images"])
    n = P * K
    assert out["img_emb"].shape == (n, 24) and out["img_id"].shape == (n, 32) and out["gate"].shape == (n, 32)
    assert txt["txt_emb"].shape == (n, 24) and txt["txt_id"].shape == (n, 16)
    torch.testing.assert_close(out["img_emb"].norm(dim=1), torch.ones(n))
    torch.testing.assert_close(txt["txt_emb"].norm(dim=1), torch.ones(n))
    g = out["gate"]
    assert ((g > 0) & (g < 1)).all()
    # identity feature = g * f_id_hat (sent to the fusion head); clothing = (1 - g) * f_clo_hat (discarded there)
    torch.testing.assert_close(out["img_id"], g * parts["f_id_hat"])
    torch.testing.assert_close(parts["f_clo_gate"], (1 - g) * parts["f_clo_hat"])
    # the fusion head's modality gate on (image, text) pairs is a 2-way distribution
    fused = model.fusion(out["img_id"], txt["txt_id"])
    w = fused["weights"]
    assert w.shape == (n, 2) and ((w > 0) & (w < 1)).all()
    torch.testing.assert_close(w.sum(1), torch.ones(n))
    assert fused["score"].shape == (n,) and fused["final"].shape == (n, 8)


TASKS = ("loss_infonce", "loss_triplet", "loss_adversarial", "loss_hsic")


@pytest.mark.parametrize("extra, layer", [
    # the four tasks of eq. 6 all reach the clothing branch's final LayerNorm: InfoNCE / triplet / HSIC through the
    # gate's input f_clo_hat, L_adv directly; the identity branch's norm and the gate are not reached by L_adv
    ((), "bdam.clo_norm"),
    # without the gate, identity and clothing outputs meet only below the cross-attention: the last shared layer is
    # the clothing branch's last self-attention layer (its MLP output projection, the layer's last operation)
    (("MODEL.BDAM.MODULE.GATE", "False", "MODEL.BDAM.LOSSES.NAME", '("InfoNCE", "Triplet", "Adversarial", "HSIC")'),
     "bdam.clo_layers.0.linear2"),
])
def test_gradnorm_shared_layer_is_the_last_layer_every_task_reaches(extra, layer):
    model = _model(*extra).train()
    losses = model(_batch())
    tasks = [losses[k] for k in TASKS]
    label, params = model.gradnorm_shared_parameters("auto", tasks)
    assert label == layer
    module = dict(model.named_modules())[layer]
    assert {id(p) for p in params} == {id(p) for p in module.parameters(recurse=False)}
    for name, value in zip(TASKS, tasks):
        grads = torch.autograd.grad(value, params, retain_graph=True)
        assert all(g.abs().sum() > 0 for g in grads), name
    # every layer used after it in the forward pass misses at least one task
    named = dict(model.named_parameters())
    later = ["bdam.gate.weight", "img_embed.weight", "clo_proj.weight"] if layer == "bdam.clo_norm" else \
        ["bdam.clo_cross.0.mlp.3.weight", "bdam.id_norm.weight", "img_embed.weight"]
    for pname in later:
        missed = [n for n, v in zip(TASKS, tasks)
                  if torch.autograd.grad(v, named[pname], retain_graph=True, allow_unused=True)[0] is None]
        assert missed, pname


def test_gradnorm_shared_parameters_by_name():
    model = _model()
    assert model.gradnorm_shared_parameters("bdam.gate.weight") == ("bdam.gate.weight", [model.bdam.gate.weight])
    label, params = model.gradnorm_shared_parameters("bdam.gate")
    assert label == "bdam.gate" and [id(p) for p in params] == [id(model.bdam.gate.weight), id(model.bdam.gate.bias)]
    with pytest.raises(KeyError, match="no parameter or parameterised module 'nope'"):
        model.gradnorm_shared_parameters("nope")
    with pytest.raises(ValueError, match="found from the task losses"):
        model.gradnorm_shared_parameters("auto")


def test_gradnorm_balances_the_papers_tasks_as_eq5_by_default():
    from bdam.trainer import build_gradnorm

    cfg = tiny_cfg()
    gn, keys = build_gradnorm(cfg, _model())
    assert keys == list(TASKS)  # eq. 6 (Sec. 3.5)
    assert gn.reference == "first" and gn.alpha == 1.0 and gn.objective_weight == 1.5  # eq. 5 / eq. 6
    cm = tiny_cfg(extra=["MODEL.BDAM.LOSSES.NAME", '("InfoNCE", "Triplet", "Adversarial", "HSIC", "ClothingMatch")',
                         "MODEL.BDAM.GRADNORM.REFERENCE", "mean", "MODEL.BDAM.GRADNORM.TARGET_EXPONENT", "1.5"])
    gn, keys = build_gradnorm(cm, build_model(cm))
    assert keys == list(TASKS) + ["loss_clothingmatch"]
    assert gn.reference == "mean" and gn.alpha == 1.5  # standard GradNorm


@pytest.mark.parametrize("detach", [True, False])
def test_fusion_match_moves_the_encoders_only_when_not_detached(detach):
    model = _model("MODEL.BDAM.FUSION.DETACH_INPUTS", str(detach)).train()
    loss = model(_batch())["loss_fusionmatch"]
    encoders = [p for n, p in model.named_parameters()
                if n.startswith(("image_encoder", "bdam")) and p.requires_grad]
    fusion = [p for n, p in model.named_parameters() if n.startswith("fusion.")]
    enc_grads = torch.autograd.grad(loss, encoders, retain_graph=True, allow_unused=True)
    fusion_grads = torch.autograd.grad(loss, fusion, allow_unused=True)
    reached = any(g is not None and g.abs().sum() > 0 for g in enc_grads)
    assert reached is not detach
    assert any(g is not None and g.abs().sum() > 0 for g in fusion_grads)  # the head itself always learns


def test_dropout_and_attention_dropout_plumbing():
    model = _model("MODEL.BDAM.ATTN_DROPOUT", "-1.0", dropout="0.1")  # -1: same as DROPOUT (paper: 0.1 throughout)
    assert model.image_encoder.config.hidden_dropout_prob == 0.1
    assert model.image_encoder.config.attention_probs_dropout_prob == 0.1
    assert model.text_encoder.bert.config.attention_probs_dropout_prob == 0.1
    assert model.bdam.id_layers[0].self_attn.dropout == 0.1 and model.bdam.id_cross[0].attn.dropout == 0.1
    assert model.fusion.drop.p == 0.1
    fused = _model("MODEL.BDAM.ATTN_DROPOUT", "0.0", dropout="0.1")  # Synth-T2I: fused CPU attention kernels
    assert fused.image_encoder.config.attention_probs_dropout_prob == 0.0
    assert fused.image_encoder.config.hidden_dropout_prob == 0.1
    assert fused.bdam.clo_layers[0].self_attn.dropout == 0.0 and fused.bdam.clo_layers[0].dropout1.p == 0.1


def test_frozen_text_encoder_caches_and_takes_no_gradient():
    model = _model("MODEL.BDAM.TEXT.FREEZE", "True").train()
    enc = model.text_encoder
    assert not enc.bert.training and not any(p.requires_grad for p in enc.bert.parameters())
    batch = _batch()
    first = enc(batch["id_input_ids"], batch["id_attention_mask"])
    assert len(enc._cache) == P * K
    again = enc(batch["id_input_ids"], batch["id_attention_mask"])
    torch.testing.assert_close(first, again)
    # a cached feature equals a fresh encoding of the unpadded text (the padded text is trimmed, not re-encoded)
    with torch.no_grad():
        fresh = enc._encode(batch["id_input_ids"][1:2, :7], batch["id_attention_mask"][1:2, :7])
    torch.testing.assert_close(first[1:2], fresh, atol=1e-5, rtol=1e-5)


def test_baseline_without_bdam_has_no_gate_and_mean_tokens():
    model = _model("MODEL.BDAM.MODULE.ENABLED", "False", "MODEL.BDAM.FUSION.ENABLED", "False",
                   "MODEL.BDAM.LOSSES.NAME", '("InfoNCE", "Triplet")').eval()
    assert model.bdam is None and model.fusion is None
    images = _batch()["images"]
    with torch.no_grad():
        out = model({"images": images})
        x = (images - model.pixel_mean) / model.pixel_std
        tokens = model.image_encoder(pixel_values=x).last_hidden_state[:, 1:]
    assert "gate" not in out
    torch.testing.assert_close(out["img_emb"], F.normalize(model.img_embed(model.base_proj(tokens.mean(1))), dim=1))
    assert set(model.train()(_batch())) == {"loss_infonce", "loss_triplet"}


def test_image_feature_norm_standardises_the_identity_feature_before_the_embedding():
    """IMAGE.FEAT_NORM bn: img_emb = normalize(img_embed(BN(f_id_gate))), so a component every image of the batch
    shares (what a random-init ViT's pooled features are dominated by) cannot decide the embedding's direction."""
    model = _model("MODEL.BDAM.IMAGE.FEAT_NORM", "bn").train()
    assert isinstance(model.img_norm, torch.nn.BatchNorm1d)
    with torch.no_grad():
        out = model.encode_image(_batch()["images"])
        torch.testing.assert_close(out["img_emb"], F.normalize(model.img_embed(model.img_norm(out["f_id_gate"])), dim=1))
        f = out["f_id_gate"]
        shifted = F.normalize(model.img_embed(model.img_norm(f + 50 * torch.randn(f.shape[1]))), dim=1)
        torch.testing.assert_close(shifted, out["img_emb"], atol=2e-3, rtol=0)
        plain = _model("MODEL.BDAM.IMAGE.FEAT_NORM", "none")
        assert isinstance(plain.img_norm, torch.nn.Identity)


@pytest.mark.parametrize("opts, error, match", [
    (("MODEL.BDAM.MODULE.ENABLED", "False"), ValueError, "'Adversarial', which needs the clothing branch"),
    (("MODEL.BDAM.FUSION.ENABLED", "False"), ValueError, "'FusionMatch' but MODEL.BDAM.FUSION.ENABLED"),
    (("MODEL.BDAM.LOSSES.NAME", '("InfoNCE", "Focal")'), KeyError, "unknown loss 'Focal'"),
    (("INPUT.SIZE_TEST", "[32, 32]"), ValueError, "SIZE_TEST .* must equal INPUT.SIZE_TRAIN"),
    (("MODEL.BDAM.TEXT.FEAT_NORM", "zscore"), ValueError, "FEAT_NORM must be 'none' or 'bn'"),
    (("MODEL.BDAM.IMAGE.FEAT_NORM", "l2"), ValueError, "IMAGE.FEAT_NORM must be 'none' or 'bn'"),
    (("MODEL.BDAM.TEXT.POOL", "max"), ValueError, "POOL must be 'cls' or 'mean'"),
    (("MODEL.BDAM.LOSSES.FUSION.OBJECTIVE", "pairwise"), ValueError, "OBJECTIVE must be one of"),
    (("MODEL.BDAM.LOSSES.ADV.POSITIVES", "image"), ValueError, "POSITIVES must be 'outfit' or 'pid'"),
    (("MODEL.BDAM.FUSION.VARIANT", "tokens4"), ValueError, "VARIANT must be one of"),
    (("MODEL.BDAM.FUSION.INPUT_NORM", "zscore"), ValueError, "INPUT_NORM must be one of"),
])
def test_inconsistent_configs_fail_with_the_key(opts, error, match):
    with pytest.raises(error, match=match):
        _model(*opts)


def test_clothes_changing_config_is_synth_t2i_on_domain_e():
    base, cc = tiny_cfg(), tiny_cfg(os.path.join(CONFIGS, "Synth-T2I-CC.yml"))
    assert cc.DATASETS.NAMES == cc.DATASETS.TESTS == ("SynthPedT2IE",)
    assert base.DATASETS.NAMES == ("SynthPedT2IA",)
    flat_cc, flat_base = flatten_cfg(cc), flatten_cfg(base)
    differ = {k for k in flat_cc if flat_cc[k] != flat_base.get(k)}
    assert differ == {"DATASETS.NAMES", "DATASETS.TESTS", "OUTPUT_DIR"}



def test_sequence_fusion_scans_gated_identity_tokens_and_text_tokens():
    model = _model("MODEL.BDAM.FUSION.VARIANT", "sequence", "MODEL.BDAM.FUSION.BIDIRECTIONAL", "True").eval()
    batch = _batch()
    n = P * K
    with torch.no_grad():
        img = model({"images": batch["images"]})
        txt = model({"input_ids": batch["id_input_ids"], "attention_mask": batch["id_attention_mask"]})
        parts = model.encode_image(batch["images"], tokens=True)
    tokens = (64 // 16) * (32 // 16)
    assert img["fusion_img"].shape == (n, tokens, 16) and txt["fusion_txt"].shape == (n, L, 16)
    assert torch.equal(txt["fusion_txt_mask"], batch["id_attention_mask"])
    # the gated identity tokens average to f_id^gate, the feature the dual encoder and the other variants use
    torch.testing.assert_close(parts["id_tokens_gate"].mean(1), parts["f_id_gate"])
    torch.testing.assert_close(img["fusion_img"], model.fusion.align_images(parts["id_tokens_gate"]))
    assert (txt["fusion_txt"][1, 7:] == 0).all()  # padding of the padded text
    scores = model.fusion.fuse(img["fusion_img"], txt["fusion_txt"], txt["fusion_txt_mask"])["score"]
    assert scores.shape == (n,) and torch.isfinite(scores).all()
    losses = model.train()(batch)
    assert torch.isfinite(losses["loss_fusionmatch"])
    grads = torch.autograd.grad(losses["loss_fusionmatch"], list(model.fusion.mamba_backward.parameters()),
                                allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)  # the backward scan is trained too


def test_itm_pairs_own_images_with_sampled_negatives_of_other_identities(monkeypatch):
    model = _model("MODEL.BDAM.LOSSES.FUSION.OBJECTIVE", "itm").train()
    captured = {}
    fuse_pairs = model._fuse_pairs

    def spy(a_img, a_txt, mask, img_idx, txt_idx):
        captured["img"], captured["txt"] = img_idx.clone(), txt_idx.clone()
        return fuse_pairs(a_img, a_txt, mask, img_idx, txt_idx)

    monkeypatch.setattr(model, "_fuse_pairs", spy)
    batch = _batch()
    state = {**model.encode_image(batch["images"]),
             **model.encode_text(batch["id_input_ids"], batch["id_attention_mask"]), "pids": batch["targets"]}
    out = model._fusion_candidates(state)
    n = P * K
    assert out["fusion_scores"].shape == (3 * n,) and out["fusion_labels"].tolist() == [1.0] * n + [0.0] * (2 * n)
    pids = batch["targets"]
    img, txt = captured["img"], captured["txt"]
    assert torch.equal(img[:n], torch.arange(n)) and torch.equal(txt[:n], torch.arange(n))   # own pairs
    assert (pids[img[n:]] != pids[txt[n:]]).all()                                             # negatives
    assert torch.equal(txt[n:2 * n], torch.arange(n)) and torch.equal(img[2 * n:], torch.arange(n))
    loss = model(batch)["loss_fusionmatch"]
    assert torch.isfinite(loss) and loss > 0


def test_clothing_matching_pulls_its_own_projection_towards_the_clothing_text():
    names = '("InfoNCE", "Triplet", "Adversarial", "HSIC", "ClothingMatch")'
    model = _model("MODEL.BDAM.LOSSES.NAME", names, "MODEL.BDAM.FUSION.ENABLED", "False").train()
    assert hasattr(model, "clo_match_proj") and not hasattr(_model(), "clo_match_proj")
    batch = _batch()
    loss = model(batch)["loss_clothingmatch"]
    # each caption's own clothing text is its only positive here (every clothing text of the batch differs)
    with torch.no_grad():
        f_clo = model.encode_image(batch["images"])["f_clo_hat"]
        clo = model.txt_norm(model.text_encoder(batch["clo_input_ids"], batch["clo_attention_mask"]))
    from bdam.losses import contrastive

    expect = contrastive(F.normalize(model.clo_match_proj(f_clo), dim=1), F.normalize(clo, dim=1),
                         torch.eye(P * K, dtype=torch.bool), model.loss_cfg.CLO_MATCH.TAU)
    torch.testing.assert_close(loss.detach(), expect)
    for part in ("clo_match_proj", "bdam.clo_norm", "bdam.clo_layers"):
        grads = [g for n, p in model.named_parameters() if n.startswith(part)
                 for g in [torch.autograd.grad(loss, p, retain_graph=True, allow_unused=True)[0]] if g is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), part
    assert torch.autograd.grad(loss, model.clo_proj.weight, retain_graph=True, allow_unused=True)[0] is None


@pytest.mark.parametrize("positives", ["outfit", "pid"])
def test_adversarial_positives_are_the_own_outfit_or_the_person(positives):
    from bdam.losses import clothing_adversarial

    model = _model("MODEL.BDAM.LOSSES.ADV.POSITIVES", positives).train()
    batch = _batch()
    batch["clo_input_ids"][1] = batch["clo_input_ids"][0]  # samples 0 and 1 (one person): one outfit, one text
    batch["clo_attention_mask"][1] = batch["clo_attention_mask"][0]
    loss = model(batch)["loss_adversarial"]
    with torch.no_grad():
        f_clo = model.encode_image(batch["images"])["f_clo_hat"]
        clo = model.txt_norm(model.text_encoder(batch["clo_input_ids"], batch["clo_attention_mask"]))
    mask = torch.eye(P * K, dtype=torch.bool)
    mask[0, 1] = mask[1, 0] = True
    if positives == "pid":
        mask = batch["targets"].view(-1, 1) == batch["targets"].view(1, -1)
    expect = clothing_adversarial(F.normalize(model.clo_proj(f_clo), dim=1), F.normalize(clo, dim=1), mask,
                                  model.loss_cfg.ADV.TAU)
    torch.testing.assert_close(loss.detach(), expect)


def test_frozen_text_encoder_returns_fresh_token_states():
    model = _model("MODEL.BDAM.TEXT.FREEZE", "True").train()
    enc = model.text_encoder
    batch = _batch()
    ids, mask = batch["id_input_ids"].clone(), batch["id_attention_mask"].clone()
    mask[:, 10:] = 0  # every row padded at the end: the shared padding is trimmed
    pooled, hidden = enc(ids, mask, return_tokens=True)
    assert hidden.shape == (P * K, 10, 16) and not hidden.requires_grad
    with torch.no_grad():
        fresh = enc.bert(input_ids=ids[:, :10], attention_mask=mask[:, :10]).last_hidden_state
    torch.testing.assert_close(hidden, fresh)
    torch.testing.assert_close(pooled, enc(ids, mask))


def test_explicit_keyword_arguments_build_the_config_built_model():
    """@configurable: BDAMT2I(**kwargs) written out by hand equals build_model(cfg) (parameters, outputs)."""
    from bdam.meta_arch import BDAMT2I, TextEncoder
    from reid_plugins.modeling.hf_encoders import build_bert_encoder, build_vit_encoder

    cfg = tiny_cfg(extra=["MODEL.BDAM.DROPOUT", "0.0"])
    torch.manual_seed(0)
    from_cfg = build_model(cfg)
    torch.manual_seed(0)  # the same creation order as from_config: image encoder, text encoder, then the heads
    vit = build_vit_encoder("", image_size=(64, 32), patch_size=16, hidden_size=32, num_layers=1, num_heads=2,
                            dropout=0.0, attn_dropout=0.0)
    bert = build_bert_encoder("", hidden_size=16, num_layers=1, num_heads=2, max_position_embeddings=512,
                              dropout=0.0, attn_dropout=0.0, keep_layers=0)
    explicit = BDAMT2I(
        image_encoder=vit, text_encoder=TextEncoder(bert, "cls", False), pixel_mean=[127.5] * 3,
        pixel_std=[127.5] * 3, embed_dim=24, feat_dim=32, dropout=0.0, attn_dropout=0.0,
        bdam=dict(num_layers=1, num_heads=2, mlp_ratio=4, cross_attention=True, cross_layers=1, gate=True),
        fusion=dict(dim=16, align="mlp", gate=True, mamba_layers=2, d_state=16, d_conv=4, expand=2, out_dim=8,
                    variant="vector", input_norm="bn", bidirectional=False),
        image_feat_norm="bn", text_feat_norm="bn",
        loss_names=("InfoNCE", "Triplet", "Adversarial", "HSIC", "GateReg", "FusionMatch"),
        loss_cfg=cfg.MODEL.BDAM.LOSSES, detach_fusion_inputs=True)
    a, b = from_cfg.state_dict(), explicit.state_dict()
    assert list(a) == list(b) and all(a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in a)
    batch = _batch()
    losses = []
    for model in (from_cfg, explicit):
        torch.manual_seed(1)
        losses.append(model.train()(batch))
        model.eval()
        with torch.no_grad():
            out = model({"images": batch["images"]})
            out.update(model({"input_ids": batch["id_input_ids"], "attention_mask": batch["id_attention_mask"]}))
        losses.append(out)
    for x, y in ((losses[0], losses[2]), (losses[1], losses[3])):
        assert sorted(x) == sorted(y) and all(torch.equal(x[k], y[k]) for k in x)
