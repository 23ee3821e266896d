"""BDAM: text-to-image person Re-ID with MLLM-supervised identity / clothing decoupling and Mamba fusion.

Importing this package registers the BDAMT2I meta-architecture, the T2I datasets and the T2IRetrievalEvaluator."""
import reid_plugins  # noqa: F401  (compat patches first)
import reid_plugins.data.t2i  # noqa: F401  (registers the T2I datasets)

from .config import ALL_LOSSES, add_bdam_config
from .decoupling import BDAM
from .evaluator import T2IRetrievalEvaluator
from .fusion import MambaFusion
from .meta_arch import BDAMT2I
from .trainer import BDAMTrainer

__all__ = ["ALL_LOSSES", "add_bdam_config", "BDAM", "BDAMT2I", "BDAMTrainer", "MambaFusion",
           "T2IRetrievalEvaluator"]
