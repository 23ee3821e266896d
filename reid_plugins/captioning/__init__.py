"""MLLM description generation for text-to-image re-ID (BDAM §3.3): style clustering of existing captions,
dual-prompt identity / clothing descriptions from an OpenAI-compatible chat server, validation with feedback
retries, a resumable journal, and annotation JSON the T2I datasets read. CLI: ``python -m reid_plugins.captioning``;
guide: docs/CAPTIONING.md.

Importing this package is light (no torch / transformers / openai): the names below are imported from their
submodules on first use, and the embedders and the client import their heavy dependencies when used. The MLLM
client, the journal and the API-key redaction are shared with grounding and live in reid_plugins.utils.
"""
from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "annotations": ("load_annotations",),
    "clustering": ("StyleClustering", "cluster_styles"),
    "config": ("add_captioning_config", "get_captioning_cfg"),
    "generate": ("DescriptionGenerator", "generate_descriptions", "merge_into_annotations"),
    "lexicon": ("PARTS", "parts_mentioned"),
    "style_bank": ("StyleBank",),
    "validation": ("Problem", "check_coverage", "check_syntax", "validate_descriptions"),
    # Re-exported because docs/CAPTIONING.md's Python API imports them from here; they live in reid_plugins.utils.
    "..utils.journal": ("Journal",),
    "..utils.mllm_client": ("MLLMClient",),
})
