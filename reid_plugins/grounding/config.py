"""cfg.MODEL.MASKS.*: where part masks come from and how boxes become masks (see docs/GROUNDING.md)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Tuple

from ..data.root import dataset_root
from .calibration import DEFAULT_AREA_FRAC, DEFAULT_HEIGHT_FRAC, CalibrationConfig
from .oracle import NoiseRates
from .parts import LABEL_BACKENDS, PROVIDER_BACKENDS
from .stripes import DEFAULT_STRIPES
from .voting import VOTE_RULES

if TYPE_CHECKING:
    from fastreid.config import CfgNode as CN

DEFAULT_CACHE_SUBDIR = "part_masks"


def add_part_mask_config(cfg: CN) -> None:
    from fastreid.config import CfgNode as CN  # here: importing this module (the CLI's --help) stays light

    _c = cfg.MODEL.MASKS = CN()
    # oracle: synthetic parts.json | oracle-noisy: perturbed oracle | stripes: fixed stripes | cache: masks.npz made by
    # `python -m reid_plugins.grounding label` with any backend (openai, hf, ...) | official-pickle: authors' pickle
    _c.BACKEND = "oracle"
    _c.CACHE_DIR = ""            # "" -> <datasets root>/part_masks; a cache is <CACHE_DIR>/<dataset name>/masks.npz
    _c.CACHE_BACKEND = ""        # non-empty: refuse caches made by another backend (e.g. "openai")
    _c.CHECK_FILE_SIZE = True    # cache: stat each image; a changed file size means a stale mask
    _c.OFFICIAL_PICKLE = ""      # official-pickle: path of {basename: [3, 128] additive mask}
    _c.GRID = (16, 8)            # patch grid (rows, cols) = INPUT size / ViT patch size
    _c.IMAGE_SIZE = (256, 128)   # (H, W) of the images parts.json's pixel boxes refer to
    _c.VOTE_RULE = "center"      # center | any | fraction
    _c.VOTE_FRACTION = 0.5       # "fraction": covered share of a patch needed
    _c.ENSURE_ONE_PATCH = True   # a present box that wins no patch marks the patch holding its centre
    _c.CALIBRATE = True          # replace missing / outlier boxes by stripes (False: the Table 9 ablation)
    _c.STRIPES = DEFAULT_STRIPES  # (top, bottom) height fractions for head, upper, legs
    _c.STRIPE_MODE = "fit"       # fixed: STRIPES | fit: per part, median top / bottom of the kept boxes
    _c.CALIB = CN()
    _c.CALIB.QUANTILES = (0.25, 0.75)
    _c.CALIB.IQR_K = 3.0
    _c.CALIB.MIN_LOG_IQR = 0.2
    _c.CALIB.MIN_BOXES = 20
    _c.CALIB.HEIGHT_FRAC = DEFAULT_HEIGHT_FRAC
    _c.CALIB.AREA_FRAC = DEFAULT_AREA_FRAC
    _c.NOISE = CN()              # oracle-noisy: per (image, part) error rates, seeded by (SEED, image name)
    _n = NoiseRates()
    _c.NOISE.DROP = _n.drop
    _c.NOISE.SHIFT = _n.shift
    _c.NOISE.SWAP = _n.swap
    _c.NOISE.OVERSIZE = _n.oversize
    _c.NOISE.OVERSPLIT = _n.oversplit
    _c.NOISE.SEED = _n.seed


def _pairs(value, key: str) -> Tuple[Tuple[float, float], ...]:
    try:
        return tuple((float(a), float(b)) for a, b in value)
    except (TypeError, ValueError):
        raise ValueError(f"MODEL.MASKS.{key}: expected a list of (low, high) pairs, got {value!r}") from None


def _int_pair(value, key: str) -> Tuple[int, int]:
    try:
        a, b = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"MODEL.MASKS.{key}: expected two positive ints, got {value!r}") from None
    if a < 1 or b < 1:
        raise ValueError(f"MODEL.MASKS.{key}: expected two positive ints, got {value!r}")
    return a, b


@dataclass(frozen=True)
class MaskSettings:
    """cfg.MODEL.MASKS as plain (picklable) values, validated."""
    backend: str = "oracle"
    root: str = "datasets"
    cache_dir: str = ""
    cache_backend: str = ""
    check_file_size: bool = True
    official_pickle: str = ""
    grid: Tuple[int, int] = (16, 8)
    image_size: Tuple[int, int] = (256, 128)
    vote_rule: str = "center"
    vote_fraction: float = 0.5
    ensure_one_patch: bool = True
    calibrate: bool = True
    calibration: CalibrationConfig = CalibrationConfig()
    noise: NoiseRates = NoiseRates()

    def __post_init__(self):
        if self.backend not in PROVIDER_BACKENDS:
            extra = (" (label images with `python -m reid_plugins.grounding label --backend "
                     f"{self.backend}` first, then use BACKEND cache)") if self.backend in LABEL_BACKENDS else ""
            raise ValueError(f"MODEL.MASKS.BACKEND={self.backend!r}: expected one of {PROVIDER_BACKENDS}{extra}")
        if self.vote_rule not in VOTE_RULES:
            raise ValueError(f"MODEL.MASKS.VOTE_RULE={self.vote_rule!r}: expected one of {VOTE_RULES}")
        if not 0.0 < self.vote_fraction <= 1.0:
            raise ValueError(f"MODEL.MASKS.VOTE_FRACTION={self.vote_fraction}: expected a value in (0, 1]")
        if self.backend == "official-pickle" and not self.official_pickle:
            raise ValueError("MODEL.MASKS.BACKEND='official-pickle' needs MODEL.MASKS.OFFICIAL_PICKLE (a .pkl path)")

    @property
    def cache_root(self) -> str:
        return self.cache_dir or os.path.join(self.root, DEFAULT_CACHE_SUBDIR)

    @classmethod
    def from_config(cls, cfg: CN) -> "MaskSettings":
        if "MASKS" not in cfg.MODEL:
            raise KeyError("cfg.MODEL.MASKS is missing: call reid_plugins.grounding.add_part_mask_config(cfg) before "
                           "merging the config file")
        m = cfg.MODEL.MASKS
        c = m.CALIB
        calib = CalibrationConfig(quantiles=tuple(float(v) for v in c.QUANTILES), iqr_k=float(c.IQR_K),
                                  min_log_iqr=float(c.MIN_LOG_IQR), min_boxes=int(c.MIN_BOXES),
                                  height_frac=_pairs(c.HEIGHT_FRAC, "CALIB.HEIGHT_FRAC"),
                                  area_frac=_pairs(c.AREA_FRAC, "CALIB.AREA_FRAC"),
                                  stripes=_pairs(m.STRIPES, "STRIPES"), stripe_mode=str(m.STRIPE_MODE))
        n = m.NOISE
        noise = NoiseRates(drop=float(n.DROP), shift=float(n.SHIFT), swap=float(n.SWAP),
                           oversize=float(n.OVERSIZE), oversplit=float(n.OVERSPLIT), seed=int(n.SEED))
        return cls(backend=str(m.BACKEND), root=dataset_root(cfg), cache_dir=str(m.CACHE_DIR),
                   cache_backend=str(m.CACHE_BACKEND), check_file_size=bool(m.CHECK_FILE_SIZE),
                   official_pickle=str(m.OFFICIAL_PICKLE), grid=_int_pair(m.GRID, "GRID"),
                   image_size=_int_pair(m.IMAGE_SIZE, "IMAGE_SIZE"), vote_rule=str(m.VOTE_RULE),
                   vote_fraction=float(m.VOTE_FRACTION), ensure_one_patch=bool(m.ENSURE_ONE_PATCH),
                   calibrate=bool(m.CALIBRATE), calibration=calib, noise=noise)


def settings_from_args(args) -> MaskSettings:
    """MaskSettings of a grounding CLI command: --config-file, then its KEY VALUE opts, then the --grid /
    --vote-rule / --vote-fraction / --root flags."""
    from ..config import build_cfg

    opts = list(getattr(args, "opts", []) or [])
    if getattr(args, "grid", None):
        opts += ["MODEL.MASKS.GRID", f"({args.grid[0]}, {args.grid[1]})"]
    if getattr(args, "vote_rule", None):
        opts += ["MODEL.MASKS.VOTE_RULE", args.vote_rule]
    if getattr(args, "vote_fraction", None) is not None:
        opts += ["MODEL.MASKS.VOTE_FRACTION", str(args.vote_fraction)]
    opts += ["DATASETS.ROOT", getattr(args, "root", "") or ""]
    cfg = build_cfg(args.config_file, opts, [add_part_mask_config])
    return MaskSettings.from_config(cfg)
