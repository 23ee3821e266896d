"""Style abstraction (paper §3.3): rewrite captions so that what they say is generalised away and how they say it
remains, before the style embedding.

- "lexical" (offline default): attribute words are replaced by bracketed slots from the lexicon ("a red coat" ->
  "a [color] [upper]"); sentence structure, function words, order and punctuation stay.
- "llm": the chat model rewrites each distinct caption with the same goal (the paper's step); answers are
  journaled like descriptions, and an answer that fails the checks falls back to the lexical form.
"""
from __future__ import annotations

import hashlib
import re
from typing import Dict, List, Sequence

from ..utils.journal import Journal
from ..utils.mllm_client import MLLMClient
from .lexicon import COLOURS, DESCRIPTORS, PARTS, PERSON_WORDS, part_regex, word_regex
from .runner import run_journaled
from .validation import is_refusal, word_count

_PRONOUNS = ("he", "she", "his", "her", "him", "hers")
_NOUNS = tuple(w for w in PERSON_WORDS if w not in _PRONOUNS)
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")


def lexical_abstract(text: str) -> str:
    """Replaces part terms, colours, other attribute values, person nouns, pronouns and numbers by [slots]."""
    out = text
    for part in PARTS:
        out = part_regex(part).sub(f"[{part}]", out)
    out = word_regex(COLOURS).sub("[color]", out)
    out = word_regex(DESCRIPTORS).sub("[attribute]", out)
    out = word_regex(_NOUNS).sub("[person]", out)
    out = word_regex(_PRONOUNS).sub("[pronoun]", out)
    return _NUMBER.sub("[number]", out)


ABSTRACT_PROMPT = (
    "Rewrite the pedestrian description below so that it keeps its sentence structure, word order, punctuation, "
    "tone and length, but replace every concrete attribute (colours, garment and accessory names, hairstyles, "
    "gender and age words, numbers) by a generic placeholder in square brackets such as [color], [garment], "
    "[person]. Answer with the rewritten description only.\n\nDescription: {caption}")


def caption_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def llm_abstract(captions: Sequence[str], client: MLLMClient, journal: Journal, *, temperature: float = 0.0,
                 max_tokens: int = 200, workers: int = 1, progress: bool = True) -> List[str]:
    """The model's abstraction of each caption (distinct captions are sent once; a resumed run sends only the
    captions not yet journaled). Captions the model failed on fall back to lexical_abstract; so do captions whose
    request failed transiently this run (they are retried by a re-run)."""
    distinct: Dict[str, str] = {caption_key(c): c for c in captions}

    def job(text: str):
        def run():
            res = client.chat([{"role": "user", "content": ABSTRACT_PROMPT.format(caption=text)}],
                              temperature=temperature, max_tokens=max_tokens)
            out = (res.text or "").strip().strip('"').strip()
            n, m = word_count(out), word_count(text)
            ok = bool(out) and not res.refusal and not is_refusal(out) and m / 2 <= n <= 2 * m + 2
            return {"status": "generated" if ok else "rejected", "abstract": out, "model": client.model}
        return run

    run_journaled([(k, job(t)) for k, t in distinct.items()], journal, workers=workers, desc="abstracting",
                  progress=progress)
    result = []
    for c in captions:
        rec = journal.done.get(caption_key(c))
        result.append(rec["abstract"] if rec is not None and rec["status"] == "generated" else lexical_abstract(c))
    return result

