"""The evaluators TEST.EVALUATOR selects (PluginTrainer.build_evaluator reads the registry):

- FastReidEvaluator: fast-reid's ReidEvaluator contract (process / evaluate, rank-0 gathering, result keys) on top of
  the exact blocked ranking of rank.py, so TEST.EVAL_PERIOD and --eval-only stop paying for the full distance matrix;
- ReidEvaluator: fast-reid's own, unchanged in its numbers.

With TEST.VIS.ENABLED both also write the Re-ID baselines' figure, rank_list_<test set>.png (TEST.VIS.DIR, else
<OUTPUT_DIR>/visualizations): TEST.VIS.NUM_IMAGES queries with their top-10 gallery images, ranked by TEST.METRIC on
the evaluated features (after TEST.AQE; a TEST.RERANK re-ranking is not drawn, the picture shows the ranking before
it). A method that writes figures of its own (MUVA: part masks) sets the evaluator's `rank_list` False."""
from __future__ import annotations

import copy
import itertools
import logging
import os
import re
from collections import OrderedDict

import torch
from fastreid.evaluation import DatasetEvaluator
from fastreid.evaluation import ReidEvaluator as FastReidsReidEvaluator
from fastreid.evaluation.query_expansion import aqe
from fastreid.utils import comm

from .inputs import check_metric
from .rank import rank_statistics, summarize
from .rank_list import plot_rank_list
from .registry import EVALUATOR_REGISTRY

logger = logging.getLogger(__name__)


@EVALUATOR_REGISTRY.register()
class FastReidEvaluator(DatasetEvaluator):
    """Same metrics as fastreid.evaluation.ReidEvaluator (Rank-1/5/10, mAP, mINP, metric), honouring TEST.METRIC and
    TEST.AQE; TEST.VIS.ENABLED also writes a rank-list PNG. TEST.RERANK and TEST.ROC need all query-gallery
    distances at once, which is what this evaluator avoids: they raise and point to ReidEvaluator."""

    def __init__(self, cfg, num_query, output_dir=None, dataset_name=None):
        for key, node in (("TEST.RERANK.ENABLED", cfg.TEST.RERANK), ("TEST.ROC.ENABLED", cfg.TEST.ROC)):
            if node.ENABLED:
                raise ValueError(f"{key} is True, but FastReidEvaluator never holds the full distance matrix that "
                                 "it needs: set TEST.EVALUATOR ReidEvaluator (fast-reid's evaluator) for it")
        check_metric(cfg.TEST.METRIC)
        self.cfg = cfg
        self._num_query = num_query
        self._output_dir = output_dir
        self._dataset_name = dataset_name
        self.rank_list = vis_enabled(cfg)
        self._predictions = []

    def reset(self):
        self._predictions = []

    def process(self, inputs, outputs):
        prediction = {"feats": outputs.to("cpu", torch.float32), "pids": inputs["targets"].to("cpu"),
                      "camids": inputs["camids"].to("cpu")}
        if self.rank_list:
            prediction["img_paths"] = batch_paths(inputs)
        self._predictions.append(prediction)

    def evaluate(self):
        predictions = self._predictions
        if comm.get_world_size() > 1:  # as ReidEvaluator: every rank sends its part to rank 0, which evaluates
            comm.synchronize()
            predictions = list(itertools.chain(*comm.gather(self._predictions, dst=0)))
            if not comm.is_main_process():
                return {}
        if not predictions:
            raise ValueError("FastReidEvaluator.evaluate() called before any process(): no features to evaluate")

        features = torch.cat([p["feats"] for p in predictions], dim=0)
        pids = torch.cat([p["pids"] for p in predictions], dim=0).numpy()
        camids = torch.cat([p["camids"] for p in predictions], dim=0).numpy()
        nq = self._num_query
        if not 0 < nq < len(features):
            raise ValueError(f"num_query={nq} must leave both a query and a gallery part of the {len(features)} "
                             "evaluated images")
        query, gallery = features[:nq], features[nq:]

        if self.cfg.TEST.AQE.ENABLED:
            logger.info("Test with AQE setting")
            aqe_cfg = self.cfg.TEST.AQE
            query, gallery = aqe(query, gallery, aqe_cfg.QE_TIME, aqe_cfg.QE_K, aqe_cfg.ALPHA)

        ranks = rank_statistics(query, gallery, pids[:nq], pids[nq:], camids[:nq], camids[nq:],
                                metric=self.cfg.TEST.METRIC)
        self._results = OrderedDict(summarize(ranks))

        if self.rank_list:
            paths = list(itertools.chain(*(p["img_paths"] for p in predictions)))
            write_rank_list(self.cfg, self._output_dir, self._dataset_name, paths, query, gallery, pids, camids,
                            self._results)
        return copy.deepcopy(self._results)


@EVALUATOR_REGISTRY.register()
class ReidEvaluator(FastReidsReidEvaluator):
    """fast-reid's ReidEvaluator (its numbers, re-ranking and ROC) with the rank list of TEST.VIS.ENABLED."""

    def __init__(self, cfg, num_query, output_dir=None, dataset_name=None):
        self.rank_list = vis_enabled(cfg)
        if self.rank_list:
            check_metric(cfg.TEST.METRIC)  # the picture ranks by cosine or euclidean distance; fail before testing
        super().__init__(cfg, num_query, output_dir)
        self._dataset_name = dataset_name

    def process(self, inputs, outputs):
        super().process(inputs, outputs)
        if self.rank_list:
            self._predictions[-1]["img_paths"] = batch_paths(inputs)

    def evaluate(self):
        results = super().evaluate()  # gathers on rank 0 and returns {} elsewhere
        if self.rank_list:
            predictions = self._predictions
            if comm.get_world_size() > 1:  # every rank calls evaluate(): a second gather, for the picture
                predictions = list(itertools.chain(*comm.gather(self._predictions, dst=0)))
            if comm.is_main_process():
                features = torch.cat([p["feats"] for p in predictions], dim=0)
                pids = torch.cat([p["pids"] for p in predictions], dim=0).numpy()
                camids = torch.cat([p["camids"] for p in predictions], dim=0).numpy()
                query, gallery = features[:self._num_query], features[self._num_query:]
                if self.cfg.TEST.AQE.ENABLED:
                    a = self.cfg.TEST.AQE
                    query, gallery = aqe(query, gallery, a.QE_TIME, a.QE_K, a.ALPHA)
                paths = list(itertools.chain(*(p["img_paths"] for p in predictions)))
                write_rank_list(self.cfg, self._output_dir, self._dataset_name, paths, query, gallery, pids, camids,
                                results)
        return results


def vis_enabled(cfg) -> bool:
    """TEST.VIS.ENABLED (False for a bare fast-reid config, which lacks reid_plugins' keys)."""
    return bool(cfg.TEST.get("VIS", {}).get("ENABLED", False))


def batch_paths(inputs) -> list:
    if "img_paths" not in inputs:
        raise KeyError("TEST.VIS.ENABLED is True but the test loader's batches have no 'img_paths' "
                       "(fast-reid's CommDataset provides them)")
    return list(inputs["img_paths"])


def write_rank_list(cfg, output_dir, dataset_name, paths, query, gallery, pids, camids, results) -> str:
    """rank_list_<test set>.png for the evaluated query / gallery features (TEST.METRIC ranking)."""
    nq = len(query)
    out_dir = output_dir or cfg.TEST.VIS.DIR or os.path.join(cfg.OUTPUT_DIR or ".", "visualizations")
    name = dataset_name or _dataset_tag(paths[:nq])
    path = plot_rank_list(os.path.join(out_dir, f"rank_list_{name}.png"), paths[:nq], paths[nq:], query, gallery,
                          pids[:nq], pids[nq:], camids[:nq], camids[nq:], num_queries=cfg.TEST.VIS.NUM_IMAGES,
                          metric=cfg.TEST.METRIC,
                          title=f"{name}: Rank-1 {results['Rank-1']:.1f}  mAP {results['mAP']:.1f}")
    logger.info("Rank list written to %s", path)
    return path


def _dataset_tag(query_paths) -> str:
    """A file-name-safe name for the test set: the query images' folder, or the one above it when that is called
    'query' (Market layout: 'Market-1501-v15.09.15', 'domain_A')."""
    common = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in query_paths])
    if os.path.basename(common) == "query":
        common = os.path.dirname(common)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.basename(common)) or "test"
