"""PluginTrainer: exact resume on CPU, checking checkpointer, results.json."""
import json
import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import reid_plugins  # noqa: F401
from fastreid.engine import hooks

from reid_plugins.config import build_cfg
from reid_plugins.engine import PluginTrainer
from reid_plugins.engine.checkpoint import CheckpointMismatchError, PluginCheckpointer, RNGState


def make_colour_market(root, n_train=6, n_test=4, per_cam=2, cams=2, seed=0):
    """A Market-1501-layout toy set: each identity is a colour pair (top/bottom) plus noise."""
    rng = np.random.default_rng(seed)
    d = os.path.join(root, "Market-1501-v15.09.15")
    frame = 0
    for split, pids in (("train", range(1, n_train + 1)), ("test", range(100, 100 + n_test))):
        for pid in pids:
            top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
            for cam in range(1, cams + 1):
                for k in range(per_cam):
                    img = np.empty((32, 16, 3), np.float32)
                    img[:16], img[16:] = top, bottom
                    img = np.clip(img + rng.normal(0, 25, img.shape), 0, 255).astype(np.uint8)
                    frame += 1
                    name = f"{pid:04d}_c{cam}s1_{frame:06d}_00.jpg"
                    sub = "bounding_box_train" if split == "train" else ("query" if (cam == 1 and k == 0)
                                                                        else "bounding_box_test")
                    os.makedirs(os.path.join(d, sub), exist_ok=True)
                    Image.fromarray(img).save(os.path.join(d, sub, name))
    return root


def tiny_cfg(root, out, epochs=3, extra=()):
    return build_cfg(opts=[
        "DATASETS.ROOT", root, "DATASETS.NAMES", '("Market1501",)', "DATASETS.TESTS", '("Market1501",)',
        "OUTPUT_DIR", out, "SEED", "3",
        "MODEL.BACKBONE.DEPTH", "18x", "MODEL.BACKBONE.FEAT_DIM", "512", "MODEL.BACKBONE.PRETRAIN", "False",
        "MODEL.HEADS.WITH_BNNECK", "True", "MODEL.HEADS.POOL_LAYER", "GlobalAvgPool",
        "MODEL.LOSSES.NAME", '("CrossEntropyLoss","TripletLoss")', "MODEL.LOSSES.TRI.HARD_MINING", "True",
        "INPUT.SIZE_TRAIN", "[32, 16]", "INPUT.SIZE_TEST", "[32, 16]", "INPUT.FLIP.ENABLED", "True",
        "INPUT.REA.ENABLED", "True",
        "DATALOADER.SAMPLER_TRAIN", "NaiveIdentitySampler", "DATALOADER.NUM_INSTANCE", "2",
        "DATALOADER.NUM_WORKERS", "0", "SOLVER.IMS_PER_BATCH", "8", "SOLVER.MAX_EPOCH", str(epochs),
        "SOLVER.WARMUP_ITERS", "2", "SOLVER.BASE_LR", "0.001", "SOLVER.CHECKPOINT_PERIOD", "1",
        "TEST.EVAL_PERIOD", str(epochs), "TEST.IMS_PER_BATCH", "16", *extra])


class StopAfterEpoch(hooks.HookBase):
    def __init__(self, epoch):
        self.epoch = epoch

    def after_epoch(self):
        if self.trainer.epoch == self.epoch:
            raise KeyboardInterrupt("simulated kill")


def _run(cfg, resume=False, stop_after=None):
    trainer = PluginTrainer(cfg)
    if stop_after is not None:
        trainer.register_hooks([StopAfterEpoch(stop_after)])
    trainer.resume_or_load(resume=resume)
    return trainer, trainer.train()


@pytest.mark.slow
def test_resume_after_interruption_gives_identical_results(tmp_path):
    root = make_colour_market(str(tmp_path / "data"))
    _, full = _run(tiny_cfg(root, str(tmp_path / "full")))

    with pytest.raises(KeyboardInterrupt):
        _run(tiny_cfg(root, str(tmp_path / "cut")), stop_after=1)  # killed after epoch 1's checkpoint
    assert open(tmp_path / "cut" / "last_checkpoint").read() == "model_0001.pth"
    trainer, resumed = _run(tiny_cfg(root, str(tmp_path / "cut")), resume=True)
    assert trainer.start_epoch == 2

    assert resumed["mAP"] == pytest.approx(full["mAP"], abs=1e-9)
    assert resumed["Rank-1"] == pytest.approx(full["Rank-1"], abs=1e-9)
    final_full = torch.load(tmp_path / "full" / "model_final.pth", weights_only=True)["model"]
    final_resumed = torch.load(tmp_path / "cut" / "model_final.pth", weights_only=True)["model"]
    for k in final_full:
        torch.testing.assert_close(final_full[k], final_resumed[k], rtol=0, atol=0, msg=k)

    # results.json mirrors the returned metrics
    saved = json.load(open(tmp_path / "cut" / "results.json"))
    assert saved["Market1501"]["mAP"] == pytest.approx(resumed["mAP"])

    # resuming a finished run evaluates again instead of failing
    trainer, again = _run(tiny_cfg(root, str(tmp_path / "cut")), resume=True)
    assert again["mAP"] == pytest.approx(resumed["mAP"], abs=1e-9)


def test_checkpointer_refuses_other_models_and_corrupt_files(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 2))
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
    PluginCheckpointer(other, str(tmp_path)).save("other")
    with pytest.raises(CheckpointMismatchError, match=r"covers only 0.0% .*another model"):
        PluginCheckpointer(model).load(str(tmp_path / "other.pth"))

    # a classifier of another size is tolerated (fine-tuning / eval with another number of ids)
    resized = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 5))
    PluginCheckpointer(resized, str(tmp_path)).save("resized")
    PluginCheckpointer(model).load(str(tmp_path / "resized.pth"))
    torch.testing.assert_close(model[0].weight, resized[0].weight)

    data = open(tmp_path / "resized.pth", "rb").read()
    open(tmp_path / "truncated.pth", "wb").write(data[: len(data) // 2])
    with pytest.raises(CheckpointMismatchError, match="truncated.pth"):
        PluginCheckpointer(model).load(str(tmp_path / "truncated.pth"))

    torch.save({"model": {}, "evil": object.__new__(RNGState)}, tmp_path / "pickled.pth")
    with pytest.raises(CheckpointMismatchError, match="weights_only=True"):
        PluginCheckpointer(model).load(str(tmp_path / "pickled.pth"))


def test_checkpoint_save_is_atomic(tmp_path, monkeypatch):
    model = torch.nn.Linear(4, 4)
    ckpt = PluginCheckpointer(model, str(tmp_path))
    ckpt.save("model_best")
    before = open(tmp_path / "model_best.pth", "rb").read()

    def dying_save(*a, **k):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(torch, "save", dying_save)
    with torch.no_grad():
        model.weight.add_(1)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save("model_best")
    assert open(tmp_path / "model_best.pth", "rb").read() == before  # the previous file is intact
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_best.pth"]  # no temp file left


def test_rng_state_round_trip():
    state = RNGState()
    torch.manual_seed(1)
    np.random.seed(2)
    import random
    random.seed(3)
    saved = state.state_dict()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.rand(5), np.random.rand(5), random.random()
    state.load_state_dict(saved)
    assert state.restore()
    got = (torch.rand(3), np.random.rand(3), random.random())
    torch.testing.assert_close(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert got[2] == expected[2]
    assert not state.restore()  # applied once


class PoisonLoss(hooks.HookBase):
    """Makes one loss NaN at one iteration (a numerically unstable loss), leaving the weights alone."""

    def __init__(self, iteration, loss="loss_cls"):
        self.iteration, self.loss = iteration, loss
        self.model_bytes_after_epoch0 = None

    def after_epoch(self):
        if self.trainer.epoch == 0:
            self.model_bytes_after_epoch0 = open(os.path.join(self.trainer.cfg.OUTPUT_DIR, "model_0000.pth"),
                                                 "rb").read()

    def before_step(self):
        if self.trainer.iter == self.iteration:
            loss = self.loss
            self.trainer.model.register_forward_hook(lambda m, i, out: {**out, loss: out[loss] * float("nan")})


def test_nan_loss_names_the_loss_and_iteration_and_keeps_the_last_checkpoint(tmp_path):
    root = make_colour_market(str(tmp_path / "data"))
    out = tmp_path / "run"
    trainer = PluginTrainer(tiny_cfg(root, str(out), epochs=3))
    assert trainer.iters_per_epoch == 3
    poison = PoisonLoss(iteration=4)  # epoch 1, after model_0000.pth was written
    trainer.register_hooks([poison])
    trainer.resume_or_load(resume=False)
    with pytest.raises(FloatingPointError) as e:
        trainer.train()
    msg = str(e.value)
    assert "non-finite loss at iteration 4 (epoch 1): {'loss_cls': nan}" in msg
    assert "loss_triplet" in msg  # every loss of the step is listed
    assert f"the last checkpoint is {out / 'model_0000.pth'} (intact)" in msg and "--resume" in msg

    assert open(out / "last_checkpoint").read() == "model_0000.pth"
    assert sorted(p.name for p in out.glob("*.pth")) == ["model_0000.pth"]
    assert open(out / "model_0000.pth", "rb").read() == poison.model_bytes_after_epoch0
    fresh = PluginTrainer.build_model(tiny_cfg(root, str(tmp_path / "fresh")))
    PluginCheckpointer(fresh).load(str(out / "model_0000.pth"))
    assert all(bool(torch.isfinite(p).all()) for p in fresh.state_dict().values() if p.is_floating_point())


def test_empty_query_set_is_refused_by_name(tmp_path):
    root = make_colour_market(str(tmp_path / "data"))
    query = os.path.join(root, "Market-1501-v15.09.15", "query")
    for name in os.listdir(query):  # person id -1: junk detections, which fast-reid drops
        os.rename(os.path.join(query, name), os.path.join(query, "-1" + name[4:]))
    cfg = tiny_cfg(root, str(tmp_path / "run"))
    with pytest.raises(ValueError, match=r"test set 'Market1501' .* has 0 query and 12 gallery images"):
        PluginTrainer.test(cfg, PluginTrainer.build_model(cfg))
    assert not os.path.exists(tmp_path / "run" / "results.json")


def test_partial_writes_of_killed_runs_are_removed_on_resume(tmp_path):
    from reid_plugins.engine.guards import remove_stale_temp_files

    folder = tmp_path / "run"
    folder.mkdir()
    for name in ("model_0001.pth", "model_0002.pth.tmp999999999", "last_checkpoint.tmp999999999",
                 f"model_0003.pth.tmp{os.getpid()}", "notes.tmp1"):
        (folder / name).write_bytes(b"x")
    removed = remove_stale_temp_files(str(folder))
    # the pid 999999999 is not running; this process is, so its write in progress stays
    assert sorted(os.path.basename(p) for p in removed) == ["last_checkpoint.tmp999999999",
                                                            "model_0002.pth.tmp999999999"]
    assert sorted(os.listdir(folder)) == ["model_0001.pth", f"model_0003.pth.tmp{os.getpid()}", "notes.tmp1"]


def test_processes_resuming_from_different_epochs_are_stopped():
    from reid_plugins.engine.guards import check_same_resume_point

    check_same_resume_point([3, 3], "/shared/run")
    with pytest.raises(RuntimeError, match=r"rank 0: epoch 3, rank 1: epoch 0.*'/local/run'.*filesystem every machine"):
        check_same_resume_point([3, 0], "/local/run")


sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "reliability"))
from test_bad_inputs import BROKEN  # noqa: E402  (the damaged-file makers of the bad-input matrix)


def _empty_query(path):
    for name in os.listdir(os.path.dirname(path)):
        os.remove(os.path.join(os.path.dirname(path), name))


@pytest.mark.parametrize("tests, damage, message", [
    ('("Market1502",)', None, r"DATASETS.TESTS names 'Market1502', which is not a registered dataset \(did you "
                              r"mean 'Market1501'\?\)"),
    ('("Market1501",)', _empty_query, r"test set 'Market1501' \(DATASETS.TESTS\) has 0 query and 12 gallery images"),
    ('("Market1501",)', BROKEN["zero-byte"], r"test set 'Market1501' .*1 of 16 images cannot be read: "
                                             r"'.*/query/.*\.jpg': empty file \(0 bytes\)"),
    ('("Market1501",)', BROKEN["garbage"], r"1 of 16 images cannot be read: '.*/query/.*\.jpg': not a readable "
                                           r"image"),
    ('("Market1501", "NoSuchSet")', None, r"'NoSuchSet', which is not a registered dataset; registered: .*Market1501"),
])
def test_test_sets_are_checked_before_anything_is_trained(tmp_path, tests, damage, message):
    root = make_colour_market(str(tmp_path / "data"))
    query = os.path.join(root, "Market-1501-v15.09.15", "query")
    if damage is not None:
        damage(os.path.join(query, sorted(os.listdir(query))[0]))
    cfg = tiny_cfg(root, str(tmp_path / "run"), extra=["DATASETS.TESTS", tests])
    with pytest.raises(ValueError, match=message):
        PluginTrainer(cfg)
    assert not os.path.exists(tmp_path / "run")  # refused before the trainer wrote anything


def test_a_failing_final_evaluation_loses_no_training(tmp_path):
    """The final checkpoint is written before the final evaluation: an image the evaluation cannot decode (its header
    is fine) fails the run after training, model_final.pth is there, and --resume only evaluates."""
    root = make_colour_market(str(tmp_path / "data"))
    gallery = os.path.join(root, "Market-1501-v15.09.15", "bounding_box_test")
    victim = os.path.join(gallery, sorted(os.listdir(gallery))[0])
    good = open(victim, "rb").read()
    big = np.random.default_rng(0).integers(0, 256, (256, 128, 3), dtype=np.uint8)
    Image.fromarray(big).save(victim, quality=95)
    with open(victim, "r+b") as f:
        f.truncate(os.path.getsize(victim) // 2)  # decodable header, truncated body
    out = tmp_path / "run"
    # 24 images / batch 12: 2 iterations, also a run shorter than fast-reid's 3-iteration timer warm-up
    cfg = tiny_cfg(root, str(out), epochs=1, extra=["SOLVER.IMS_PER_BATCH", "12"])
    trainer = PluginTrainer(cfg)
    assert trainer.max_iter == 2
    trainer.resume_or_load(resume=False)
    with pytest.raises(OSError, match=r"cannot read image '.*bounding_box_test/.*\.jpg'"):
        trainer.train()
    assert open(out / "last_checkpoint").read() == "model_final.pth"
    assert torch.load(out / "model_final.pth", weights_only=True)["epoch"] == 0
    assert not (out / "results.json").exists()

    with open(victim, "wb") as f:
        f.write(good)
    trainer = PluginTrainer(cfg)
    trainer.resume_or_load(resume=True)
    assert trainer.start_epoch == 1  # nothing left to train
    results = trainer.train()
    assert json.load(open(out / "results.json"))["Market1501"]["mAP"] == pytest.approx(results["mAP"])


@pytest.mark.parametrize("extra, message", [
    (["SOLVER.IMS_PER_BATCH", "16", "DATALOADER.NUM_INSTANCE", "2"],
     r"training set \(Market1501\) has 6 identities, but SOLVER.IMS_PER_BATCH 16 with DATALOADER.NUM_INSTANCE 2 "
     r"needs 8 identities per batch \(16 / 2\); .*wait forever.* at most 12"),
    (["SOLVER.IMS_PER_BATCH", "10", "DATALOADER.NUM_INSTANCE", "4"],
     r"SOLVER.IMS_PER_BATCH 10 \(10 per process\) must be a positive multiple of DATALOADER.NUM_INSTANCE 4"),
    (["SOLVER.IMS_PER_BATCH", "32"],
     r"training set \(Market1501\) has 24 images, fewer than one batch \(SOLVER.IMS_PER_BATCH 32\): an epoch would "
     r"have 0 iterations"),
])
def test_batches_the_training_set_cannot_fill_are_refused_before_training(tmp_path, extra, message):
    # fast-reid's NaiveIdentitySampler would loop forever on the first two, build_lr_scheduler divide by zero on the
    # third
    root = make_colour_market(str(tmp_path / "data"))
    with pytest.raises(ValueError, match=message):
        PluginTrainer(tiny_cfg(root, str(tmp_path / "run"), extra=extra))


def test_imagenet_weights_without_a_path_are_refused(tmp_path):
    cfg = tiny_cfg(str(tmp_path), str(tmp_path / "run"), extra=["MODEL.BACKBONE.PRETRAIN", "True"])
    with pytest.raises(ValueError, match=r"MODEL.BACKBONE.PRETRAIN is True but MODEL.BACKBONE.PRETRAIN_PATH is empty"
                                         r".*build_resnet_backbone would download.*PRETRAIN False"):
        PluginTrainer.build_model(cfg)


def test_eval_only_sizes_the_classifier_from_the_checkpoint(tmp_path):
    import logging

    cfg = tiny_cfg(str(tmp_path), str(tmp_path / "run"), extra=["MODEL.HEADS.NUM_CLASSES", "6"])
    PluginCheckpointer(PluginTrainer.build_model(cfg), str(tmp_path)).save("trained")
    eval_cfg = tiny_cfg(str(tmp_path), str(tmp_path / "eval"), extra=["MODEL.WEIGHTS", str(tmp_path / "trained.pth")])
    assert eval_cfg.MODEL.HEADS.NUM_CLASSES == 0
    warnings = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())
    logging.getLogger("fastreid.utils.checkpoint").addHandler(handler)  # fast-reid's logger may not propagate
    try:
        model = PluginTrainer.load_for_eval(eval_cfg)
    finally:
        logging.getLogger("fastreid.utils.checkpoint").removeHandler(handler)
    assert tuple(model.heads.weight.shape) == (6, 512)
    assert not [w for w in warnings if "Skip loading" in w], warnings
