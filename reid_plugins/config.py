"""Config keys shared by every entry point, and the one setup function they all use."""
from __future__ import annotations

import logging
import os
from typing import Callable, Dict, Iterable, List

import torch
from fastreid.config import CfgNode as CN
from fastreid.config import get_cfg

logger = logging.getLogger(__name__)


def add_reid_plugins_config(cfg: CN) -> None:
    """Keys every project understands (set before merge_from_file)."""
    # The datasets root when non-empty, else $FASTREID_DATASETS, else "datasets" (reid_plugins.data.root.dataset_root;
    # fast-reid's loaders read it too: compat patch dataset_root_from_cfg).
    cfg.DATASETS.ROOT = ""
    # Evaluator name in reid_plugins.evaluation.EVALUATOR_REGISTRY; "ReidEvaluator" is fast-reid's own.
    cfg.TEST.EVALUATOR = "ReidEvaluator"
    # fast-reid's test loader ignores DATALOADER.NUM_WORKERS and hard-codes 4 workers; ours uses this.
    cfg.TEST.NUM_WORKERS = 0
    # Figures after each evaluation: every method writes its own when ENABLED (fast-reid baselines: a rank list of
    # NUM_IMAGES queries; MUVA: part masks; BDAM: gate-weight histograms), to DIR (empty: <OUTPUT_DIR>/visualizations).
    cfg.TEST.VIS = CN()
    cfg.TEST.VIS.ENABLED = False
    cfg.TEST.VIS.DIR = ""
    cfg.TEST.VIS.NUM_IMAGES = 8
    # torch intra-op CPU threads of train_net.py (0: torch's default)
    cfg.SOLVER.NUM_THREADS = 0
    cfg.SEED = -1  # fast-reid's default_setup does not seed; we do (-1: random)
    retire_keys(cfg, {"TEST.VIS_RANK_LIST": "TEST.VIS.ENABLED", "TEST.VIS_DIR": "TEST.VIS.DIR"})


def retire_keys(cfg: CN, moved: Dict[str, str]) -> None:
    """Declare config keys, or whole subtrees ("MUVA" -> "MODEL.MUVA"), that moved (yacs' renamed keys): build_cfg
    refuses a config file or KEY VALUE option that still uses one, naming its new key. A value (new, note) adds a
    note to the message."""
    for old, new in moved.items():
        new, note = new if isinstance(new, tuple) else (new, None)
        cfg.register_renamed_key(old, new, note)


def add_config_check(cfg: CN, check: Callable[[CN], None]) -> None:
    """Run `check(cfg)` in build_cfg once the file and the options are merged: cross-key consistency that no single
    default can express (it raises naming the keys, or fills a key derived from others)."""
    cfg.__dict__.setdefault("__config_checks__", []).append(check)


def _config_checks(cfg: CN) -> List[Callable[[CN], None]]:
    return list(cfg.__dict__.get("__config_checks__", []))


def moved_key_message(cfg: CN, key: str) -> str:
    """'MUVA.STAGE1.BASE_LR moved to MODEL.MUVA.STAGE1.BASE_LR' when `key` or a subtree above it is retired, else ''.
    The longest retired prefix wins ("MUVA.NUM_THREADS" before "MUVA")."""
    renamed = cfg.__dict__[CN.RENAMED_KEYS]
    parts = str(key).split(".")
    for i in range(len(parts), 0, -1):
        new = renamed.get(".".join(parts[:i]))
        if new is not None:
            new, note = new if isinstance(new, tuple) else (new, "")
            return f"{key} moved to {'.'.join([new] + parts[i:])}" + (f" ({note})" if note else "")
    return ""


def _refuse_moved_keys(cfg: CN, keys: Iterable[str], source: str) -> None:
    for key in keys:
        message = moved_key_message(cfg, key)
        if message:
            raise ConfigError(f"{source}: {message}; update the config")


def resolve_device(cfg: CN) -> None:
    """fast-reid defaults MODEL.DEVICE to "cuda"; fall back to the CPU when no GPU is present (logged at DEBUG: every
    config on a CPU machine gets here, and the config dump of a training run shows MODEL.DEVICE: cpu)."""
    if str(cfg.MODEL.DEVICE).startswith("cuda") and not torch.cuda.is_available():
        logger.debug("MODEL.DEVICE=%s but CUDA is unavailable: using cpu", cfg.MODEL.DEVICE)
        cfg.MODEL.DEVICE = "cpu"


class ConfigError(KeyError, ValueError):
    """A config file or KEY VALUE option that does not fit the schema. Both a KeyError and a ValueError, so that code
    catching what yacs raises (KeyError: unknown key, ValueError: wrong type) keeps working."""

    def __str__(self):  # KeyError would print the message in quotes
        return str(self.args[0])


def build_cfg(config_file: str = "", opts: Iterable[str] = (), add_fns: Iterable[Callable[[CN], None]] = ()) -> CN:
    """get_cfg + our keys + project keys, merged with a file and a KEY VALUE list; device resolved.

    Unknown keys, retired keys (retire_keys), values of the wrong type, malformed YAML and odd option lists raise
    ConfigError naming the source (file or command line), the key and what was expected; then the checks that the
    add_*_config functions registered (add_config_check) run on the merged config."""
    cfg = get_cfg()
    add_reid_plugins_config(cfg)
    for fn in add_fns:
        fn(cfg)
    if config_file:
        if not os.path.isfile(config_file):
            raise FileNotFoundError(f"config file {config_file!r} does not exist")
        source = f"config file {config_file!r}"
        loaded, files = _merge(load_config_file, config_file, source, cfg)
        for path in files:  # file by file, so that the error names the one to fix (the file or one of its _BASE_s)
            _refuse_moved_keys(cfg, flatten_cfg(_read_yaml(path)), f"config file {path!r}")
        _merge(lambda d: cfg.merge_from_other_cfg(CN(d)), loaded, source, cfg)
    opts = list(opts)
    flags = [o for o in opts if str(o).startswith("--")]
    if flags:
        raise ConfigError(f"command-line option {flags[0]!r} comes after the KEY VALUE options; flags (--resume, "
                          f"--eval-only, --num-gpus N, ...) must come before them, e.g. train_net.py --config-file "
                          f"C.yml {flags[0]} SOLVER.MAX_EPOCH 4")
    if len(opts) % 2:
        raise ConfigError(f"command-line options must be KEY VALUE pairs; got {len(opts)} items: {opts}")
    _refuse_moved_keys(cfg, opts[0::2], "command-line option")
    _merge(cfg.merge_from_list, opts, "command-line option", cfg)
    from reid_plugins.zoo.store import resolve_config

    resolve_config(cfg)   # "zoo:<name>" -> the verified stand-in checkpoint
    resolve_device(cfg)
    for check in _config_checks(cfg):
        check(cfg)
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


def load_config_file(path: str):
    """(dict, files): a YAML config with its `_BASE_` files merged in, and every file read (bases first).

    `_BASE_` is a path or a list of paths, relative to the file; a list is merged in order (later bases win), then
    the file's own keys. fast-reid's loader takes one base only; the list lets a config combine a method's settings
    with a protocol's datasets (configs/Protocols/*.yml)."""
    own = _read_yaml(path)
    bases = own.pop("_BASE_", [])
    merged, files = {}, []
    for base in [bases] if isinstance(bases, str) else list(bases):
        base_path = os.path.join(os.path.dirname(path), os.path.expanduser(base))
        if not os.path.isfile(base_path):
            raise FileNotFoundError(f"config file {path!r}: its _BASE_ {base!r} ({base_path}) does not exist")
        loaded, read = load_config_file(base_path)
        _merge_dicts(loaded, merged)
        files += read
    _merge_dicts(own, merged)
    return merged, files + [path]


def _read_yaml(path: str) -> dict:
    """One YAML config file's own keys (its _BASE_ not followed)."""
    import yaml

    with open(path) as f:
        own = yaml.safe_load(f) or {}
    if not isinstance(own, dict):
        raise ConfigError(f"config file {path!r}: expected a mapping of keys, got {type(own).__name__}")
    return own


def _merge_dicts(a: dict, b: dict) -> None:
    """a into b, recursively (a wins)."""
    for k, v in a.items():
        if isinstance(v, dict) and isinstance(b.get(k), dict):
            _merge_dicts(v, b[k])
        else:
            b[k] = v


def _merge(merge, arg, source: str, cfg=None):
    import yaml

    try:
        return merge(arg)
    except (KeyError, AssertionError) as e:  # yacs: "Non-existent config key: A.B" (file) / "Non-existent key" (list)
        message = str(e.args[0] if e.args else e)
        hint = _closest_key(message, cfg) if cfg is not None else ""
        raise ConfigError(f"{source}: {message}{hint} (not a key of fast-reid, reid_plugins or the project's "
                          f"add_*_config; check its spelling and nesting)") from e
    except ValueError as e:  # yacs: "Type mismatch (<class 'int'> vs. <class 'str'>) with values (8 vs. x) for ..."
        raise ConfigError(f"{source}: {e} (the value must have the type of the default, written as in YAML: 8 for "
                          f"an int, 0.1 for a float, True for a bool, (\"A\",) or [1, 2] for a tuple / list)") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{source} is not valid YAML: {e}") from e


def _closest_key(message: str, cfg) -> str:
    """'; did you mean SOLVER.MAX_EPOCH?' for the existing key closest to the unknown one in yacs' message."""
    import difflib

    def similarity(a: str, b: str) -> float:
        return difflib.SequenceMatcher(None, a, b).ratio()

    unknown = message.rsplit(":", 1)[-1].strip()
    leaf = unknown.rsplit(".", 1)[-1]
    # the whole key must be close, and so must its last part (a shared prefix alone makes any sibling look close)
    scored = [(similarity(unknown, key), key) for key in flatten_cfg(cfg)
              if similarity(leaf, key.rsplit(".", 1)[-1]) >= 0.6]
    best = max(scored, default=(0.0, ""))
    return f"; did you mean {best[1]}?" if best[0] >= 0.75 else ""


def setup_cfg(args, add_fns: Iterable[Callable[[CN], None]] = ()) -> CN:
    """The `setup(args)` of every train_net.py: build, freeze, fast-reid's default_setup (logger, config dump), seed."""
    from fastreid.engine import default_setup
    from fastreid.utils.env import seed_all_rng

    cfg = build_cfg(args.config_file, args.opts, add_fns)
    cfg.freeze()
    default_setup(cfg, args)
    seed_all_rng(None if cfg.SEED < 0 else cfg.SEED)
    return cfg
