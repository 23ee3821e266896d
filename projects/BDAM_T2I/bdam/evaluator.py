"""Text-to-image evaluator in fast-reid's DatasetEvaluator interface (reset / process / evaluate).

Queries are the split's captions, the gallery its images; metrics (R1 / R5 / R10 / mAP / mINP, percent, IRRA
protocol) come from reid_plugins.evaluation.retrieval_metrics for
  - the dual encoder (keys R1, R5, R10, mAP, mINP), and
  - the fusion re-ranking of the top-K images per text (keys rerank_R1, ...), when the model has a fusion head.
"metric" (fast-reid's best-checkpoint key) is the re-ranked R1 when re-ranking runs, else the dual-encoder R1.
After each evaluation the gate-weight histograms (paper Fig. 3) are written as a PNG.
"""
from __future__ import annotations

import copy
import logging
import os
from collections import OrderedDict
from typing import Dict, List, Optional

import numpy as np
import torch
from fastreid.evaluation.evaluator import DatasetEvaluator
from fastreid.utils import comm

from reid_plugins.evaluation import EVALUATOR_REGISTRY

from .rerank import fusion_pair_scorer, rerank_topk

logger = logging.getLogger(__name__)

METRICS = ("R1", "R5", "R10", "mAP", "mINP")


@EVALUATOR_REGISTRY.register()
class T2IRetrievalEvaluator(DatasetEvaluator):
    def __init__(self, cfg, num_query: int, output_dir: Optional[str] = None, model=None, dataset_name: str = ""):
        self.cfg = cfg
        self.num_query = num_query
        self.model = model
        self.dataset_name = dataset_name
        self.output_dir = output_dir or cfg.TEST.VIS_DIR or (os.path.join(cfg.OUTPUT_DIR, "visualizations")
                                                             if cfg.OUTPUT_DIR else "")
        self.reset()

    def reset(self):
        self._img: Dict[str, List[torch.Tensor]] = {"emb": [], "id": [], "gate": [], "pids": [], "index": []}
        self._txt: Dict[str, List[torch.Tensor]] = {"emb": [], "id": [], "pids": [], "index": []}

    def process(self, inputs, outputs):
        if "img_emb" in outputs:
            self._img["emb"].append(outputs["img_emb"].cpu())
            self._img["id"].append(outputs["img_id"].cpu())
            if "gate" in outputs:
                self._img["gate"].append(outputs["gate"].cpu())
            self._img["pids"].append(torch.as_tensor(inputs["pids"]).cpu())
            self._img["index"].append(torch.as_tensor(inputs["index"]).cpu())
        elif "txt_emb" in outputs:
            self._txt["emb"].append(outputs["txt_emb"].cpu())
            self._txt["id"].append(outputs["txt_id"].cpu())
            self._txt["pids"].append(torch.as_tensor(inputs["pids"]).cpu())
            self._txt["index"].append(torch.as_tensor(inputs["index"]).cpu())
        else:
            raise KeyError(f"T2IRetrievalEvaluator: model outputs need 'img_emb' or 'txt_emb', got {sorted(outputs)}")

    @staticmethod
    def _stack(store: Dict[str, List[torch.Tensor]]) -> Dict[str, torch.Tensor]:
        if not store["index"]:
            return {}
        order = torch.cat(store["index"]).argsort()
        return {k: torch.cat(v)[order] for k, v in store.items() if v}

    def evaluate(self):
        if comm.get_world_size() > 1:
            comm.synchronize()
            if not comm.is_main_process():
                return {}
        img, txt = self._stack(self._img), self._stack(self._txt)
        if not img or not txt:
            raise RuntimeError(f"T2IRetrievalEvaluator({self.dataset_name}): got {len(img.get('pids', []))} "
                               f"image and {len(txt.get('pids', []))} text features; need both")
        from reid_plugins.evaluation import retrieval_metrics

        sim = txt["emb"] @ img["emb"].t()
        results = OrderedDict()
        dual = retrieval_metrics(sim, txt["pids"], img["pids"])
        for k in METRICS:
            results[k] = float(dual[k])
        fusion = getattr(_unwrap(self.model), "fusion", None) if self.model is not None else None
        rr = self.cfg.TEST.RERANK_T2I
        fusion_weights: List[torch.Tensor] = []
        if fusion is not None and rr.ENABLED:
            was_training = fusion.training
            fusion.eval()
            try:
                scorer = fusion_pair_scorer(fusion, img["id"], txt["id"], fusion_weights)
                reranked = rerank_topk(sim, scorer, rr.TOPK, rr.DUAL_WEIGHT, rr.CHUNK)
            finally:
                fusion.train(was_training)
            rm = retrieval_metrics(reranked["similarity"], txt["pids"], img["pids"])
            for k in METRICS:
                results[f"rerank_{k}"] = float(rm[k])
            results["metric"] = results["rerank_R1"]
        else:
            results["metric"] = results["R1"]
        gate = img.get("gate")
        w = torch.cat(fusion_weights) if fusion_weights else None
        if gate is not None:
            results["gate_id_mean"] = float(gate.mean() * 100)
        if w is not None:
            results["fusion_w_img_mean"] = float(w[:, 0].mean() * 100)
        if self.cfg.TEST.GATE_HIST and self.output_dir and (gate is not None or w is not None):
            path = os.path.join(self.output_dir, f"gate_weights_{self.dataset_name or 'test'}.png")
            plot_gate_histograms(gate, w, path, title=self.dataset_name)
            logger.info("Gate-weight histograms written to %s", path)
        return copy.deepcopy(results)


def _unwrap(model):
    return getattr(model, "module", model)


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
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path
