"""The datasets root: one definition for every reader (the MUVA and BDAM loaders, the trainer's test-set check, the
part-mask settings) and for fast-reid's own builders, which `reid_plugins.config.apply_dataset_root` points at it.
Light (no torch / fast-reid), so CLIs can use it before parsing their arguments."""
from __future__ import annotations

import os

ROOT_ENV = "FASTREID_DATASETS"  # what fast-reid reads (once, at import)
DEFAULT_ROOT = "datasets"


def dataset_root(cfg) -> str:
    """DATASETS.ROOT when set (non-empty), else $FASTREID_DATASETS, else "datasets". A config without the key
    (made without add_reid_plugins_config) reads as unset."""
    return str(cfg.DATASETS.get("ROOT", "") or "") or os.getenv(ROOT_ENV, DEFAULT_ROOT)
