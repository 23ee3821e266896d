"""MLLM description generation for text-to-image re-ID (BDAM §3.3): style clustering of existing captions,
dual-prompt identity / clothing descriptions from an OpenAI-compatible chat server, validation with feedback
retries, a resumable journal, and annotation JSON the T2I datasets read. CLI: ``python -m reid_plugins.captioning``;
guide: docs/CAPTIONING.md.

Importing this package is light (no torch / transformers); the embedders import them when used.
"""
from .annotations import load_annotations, write_json_atomic
from .client import MLLMClient, RateLimiter, image_data_url
from .clustering import StyleClustering, cluster_styles
from .config import add_captioning_config, get_captioning_cfg
from .generate import DescriptionGenerator, generate_descriptions, merge_into_annotations
from .journal import Journal
from .lexicon import PARTS, parts_mentioned
from .style_bank import StyleBank
from .validation import Problem, check_coverage, check_syntax, validate_descriptions

__all__ = ["load_annotations", "write_json_atomic", "MLLMClient", "RateLimiter", "image_data_url",
           "StyleClustering", "cluster_styles", "add_captioning_config", "get_captioning_cfg",
           "DescriptionGenerator", "generate_descriptions", "merge_into_annotations", "Journal", "PARTS",
           "parts_mentioned", "StyleBank", "Problem", "check_coverage", "check_syntax", "validate_descriptions"]
