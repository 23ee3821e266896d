"""MUVATrainer on the tiny synthetic preset: two stages -> evaluation, stage records, exact resume mid-stage 2,
skipping stage 1 from a checkpoint, eval-only loading."""
import json
import os

import muva_path  # noqa: F401
import pytest
import torch
from fastreid.engine import hooks

from muva import MUVATrainer, add_muva_config
from muva.trainer import StageState, class_centroids, load_stage1_prompts
from reid_plugins.config import build_cfg
from reid_plugins.engine import PluginTrainer

CONFIG = os.path.join(muva_path.PROJECT, "..", "..", "configs", "MUVA", "Synth", "MUVA_tiny_A.yml")


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny_cfg(root, out, epochs=2, extra=()):
    cfg = build_cfg(CONFIG, [
        "DATASETS.ROOT", root, "DATASETS.TESTS", '("SynthPedA", "SynthPedB")', "OUTPUT_DIR", out, "SEED", "3",
        "SOLVER.IMS_PER_BATCH", "8", "DATALOADER.NUM_INSTANCE", "4", "DATALOADER.NUM_WORKERS", "0",
        "SOLVER.MAX_EPOCH", str(epochs), "SOLVER.STEPS", "[1]", "SOLVER.CHECKPOINT_PERIOD", "1",
        "TEST.EVAL_PERIOD", str(epochs), "TEST.NUM_WORKERS", "0", "TEST.IMS_PER_BATCH", "32",
        "MODEL.MUVA.STAGE1.MAX_EPOCH", "1", "MODEL.MUVA.STAGE1.IMS_PER_BATCH", "8", "MODEL.MUVA.FEATURE_BATCH", "64",
        "TEST.VIS.NUM_IMAGES", "2", *extra], (add_muva_config,))
    cfg.freeze()
    return cfg


class StopAfterEpoch(hooks.HookBase):
    def __init__(self, epoch):
        self.epoch = epoch

    def after_epoch(self):
        if self.trainer.epoch == self.epoch:
            raise KeyboardInterrupt("simulated kill")


def _run(cfg, resume=False, stop_after=None, trainer_hook=None):
    trainer = MUVATrainer(cfg)
    if stop_after is not None:
        trainer.register_hooks([StopAfterEpoch(stop_after)])
    trainer.resume_or_load(resume=resume)
    if trainer_hook is not None:
        trainer_hook(trainer)
    return trainer, trainer.train()


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.slow
def test_two_stages_train_eval_and_exact_resume(synth_root, tmp_path, monkeypatch):
    full_dir = str(tmp_path / "full")
    trainer, results = _run(tiny_cfg(synth_root, full_dir))
    model = trainer.model

    # stage 1 ran and was recorded; stage 2 checkpoints say stage 2
    s1 = _state(os.path.join(full_dir, "model_stage1.pth"))
    assert s1["muva_stage"] == {"stage": 1} and "epoch" not in s1
    final = _state(os.path.join(full_dir, "model_final.pth"))
    assert final["muva_stage"] == {"stage": 2}
    init_ctx = _state(os.path.join(full_dir, "model_stage1.pth"))["model"]["prompt_learner.learnable_ctx"]
    # stage 2 updates every trainable tensor (fast-reid's build_optimizer(contiguous=True) stepped detached copies
    # under torch 2, so nothing changed; MUVA has its own Adam) and no frozen one
    params = dict(model.named_parameters())
    changed = {k for k in params if not torch.equal(final["model"][k], s1["model"][k])}
    trainable = {k for k, p in params.items() if p.requires_grad}
    assert {"backbone.part_tokens", "backbone.mask_predictor.layers.0.mlp.0.weight", "classifier.weight",
            "backbone.visual.transformer.resblocks.1.attn.in_proj_weight"} <= trainable
    assert changed == trainable
    assert torch.equal(final["model"]["prompt_learner.learnable_ctx"], init_ctx)  # frozen in stage 2
    # the TPM holds the text features of the learned prompts; the VPM-2 rows are unit vectors
    with torch.no_grad():
        text = model.text_features(torch.arange(model.num_classes))
    assert torch.allclose(model.text_memory, text, atol=1e-5)
    assert torch.allclose(model.memory.features.norm(dim=1), torch.ones(model.num_classes), atol=1e-5)

    # evaluation on both test sets, results.json and the part-mask figure
    saved = json.load(open(os.path.join(full_dir, "results.json")))
    assert set(saved) == {"SynthPedA", "SynthPedB"}
    for metrics in saved.values():
        assert 0.0 <= metrics["mAP"] <= 100.0 and 0.0 <= metrics["Rank-1"] <= 100.0
    png = os.path.join(full_dir, "visualizations", "part_masks_SynthPedB.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"

    # killed after stage-2 epoch 0, resumed: stage 1 is not run again and the result is identical
    cut_dir = str(tmp_path / "cut")
    no_vis = ["TEST.VIS.ENABLED", "False"]
    with pytest.raises(KeyboardInterrupt):
        _run(tiny_cfg(synth_root, cut_dir, extra=no_vis), stop_after=0)
    assert open(os.path.join(cut_dir, "last_checkpoint")).read() == "model_0000.pth"
    assert _state(os.path.join(cut_dir, "model_0000.pth"))["muva_stage"] == {"stage": 2}

    def no_stage1(tr):
        tr.train_stage1 = lambda: pytest.fail("stage 1 re-run on resume")
        assert tr.stage_state.stage == 2 and tr.start_epoch == 1

    _run(tiny_cfg(synth_root, cut_dir, extra=no_vis), resume=True, trainer_hook=no_stage1)
    final_resumed = _state(os.path.join(cut_dir, "model_final.pth"))["model"]
    for k, v in final["model"].items():
        torch.testing.assert_close(final_resumed[k], v, rtol=0, atol=1e-6, msg=k)
    resumed_saved = json.load(open(os.path.join(cut_dir, "results.json")))
    for name, metrics in saved.items():
        assert resumed_saved[name]["mAP"] == pytest.approx(metrics["mAP"], abs=1e-6)
        assert resumed_saved[name]["Rank-1"] == pytest.approx(metrics["Rank-1"], abs=1e-6)

    # STAGE1.PRETRAIN: a new run skips stage 1, starts from the saved prompts and builds the TPM from them
    pre_dir = str(tmp_path / "pre")
    cfg = tiny_cfg(synth_root, pre_dir, extra=["MODEL.MUVA.STAGE1.PRETRAIN", os.path.join(full_dir, "model_stage1.pth")])
    trainer = MUVATrainer(cfg)
    trainer.train_stage1 = lambda: pytest.fail("stage 1 ran")
    monkeypatch.setattr(PluginTrainer, "train", lambda self: {"stage2": "skipped in this test"})
    assert trainer.train() == {"stage2": "skipped in this test"}
    assert trainer.stage_state.stage == 2
    assert torch.equal(trainer.model.prompt_learner.learnable_ctx.detach(), init_ctx)
    torch.testing.assert_close(trainer.model.text_memory, model.text_memory)
    assert not os.path.exists(os.path.join(pre_dir, "model_stage1.pth"))

    # eval-only: the number of identities comes from the checkpoint
    eval_cfg = tiny_cfg(synth_root, str(tmp_path / "eval"), extra=["MODEL.WEIGHTS",
                                                                   os.path.join(full_dir, "model_final.pth")])
    loaded = MUVATrainer.load_for_eval(eval_cfg)
    assert loaded.num_classes == model.num_classes
    torch.testing.assert_close(loaded.state_dict()["classifier.weight"], final["model"]["classifier.weight"])


def test_stage1_checkpoint_formats_and_errors(tmp_path):
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.prompt_learner = torch.nn.Module()
            self.prompt_learner.learnable_ctx = torch.nn.Parameter(torch.zeros(3, 4, 4, 8))

    ctx = torch.randn(3, 4, 4, 8)
    official = str(tmp_path / "official.pth")  # the authors' stage-1 file: a bare state dict
    torch.save({"prompt_learner.learnable_ctx": ctx, "image_encoder.conv1.weight": torch.zeros(1)}, official)
    model = M()
    load_stage1_prompts(model, official)
    assert torch.equal(model.prompt_learner.learnable_ctx.detach(), ctx)
    ours = str(tmp_path / "ours.pth")
    torch.save({"model": {"prompt_learner.learnable_ctx": 2 * ctx}, "muva_stage": {"stage": 1}}, ours)
    load_stage1_prompts(model, ours)
    assert torch.equal(model.prompt_learner.learnable_ctx.detach(), 2 * ctx)
    with pytest.raises(FileNotFoundError, match="MODEL.MUVA.STAGE1.PRETRAIN"):
        load_stage1_prompts(model, str(tmp_path / "missing.pth"))
    wrong = str(tmp_path / "wrong.pth")
    torch.save({"prompt_learner.learnable_ctx": torch.zeros(5, 4, 4, 8)}, wrong)
    with pytest.raises(ValueError, match="wrong source dataset"):
        load_stage1_prompts(model, wrong)
    other = str(tmp_path / "other.pth")
    torch.save({"model": {"x": torch.zeros(1)}}, other)
    with pytest.raises(KeyError, match="learnable_ctx"):
        load_stage1_prompts(model, other)


def test_stage_state_and_centroids():
    s = StageState()
    s.load_state_dict({"stage": 2})
    assert s.state_dict() == {"stage": 2}
    with pytest.raises(ValueError, match="muva_stage"):
        s.load_state_dict({"stage": 7})
    feats = torch.tensor([[2.0, 0.0], [0.0, 2.0], [0.0, 4.0], [6.0, 4.0]])
    c = class_centroids(feats, torch.tensor([0, 0, 1, 1]), 2)
    assert torch.allclose(c, torch.tensor([[0.70710678, 0.70710678], [0.6, 0.8]]))  # means [1, 1], [3, 4]
    with pytest.raises(ValueError, match="each of the 3 classes"):
        class_centroids(feats, torch.tensor([0, 0, 1, 1]), 3)


def test_a_stage1_batch_the_identities_cannot_fill_is_refused_before_training(synth_root, tmp_path):
    # stage 1 draws its PK batches with fast-reid's NaiveIdentitySampler, which would spin forever
    cfg = tiny_cfg(synth_root, str(tmp_path / "run"), extra=["MODEL.MUVA.STAGE1.IMS_PER_BATCH", "64"])
    with pytest.raises(ValueError, match=r"has 8 identities, but MODEL.MUVA.STAGE1.IMS_PER_BATCH 64 with "
                                         r"DATALOADER.NUM_INSTANCE 4 needs 16 identities per batch .* at most 32"):
        MUVATrainer(cfg)
    assert not os.path.exists(tmp_path / "run" / "model_stage1.pth")
