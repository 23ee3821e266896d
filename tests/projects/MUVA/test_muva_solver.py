import muva_path  # noqa: F401
import pytest
import torch
from fastreid.config import CfgNode as CN

from muva.encoder import MUVAImageEncoder
from muva.meta_arch import MUVA
from muva.prompt import MultiGrainedPromptLearner, prompt_texts
from muva.solver import (build_stage1_optimizer, build_stage2_optimizer, build_stage2_scheduler,
                         stage2_param_groups, stage2_lr_factor)
from reid_plugins.modeling.clip import CLIPTextEncoder, build_clip, get_tokenizer


def _cfg():
    return CN({"SOLVER": {"BASE_LR": 5e-6, "WEIGHT_DECAY": 1e-4, "OPT": "Adam", "STEPS": [30, 50], "GAMMA": 0.1,
                          "WARMUP_FACTOR": 0.1},
               "MODEL": {"MUVA": {"RMP": {"LR_MULT": 10.0}, "STAGE2": {"WARMUP_EPOCHS": 10},
                                  "STAGE1": {"BASE_LR": 3.5e-4, "WEIGHT_DECAY": 1e-4, "MAX_EPOCH": 120, "LR_MIN": 1e-6,
                                             "WARMUP_LR_INIT": 1e-5, "WARMUP_EPOCHS": 5}}}})


def _loss_cfg():
    return CN({"IMP": {"TEMP": 0.01, "MOMENTUM": 0.2, "HARD": True}})


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    clip = build_clip("ViT-T-16-reid")
    learner = MultiGrainedPromptLearner(4, prompt_texts(["head", "upper", "legs"]), get_tokenizer("ViT-T-16-reid"),
                                        clip.token_embedding)
    return MUVA(backbone=MUVAImageEncoder(clip.visual, [0, 1, 2]), num_classes=4, pixel_mean=[127.5] * 3,
                pixel_std=[127.5] * 3, loss_names=("IDLoss",), loss_cfg=_loss_cfg(),
                text_encoder=CLIPTextEncoder(clip), prompt_learner=learner)


def test_stage2_lr_per_epoch_of_the_code():
    f = lambda e0: stage2_lr_factor(e0, [30, 50], 0.1, 10, 0.1)  # noqa: E731
    assert f(0) == pytest.approx(0.1 * 0.9 + 0.1)  # the code's epoch 1: alpha = 1/10
    assert f(4) == pytest.approx(0.1 * 0.5 + 0.5)
    assert f(9) == pytest.approx(1.0) and f(28) == pytest.approx(1.0)
    assert f(29) == pytest.approx(0.1) and f(48) == pytest.approx(0.1)
    assert f(49) == pytest.approx(0.01) and f(59) == pytest.approx(0.01)


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_stage2_trainable_set_and_lr_multiplier(model):
    groups = stage2_param_groups(_cfg(), model)
    names = {id(p): n for n, p in model.named_parameters()}
    image = {names[id(p)] for p in groups[0]["params"]}
    rmp = {names[id(p)] for p in groups[1]["params"]}
    assert groups[0]["lr"] == 5e-6 and groups[0]["weight_decay"] == 1e-4
    assert groups[1]["lr"] == pytest.approx(5e-5) and groups[1]["weight_decay"] == 0.0
    assert all(n.startswith("backbone.mask_predictor.") for n in rmp) and rmp
    assert {"backbone.part_tokens", "backbone.visual.positional_embedding", "bottleneck.weight",
            "classifier.weight", "backbone.visual.class_embedding", "backbone.visual.proj"} <= image
    excluded = {"backbone.visual.conv1.weight", "bottleneck.bias", "prompt_learner.learnable_ctx"}
    assert not excluded & (image | rmp)
    assert not any(n.startswith(("text_encoder.", "prompt_learner.")) for n in image | rmp)
    optimizer = build_stage2_optimizer(_cfg(), model)
    scheduler = build_stage2_scheduler(_cfg(), optimizer)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(5e-6 * 0.19)
    for _ in range(29):
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(5e-7)
    assert optimizer.param_groups[1]["lr"] == pytest.approx(5e-6)


def test_stage1_cosine_of_the_code(model):
    optimizer, scheduler = build_stage1_optimizer(_cfg(), model)
    assert [p for g in optimizer.param_groups for p in g["params"]] == [model.prompt_learner.learnable_ctx]
    import math

    expected = {1: 1e-5 + (3.5e-4 - 1e-5) / 5, 4: 1e-5 + 4 * (3.5e-4 - 1e-5) / 5,
                5: 1e-6 + 0.5 * (3.5e-4 - 1e-6) * (1 + math.cos(math.pi * 5 / 120)),
                60: 1e-6 + 0.5 * (3.5e-4 - 1e-6), 120: 1e-6}
    for epoch, lr in expected.items():
        scheduler.step(epoch)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(lr, rel=1e-6), epoch
