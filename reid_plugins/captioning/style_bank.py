"""The style bank: clustered captions saved by `cluster` and read by `generate`.

Each image is assigned one style cluster uniformly at random (so the generated texts spread over all annotator
styles, not only the commonest) and a few exemplars of it; both depend only on (seed, image key), so a resumed run
or another machine makes the same choice.
"""
from __future__ import annotations

import hashlib
import random
from typing import Any, Dict, List, Sequence, Tuple

from ..utils.io import read_json, write_json_atomic

FORMAT = "reid_plugins.captioning.style_bank/1"


class StyleBank:
    def __init__(self, clusters: Sequence[Dict[str, Any]], meta: Dict[str, Any] | None = None):
        if not clusters:
            raise ValueError("a style bank needs at least one cluster")
        for i, c in enumerate(clusters):
            if not c.get("exemplars"):
                raise ValueError(f"style cluster {i} has no exemplars")
        self.clusters = list(clusters)
        self.meta = dict(meta or {})

    @property
    def num_clusters(self) -> int:
        return len(self.clusters)

    @property
    def sizes(self) -> List[int]:
        return [int(c["size"]) for c in self.clusters]

    def choose(self, key: str, k: int, seed: int = 0) -> Tuple[int, List[str]]:
        """(cluster id, k exemplars) for the image `key`; stable across processes (sha256, not hash())."""
        digest = hashlib.sha256(f"{seed}|{key}".encode("utf-8")).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        cid = rng.randrange(len(self.clusters))
        pool = self.clusters[cid]["exemplars"]
        return cid, rng.sample(pool, min(k, len(pool)))

    def save(self, path: str) -> None:
        write_json_atomic(path, {"format": FORMAT, "meta": self.meta, "clusters": self.clusters}, indent=1,
                          ensure_ascii=False)

    @classmethod
    def load(cls, path: str) -> "StyleBank":
        data = read_json(path, "style bank", fix="make it with `python -m reid_plugins.captioning cluster`")
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"style bank {path}: expected format {FORMAT!r}, got "
                             f"{data.get('format') if isinstance(data, dict) else type(data).__name__!r}")
        try:
            return cls(data["clusters"], data.get("meta"))
        except ValueError as e:
            raise ValueError(f"style bank {path}: {e}") from None
