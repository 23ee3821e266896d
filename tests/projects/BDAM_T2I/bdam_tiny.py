"""Tiny BDAM configs for the tests: the embedded Synth-T2I config with every size shrunk (seconds on a CPU)."""
import os

import bdam_path  # noqa: F401

from bdam import add_bdam_config
from reid_plugins.config import build_cfg

CONFIGS = os.path.normpath(os.path.join(bdam_path.PROJECT, "..", "..", "configs", "BDAM_T2I"))
SYNTH_CONFIG = os.path.join(CONFIGS, "Synth-T2I.yml")

# sizes only: architecture switches, losses and GradNorm stay as the config file sets them
TINY_MODEL = [
    "MODEL.DEVICE", "cpu",
    "MODEL.BDAM.IMAGE.PRETRAINED_DIR", "", "MODEL.BDAM.IMAGE.HIDDEN_SIZE", "32", "MODEL.BDAM.IMAGE.NUM_LAYERS", "1",
    "MODEL.BDAM.IMAGE.NUM_HEADS", "2", "MODEL.BDAM.IMAGE.PATCH_SIZE", "16",
    "MODEL.BDAM.MODULE.DIM", "32", "MODEL.BDAM.MODULE.NUM_HEADS", "2", "MODEL.BDAM.MODULE.NUM_LAYERS", "1",
    "MODEL.BDAM.EMBED_DIM", "24", "MODEL.BDAM.FUSION.DIM", "16", "MODEL.BDAM.FUSION.OUT_DIM", "8",
    "MODEL.BDAM.LOSSES.FUSION.NUM_NEGATIVES", "2",
    "INPUT.SIZE_TRAIN", "[64, 32]", "INPUT.SIZE_TEST", "[64, 32]", "TEST.RERANK_T2I.TOPK", "4",
]
# a random-init 1-layer BERT (no MiniLM load) for model-only tests
TINY_TEXT = ["MODEL.BDAM.TEXT.PRETRAINED_DIR", "", "MODEL.BDAM.TEXT.HIDDEN_SIZE", "16",
             "MODEL.BDAM.TEXT.NUM_LAYERS", "1", "MODEL.BDAM.TEXT.NUM_HEADS", "2", "MODEL.BDAM.TEXT.FREEZE", "False",
             "MODEL.BDAM.TEXT.LENGTH", "12"]


def tiny_cfg(config_file=SYNTH_CONFIG, extra=(), tiny_text=True, freeze=True):
    cfg = build_cfg(config_file, TINY_MODEL + (TINY_TEXT if tiny_text else []) + list(extra), (add_bdam_config,))
    if freeze:
        cfg.freeze()
    return cfg
