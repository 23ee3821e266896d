"""Config keys shared by every entry point, and the one setup function they all use."""
from __future__ import annotations

import logging
import os
from typing import Callable, Iterable

import torch
from fastreid.config import CfgNode as CN
from fastreid.config import get_cfg

logger = logging.getLogger(__name__)


def add_reid_plugins_config(cfg: CN) -> None:
    """Keys every project understands (set before merge_from_file)."""
    # Non-empty: overrides the FASTREID_DATASETS environment variable fast-reid reads once at import.
    cfg.DATASETS.ROOT = ""
    # Evaluator name in reid_plugins.evaluation.EVALUATOR_REGISTRY; "ReidEvaluator" is fast-reid's own.
    cfg.TEST.EVALUATOR = "ReidEvaluator"
    # fast-reid's test loader ignores DATALOADER.NUM_WORKERS and hard-codes 4 workers; ours uses this.
    cfg.TEST.NUM_WORKERS = 0
    # Where a run may write pictures (rank lists, mask overlays); empty: <OUTPUT_DIR>/visualizations.
    cfg.TEST.VIS_DIR = ""
    cfg.TEST.VIS_RANK_LIST = False
    cfg.SEED = -1  # fast-reid's default_setup does not seed; we do (-1: random)


def resolve_device(cfg: CN) -> None:
    """fast-reid defaults MODEL.DEVICE to "cuda"; fall back to the CPU when no GPU is present."""
    if str(cfg.MODEL.DEVICE).startswith("cuda") and not torch.cuda.is_available():
        logger.info("MODEL.DEVICE=%s but CUDA is unavailable: using cpu", cfg.MODEL.DEVICE)
        cfg.MODEL.DEVICE = "cpu"


def apply_dataset_root(cfg: CN) -> str:
    """Point fast-reid's dataset builders at DATASETS.ROOT (or FASTREID_DATASETS); returns the root in use."""
    import fastreid.data.build as build

    root = cfg.DATASETS.ROOT or os.getenv("FASTREID_DATASETS", "datasets")
    build._root = root
    return root


def build_cfg(config_file: str = "", opts: Iterable[str] = (), add_fns: Iterable[Callable[[CN], None]] = ()) -> CN:
    """get_cfg + our keys + project keys, merged with a file and a KEY VALUE list; device and dataset root resolved.

    Unknown keys and values of the wrong type raise yacs errors that name the key."""
    cfg = get_cfg()
    add_reid_plugins_config(cfg)
    for fn in add_fns:
        fn(cfg)
    if config_file:
        if not os.path.isfile(config_file):
            raise FileNotFoundError(f"config file {config_file!r} does not exist")
        cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    resolve_device(cfg)
    apply_dataset_root(cfg)
    return cfg


def setup_cfg(args, add_fns: Iterable[Callable[[CN], None]] = ()) -> CN:
    """The `setup(args)` of every train_net.py: build, freeze, fast-reid's default_setup (logger, config dump), seed."""
    from fastreid.engine import default_setup
    from fastreid.utils.env import seed_all_rng

    cfg = build_cfg(args.config_file, args.opts, add_fns)
    cfg.freeze()
    default_setup(cfg, args)
    seed_all_rng(None if cfg.SEED < 0 else cfg.SEED)
    return cfg
