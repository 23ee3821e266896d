"""MLLM description generation for text-to-image re-ID (BDAM §3.3): style clustering of existing captions,
dual-prompt identity / clothing descriptions from an OpenAI-compatible chat server, validation with feedback
retries, a resumable journal, and annotation JSON the T2I datasets read. CLI: ``python -m reid_plugins.captioning``;
guide: docs/CAPTIONING.md.

Importing this package is light (no torch / transformers / openai): the names below are imported from their
submodules on first use, and the embedders and the client import their heavy dependencies when used.
"""
from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "annotations": ("load_annotations",),
    "client": ("MLLMClient", "RateLimiter"),
    "clustering": ("StyleClustering", "cluster_styles"),
    "config": ("add_captioning_config", "get_captioning_cfg"),
    "generate": ("DescriptionGenerator", "generate_descriptions", "merge_into_annotations"),
    "journal": ("Journal",),
    "lexicon": ("PARTS", "parts_mentioned"),
    "style_bank": ("StyleBank",),
    "validation": ("Problem", "check_coverage", "check_syntax", "validate_descriptions"),
})
