"""fast-reid's DefaultTrainer with the few changes every project here needs.

- the test loader honours TEST.NUM_WORKERS (fast-reid hard-codes 4 workers);
- the evaluator is chosen by name (TEST.EVALUATOR) from reid_plugins.evaluation.EVALUATOR_REGISTRY, so
  TEST.EVAL_PERIOD and --eval-only use it;
- DistributedDataParallel gets no device_ids on CPU (fast-reid passes the local rank, which only works for GPUs).
"""
from __future__ import annotations

import json
import logging
import os

import torch
from fastreid.data import build_reid_test_loader
from fastreid.engine import DefaultTrainer
from fastreid.utils import comm

logger = logging.getLogger(__name__)


class PluginTrainer(DefaultTrainer):
    def __init__(self, cfg):
        if comm.get_world_size() > 1 and not torch.cuda.is_available():
            # DefaultTrainer wraps with DDP(device_ids=[local_rank]); make that CPU-safe for the duration of __init__.
            with _cpu_ddp():
                super().__init__(cfg)
        else:
            super().__init__(cfg)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return build_reid_test_loader(cfg, dataset_name=dataset_name, num_workers=cfg.TEST.NUM_WORKERS)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_dir=None):
        from reid_plugins.evaluation import EVALUATOR_REGISTRY

        data_loader, num_query = cls.build_test_loader(cfg, dataset_name)
        evaluator_cls = EVALUATOR_REGISTRY.get(cfg.TEST.EVALUATOR)
        return data_loader, evaluator_cls(cfg, num_query, output_dir)

    @classmethod
    def test(cls, cfg, model):
        results = super().test(cfg, model)
        if comm.is_main_process() and cfg.OUTPUT_DIR:
            write_results(cfg, results)
        return results


def write_results(cfg, results) -> str:
    """<OUTPUT_DIR>/results.json: {dataset: {metric: value}} for the last evaluation (written atomically), so that
    tools/compare.py and the ablation runner read metrics without parsing logs."""
    if cfg.DATASETS.TESTS and len(cfg.DATASETS.TESTS) == 1 and "dataset" in results:
        results = {cfg.DATASETS.TESTS[0]: results}
    clean = {name: {k: (float(v) if isinstance(v, (int, float)) else v) for k, v in metrics.items()}
             for name, metrics in results.items()}
    os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    path = os.path.join(cfg.OUTPUT_DIR, "results.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(clean, f, indent=2, sort_keys=True)
    os.replace(tmp, path)
    return path


class _cpu_ddp:
    """Context manager: DistributedDataParallel(..., device_ids=[rank]) -> device_ids=None (CPU modules)."""

    def __enter__(self):
        import fastreid.engine.defaults as defaults

        self._defaults = defaults
        self._orig = defaults.DistributedDataParallel

        def cpu_ddp(module, device_ids=None, **kwargs):
            kwargs.setdefault("find_unused_parameters", True)
            return torch.nn.parallel.DistributedDataParallel(module, device_ids=None, **kwargs)

        defaults.DistributedDataParallel = cpu_ddp
        return self

    def __exit__(self, *exc):
        self._defaults.DistributedDataParallel = self._orig
        return False
