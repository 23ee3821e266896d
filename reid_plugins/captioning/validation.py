"""Validation of generated descriptions (paper §3.3: syntax checks plus attribute-coverage validation).

Each check returns a list of :class:`Problem`; an empty list means the description passes. The problem messages are
written to be sent back to the model as feedback when the pipeline retries.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Iterable, List, Sequence

from .lexicon import PARTS, part_terms_found, parts_mentioned

IDENTITY = "identity_description"
CLOTHING = "clothing_description"

PART_NAMES = {"head": "the head (hair, headwear)", "upper": "the upper-body clothing",
              "lower": "the lower-body clothing", "shoes": "the shoes", "accessories": "the accessories (bags etc.)"}

# Phrases with which chat models decline or hedge instead of describing; matched case-insensitively.
_REFUSAL = re.compile(
    r"\b(?:i'?m sorry|i am sorry|sorry, but|i apologi[sz]e|i can(?:'|no)t|i cannot|i'?m (?:not able|unable)"
    r"|i am (?:not able|unable)|unable to (?:help|assist|describe|identify|provide|determine|see)"
    r"|as an ai|an ai (?:language )?model|cannot (?:help|assist|identify|provide)|not able to (?:help|assist"
    r"|identify|provide|describe)|i won'?t be able|can(?:'|no)t (?:help|assist) with)\b",
    re.IGNORECASE)
_LIST_LINE = re.compile(r"^\s*(?:[-*\u2022#>]|\d+[.)])\s*", re.MULTILINE)
_SLOT = re.compile(r"\[[^\]]*\]|<[^>]*>|\{[^}]*\}")
_WORD = re.compile(r"[A-Za-z]+(?:['\-][A-Za-z]+)*")


@dataclass(frozen=True)
class Problem:
    field: str  # identity_description | clothing_description | response
    # empty | too_short | too_long | not_sentence | list_form | template_slot | refusal | clothing_in_identity |
    # missing_part | malformed | truncated
    code: str
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.search((text or "").replace("\u2019", "'")))  # curly apostrophes as in "I can\u2019t"


def word_count(text: str) -> int:
    return len(_WORD.findall(text or ""))


def check_syntax(field: str, text: str, min_words: int, max_words: int) -> List[Problem]:
    """Non-empty, within [min_words, max_words] words, written as running sentences, no refusal."""
    text = (text or "").strip()
    if not text:
        return [Problem(field, "empty", f"the {_label(field)} is empty")]
    if is_refusal(text):
        return [Problem(field, "refusal", f"the {_label(field)} declines the task instead of describing the "
                                          f"person; describe only what is visible")]
    problems = []
    n = word_count(text)
    if n < min_words:
        problems.append(Problem(field, "too_short", f"the {_label(field)} has {n} words; write at least {min_words}"))
    if n > max_words:
        problems.append(Problem(field, "too_long", f"the {_label(field)} has {n} words; write at most {max_words}"))
    listed = "\n" in text or bool(_LIST_LINE.search(text))
    if listed:
        problems.append(Problem(field, "list_form", f"the {_label(field)} is a list or spans several lines; write "
                                                    f"running sentences on one line"))
    if _SLOT.search(text):
        problems.append(Problem(field, "template_slot", f"the {_label(field)} contains a template slot "
                                                        f"{_SLOT.search(text).group(0)!r}; fill in what you see"))
    stripped = text.strip("\"'\u201c\u201d ")
    if not listed and (not stripped[:1].isupper() or stripped[-1:] not in ".!?"):
        problems.append(Problem(field, "not_sentence", f"the {_label(field)} must start with a capital letter and "
                                                       f"end with a full stop"))
    return problems


def check_identity_has_no_clothing(text: str) -> List[Problem]:
    """BDAM decouples identity from clothing, so the identity description must not name garments."""
    words = [w for part in ("upper", "lower", "shoes", "accessories") for w in part_terms_found(text, part)]
    if not words:
        return []
    return [Problem(IDENTITY, "clothing_in_identity",
                    f"the identity description names clothing or accessories ({', '.join(sorted(set(words)))}); "
                    f"keep those in the clothing description")]


def check_coverage(source_captions: Iterable[str], descriptions: Sequence[str]) -> List[Problem]:
    """Every part (head / upper / lower / shoes / accessories) a source caption names is named by a description."""
    wanted = frozenset().union(*(parts_mentioned(c) for c in source_captions)) if source_captions else frozenset()
    have = frozenset().union(*(parts_mentioned(d) for d in descriptions)) if descriptions else frozenset()
    return [Problem(CLOTHING, "missing_part", f"the descriptions do not mention {PART_NAMES[p]}, which is "
                                              f"visible in the image") for p in PARTS if p in wanted - have]


def validate_descriptions(identity: str, clothing: str, source_captions: Sequence[str], *, min_words: int,
                          max_words: int, require_coverage: bool = True,
                          identity_no_clothing: bool = True) -> List[Problem]:
    """All checks for one image's pair of descriptions; [] when it passes."""
    problems = check_syntax(IDENTITY, identity, min_words, max_words)
    problems += check_syntax(CLOTHING, clothing, min_words, max_words)
    if any(p.code in ("empty", "refusal") for p in problems):
        return problems  # content checks on a refusal would only add noise to the feedback
    if identity_no_clothing:
        problems += check_identity_has_no_clothing(identity)
    if require_coverage:
        problems += check_coverage(source_captions, [identity, clothing])
    return problems


def _label(field: str) -> str:
    return {IDENTITY: "identity description", CLOTHING: "clothing description"}.get(field, field)
