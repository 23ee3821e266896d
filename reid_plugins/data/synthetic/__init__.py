"""Procedural multi-domain pedestrian benchmark (the embedded default; see docs/SYNTHETIC.md).

    python -m reid_plugins.data.synthetic --root datasets --preset default
    from reid_plugins.data.synthetic import ensure_generated, describe
"""
from .captions import STYLES, WEB_STYLES, describe, describe_clothing, describe_identity, tokenize
from .domains import BENCHMARK_DOMAINS, DOMAIN_NAMES, DOMAINS, PRETRAIN_DOMAINS
from .generate import (ENV_PRESET, GENERATOR_VERSION, SUBDIR, SyntheticConfigError, ensure_domain, ensure_generated,
                       synth_dir)
from .presets import PRESETS

__all__ = ["STYLES", "WEB_STYLES", "describe", "describe_clothing", "describe_identity", "tokenize",
           "BENCHMARK_DOMAINS", "PRETRAIN_DOMAINS", "DOMAIN_NAMES", "DOMAINS", "ENV_PRESET", "GENERATOR_VERSION",
           "SUBDIR", "SyntheticConfigError", "ensure_domain", "ensure_generated", "synth_dir", "PRESETS"]
