"""The domain-generalisation protocols of the MUVA paper (Tables 1-3), as data.

Short names follow the paper: MA = Market1501, D = DukeMTMC, MS = MSMT17, C3 = CUHK03-NP. Single-source: train on one
dataset's training split, test on another's query/gallery. Multi-source: leave-one-out over the four, training on the
union of the other three training splits (fast-reid relabels the prefixed string ids into one label space).
"""
from __future__ import annotations

from typing import Dict, Tuple

# The variants the MUVA authors' code evaluates on (its `msmt17` and `cuhk03np` loaders; the paper does not say):
# MSMT17 in the Market-style folder layout (`MSMT17/{bounding_box_train,query,bounding_box_test}`) and the *detected*
# boxes of CUHK03-NP. Every protocol config (configs/Protocols/<protocol>.yml, a _BASE_ of the baseline and MUVA
# configs) names these datasets, so that the methods' numbers on one protocol are comparable.
DATASET_OF = {"MA": "Market1501", "D": "DukeMTMC", "MS": "MSMT17Market", "C3": "CUHK03NPDetected"}

SINGLE_SOURCE = ["MA_to_D", "MA_to_MS", "D_to_MA", "D_to_MS", "MS_to_MA", "MS_to_D",  # Table 1
                 "MA_to_C3", "D_to_C3", "MS_to_C3", "C3_to_MA", "C3_to_D", "C3_to_MS"]  # Table 2
MULTI_SOURCE = ["D+MS+C3_to_MA", "MA+MS+C3_to_D", "MA+D+C3_to_MS", "MA+D+MS_to_C3"]  # Table 3


def parse(protocol: str, dataset_of: Dict[str, str] = DATASET_OF) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """'MA+D+C3_to_MS' -> (('Market1501', 'DukeMTMC', 'CUHK03NPDetected'), ('MSMT17Market',))."""
    try:
        sources, targets = protocol.split("_to_")
        return (tuple(dataset_of[s] for s in sources.split("+")), tuple(dataset_of[t] for t in targets.split("+")))
    except (ValueError, KeyError) as e:
        raise ValueError(f"protocol {protocol!r} is not '<src>[+<src>...]_to_<tgt>' over {sorted(dataset_of)}") from e


ALL = SINGLE_SOURCE + MULTI_SOURCE
