"""Datasets registered into fast-reid's DATASET_REGISTRY on import."""
from .market_layout import DatasetLayoutError, MarketLayoutDataset
from .cuhk03np import CUHK03NP, CUHK03NPDetected

__all__ = ["DatasetLayoutError", "MarketLayoutDataset", "CUHK03NP", "CUHK03NPDetected"]
