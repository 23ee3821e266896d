"""Datasets registered into fast-reid's DATASET_REGISTRY on import."""
from .market_layout import DatasetLayoutError, MarketLayoutDataset
from .cuhk03np import CUHK03NP, CUHK03NPDetected
from .synthped import SynthPedA, SynthPedAVal, SynthPedB, SynthPedC, SynthPedD, SynthPedE
from .fastreid_entries import MSMT17Market

__all__ = ["DatasetLayoutError", "MarketLayoutDataset", "CUHK03NP", "CUHK03NPDetected", "MSMT17Market",
           "SynthPedA", "SynthPedAVal", "SynthPedB", "SynthPedC", "SynthPedD", "SynthPedE"]
