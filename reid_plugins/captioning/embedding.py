"""Caption embeddings for style clustering, from local weights only.

- "minilm": a sentence-transformers style BERT (default: the bundled all-MiniLM-L6-v2), embedded the way
  sentence-transformers does for that model: mean of the token states over the attention mask, then L2-normalised.
- "open_clip": the text tower of an open_clip CLIP model (``encode_text``, L2-normalised) with weights from a local
  checkpoint file (e.g. OpenAI's ViT-B-32 weights = clip-vit-base-patch32 of paper §4.2).

torch / transformers / open_clip are imported only here, so the generation path does not pay for them.
"""
from __future__ import annotations

import os
from typing import Dict, List, Sequence

import numpy as np
from tqdm import tqdm

from ..utils.extras import require


class MiniLMEncoder:
    def __init__(self, path: str = "", max_length: int = 256):
        from ..modeling.pretrained import minilm_dir

        transformers = require("transformers", "CAPTIONING.STYLE.ENCODER minilm")
        path = path or minilm_dir()
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise FileNotFoundError(f"CAPTIONING.STYLE.ENCODER_PATH={path!r}: expected a directory with a "
                                    f"transformers BERT model (config.json, weights, vocab)")
        self.name = f"minilm:{path}"
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(path)
        self.model = transformers.BertModel.from_pretrained(path).eval()
        self.max_length = max_length

    def encode(self, texts: List[str]) -> np.ndarray:
        import torch

        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        with torch.inference_mode():
            states = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1).numpy()


class OpenClipTextEncoder:
    def __init__(self, arch: str, checkpoint: str):
        open_clip = require("open_clip", "CAPTIONING.STYLE.ENCODER open_clip")

        if not checkpoint or not os.path.isfile(checkpoint):
            raise FileNotFoundError(f"CAPTIONING.STYLE.ENCODER_PATH={checkpoint!r}: expected a local open_clip / "
                                    f"OpenAI CLIP checkpoint file for CAPTIONING.STYLE.CLIP_ARCH={arch!r}")
        if arch not in open_clip.list_models():
            raise ValueError(f"CAPTIONING.STYLE.CLIP_ARCH={arch!r} is not an open_clip architecture "
                             f"(e.g. ViT-B-32, ViT-B-16, ViT-L-14)")
        self.name = f"open_clip:{arch}:{checkpoint}"
        # weights_only loading (open_clip's default); strict: a checkpoint of another architecture fails loudly.
        try:
            self.model = open_clip.create_model(arch, pretrained=checkpoint, require_pretrained=True,
                                                weights_only=True).eval()
        except (RuntimeError, AssertionError, KeyError) as e:
            raise ValueError(f"CAPTIONING.STYLE.ENCODER_PATH={checkpoint!r} does not fit the open_clip architecture "
                             f"CLIP_ARCH={arch!r}: {str(e)[:300]}") from None
        self.tokenizer = open_clip.get_tokenizer(arch)

    def encode(self, texts: List[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            feats = self.model.encode_text(self.tokenizer(texts))
        return torch.nn.functional.normalize(feats.float(), dim=-1).numpy()


def build_encoder(kind: str, path: str = "", clip_arch: str = "ViT-B-32"):
    if kind == "minilm":
        return MiniLMEncoder(path)
    if kind == "open_clip":
        return OpenClipTextEncoder(clip_arch, path)
    raise ValueError(f"CAPTIONING.STYLE.ENCODER={kind!r}: expected 'minilm' or 'open_clip'")


def embed_texts(texts: Sequence[str], encoder, batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """float32 [len(texts), D], rows L2-normalised; each distinct text is embedded once (abstracted captions
    repeat a lot)."""
    if not texts:
        raise ValueError("no captions to embed")
    index: Dict[str, int] = {}
    for t in texts:
        index.setdefault(t, len(index))
    distinct = list(index)
    # Longest first: batches of similar length waste less padding.
    order = sorted(range(len(distinct)), key=lambda i: len(distinct[i]), reverse=True)
    out = None
    for start in tqdm(range(0, len(order), batch_size), desc="embedding", unit="batch", disable=not progress):
        ids = order[start:start + batch_size]
        vecs = encoder.encode([distinct[i] for i in ids])
        if out is None:
            out = np.zeros((len(distinct), vecs.shape[1]), dtype=np.float32)
        out[ids] = vecs
    return out[[index[t] for t in texts]]
