"""fast-reid's DefaultTrainer with the few changes every project here needs.

- the test loader honours TEST.NUM_WORKERS (fast-reid hard-codes 4 workers);
- the evaluator is chosen by name (TEST.EVALUATOR) from reid_plugins.evaluation.EVALUATOR_REGISTRY, so
  TEST.EVAL_PERIOD and --eval-only use it;
- every rank evaluates with rank 0's buffers, and ranks that would resume from different epochs are stopped;
- checkpoints are written atomically, loaded with weights_only=True, refused when they belong to another model, and
  carry the RNG states; `--resume` fast-forwards the sampler, so a resumed CPU run (DATALOADER.NUM_WORKERS 0) continues
  with exactly the batches and random numbers of an uninterrupted one (reid_plugins.engine.checkpoint);
- a NaN / inf loss stops training with an error naming the loss, the iteration and the intact last checkpoint, and a
  test set without query or gallery images is refused by name (reid_plugins.engine.guards);
- before anything is trained, every DATASETS.TESTS entry is built and its images are checked, and the training loader
  is checked for batches its identity sampler can fill (fast-reid's would spin forever);
- `model_final.pth` is written before the final evaluation (fast-reid's EvalHook runs before its checkpointer), so an
  evaluation that fails loses no training: `--resume` then only evaluates;
- `--eval-only` reads the number of identities from the checkpoint when MODEL.HEADS.NUM_CLASSES is unset, and a
  fast-reid backbone asked for ImageNet weights without MODEL.BACKBONE.PRETRAIN_PATH is refused (fast-reid would try
  to download them).
"""
from __future__ import annotations

import logging
import os

import numpy as np
import torch
from fastreid.data import build_reid_test_loader
import fastreid.data.build as fastreid_build
from fastreid.data.datasets import DATASET_REGISTRY
from fastreid.engine import DefaultTrainer, hooks
from fastreid.utils import comm
from fastreid.utils.env import seed_all_rng

from ..data.root import dataset_root
from ..utils.io import write_json_atomic
from .checkpoint import PluginCheckpointer, RNGState, checkpoint_rows, fast_forward_loader
from .guards import (TestSetContents, check_query_gallery, check_same_resume_point, check_test_sets,
                     check_train_batches, install_nonfinite_loss_guard, remove_stale_temp_files)

logger = logging.getLogger(__name__)


class PluginTrainer(DefaultTrainer):
    # --eval-only: the checkpoint entry whose first dimension is the number of training identities
    classifier_key = "heads.weight"

    def __init__(self, cfg):
        self.check_test_sets(cfg)
        if comm.is_main_process() and cfg.OUTPUT_DIR:
            os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)  # fast-reid writes config.yaml there during __init__
        if cfg.SEED >= 0:  # model init and the sampler's shared seed are drawn during __init__
            seed_all_rng(cfg.SEED + comm.get_rank())
        # DefaultTrainer.__init__ builds the loader and then, before any check could run, the scheduler (which
        # divides by the iterations per epoch): check the loader as soon as it is built.
        build_loader = self.build_train_loader

        def build_checked_train_loader(loader_cfg):
            loader = build_loader(loader_cfg)
            check_train_batches(loader, loader_cfg, comm.get_world_size())
            return loader

        self.build_train_loader = build_checked_train_loader
        try:
            super().__init__(cfg)  # on CPU its DDP wrap gets device_ids=None (compat patch cpu_ddp_device_ids)
        finally:
            del self.build_train_loader  # the class's builder again
        self.rng_state = RNGState()
        self.checkpointer = PluginCheckpointer(
            self.checkpointer.model, cfg.OUTPUT_DIR, save_to_disk=comm.is_main_process(),
            rng=self.rng_state, **self.checkpointer.checkpointables)
        for hook in self._hooks:  # fast-reid's PeriodicCheckpointer hook holds the checkpointer built above
            if isinstance(hook, hooks.PeriodicCheckpointer):
                hook.checkpointer = self.checkpointer
        install_nonfinite_loss_guard(self)

    def resume_or_load(self, resume=True):
        if resume and comm.is_main_process():
            for path in remove_stale_temp_files(self.cfg.OUTPUT_DIR):
                logger.info("Removed %s, the partial write of a killed run", path)
        super().resume_or_load(resume=resume)
        if resume and comm.get_world_size() > 1:
            check_same_resume_point(comm.all_gather(self.start_epoch), self.cfg.OUTPUT_DIR)
        if resume and self.start_epoch > 0:
            fast_forward_loader(self.data_loader, self.start_epoch * self.iters_per_epoch)
            self._trainer._data_loader_iter = iter(self.data_loader)  # drawing its seed uses the torch RNG ...
            logger.info("Resumed at epoch %d: sampler fast-forwarded by %d batches", self.start_epoch,
                        self.start_epoch * self.iters_per_epoch)
        # ... so restore the saved states after it. Also for checkpoints saved before the first epoch ended (a
        # project's end-of-stage checkpoint): the random numbers drawn up to that save are not drawn again.
        if resume:
            self.rng_state.restore()

    def build_hooks(self):
        ret = super().build_hooks()
        at = next(i for i, h in enumerate(ret) if isinstance(h, hooks.EvalHook))
        return ret[:at] + [FinalCheckpointBeforeEval()] + ret[at:]

    @classmethod
    def test_set_contents(cls, cfg, dataset_name) -> TestSetContents:
        """The test set as `build_test_loader` builds it (fast-reid's registry; subclasses with other test sets
        override this)."""
        data = DATASET_REGISTRY.get(dataset_name)(root=dataset_root(cfg))
        return TestSetContents(len(data.query), len(data.gallery), [item[0] for item in data.query + data.gallery])

    @classmethod
    def check_test_sets(cls, cfg) -> None:
        """Every DATASETS.TESTS entry is registered, builds, and has readable query and gallery images."""
        check_test_sets(cfg.DATASETS.TESTS, DATASET_REGISTRY._obj_map, lambda name: cls.test_set_contents(cfg, name))

    @classmethod
    def build_model(cls, cfg):
        check_backbone_weights(cfg)
        return super().build_model(cfg)

    def train(self):
        if self.start_epoch >= self.max_epoch:  # resuming a finished run: fast-reid would assert on missing results
            logger.info("Training already finished (epoch %d of %d): evaluating only", self.start_epoch,
                        self.max_epoch)
            self._last_eval_results = self.test(self.cfg, self.model)
            return self._last_eval_results
        return super().train()

    @classmethod
    def load_for_eval(cls, cfg):
        """--eval-only: build the model and load MODEL.WEIGHTS with the checking checkpointer. The classifier is sized
        from the checkpoint when MODEL.HEADS.NUM_CLASSES is unset (otherwise fast-reid builds an empty one and warns
        that it skipped the checkpoint's)."""
        if cfg.MODEL.HEADS.NUM_CLASSES <= 0:
            num_classes = checkpoint_rows(cfg.MODEL.WEIGHTS, cls.classifier_key)
            if num_classes:
                cfg = cfg.clone()
                cfg.defrost()
                cfg.MODEL.HEADS.NUM_CLASSES = num_classes
                cfg.freeze()
        model = cls.build_model(cfg)
        PluginCheckpointer(model).load(cfg.MODEL.WEIGHTS)
        return model

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        # Through the configurable call fast-reid would forward num_workers to the dataset's constructor (and use 4
        # workers); build the set from the config, then call the builder with explicit arguments.
        args = fastreid_build._test_loader_from_config(cfg, dataset_name=dataset_name)
        return build_reid_test_loader(args["test_set"], args["test_batch_size"], args["num_query"],
                                      num_workers=cfg.TEST.NUM_WORKERS)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_dir=None):
        from reid_plugins.evaluation import EVALUATOR_REGISTRY

        data_loader, num_query = cls.build_test_loader(cfg, dataset_name)
        check_query_gallery(dataset_name, num_query, len(data_loader.dataset))
        evaluator_cls = EVALUATOR_REGISTRY.get(cfg.TEST.EVALUATOR)
        return data_loader, evaluator_cls(cfg, num_query, output_dir)

    @classmethod
    def test(cls, cfg, model):
        sync_buffers_from_main_process(model)
        results = super().test(cfg, model)
        if comm.is_main_process() and cfg.OUTPUT_DIR:
            write_results(cfg, results)
        return results


class FinalCheckpointBeforeEval(hooks.HookBase):
    """Writes model_final.pth at the end of the last epoch, before the EvalHook evaluates (fast-reid's
    PeriodicCheckpointer comes after it and writes the file again, with the metric, plus model_best.pth)."""

    def after_epoch(self):
        if self.trainer.epoch >= self.trainer.max_epoch - 1 and comm.is_main_process():
            self.trainer.checkpointer.save("model_final", epoch=self.trainer.epoch)


def check_backbone_weights(cfg) -> None:
    """fast-reid's own backbones download ImageNet weights (with gdown) when PRETRAIN is True and PRETRAIN_PATH is
    empty; nothing may be downloaded here, and the failure would be `No module named 'gdown'`."""
    from fastreid.modeling.backbones import BACKBONE_REGISTRY

    b = cfg.MODEL.BACKBONE
    builder = BACKBONE_REGISTRY._obj_map.get(b.NAME)
    if b.PRETRAIN and not b.PRETRAIN_PATH and getattr(builder, "__module__", "").startswith("fastreid."):
        raise ValueError(f"MODEL.BACKBONE.PRETRAIN is True but MODEL.BACKBONE.PRETRAIN_PATH is empty, so fast-reid's "
                         f"{b.NAME} would download ImageNet weights, which this project never does. Set "
                         f"MODEL.BACKBONE.PRETRAIN_PATH to a local checkpoint (e.g. torchvision's "
                         f"resnet50-19c8e357.pth for ResNet-50) or MODEL.BACKBONE.PRETRAIN False to train from scratch")


def sync_buffers_from_main_process(model) -> None:
    """Give every process rank 0's buffers (BatchNorm running statistics, memories) before a distributed evaluation.

    fast-reid wraps the model with DistributedDataParallel(broadcast_buffers=False), so every rank keeps buffers
    computed from its own share of the batches. Each rank evaluates its shard of the test set with its own copy, so
    without this the reported metrics belong to no single model, and not to the checkpoint rank 0 saves."""
    if comm.get_world_size() < 2:
        return
    for buffer in model.buffers():
        torch.distributed.broadcast(buffer, src=0)


def write_results(cfg, results) -> str:
    """<OUTPUT_DIR>/results.json: {dataset: {metric: value}} for the last evaluation (written atomically), so that
    tools/compare.py and the ablation runner read metrics without parsing logs."""
    if not all(isinstance(v, dict) for v in results.values()):  # fast-reid flattens the dict of a single test set
        results = {cfg.DATASETS.TESTS[0]: results}
    clean = {name: {k: (float(v) if isinstance(v, (int, float, np.floating, np.integer)) else v)
                    for k, v in metrics.items()}
             for name, metrics in results.items()}
    return write_json_atomic(os.path.join(cfg.OUTPUT_DIR, "results.json"), clean, indent=2, sort_keys=True)

