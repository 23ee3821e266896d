"""The `cluster` step: captions of an annotation file -> style abstraction -> embeddings -> clusters -> style bank,
report and PNG map."""
from __future__ import annotations

import logging
import os
import random
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..utils.io import write_json_atomic
from .abstraction import lexical_abstract, llm_abstract
from .annotations import image_key, select_entries
from .clustering import StyleClustering, cluster_styles
from .embedding import build_encoder, embed_texts
from .style_bank import StyleBank
from .style_map import save_style_map

logger = logging.getLogger(__name__)

EXEMPLAR_POOL = 200  # distinct exemplar texts kept per cluster in the bank (prompts sample a few of them)


def collect_captions(entries: Sequence[Dict[str, Any]], splits: Sequence[str]
                     ) -> Tuple[List[str], List[Tuple[str, int]], Optional[List[str]]]:
    """(captions, (file_path, caption index) of each, known style labels or None). Style labels are the
    synthetic benchmark's per-caption ``styles`` list; present only if every selected entry has one."""
    captions, sources, styles = [], [], []
    for e in select_entries(entries, splits):
        labels = e.get("styles")
        if not (isinstance(labels, list) and len(labels) == len(e["captions"])):
            styles = None
        for j, c in enumerate(e["captions"]):
            if not c.strip():
                continue
            captions.append(c)
            sources.append((image_key(e), j))
            if styles is not None:
                styles.append(str(labels[j]))
    if not captions:
        raise ValueError(f"no captions in the splits {list(splits)} (CAPTIONING.STYLE.SPLITS); the annotation file's "
                         f"splits are {sorted({e['split'] for e in entries})}")
    return captions, sources, styles


def abstract_captions(captions: Sequence[str], mode: str, *, client=None, journal=None, workers: int = 1,
                      progress: bool = True) -> List[str]:
    if mode == "none":
        return list(captions)
    if mode == "lexical":
        return [lexical_abstract(c) for c in captions]
    if mode == "llm":
        if client is None or journal is None:
            raise ValueError("CAPTIONING.STYLE.ABSTRACTION=llm needs a chat model: pass --model (and --base-url)")
        return llm_abstract(captions, client, journal, workers=workers, progress=progress)
    raise ValueError(f"CAPTIONING.STYLE.ABSTRACTION={mode!r}: expected none, lexical or llm")


def make_bank(captions: Sequence[str], texts: Sequence[str], clustering: StyleClustering, seed: int,
              meta: Dict[str, Any]) -> StyleBank:
    """One bank cluster per style cluster: its size and a seeded sample of distinct exemplar texts."""
    rng = random.Random(seed)
    clusters = []
    for c, size in enumerate(clustering.sizes):
        idx = np.flatnonzero(clustering.labels == c)
        pool = list(dict.fromkeys(texts[i] for i in idx))
        originals = list(dict.fromkeys(captions[i] for i in idx))
        clusters.append({"id": c, "size": int(size),
                         "exemplars": rng.sample(pool, min(EXEMPLAR_POOL, len(pool))),
                         "original_examples": rng.sample(originals, min(5, len(originals)))})
    return StyleBank(clusters, meta)


def build_style_bank(entries: Sequence[Dict[str, Any]], cfg, out_dir: str, *, client=None, workers: int = 1,
                     progress: bool = True) -> Dict[str, Any]:
    """Writes out_dir/style_bank.json, style_report.json and style_map.png; returns the report."""
    from ..utils.journal import Journal

    s = cfg.CAPTIONING.STYLE
    os.makedirs(out_dir, exist_ok=True)
    captions, sources, known = collect_captions(entries, s.SPLITS)
    journal = Journal(os.path.join(out_dir, "abstraction.jsonl")) if s.ABSTRACTION == "llm" else None
    try:
        texts = abstract_captions(captions, s.ABSTRACTION, client=client, journal=journal, workers=workers,
                                  progress=progress)
    finally:
        if journal is not None:
            journal.close()
    encoder = build_encoder(s.ENCODER, s.ENCODER_PATH, s.CLIP_ARCH)
    emb = embed_texts(texts, encoder, batch_size=s.BATCH_SIZE, progress=progress)
    clustering = cluster_styles(emb, s.METHOD, eps=s.EPS, min_samples=s.MIN_SAMPLES,
                                min_cluster_size=s.MIN_CLUSTER_SIZE, n_clusters=s.N_CLUSTERS,
                                max_points=s.MAX_CAPTIONS, seed=s.SEED)
    params = {"method": s.METHOD, "eps": s.EPS, "min_samples": s.MIN_SAMPLES, "min_cluster_size": s.MIN_CLUSTER_SIZE,
              "n_clusters": s.N_CLUSTERS, "abstraction": s.ABSTRACTION, "encoder": encoder.name,
              "splits": list(s.SPLITS), "seed": s.SEED}
    bank = make_bank(captions, texts, clustering, s.SEED, params)
    bank.save(os.path.join(out_dir, "style_bank.json"))
    map_path = save_style_map(os.path.join(out_dir, "style_map.png"), emb, clustering.labels, s.MAP_METHOD, s.SEED)
    report = {"captions": len(captions), "distinct_texts": len(set(texts)), **params,
              "raw_clusters": clustering.raw_clusters, "noise_reassigned": clustering.noise,
              "merged": clustering.merged, "fitted_on": clustering.fitted,
              "num_clusters": clustering.num_clusters, "sizes": clustering.sizes, "map": map_path}
    if known is not None:
        from sklearn.metrics import adjusted_rand_score

        report["ari_vs_known_styles"] = float(adjusted_rand_score(known, clustering.labels))
        report["known_styles"] = len(set(known))
    report["assignments"] = [[k, j, int(c)] for (k, j), c in zip(sources, clustering.labels)]
    write_json_atomic(os.path.join(out_dir, "style_report.json"), report, indent=1, ensure_ascii=False)
    return report
