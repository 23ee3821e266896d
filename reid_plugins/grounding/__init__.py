"""VGE part pseudo-masks (MUVA §3.2.3): grounding backends, box parsing, calibration, voting, cache, CLI.

    from reid_plugins.grounding import PartMaskProvider, PARTS
    provider = PartMaskProvider.from_config(cfg, dataset_names)   # cfg.MODEL.MASKS.* (add_part_mask_config)
    mask = provider(img_path)     # bool [3, grid_h * grid_w], row-major, head / upper / legs

CLI: ``python -m reid_plugins.grounding --help``; guide: docs/GROUNDING.md. Importing this package does not import
transformers or openai (the backends that need them import them when built).
"""
from .calibration import CalibrationConfig, Calibrator, calibration_rates, replacement_counts
from .config import MaskSettings, add_part_mask_config
from .official import export_official_pickle, load_official_pickle
from .oracle import ERROR_KINDS, NoiseRates, load_parts_file, perturb
from .parts import PARTS, PROMPTS, MissingMaskError, StaleCacheError
from .provider import PartMaskProvider
from .stripes import DEFAULT_STRIPES, stripe_boxes
from .voting import VOTE_RULES, vote

__all__ = ["PARTS", "PROMPTS", "MissingMaskError", "StaleCacheError", "PartMaskProvider", "add_part_mask_config",
           "MaskSettings", "CalibrationConfig", "Calibrator", "calibration_rates", "replacement_counts",
           "export_official_pickle", "load_official_pickle", "ERROR_KINDS", "NoiseRates", "load_parts_file",
           "perturb", "DEFAULT_STRIPES", "stripe_boxes", "VOTE_RULES", "vote"]
