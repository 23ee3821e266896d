"""`MSMT17Market`: the Market-style conversion of MSMT17 (`MSMT17/{bounding_box_train,bounding_box_test,query}`) that
the MUVA authors' code reads.

fast-reid's own Market1501 / DukeMTMC / MSMT17 entries are used as they are; their readable layout errors are the
compat patches `dataset_layout_errors` and `market_duke_file_names` (reid_plugins.compat), which patch fast-reid's
classes and so live with the other patches of fast-reid.
"""
from __future__ import annotations

from fastreid.data.datasets import DATASET_REGISTRY

from .market_layout import MarketLayoutDataset


@DATASET_REGISTRY.register()
class MSMT17Market(MarketLayoutDataset):
    dataset_dir = "MSMT17"
    dataset_name = "msmt17market"
