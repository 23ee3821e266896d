"""MUVA: multi-grained vision-language alignment for domain-generalised person Re-ID, as fast-reid plugins.

Importing this package registers the "build_muva_clip_backbone" backbone and the "MUVA" meta-architecture."""
import reid_plugins  # noqa: F401  (compat patches before fastreid / open_clip)

from .config import LOSS_NAMES, PART_NAMES, add_muva_config
from .encoder import MUVAImageEncoder, build_muva_clip_backbone
from .meta_arch import MUVA
from .trainer import MUVATrainer

__all__ = ["LOSS_NAMES", "PART_NAMES", "add_muva_config", "MUVAImageEncoder", "build_muva_clip_backbone", "MUVA",
           "MUVATrainer"]
