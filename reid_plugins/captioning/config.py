"""Config keys of the captioning pipeline (yacs, like every other entry point of the package).

`python -m reid_plugins.captioning <cmd> --config-file x.yaml KEY VALUE ...` merges a YAML file and a KEY VALUE list
over these defaults; unknown keys and values of the wrong type raise yacs errors that name the key.
"""
from __future__ import annotations

import os
from typing import Iterable

from yacs.config import CfgNode as CN


def add_captioning_config(cfg: CN) -> None:
    """Adds cfg.CAPTIONING.* (style clustering, prompt, validation) to `cfg`."""
    cfg.CAPTIONING = CN()

    s = cfg.CAPTIONING.STYLE = CN()
    # Which captions make up the style bank: entries whose `split` is in SPLITS (train only, so that no test
    # caption leaks into training prompts).
    s.SPLITS = ["train"]
    # Large annotation files (CUHK-PEDES: 68k train captions) are clustered on a seeded subsample of this many
    # captions; the rest join the nearest cluster centroid. DBSCAN's neighbourhoods grow quadratically.
    s.MAX_CAPTIONS = 20000
    # Style abstraction before embedding (paper §3.3: attributes are generalised so that embeddings carry style,
    # not content): "none" | "lexical" (offline: attribute words -> [slot] tokens) | "llm" (the MLLM rewrites).
    # "none" clusters the synthetic benchmark's 5 styles best (ARI 1.0 on 2,000 captions, docs/CAPTIONING.md);
    # abstracted texts are closer together, so "lexical" wants a smaller EPS (about 0.1-0.15).
    s.ABSTRACTION = "none"
    # Text encoder: "minilm" (sentence-transformers style BERT: mean pooling + L2; ENCODER_PATH empty = the bundled
    # all-MiniLM-L6-v2) or "open_clip" (CLIP text tower; ENCODER_PATH = local checkpoint, CLIP_ARCH its open_clip
    # architecture, e.g. ViT-B-32 for OpenAI's clip-vit-base-patch32 weights as in paper §4.2).
    s.ENCODER = "minilm"
    s.ENCODER_PATH = ""
    s.CLIP_ARCH = "ViT-B-32"
    s.BATCH_SIZE = 64
    # Clustering: "dbscan" (the paper's) or the Table-4 alternatives "hdbscan" | "kmeans" | "gmm" |
    # "agglomerative" | "random" (the last four use N_CLUSTERS).
    s.METHOD = "dbscan"
    # DBSCAN radius (cosine distance between L2-normalised embeddings) and core-point size. 0.2 / 5 separate the
    # synthetic benchmark's styles from 100 to 2,000 captions (docs/CAPTIONING.md); tune for real annotations.
    s.EPS = 0.2
    s.MIN_SAMPLES = 5
    s.N_CLUSTERS = 8
    # Clusters smaller than this are merged into the nearest cluster (centroid cosine similarity).
    s.MIN_CLUSTER_SIZE = 10
    s.MAP_METHOD = "pca"  # 2-D map of the clusters: "pca" | "tsne"
    s.SEED = 0

    p = cfg.CAPTIONING.PROMPT = CN()
    # Dual prompt (paper §3.3). The paper lists race, gender, age and body type; add "race" here if wanted.
    p.IDENTITY_ATTRIBUTES = ["gender", "apparent age", "body type", "height", "posture"]
    p.CLOTHING_ATTRIBUTES = ["apparel type", "colour", "pattern", "material", "hairstyle", "accessories"]
    p.NUM_EXEMPLARS = 3  # style exemplars of the assigned cluster injected into each prompt
    p.TEMPERATURE = 0.7
    p.MAX_TOKENS = 300
    p.TARGET_WORDS = 30  # asked-for length of each description
    p.SEED = 0  # style-cluster assignment and exemplar sampling (per image, stable across resumes)
    p.JSON_MODE = False  # also send response_format={"type": "json_object"} (not every server supports it)

    v = cfg.CAPTIONING.VALIDATION = CN()
    v.MIN_WORDS = 5
    v.MAX_WORDS = 80
    # Attempts per image (the first plus retries with feedback); an image still failing is marked rejected.
    v.MAX_ATTEMPTS = 3
    v.REQUIRE_COVERAGE = True  # parts named by the source captions must be named by the descriptions
    v.IDENTITY_NO_CLOTHING = True  # the identity description must not name garments (decoupling, BDAM)


def get_captioning_cfg(config_file: str = "", opts: Iterable[str] = ()) -> CN:
    """Defaults, merged with a YAML file and a KEY VALUE list (keys may omit the CAPTIONING. prefix)."""
    cfg = CN()
    add_captioning_config(cfg)
    if config_file:
        if not os.path.isfile(config_file):
            raise FileNotFoundError(f"config file {config_file!r} does not exist")
        try:
            cfg.merge_from_file(config_file)
        except AssertionError as e:  # yacs reports unknown keys with assert
            raise ValueError(f"config file {config_file}: {e}") from None
    opts = list(opts)
    if len(opts) % 2:
        raise ValueError(f"config overrides must be KEY VALUE pairs, got an odd list: {opts}")
    full = []
    for i in range(0, len(opts), 2):
        key = opts[i] if opts[i].startswith("CAPTIONING.") else f"CAPTIONING.{opts[i]}"
        full += [key, opts[i + 1]]
    try:
        cfg.merge_from_list(full)
    except AssertionError as e:
        raise ValueError(f"config override: {e}") from None
    check_captioning_cfg(cfg)
    return cfg


_CHOICES = {
    "STYLE.ABSTRACTION": ("none", "lexical", "llm"),
    "STYLE.ENCODER": ("minilm", "open_clip"),
    "STYLE.METHOD": ("dbscan", "hdbscan", "kmeans", "gmm", "agglomerative", "random"),
    "STYLE.MAP_METHOD": ("pca", "tsne"),
}


def check_captioning_cfg(cfg: CN) -> None:
    """Raises ValueError naming the key, the value and what was expected."""
    c = cfg.CAPTIONING
    for dotted, allowed in _CHOICES.items():
        group, key = dotted.split(".")
        if c[group][key] not in allowed:
            raise ValueError(f"CAPTIONING.{dotted}={c[group][key]!r}: expected one of {allowed}")
    positive = {"STYLE.EPS": c.STYLE.EPS, "STYLE.MIN_SAMPLES": c.STYLE.MIN_SAMPLES,
                "STYLE.N_CLUSTERS": c.STYLE.N_CLUSTERS, "STYLE.BATCH_SIZE": c.STYLE.BATCH_SIZE,
                "STYLE.MAX_CAPTIONS": c.STYLE.MAX_CAPTIONS, "PROMPT.MAX_TOKENS": c.PROMPT.MAX_TOKENS,
                "PROMPT.TARGET_WORDS": c.PROMPT.TARGET_WORDS, "VALIDATION.MIN_WORDS": c.VALIDATION.MIN_WORDS,
                "VALIDATION.MAX_ATTEMPTS": c.VALIDATION.MAX_ATTEMPTS}
    for key, value in positive.items():
        if not value > 0:
            raise ValueError(f"CAPTIONING.{key}={value!r}: expected a positive number")
    non_negative = {"STYLE.MIN_CLUSTER_SIZE": c.STYLE.MIN_CLUSTER_SIZE, "PROMPT.NUM_EXEMPLARS": c.PROMPT.NUM_EXEMPLARS,
                    "PROMPT.TEMPERATURE": c.PROMPT.TEMPERATURE}
    for key, value in non_negative.items():
        if value < 0:
            raise ValueError(f"CAPTIONING.{key}={value!r}: expected a number >= 0")
    if c.VALIDATION.MAX_WORDS < c.VALIDATION.MIN_WORDS:
        raise ValueError(f"CAPTIONING.VALIDATION.MAX_WORDS={c.VALIDATION.MAX_WORDS} is below "
                         f"MIN_WORDS={c.VALIDATION.MIN_WORDS}")
    if not c.STYLE.SPLITS:
        raise ValueError("CAPTIONING.STYLE.SPLITS is empty: expected at least one split name, e.g. ['train']")
