"""BDAMTrainer: reid_plugins' PluginTrainer (fast-reid DefaultTrainer) with T2I loaders, fast-reid's test loop with
the evaluator TEST.EVALUATOR names, and a training step that weights the task losses with GradNorm.

As in detectron2, the training step lives in the inner train-loop object: fast-reid's DefaultTrainer builds an
AMPTrainer when SOLVER.AMP.ENABLED, else a SimpleTrainer; here it builds their subclasses GradNormAMPTrainer /
GradNormSimpleTrainer, whose run_step adds the GradNorm weighting (reid_plugins.solver.gradnorm) to fast-reid's step.
AMP on CPU uses torch.autocast with bfloat16 (fast-reid's AMPTrainer asserts CUDA); on CUDA float16 with a gradient
scaler, as fast-reid's.
"""
from __future__ import annotations

import contextlib
import logging
import time

import torch
from fastreid.engine import hooks
from fastreid.engine.train_loop import AMPTrainer, SimpleTrainer
from fastreid.solver import build_optimizer
from fastreid.utils import comm
from fastreid.utils.events import get_event_storage
from fastreid.utils.params import ContiguousParams

from reid_plugins.engine import PluginTrainer
from reid_plugins.utils.modules import unwrap_model

from . import data
from .evaluator import current_model, use_model

logger = logging.getLogger(__name__)


def warm_text_cache(model, tokenizer, texts) -> int:
    """Frozen text encoder: encode all texts once up front (length-sorted batches, progress bar)."""
    encoder = unwrap_model(model).text_encoder
    if not encoder.freeze or not texts:
        return 0
    ids, mask = tokenizer(sorted(set(texts)))
    n = encoder.warm_cache(ids, mask, progress=comm.is_main_process())
    logger.info("Text-feature cache: %d new texts encoded, %d cached", n, len(encoder._cache))
    return n


def build_gradnorm(cfg, model):
    """GradNorm over the enabled losses listed in GRADNORM.TASKS (None when disabled or fewer than 2 tasks)."""
    G = cfg.MODEL.BDAM.GRADNORM
    names = [n for n in G.TASKS if n in model.loss_names]
    if not G.ENABLED or len(names) < 2:
        return None, []
    from reid_plugins.solver.gradnorm import GradNorm

    gn = GradNorm(num_tasks=len(names), alpha=G.TARGET_EXPONENT, lr=G.LR, min_weight=G.MIN_WEIGHT,
                  max_weight=G.MAX_WEIGHT, log_reg=G.LOG_REG, reference=G.REFERENCE, objective_weight=G.ALPHA)
    return gn, [f"loss_{n.lower()}" for n in names]


# ---------------------------------------------------------------------------------------------------- train loops
class GradNormStep:
    """The part of the train loop that GradNorm changes: the total loss of a step. Losses named in
    ``gradnorm_keys`` are weighted by ``gradnorm``; the others keep their fixed SCALE. The shared layer is found
    from the first step's task losses when ``shared_spec`` is "auto"."""
    gradnorm = None
    gradnorm_keys: tuple = ()
    shared_spec = "auto"
    shared_params = None

    def setup_gradnorm(self, gradnorm, keys, shared_spec):
        self.gradnorm, self.gradnorm_keys, self.shared_spec = gradnorm, tuple(keys), shared_spec
        self.shared_params = None

    def total_loss(self, loss_dict, loss_scale: float = 1.0):
        fixed = [v for k, v in loss_dict.items() if k not in self.gradnorm_keys]
        total = sum(fixed) if fixed else 0.0
        if self.gradnorm is None:
            return total
        tasks = [loss_dict[k] for k in self.gradnorm_keys]
        if self.shared_params is None:
            label, self.shared_params = unwrap_model(self.model).gradnorm_shared_parameters(self.shared_spec, tasks)
            logger.info("GradNorm over %s on %s (%s)", list(self.gradnorm_keys), label,
                        ", ".join(str(tuple(p.shape)) for p in self.shared_params))
        return total + self.gradnorm(tasks, self.shared_params, loss_scale=loss_scale)

    def write_gradnorm_weights(self):
        if self.gradnorm is not None and comm.is_main_process():
            weights = self.gradnorm.weights.detach().tolist()
            get_event_storage().put_scalars(**{f"w_{k[5:]}": w for k, w in zip(self.gradnorm_keys, weights)},
                                            smoothing_hint=False)


class GradNormSimpleTrainer(GradNormStep, SimpleTrainer):
    """fast-reid's SimpleTrainer.run_step with the GradNorm-weighted total."""

    def run_step(self):
        assert self.model.training, "[GradNormSimpleTrainer] model was changed to eval mode!"
        start = time.perf_counter()
        batch = next(self._data_loader_iter)
        data_time = time.perf_counter() - start
        loss_dict = self.model(batch)
        total = self.total_loss(loss_dict)
        self.optimizer.zero_grad()
        total.backward()
        self._write_metrics(loss_dict, data_time)
        self.write_gradnorm_weights()
        self.optimizer.step()
        if isinstance(self.param_wrapper, ContiguousParams):
            self.param_wrapper.assert_buffer_is_valid()


class GradNormAMPTrainer(GradNormStep, AMPTrainer):
    """fast-reid's AMPTrainer.run_step with the GradNorm-weighted total, on CUDA (float16, gradient scaler) or on CPU
    (bfloat16, no scaler: bfloat16 has float32's exponent range)."""

    def __init__(self, model, data_loader, optimizer, param_wrapper, grad_scaler=None):
        device = next(unwrap_model(model).parameters()).device
        self.amp_device = device.type
        self.amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
        if grad_scaler is None:
            grad_scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
        super().__init__(model, data_loader, optimizer, param_wrapper, grad_scaler=grad_scaler)

    def run_step(self):
        assert self.model.training, "[GradNormAMPTrainer] model was changed to eval mode!"
        start = time.perf_counter()
        batch = next(self._data_loader_iter)
        data_time = time.perf_counter() - start
        with torch.autocast(self.amp_device, dtype=self.amp_dtype):
            loss_dict = self.model(batch)
        scale = self.grad_scaler.get_scale() if self.grad_scaler.is_enabled() else 1.0
        total = self.total_loss(loss_dict, loss_scale=scale)
        self.optimizer.zero_grad()
        self.grad_scaler.scale(total).backward()
        self._write_metrics(loss_dict, data_time)
        self.write_gradnorm_weights()
        self.grad_scaler.step(self.optimizer)
        self.grad_scaler.update()
        if isinstance(self.param_wrapper, ContiguousParams):
            self.param_wrapper.assert_buffer_is_valid()


@contextlib.contextmanager
def _gradnorm_train_loops():
    """fast-reid's DefaultTrainer.__init__ picks ``AMPTrainer if cfg.SOLVER.AMP.ENABLED else SimpleTrainer`` from
    its module's names; point those names at the GradNorm subclasses while it runs (the selection stays fast-reid's)."""
    import fastreid.engine.defaults as defaults

    saved = defaults.SimpleTrainer, defaults.AMPTrainer
    defaults.SimpleTrainer, defaults.AMPTrainer = GradNormSimpleTrainer, GradNormAMPTrainer
    try:
        yield
    finally:
        defaults.SimpleTrainer, defaults.AMPTrainer = saved


class BDAMTrainer(PluginTrainer):
    def __init__(self, cfg):
        with _gradnorm_train_loops():
            super().__init__(cfg)
        model = unwrap_model(self.model)
        gradnorm, keys = build_gradnorm(cfg, model)
        self._trainer.setup_gradnorm(gradnorm, keys, cfg.MODEL.BDAM.GRADNORM.SHARED_PARAM)
        if gradnorm is not None:
            self.checkpointer.checkpointables["gradnorm"] = gradnorm
        train_set = self.data_loader.dataset
        data.log_text_truncation(train_set.tokenizer, list(train_set.id_texts) + list(train_set.clo_texts),
                                 "training")
        warm_text_cache(model, train_set.tokenizer, list(train_set.id_texts) + list(train_set.clo_texts))

    @property
    def gradnorm(self):
        return self._trainer.gradnorm

    def build_hooks(self):
        ret = super().build_hooks()
        for h in ret:  # progress every SOLVER.LOG_PERIOD iterations instead of fast-reid's fixed 200
            if isinstance(h, hooks.PeriodicWriter):
                h._period = self.cfg.SOLVER.LOG_PERIOD
        return ret

    # ------------------------------------------------------------------------------------------------ builders
    @classmethod
    def build_train_loader(cls, cfg):
        return data.build_train_loader(cfg)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return data.build_test_loader(cfg, dataset_name)

    @classmethod
    def build_optimizer(cls, cfg, model):
        # fast-reid's param groups (Adam, lr, weight decay); plain tensors (its ContiguousParams buffer is for GPUs)
        return build_optimizer(cfg, model, contiguous=False)

    @classmethod
    def test_set_contents(cls, cfg, dataset_name):
        """A T2I test split: its captions are the queries, its images the gallery."""
        from reid_plugins.engine.guards import TestSetContents

        split = data.build_test_split(cfg, dataset_name)
        return TestSetContents(len(split.captions), len(split.img_paths), split.img_paths)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_dir=None):
        """PluginTrainer's (the evaluator TEST.EVALUATOR names), plus the frozen text encoder's cache of the
        queries and the dataset name for the evaluator's figures."""
        loader, evaluator = super().build_evaluator(cfg, dataset_name, output_dir)
        evaluator.dataset_name = dataset_name
        model = current_model()
        if model is not None:
            warm_text_cache(model, loader.dataset.tokenizer, loader.dataset.captions)
        return loader, evaluator

    @classmethod
    def test(cls, cfg, model):
        """fast-reid's DefaultTrainer.test (through PluginTrainer.test), with the model made available to the
        evaluator, whose re-ranking stage runs the model's fusion head on the collected features."""
        if cfg.TEST.FLIP.ENABLED:
            raise ValueError("TEST.FLIP.ENABLED: flip test averages image features only, and BDAM's test batches "
                             "hold texts as well; set TEST.FLIP.ENABLED False")
        with use_model(model):
            return super().test(cfg, model)
