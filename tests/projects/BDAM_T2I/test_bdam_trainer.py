"""BDAMTrainer on the tiny synthetic preset: fast-reid's train loops (SimpleTrainer / AMPTrainer subclasses doing the
GradNorm step), fast-reid's test loop with the evaluator TEST.EVALUATOR names, the validation split carved from the
training identities, re-ranking chosen on it, and caption lengths that fit TEXT.LENGTH. Test sets are checked before training.
"""
import json
import os
import sys
from collections import OrderedDict

import bdam_path  # noqa: F401
import pytest
import torch
from fastreid.evaluation.evaluator import DatasetEvaluator
from fastreid.utils.events import EventStorage

from bdam import BDAMTrainer
from bdam.data import build_tokenizer, evaluation_parts, load_dataset, log_text_truncation
from bdam.trainer import GradNormAMPTrainer, GradNormSimpleTrainer
from bdam_tiny import SYNTH_CONFIG, tiny_cfg
from reid_plugins.config import build_cfg
from reid_plugins.evaluation import EVALUATOR_REGISTRY

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "reid_plugins", "data", "t2i"))
from t2i_fakes import make_cuhk_pedes  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _cfg(root, out, *extra, domain="A"):
    return tiny_cfg(extra=["DATASETS.ROOT", root, "OUTPUT_DIR", out, "SEED", "3",
                           "DATASETS.NAMES", f'("SynthPedT2I{domain}",)', "DATASETS.TESTS", f'("SynthPedT2I{domain}",)',
                           "SOLVER.IMS_PER_BATCH", "8", "DATALOADER.NUM_WORKERS", "0", "TEST.NUM_WORKERS", "0",
                           "SOLVER.MAX_EPOCH", "1", "SOLVER.CHECKPOINT_PERIOD", "1", "TEST.EVAL_PERIOD", "1",
                           "TEST.IMS_PER_BATCH", "64", "TEST.VIS.ENABLED", "False", "DATASETS.T2I.VAL_FROM_TRAIN", "0.25",
                           *extra])


@pytest.mark.slow
def test_train_then_evaluate_with_a_validation_split_carved_from_training_identities(synth_root, tmp_path):
    out = str(tmp_path / "run")
    cfg = _cfg(synth_root, out)
    trainer = BDAMTrainer(cfg)
    assert type(trainer._trainer) is GradNormSimpleTrainer  # SOLVER.AMP.ENABLED False
    # 2 of the 8 training identities are held out as val (evenly spaced in sorted-id order), out of training
    ds = load_dataset(cfg, "SynthPedT2IA")
    val_pids = set(ds.val.image_pids)
    assert len(val_pids) == 2
    train_pids = {row[1] for row in trainer.data_loader.dataset.img_items}
    assert len(train_pids) == 6 and trainer.data_loader.dataset.num_classes == 6
    parts = evaluation_parts(cfg, ds)
    assert list(parts) == ["test", "val", "train"]
    assert set(parts["train"].image_pids).isdisjoint(val_pids) and len(set(parts["train"].image_pids)) == 6
    weights_before = trainer.gradnorm.weights.clone()
    results = trainer.train()
    assert trainer.gradnorm.steps == trainer.iters_per_epoch > 0
    assert not torch.equal(trainer.gradnorm.weights, weights_before)
    assert trainer.gradnorm.weights.sum().item() == pytest.approx(4.0, abs=1e-9)
    assert trainer._trainer.shared_params is not None  # found from the first step's task losses

    saved = json.load(open(os.path.join(out, "results.json")))["SynthPedT2IA"]
    for key in ("R1", "rerank_R1", "fused_R1", "val_R1", "val_rerank_R1", "gain_R1_test", "gain_R1_val",
                "gain_R1_train", "rerank_topk", "rerank_lambda", "metric"):
        assert key in saved, key
    assert saved["metric"] == saved["val_rerank_R1"] >= saved["val_R1"]  # chosen on val, never below dual there
    if saved["rerank_fused"] == 0:  # the dual order won on val: re-ranked = dual on test
        assert saved["rerank_R1"] == saved["R1"] and saved["rerank_topk"] == 0
    assert saved["fused_R1"] == pytest.approx(saved["R1"] + saved["gain_R1_test"], abs=1e-9)
    assert results["metric"] == saved["metric"]
    # the GradNorm state is checkpointed
    state = torch.load(os.path.join(out, "model_final.pth"), map_location="cpu", weights_only=True)
    assert state["gradnorm"]["steps"] == trainer.gradnorm.steps


def test_amp_switch_selects_fast_reids_amp_loop_with_the_gradnorm_step_under_bfloat16(synth_root, tmp_path):
    """SOLVER.AMP.ENABLED: fast-reid's DefaultTrainer builds its AMPTrainer's GradNorm subclass; on CPU the step runs
    under torch.autocast(bfloat16) (fast-reid's own AMPTrainer asserts CUDA) and GradNorm updates the weights."""
    cfg = _cfg(synth_root, str(tmp_path / "amp"), "SOLVER.AMP.ENABLED", "True")
    trainer = BDAMTrainer(cfg)
    inner = trainer._trainer
    assert isinstance(inner, GradNormAMPTrainer) and inner.amp_dtype == torch.bfloat16
    assert not inner.grad_scaler.is_enabled()  # bfloat16 needs no loss scaling
    seen = []
    model = trainer.model
    # a Linear layer's output: bfloat16 under autocast (LayerNorm outputs stay float32)
    hook = model.img_embed.register_forward_hook(
        lambda m, i, o: seen.append((torch.is_autocast_enabled("cpu"), o.dtype)))
    before = model.img_embed.weight.detach().clone()
    trainer.iter = trainer.epoch = 0
    with EventStorage(0):
        for _ in range(2):
            trainer.run_step()
    hook.remove()
    assert seen == [(True, torch.bfloat16)] * 2
    assert trainer.gradnorm.steps == 2 and not torch.equal(trainer.gradnorm.weights, torch.ones(4, dtype=torch.float64))
    assert not torch.equal(model.img_embed.weight, before)
    plain = BDAMTrainer(_cfg(synth_root, str(tmp_path / "plain")))
    assert type(plain._trainer) is GradNormSimpleTrainer


class _RecordingEvaluator(DatasetEvaluator):
    """Counts what fast-reid's inference loop hands it."""

    def __init__(self, cfg, num_query, output_dir=None):
        self.num_query = num_query
        self.reset()

    def reset(self):
        self.images = self.texts = 0

    def process(self, inputs, outputs):
        if "img_emb" in outputs:
            self.images += len(outputs["img_emb"])
        else:
            self.texts += len(outputs["txt_emb"])

    def evaluate(self):
        return OrderedDict(images=float(self.images), texts=float(self.texts), num_query=float(self.num_query))


if "_RecordingEvaluator" not in EVALUATOR_REGISTRY._obj_map:
    EVALUATOR_REGISTRY.register(_RecordingEvaluator)


def test_test_uses_fast_reids_loop_with_the_evaluator_test_evaluator_names(synth_root, tmp_path):
    cfg = _cfg(synth_root, "", "TEST.EVALUATOR", "_RecordingEvaluator")
    model = BDAMTrainer.build_model(cfg)
    results = BDAMTrainer.test(cfg, model)
    parts = evaluation_parts(cfg, load_dataset(cfg, "SynthPedT2IA"))
    assert results["images"] == sum(len(p.img_paths) for p in parts.values())
    assert results["texts"] == results["num_query"] == sum(len(p.captions) for p in parts.values())
    with pytest.raises(ValueError, match="TEST.FLIP.ENABLED"):
        BDAMTrainer.test(_cfg(synth_root, "", "TEST.FLIP.ENABLED", "True"), model)


@pytest.mark.parametrize("domain", ["A", "E"])
def test_synth_text_length_truncates_no_caption_or_description(synth_root, domain):
    """The tiny preset's captions and descriptions fit TEXT.LENGTH of configs/BDAM_T2I/Synth-T2I.yml (the default
    preset's lengths are measured in projects/BDAM_T2I/README.md)."""
    cfg = build_cfg(SYNTH_CONFIG, ["DATASETS.ROOT", synth_root], (__import__("bdam").add_bdam_config,))
    ds = load_dataset(cfg, f"SynthPedT2I{domain}")
    texts = [c for e in ds.entries for c in e.captions]
    texts += [d for e in ds.entries for d in (e.identity_description, e.clothing_description) if d]
    stats = log_text_truncation(build_tokenizer(cfg), texts, "test")
    assert stats["texts"] > 20 and stats["truncated"] == 0
    assert stats["max_tokens"] <= cfg.MODEL.BDAM.TEXT.LENGTH
    # and the check does catch truncation
    short = build_cfg(SYNTH_CONFIG, ["MODEL.BDAM.TEXT.LENGTH", "16"], (__import__("bdam").add_bdam_config,))
    assert log_text_truncation(build_tokenizer(short), texts, "test")["truncated"] > 0


def test_t2i_test_sets_are_checked_before_training(tmp_path):
    root = str(tmp_path)
    make_cuhk_pedes(root)
    ok = tiny_cfg(extra=["DATASETS.ROOT", root, "DATASETS.TESTS", '("CUHKPEDES",)'])
    contents = BDAMTrainer.test_set_contents(ok, "CUHKPEDES")
    assert (contents.num_query, contents.num_gallery) == (3 * 2 * 2, 3 * 2)  # 2 captions per image, 3 ids x 2
    BDAMTrainer.check_test_sets(ok)

    for tests, message in (('("CUHKPEDEZ",)', r"'CUHKPEDEZ', which is not a registered dataset \(did you mean "
                                              r"'CUHKPEDES'\?\)"),
                           ('("Market1501",)', r"test set 'Market1501' .* not a text-to-image dataset")):
        with pytest.raises(ValueError, match=message):
            BDAMTrainer.check_test_sets(tiny_cfg(extra=["DATASETS.ROOT", root, "DATASETS.TESTS", tests]))

    victim = os.path.join(root, "CUHK-PEDES", "imgs", "test_query", "p7_s0.jpg")
    open(victim, "wb").close()
    with pytest.raises(ValueError, match=r"1 of 6 images cannot be read: '.*p7_s0.jpg': empty file"):
        BDAMTrainer.check_test_sets(ok)


def test_the_gate_histogram_switch_is_test_vis_enabled():
    from bdam import add_bdam_config
    from reid_plugins.config import ConfigError

    assert build_cfg(SYNTH_CONFIG, (), (add_bdam_config,)).TEST.VIS.ENABLED  # BDAM writes its Fig. 3 by default
    with pytest.raises(ConfigError, match=r"^command-line option: TEST.GATE_HIST moved to TEST.VIS.ENABLED"):
        build_cfg(SYNTH_CONFIG, ["TEST.GATE_HIST", "False"], (add_bdam_config,))
