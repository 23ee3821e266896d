"""Benchmark sizes. A preset gives, per domain, how many identities each split has and how they are sighted.

    train_ids / test_ids    identities in bounding_box_train / (query + bounding_box_test)
    cams_per_id (lo, hi)    how many of the domain's cameras see an identity (inclusive)
    imgs_per_cam (lo, hi)   images of an identity in each of those cameras (inclusive)
    max_query_cams          queries per test identity: one image per camera for up to this many of its cameras
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, Optional, Tuple


@dataclass(frozen=True)
class SplitSize:
    train_ids: int
    test_ids: int
    cams_per_id: Tuple[int, int]
    imgs_per_cam: Tuple[int, int]
    max_query_cams: int

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


PRESETS: Dict[str, Dict[str, SplitSize]] = {
    # unit tests: a few seconds
    "tiny": {
        "domain_A": SplitSize(8, 6, (2, 3), (1, 2), 2),
        "domain_B": SplitSize(8, 6, (2, 3), (1, 2), 2),
        "domain_C": SplitSize(10, 8, (2, 4), (1, 2), 2),
        "domain_D": SplitSize(6, 5, (2, 2), (2, 3), 2),
        "domain_E": SplitSize(8, 6, (2, 3), (1, 2), 2),
        "domain_W": SplitSize(40, 10, (2, 3), (1, 2), 2),
    },
    # the embedded benchmark: about 13k images, generated in about a minute on 2 cores
    "default": {
        "domain_A": SplitSize(150, 150, (2, 4), (2, 4), 3),
        "domain_B": SplitSize(150, 150, (2, 4), (2, 4), 3),
        "domain_C": SplitSize(250, 250, (2, 5), (1, 3), 3),
        "domain_D": SplitSize(100, 100, (2, 2), (3, 5), 2),
        "domain_E": SplitSize(150, 150, (2, 4), (2, 4), 3),
        # the pretraining corpus (only generated on demand, by the model zoo): 3,300 identities, ~15k images
        "domain_W": SplitSize(3000, 300, (2, 4), (1, 2), 2),
    },
    # closer to the real benchmarks' id counts (several minutes to generate, hours to train on a CPU)
    "large": {
        "domain_A": SplitSize(750, 750, (2, 6), (2, 5), 4),
        "domain_B": SplitSize(700, 700, (2, 8), (2, 5), 4),
        "domain_C": SplitSize(1040, 3060, (2, 10), (2, 5), 4),
        "domain_D": SplitSize(767, 700, (2, 2), (3, 6), 2),
        "domain_E": SplitSize(750, 750, (2, 6), (2, 5), 4),
        "domain_W": SplitSize(10000, 1000, (2, 4), (1, 2), 2),
    },
}
DEFAULT_PRESET = "default"


def resolve_sizes(preset: str, overrides: Optional[dict] = None) -> Dict[str, SplitSize]:
    """The preset's sizes with `overrides` ({"train_ids": n, "test_ids": n, "imgs_per_cam": (lo, hi), ...}) applied to
    every domain. Unknown presets / keys and impossible values raise ValueError naming them."""
    if preset not in PRESETS:
        raise ValueError(f"unknown synthetic preset {preset!r}; expected one of {', '.join(PRESETS)}")
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    fields = {f.name for f in dataclasses.fields(SplitSize)}
    bad = set(overrides) - fields
    if bad:
        raise ValueError(f"unknown size override(s) {sorted(bad)}; expected some of {sorted(fields)}")
    out = {}
    for name, size in PRESETS[preset].items():
        size = dataclasses.replace(size, **{k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()})
        for key in ("cams_per_id", "imgs_per_cam"):
            lo, hi = getattr(size, key)
            if not 1 <= lo <= hi:
                raise ValueError(f"{name}: {key}={lo, hi} must satisfy 1 <= lo <= hi")
        if size.cams_per_id[0] < 2:
            raise ValueError(f"{name}: cams_per_id lower bound must be >= 2 (a query needs another camera)")
        if size.train_ids < 1 or size.test_ids < 1 or size.max_query_cams < 1:
            raise ValueError(f"{name}: train_ids, test_ids and max_query_cams must be >= 1, got {size}")
        out[name] = size
    return out
