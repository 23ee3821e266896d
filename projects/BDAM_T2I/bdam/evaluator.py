"""Text-to-image evaluator in fast-reid's DatasetEvaluator interface (reset / process / evaluate).

Queries are a split's captions, the gallery its images; metrics (R1 / R5 / R10 / mAP / mINP, percent, IRRA protocol)
come from reid_plugins.evaluation.retrieval_metrics. The loader (bdam/data.py) may hold several parts: the evaluated
split (DATASETS.T2I.TEST_SPLIT), "val" and "train" (training identities). Reported, for the evaluated split:

  R1 ... mINP                    the dual encoder
  rerank_R1 ... rerank_mINP      the re-ranking setting chosen on val (bdam/rerank.py): the dual order itself when no
                                 (K, lambda) beats it there ("rerank_fused" 0), else z(fusion) + lambda z(cosine)
                                 over the top K ("rerank_fused" 1, "rerank_topk", "rerank_lambda")
  fused_R1, fused_mAP            the best non-dual setting on val ("fused_topk", "fused_lambda"), applied here
  val_R1, val_rerank_R1          on val: the dual encoder and the chosen setting (>= val_R1 by construction)
  gain_R1_<part>, gain_mAP_<part>  fused minus dual on each part (test / val / train): a re-ranker without gain on
                                 "train" does not learn, one with gain there and none on unseen identities does not
                                 generalise
  metric                         fast-reid's best-checkpoint key: val_rerank_R1, i.e. the dual R1 on val unless
                                 re-ranking beats it there. Without a val part, the evaluated split's dual R1, and
                                 re-ranking uses TEST.RERANK_T2I.TOPK / LAMBDA as configured (nothing is tuned on test)
After each evaluation the gate-weight histograms (paper Fig. 3) are written as a PNG.

The re-ranking runs the model's fusion head, which DatasetEvaluator's interface does not hand over: the trainer's
test() makes the model current with ``use_model(model)`` and the evaluator reads it with ``current_model()`` (or
takes it as an argument).
"""
from __future__ import annotations

import contextlib
import contextvars
import copy
import logging
import os
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from fastreid.evaluation.evaluator import DatasetEvaluator
from fastreid.utils import comm

from reid_plugins.evaluation import EVALUATOR_REGISTRY
from reid_plugins.utils.figures import save_figure
from reid_plugins.utils.modules import unwrap_model

from .rerank import Setting, candidate_settings, fusion_pair_scorer, reranked_similarity, select_setting, \
    topk_fusion_scores

logger = logging.getLogger(__name__)

METRICS = ("R1", "R5", "R10", "mAP", "mINP")
_MODEL = contextvars.ContextVar("bdam_evaluation_model", default=None)


@contextlib.contextmanager
def use_model(model):
    """Makes ``model`` the one T2IRetrievalEvaluator re-ranks with while the block runs."""
    token = _MODEL.set(model)
    try:
        yield model
    finally:
        _MODEL.reset(token)


def current_model():
    return _MODEL.get()


@EVALUATOR_REGISTRY.register()
class T2IRetrievalEvaluator(DatasetEvaluator):
    IMAGE_KEYS = ("img_emb", "img_id", "gate", "fusion_img")
    TEXT_KEYS = ("txt_emb", "txt_id", "fusion_txt", "fusion_txt_mask")

    def __init__(self, cfg, num_query: int, output_dir: Optional[str] = None, model=None, dataset_name: str = ""):
        self.cfg = cfg
        self.num_query = num_query
        self.model = model if model is not None else current_model()
        self.dataset_name = dataset_name
        self.output_dir = output_dir or cfg.TEST.VIS.DIR or (os.path.join(cfg.OUTPUT_DIR, "visualizations")
                                                             if cfg.OUTPUT_DIR else "")
        self.reset()

    def reset(self):
        # part -> modality -> key -> list of batch tensors
        self._store: Dict[str, Dict[str, Dict[str, List[torch.Tensor]]]] = defaultdict(
            lambda: {"img": defaultdict(list), "txt": defaultdict(list)})

    def process(self, inputs, outputs):
        if "img_emb" in outputs:
            modality, keys = "img", self.IMAGE_KEYS
        elif "txt_emb" in outputs:
            modality, keys = "txt", self.TEXT_KEYS
        else:
            raise KeyError(f"T2IRetrievalEvaluator: model outputs need 'img_emb' or 'txt_emb', got {sorted(outputs)}")
        parts = inputs.get("part")
        part = parts[0] if parts else self.cfg.DATASETS.T2I.TEST_SPLIT
        store = self._store[part][modality]
        for key in keys:
            if key in outputs:
                store[key].append(outputs[key].detach().cpu())
        store["pids"].append(torch.as_tensor(inputs["pids"]).cpu())
        store["index"].append(torch.as_tensor(inputs["index"]).cpu())

    @staticmethod
    def _stack(store: Dict[str, List[torch.Tensor]]) -> Dict[str, torch.Tensor]:
        if not store["index"]:
            return {}
        order = torch.cat(store["index"]).argsort()
        out = {}
        for k, v in store.items():
            if v[0].dim() >= 2 and len({t.shape[1] for t in v}) > 1:  # token batches of different widths
                width = max(t.shape[1] for t in v)
                v = [F.pad(t, (0, 0) * (t.dim() - 2) + (0, width - t.shape[1])) for t in v]
            out[k] = torch.cat(v)[order]
        return out

    # ------------------------------------------------------------------------------------------------ evaluate
    def _fusion(self):
        if not self.cfg.TEST.RERANK_T2I.ENABLED or self.model is None:
            return None
        return getattr(unwrap_model(self.model), "fusion", None)

    def _part(self, name, fusion, k_max, weights_out=None):
        """Dual similarity, labels and (with a fusion head) the top-K fusion scores of one part."""
        img, txt = self._stack(self._store[name]["img"]), self._stack(self._store[name]["txt"])
        if not img or not txt:
            raise RuntimeError(f"T2IRetrievalEvaluator({self.dataset_name}, {name}): got "
                               f"{len(img.get('pids', []))} image and {len(txt.get('pids', []))} text features; "
                               f"need both")
        part = {"sim": txt["txt_emb"] @ img["img_emb"].t(), "q": txt["pids"],
                "g": img["pids"], "img": img, "stage2": None}
        if fusion is not None:
            if "fusion_img" not in img or "fusion_txt" not in txt:
                raise KeyError("T2IRetrievalEvaluator: the model has a fusion head but its eval outputs lack "
                               "'fusion_img' / 'fusion_txt'")
            scorer = fusion_pair_scorer(fusion, img["fusion_img"], txt["fusion_txt"], txt.get("fusion_txt_mask"),
                                        weights_out)
            part["stage2"] = topk_fusion_scores(part["sim"], scorer, k_max, self.cfg.TEST.RERANK_T2I.CHUNK)
        return part

    def _metrics(self, part, setting: Setting):
        from reid_plugins.evaluation import retrieval_metrics

        return retrieval_metrics(reranked_similarity(part["sim"], part["stage2"], setting), part["q"], part["g"])

    def evaluate(self):
        if comm.get_world_size() > 1:
            comm.synchronize()
            if not comm.is_main_process():
                return {}
        rr = self.cfg.TEST.RERANK_T2I
        main = self.cfg.DATASETS.T2I.TEST_SPLIT
        if main not in self._store:
            raise RuntimeError(f"T2IRetrievalEvaluator({self.dataset_name}): no features of the {main!r} split "
                               f"(parts seen: {sorted(self._store)})")
        fusion = self._fusion()
        if fusion is None and self.cfg.TEST.RERANK_T2I.ENABLED and self.model is None:
            logger.warning("T2IRetrievalEvaluator: no model given (use_model / model=): dual-encoder metrics only")
        settings = candidate_settings(rr.TOPKS, rr.LAMBDAS)
        k_max = max([rr.TOPK] + [s.topk for s in settings])
        was_training = fusion.training if fusion is not None else False
        if fusion is not None:
            fusion.eval()
        weights: List[torch.Tensor] = []
        try:
            parts = {name: self._part(name, fusion, k_max, weights if name == main else None)
                     for name in self._store}
        finally:
            if fusion is not None:
                fusion.train(was_training)

        results = OrderedDict()
        dual = {name: self._metrics(p, Setting()) for name, p in parts.items()}
        for k in METRICS:
            results[k] = float(dual[main][k])
        val = parts.get("val")
        if fusion is not None:
            if val is not None:
                sel = select_setting(val["sim"], val["stage2"], val["q"], val["g"], settings)
                chosen, fused = sel["best"], sel["best_fused"]
                results["val_R1"] = float(sel["metrics"][Setting()]["R1"])
                results["val_rerank_R1"] = float(sel["metrics"][chosen]["R1"])
                results["metric"] = results["val_rerank_R1"]
            else:
                logger.warning("%s: no validation split, so the re-ranking setting is not chosen: using "
                               "TEST.RERANK_T2I.TOPK %d / LAMBDA %g, best checkpoint by dual R1", self.dataset_name,
                               rr.TOPK, rr.LAMBDA)
                chosen = fused = Setting(int(rr.TOPK), float(rr.LAMBDA))
                results["metric"] = results["R1"]
            reranked = self._metrics(parts[main], chosen)
            for k in METRICS:
                results[f"rerank_{k}"] = float(reranked[k])
            results["rerank_fused"] = float(not chosen.is_dual)
            results["rerank_topk"] = float(chosen.topk)
            results["rerank_lambda"] = float(chosen.lam)
            results["fused_topk"], results["fused_lambda"] = float(fused.topk), float(fused.lam)
            for name, p in parts.items():
                m = reranked if (name == main and fused == chosen) else self._metrics(p, fused)
                if name == main:
                    results["fused_R1"], results["fused_mAP"] = float(m["R1"]), float(m["mAP"])
                results[f"gain_R1_{name}"] = float(m["R1"] - dual[name]["R1"])
                results[f"gain_mAP_{name}"] = float(m["mAP"] - dual[name]["mAP"])
            logger.info("%s re-ranking: chosen on %s: %s (fused candidate %s); R1 gain of the fused setting: %s",
                        self.dataset_name, "val" if val is not None else "config", chosen, fused,
                        ", ".join(f"{n} {results[f'gain_R1_{n}']:+.2f}" for n in parts))
        else:
            if val is not None and val is not parts[main]:
                results["val_R1"] = float(dual["val"]["R1"])
            results["metric"] = results.get("val_R1", results["R1"])
        gate = parts[main]["img"].get("gate")
        w = torch.cat(weights) if weights else None
        if gate is not None:
            results["gate_id_mean"] = float(gate.mean() * 100)
        if w is not None:
            results["fusion_w_img_mean"] = float(w[:, 0].mean() * 100)
        if self.cfg.TEST.VIS.ENABLED and self.output_dir and (gate is not None or w is not None):
            path = os.path.join(self.output_dir, f"gate_weights_{self.dataset_name or 'test'}.png")
            plot_gate_histograms(gate, w, path, title=self.dataset_name)
            logger.info("Gate-weight histograms written to %s", path)
        return copy.deepcopy(results)


def plot_gate_histograms(gate: Optional[torch.Tensor], fusion_weights: Optional[torch.Tensor], path: str,
                         title: str = "") -> str:
    """Paper Fig. 3: (a) BDAM identity weights g and clothing weights 1-g over every test image and dimension,
    (b) fusion modality weights w_img / w_txt over every re-scored pair. Written atomically as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in (("a", gate), ("b", fusion_weights)) if p[1] is not None]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.8), squeeze=False)
    bins = np.linspace(0, 1, 51)
    for ax, (tag, values) in zip(axes[0], panels):
        if tag == "a":
            g = values.flatten().numpy()
            series = (("identity g", g, "tab:blue"), ("clothing 1-g", 1 - g, "tab:orange"))
            ax.set_title("(a) BDAM gate")
        else:
            series = (("image w1", values[:, 0].numpy(), "tab:green"), ("text w2", values[:, 1].numpy(), "tab:red"))
            ax.set_title("(b) fusion modality gate")
        for label, v, color in series:
            ax.hist(v, bins=bins, alpha=0.55, density=True, color=color,
                    label=f"{label}: mean {v.mean():.2f}, std {v.std():.2f}")
        ax.set_xlabel("weight")
        ax.set_ylabel("density")
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(f"Gate weights on {title}")
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
