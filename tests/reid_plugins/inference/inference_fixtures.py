"""Tiny trained-looking models of the three supported meta-architectures, saved as checkpoints, for the inference,
extract, search and export tests: (config file, KEY VALUE options, weights path, in-memory model, built config)."""
import os
import sys
from dataclasses import dataclass
from typing import List

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "projects", "BDAM_T2I"))

from bdam_tiny import SYNTH_CONFIG as BDAM_CONFIG, TINY_MODEL as BDAM_TINY_MODEL, TINY_TEXT as BDAM_TINY_TEXT  # noqa

CONFIGS = {
    "Baseline": os.path.join(ROOT, "configs", "Synth", "bagtricks_A.yml"),
    "MUVA": os.path.join(ROOT, "configs", "MUVA", "Synth", "MUVA_tiny_A.yml"),
    "BDAMT2I": BDAM_CONFIG,
}
TESTS = {"Baseline": "SynthPedA", "MUVA": "SynthPedA", "BDAMT2I": "SynthPedT2IA"}
EXTRA = {"Baseline": [], "MUVA": [], "BDAMT2I": BDAM_TINY_MODEL + BDAM_TINY_TEXT}


@dataclass
class Tiny:
    config_file: str
    opts: List[str]  # what load_model gets (no NUM_CLASSES: it comes from the checkpoint)
    weights: str
    model: torch.nn.Module  # the model the checkpoint was saved from, eval mode
    cfg: object  # its config


def tiny_model(meta: str, root: str, out_dir: str, extra=(), seed: int = 0) -> Tiny:
    import reid_plugins  # noqa: F401
    from fastreid.modeling import build_model

    from reid_plugins.config import build_cfg
    from reid_plugins.engine.checkpoint import PluginCheckpointer
    from reid_plugins.projects import config_adders

    opts = EXTRA[meta] + ["DATASETS.ROOT", root, "DATASETS.TESTS", f'("{TESTS[meta]}",)', "TEST.NUM_WORKERS", "0",
                          "TEST.IMS_PER_BATCH", "16", *extra]
    cfg = build_cfg(CONFIGS[meta], opts + ["MODEL.HEADS.NUM_CLASSES", "8"], config_adders(CONFIGS[meta], opts))
    cfg.freeze()
    torch.manual_seed(seed)
    model = build_model(cfg)
    with torch.no_grad():  # non-trivial BN statistics, so that a wrong BN mode would show
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    os.makedirs(out_dir, exist_ok=True)
    PluginCheckpointer(model, out_dir).save("model")
    model.eval()
    return Tiny(CONFIGS[meta], opts, os.path.join(out_dir, "model.pth"), model, cfg)
