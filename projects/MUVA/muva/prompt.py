"""Multi-grained prompt learner (paper Sec. 3.1.1, code `MultiGrainedPromptLearner`).

One template per granularity, with the context written as N_CTX `*` placeholders after "A photo of a":
    global "A photo of a * * * * person", head "... * * * * head of a person",
    upper "... * * * * upper body of a person", legs "... * * * * legs of a person".
Every identity has its own learnable context per granularity ([C, G, N_CTX, width], normal std 0.002). The fixed
tokens are embedded once with CLIP's token embedding (a buffer). The text feature of an identity is the
concatenation of the projected end-of-text features of its G prompts ([G * E], not normalised per part).
"""
from __future__ import annotations

from typing import List, Sequence

import torch
import torch.nn as nn

from reid_plugins.modeling.clip import CLIPTextEncoder

PREFIX = "A photo of a"
PART_PHRASES = {"head": "head of a person", "upper": "upper body of a person", "legs": "legs of a person"}
TEMPLATES = ("universal", "part-agnostic")


def prompt_texts(parts: Sequence[str], n_ctx: int = 4, template: str = "universal", domain_context: str = ""
                 ) -> List[str]:
    """The G = 1 + len(parts) template strings (global first)."""
    if template not in TEMPLATES:
        raise ValueError(f"MODEL.MUVA.PROMPT.TEMPLATE={template!r}: expected one of {TEMPLATES}")
    head = f"{PREFIX} {' '.join(['*'] * n_ctx)}"
    if template == "universal":
        texts = [f"{head} person"] + [f"{head} {PART_PHRASES[p]}" for p in parts]
    else:  # part-agnostic: no body-part words (paper Table 7 "PAP")
        texts = [head] * (1 + len(parts))
    if domain_context:
        texts = [f"{t}, {domain_context}" for t in texts]
    return texts


class MultiGrainedPromptLearner(nn.Module):
    def __init__(self, num_classes: int, texts: Sequence[str], tokenizer, token_embedding: nn.Embedding,
                 n_ctx: int = 4, ctx_std: float = 0.002):
        super().__init__()
        tokens = tokenizer(list(texts))  # [G, context]
        self.ctx_start = 1 + len(PREFIX.split())  # after <start_of_text> and "A photo of a"
        self.n_ctx = int(n_ctx)
        star = tokenizer(["*"])[0, 1]
        window = tokens[:, self.ctx_start:self.ctx_start + self.n_ctx]
        if not bool((window == star).all()):
            raise ValueError(f"prompt templates {list(texts)} do not tokenize with the {n_ctx} context placeholders at "
                             f"positions {self.ctx_start}..{self.ctx_start + n_ctx - 1}")
        with torch.no_grad():
            embedding = token_embedding(tokens).float()
        self.register_buffer("prefix", embedding[:, :self.ctx_start].clone())
        self.register_buffer("suffix", embedding[:, self.ctx_start + self.n_ctx:].clone())
        self.register_buffer("eot_index", tokens.argmax(dim=-1))
        width = embedding.shape[-1]
        self.learnable_ctx = nn.Parameter(torch.empty(num_classes, len(texts), self.n_ctx, width))
        nn.init.normal_(self.learnable_ctx, std=ctx_std)

    @property
    def num_granularities(self) -> int:
        return int(self.prefix.shape[0])

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        """labels [B] -> prompt embeddings [B, G, context, width]."""
        B = labels.shape[0]
        ctx = self.learnable_ctx[labels]
        return torch.cat([self.prefix.expand(B, -1, -1, -1), ctx, self.suffix.expand(B, -1, -1, -1)], dim=2)


def encode_prompts(text_encoder: CLIPTextEncoder, prompt_learner: MultiGrainedPromptLearner,
                   labels: torch.Tensor) -> torch.Tensor:
    """CLIP's text tower over the G prompts of each label -> concatenated end-of-text features [B, G * E]."""
    prompts = prompt_learner(labels)
    B, G, N, W = prompts.shape
    feats = text_encoder(prompts.reshape(B * G, N, W), prompt_learner.eot_index.repeat(B))
    return feats.reshape(B, -1)
