"""The synthetic domains as fast-reid datasets (Market-1501 layout under <root>/synthped/domain_X).

If <root>/synthped/manifest.json is missing, the benchmark is generated first with the preset from
$REID_SYNTH_PRESET (default "default"), so configs can name SynthPedA..E like any real dataset.
"""
from __future__ import annotations

import logging
import os

from fastreid.data.datasets import DATASET_REGISTRY

from .market_layout import MarketLayoutDataset

logger = logging.getLogger(__name__)


class _SynthPed(MarketLayoutDataset):
    """Generates its domain (preset from $REID_SYNTH_PRESET) when it is missing, then reads it."""

    def __init__(self, root: str = "datasets", **kwargs):
        from reid_plugins.data.synthetic import SUBDIR, ensure_generated

        manifest = os.path.join(root, SUBDIR, "manifest.json")
        missing = not os.path.isfile(manifest) or not os.path.isfile(os.path.join(root, self.dataset_dir,
                                                                                  "domain.json"))
        if missing:
            logger.info("%s: %s missing, generating the synthetic benchmark under %s", type(self).__name__,
                        manifest, os.path.join(root, SUBDIR))
            ensure_generated(root, domains=[os.path.basename(self.dataset_dir)])
        super().__init__(root=root, **kwargs)


@DATASET_REGISTRY.register()
class SynthPedA(_SynthPed):
    """Market-1501-like synthetic domain (6 cameras)."""
    dataset_dir = "synthped/domain_A"
    dataset_name = "synthpeda"


@DATASET_REGISTRY.register()
class SynthPedB(_SynthPed):
    """DukeMTMC-like synthetic domain (8 cameras)."""
    dataset_dir = "synthped/domain_B"
    dataset_name = "synthpedb"


@DATASET_REGISTRY.register()
class SynthPedC(_SynthPed):
    """MSMT17-like synthetic domain (15 cameras, the largest and hardest)."""
    dataset_dir = "synthped/domain_C"
    dataset_name = "synthpedc"


@DATASET_REGISTRY.register()
class SynthPedD(_SynthPed):
    """CUHK03-NP-like synthetic domain (2 cameras)."""
    dataset_dir = "synthped/domain_D"
    dataset_name = "synthpedd"


@DATASET_REGISTRY.register()
class SynthPedE(_SynthPed):
    """Clothes-changing synthetic domain (domain A's look, people wear other outfits in other cameras)."""
    dataset_dir = "synthped/domain_E"
    dataset_name = "synthpede"
