import muva_path  # noqa: F401
import pytest
import torch
from fastreid.modeling import build_model

from muva import add_muva_config
from muva import losses as L
from muva_batches import fixed_batch as _batch
from reid_plugins.config import build_cfg

TINY = ["MODEL.BACKBONE.CLIP_ARCH", "ViT-T-16-reid", "MODEL.BACKBONE.PRETRAIN", "False", "MODEL.DEVICE", "cpu",
        "MODEL.HEADS.NUM_CLASSES", "3"]


def _model(*opts, seed=0):
    torch.manual_seed(seed)
    return build_model(build_cfg("", TINY + list(opts), (add_muva_config,)))


def test_structure_and_inference_feature():
    model = _model()
    assert model.backbone.feat_dim == 4 * 128
    assert model.classifier.bias is None and model.classifier.weight.shape == (3, 512)
    assert 0.0005 < float(model.classifier.weight.detach().std()) < 0.0015
    assert not model.bottleneck.bias.requires_grad and torch.equal(model.bottleneck.weight.detach(), torch.ones(512))
    assert not any(p.requires_grad for p in model.text_encoder.parameters())
    assert model.text_memory.shape == (3, 4 * 128)
    batch = _batch()
    raw = batch["images"].clone()
    model.eval()
    feat = model(batch)
    assert torch.equal(batch["images"], raw)  # normalisation is out of place
    out = model.features((raw - 127.5) / 127.5)
    assert torch.allclose(feat, out["bn_feat"], atol=1e-6) and feat.shape == (6, 512)
    model.test_after_bn = False
    assert torch.allclose(model(batch), out["feat"], atol=1e-6)


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")
def test_training_losses_by_name():
    model = _model()
    model.train()
    batch = _batch()
    with torch.no_grad():
        model.text_memory.copy_(torch.randn(3, 512))
        model.memory.reset(torch.randn(3, 512))
    losses = model(batch)
    assert set(losses) == {"loss_id", "loss_imp", "loss_i2tce", "loss_mask_bce", "loss_mask_dice"}
    torch.manual_seed(0)
    out = model.features((batch["images"] - 127.5) / 127.5)  # same batch statistics, deterministic
    y = batch["targets"]
    assert float(losses["loss_id"]) == pytest.approx(float(L.id_loss(model.classifier(out["bn_feat"]), y, 0.1)),
                                                     rel=1e-5)
    assert float(losses["loss_i2tce"]) == pytest.approx(float(L.i2tce_loss(out["feat"], model.text_memory, y)),
                                                        rel=1e-5)
    gt = batch["masks"].bool()
    assert float(losses["loss_mask_bce"]) == pytest.approx(float(L.mask_bce_loss(out["mask_logits"], gt)), rel=1e-5)
    assert out["mask_logits"].shape == (2, 6, 3, 128)
    sum(losses.values()).backward()
    assert model.backbone.mask_predictor.layers[0].mlp[0].weight.grad is not None
    assert model.backbone.part_tokens.grad is not None
    assert model.prompt_learner.learnable_ctx.grad is None  # stage 2 never touches the prompts


def test_part_subset_selects_mask_rows():
    model = _model("MODEL.MUVA.PARTS", '("legs",)', "MODEL.LOSSES.NAME", '("IDLoss", "MaskBCELoss")')
    assert model.backbone.part_index == [2] and model.backbone.feat_dim == 2 * 128
    masks = _batch()["masks"]
    assert torch.equal(model.part_masks(masks), masks[:, 2:3].bool())
    assert model.prompt_learner.learnable_ctx.shape[1] == 2  # global + legs


def test_vision_only_and_single_grained():
    vo = _model("MODEL.MUVA.PROMPT.ENABLED", "False", "MODEL.LOSSES.NAME", '("IDLoss", "ImpLoss", "MaskBCELoss")')
    assert vo.text_encoder is None and vo.prompt_learner is None and not hasattr(vo, "text_memory")
    g = _model("MODEL.MUVA.PARTS", "()", "MODEL.LOSSES.NAME", '("IDLoss", "ImpLoss", "I2TCELoss")')
    assert g.backbone.mask_predictor is None and g.backbone.feat_dim == 128
    g.train()
    assert set(g(_batch())) == {"loss_id", "loss_imp", "loss_i2tce"}


def test_configuration_errors_name_the_keys():
    with pytest.raises(ValueError, match="I2TCELoss but MODEL.MUVA.PROMPT.ENABLED"):
        _model("MODEL.MUVA.PROMPT.ENABLED", "False")
    with pytest.raises(ValueError, match="mask loss"):
        _model("MODEL.MUVA.PARTS", "()")
    with pytest.raises(ValueError, match="unknown loss"):
        _model("MODEL.LOSSES.NAME", '("TripletLoss",)')
    with pytest.raises(ValueError, match="NUM_CLASSES"):
        build_model(build_cfg("", TINY[:-2] + ["MODEL.HEADS.NUM_CLASSES", "0"], (add_muva_config,)))
    with pytest.raises(ValueError, match="MODEL.MUVA.PARTS"):
        _model("MODEL.MUVA.PARTS", '("torso",)')
