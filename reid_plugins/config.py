"""Config keys shared by every entry point, and the one setup function they all use."""
from __future__ import annotations

import logging
import os
from typing import Callable, Dict, Iterable

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


class ConfigError(KeyError, ValueError):
    """A config file or KEY VALUE option that does not fit the schema. Both a KeyError and a ValueError, so that code
    catching what yacs raises (KeyError: unknown key, ValueError: wrong type) keeps working."""

    def __str__(self):  # KeyError would print the message in quotes
        return str(self.args[0])


def build_cfg(config_file: str = "", opts: Iterable[str] = (), add_fns: Iterable[Callable[[CN], None]] = ()) -> CN:
    """get_cfg + our keys + project keys, merged with a file and a KEY VALUE list; device and dataset root resolved.

    Unknown keys, values of the wrong type, malformed YAML and odd option lists raise ConfigError naming the source
    (file or command line), the key and what was expected."""
    cfg = get_cfg()
    add_reid_plugins_config(cfg)
    for fn in add_fns:
        fn(cfg)
    if config_file:
        if not os.path.isfile(config_file):
            raise FileNotFoundError(f"config file {config_file!r} does not exist")
        _merge(cfg.merge_from_file, config_file, f"config file {config_file!r}")
    opts = list(opts)
    if len(opts) % 2:
        raise ConfigError(f"command-line options must be KEY VALUE pairs; got {len(opts)} items: {opts}")
    _merge(cfg.merge_from_list, opts, "command-line option")
    from reid_plugins.zoo.store import resolve_config

    resolve_config(cfg)   # "zoo:<name>" -> the verified stand-in checkpoint
    resolve_device(cfg)
    apply_dataset_root(cfg)
    return cfg


def flatten_cfg(cfg, prefix: str = "") -> Dict[str, object]:
    """{"MODEL.BDAM.EMBED_DIM": 128, ...}: every leaf of a (nested) config under its dotted key."""
    out: Dict[str, object] = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            out.update(flatten_cfg(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _merge(merge, arg, source: str) -> None:
    import yaml

    try:
        merge(arg)
    except (KeyError, AssertionError) as e:  # yacs: "Non-existent config key: A.B" (file) / "Non-existent key" (list)
        raise ConfigError(f"{source}: {e.args[0] if e.args else e} (not a key of fast-reid, reid_plugins or the "
                          f"project's add_*_config; check its spelling and nesting)") from e
    except ValueError as e:  # yacs: "Type mismatch (<class 'int'> vs. <class 'str'>) with values (8 vs. x) for ..."
        raise ConfigError(f"{source}: {e} (the value must have the type of the default, written as in YAML: 8 for "
                          f"an int, 0.1 for a float, True for a bool, (\"A\",) or [1, 2] for a tuple / list)") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{source} is not valid YAML: {e}") from e


def setup_cfg(args, add_fns: Iterable[Callable[[CN], None]] = ()) -> CN:
    """The `setup(args)` of every train_net.py: build, freeze, fast-reid's default_setup (logger, config dump), seed."""
    from fastreid.engine import default_setup
    from fastreid.utils.env import seed_all_rng

    cfg = build_cfg(args.config_file, args.opts, add_fns)
    cfg.freeze()
    default_setup(cfg, args)
    seed_all_rng(None if cfg.SEED < 0 else cfg.SEED)
    return cfg
