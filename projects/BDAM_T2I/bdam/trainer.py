"""BDAMTrainer: reid_plugins' PluginTrainer (fast-reid DefaultTrainer) with T2I loaders, the T2I evaluator and a
training step that weights the task losses with GradNorm (reid_plugins.solver.gradnorm)."""
from __future__ import annotations

import logging
import time
from collections import OrderedDict

from fastreid.engine import hooks
from fastreid.evaluation import inference_on_dataset, print_csv_format
from fastreid.solver import build_optimizer
from fastreid.utils import comm

from reid_plugins.engine import PluginTrainer
from reid_plugins.engine.trainer import sync_buffers_from_main_process, write_results

from . import data
from .evaluator import T2IRetrievalEvaluator

logger = logging.getLogger(__name__)


def _unwrap(model):
    return getattr(model, "module", model)


def warm_text_cache(model, tokenizer, texts) -> int:
    """Frozen text encoder: encode all texts once up front (length-sorted batches, progress bar)."""
    encoder = _unwrap(model).text_encoder
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

    gn = GradNorm(num_tasks=len(names), alpha=G.ALPHA, lr=G.LR, min_weight=G.MIN_WEIGHT, max_weight=G.MAX_WEIGHT,
                  log_reg=G.LOG_REG)
    return gn, [f"loss_{n.lower()}" for n in names]


class BDAMTrainer(PluginTrainer):
    def __init__(self, cfg):
        super().__init__(cfg)
        model = _unwrap(self.model)
        self.gradnorm, self.gradnorm_keys = build_gradnorm(cfg, model)
        if self.gradnorm is not None:
            self.shared_param = model.gradnorm_shared_parameter(cfg.MODEL.BDAM.GRADNORM.SHARED_PARAM)
            self.checkpointer.checkpointables["gradnorm"] = self.gradnorm
            logger.info("GradNorm over %s on %s", self.gradnorm_keys, tuple(self.shared_param.shape))
        train_set = self.data_loader.dataset
        warm_text_cache(model, train_set.tokenizer, list(train_set.id_texts) + list(train_set.clo_texts))

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
    def build_evaluator(cls, cfg, dataset_name, output_dir=None, model=None):
        loader, num_query = cls.build_test_loader(cfg, dataset_name)
        return loader, T2IRetrievalEvaluator(cfg, num_query, output_dir, model=model, dataset_name=dataset_name)

    @classmethod
    def test(cls, cfg, model):
        """fast-reid's DefaultTrainer.test loop, with the model handed to the evaluator (the re-ranking stage runs
        the model's fusion head on the collected features)."""
        sync_buffers_from_main_process(model)
        results = OrderedDict()
        for dataset_name in cfg.DATASETS.TESTS:
            loader, evaluator = cls.build_evaluator(cfg, dataset_name, model=model)
            warm_text_cache(model, loader.dataset.tokenizer, loader.dataset.split.captions)
            res = inference_on_dataset(model, loader, evaluator, flip_test=False)
            results[dataset_name] = res
            if comm.is_main_process():
                res["dataset"] = dataset_name
                print_csv_format(res)  # pops "dataset"
        if len(results) == 1:
            results = list(results.values())[0]
        if comm.is_main_process() and cfg.OUTPUT_DIR:
            write_results(cfg, results)
        return results

    # ------------------------------------------------------------------------------------------------ training
    def run_step(self):
        t = self._trainer
        t.iter = self.iter
        assert t.model.training, "[BDAMTrainer] model was changed to eval mode!"
        start = time.perf_counter()
        batch = next(t._data_loader_iter)
        data_time = time.perf_counter() - start
        loss_dict = t.model(batch)
        fixed = [v for k, v in loss_dict.items() if k not in self.gradnorm_keys]
        total = sum(fixed) if fixed else 0.0
        if self.gradnorm is not None:
            tasks = [loss_dict[k] for k in self.gradnorm_keys]
            total = total + self.gradnorm(tasks, self.shared_param)
        self.optimizer.zero_grad()
        total.backward()
        t._write_metrics(loss_dict, data_time)
        if self.gradnorm is not None and comm.is_main_process():
            weights = self.gradnorm.weights.detach().tolist()
            self.storage.put_scalars(**{f"w_{k[5:]}": w for k, w in zip(self.gradnorm_keys, weights)},
                                     smoothing_hint=False)
        self.optimizer.step()
