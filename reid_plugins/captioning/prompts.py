"""The dual prompt of paper §3.3 and the parsing of the model's answer.

One request per image asks for two texts at once, an identity description (biological traits) and a clothing
description (apparel, colour, pattern, material, accessories), as one JSON object so that the answer is parsable.
Style exemplars of the image's assigned style cluster are injected into the prompt; on a retry, the validation
problems are sent back as feedback in the same conversation.
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .validation import CLOTHING, IDENTITY, Problem

SYSTEM_PROMPT = ("You annotate pedestrian images for a text-based person retrieval dataset. You describe only what "
                 "is visible in the image, objectively, in plain English.")

_ALIASES = {IDENTITY: ("identity_description", "identity", "identity description"),
            CLOTHING: ("clothing_description", "clothing", "clothing description")}


class MalformedAnswer(ValueError):
    """The model's text is not the JSON object with both descriptions."""


def describe_prompt(identity_attributes: Sequence[str], clothing_attributes: Sequence[str], target_words: int,
                    exemplars: Sequence[str] = ()) -> str:
    """The user text that goes with the image."""
    lines = [
        "Look at the pedestrian in the image and write two separate descriptions.",
        f'1. "{IDENTITY}": only the person\'s biological and physical traits ({", ".join(identity_attributes)}). '
        "Do not mention clothing, shoes, bags or other carried items.",
        f'2. "{CLOTHING}": what the person wears and carries ({", ".join(clothing_attributes)}), covering the '
        "head, upper body, lower body, shoes and accessories wherever they are visible.",
        f"Each description is one to three complete sentences of about {target_words} words, starts with a "
        "capital letter and ends with a full stop.",
    ]
    if exemplars:
        lines.append("Write both descriptions in the style of the following descriptions by one annotator: match "
                     "their sentence structure, word choice and level of detail, but describe only this image. "
                     "Words in square brackets are slots; fill them from the image and never copy a bracket.")
        lines += [f"- {e}" for e in exemplars]
    lines.append(f'Answer with only a JSON object: {{"{IDENTITY}": "...", "{CLOTHING}": "..."}}')
    return "\n".join(lines)


def build_messages(prompt: str, image_url: str) -> List[Dict[str, Any]]:
    """System + user turn with the image as a data URL (OpenAI vision message format)."""
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": [{"type": "text", "text": prompt},
                                         {"type": "image_url", "image_url": {"url": image_url}}]}]


def feedback_message(problems: Sequence[Problem]) -> Dict[str, Any]:
    """The user turn that asks for a corrected answer after a failed validation."""
    bullet = "; ".join(p.message for p in problems)
    return {"role": "user", "content": f"Your answer cannot be used: {bullet}. Answer again for the same image "
                                       f'with only the JSON object {{"{IDENTITY}": "...", "{CLOTHING}": "..."}}.'}


_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


def parse_answer(text: str) -> Tuple[str, str]:
    """(identity, clothing) from the model's text: a JSON object (possibly in a ``` fence or with chatter around
    it), or, as a fallback for small local models, two labelled lines "Identity description: ..." etc."""
    text = _FENCE.sub("", (text or "").strip()).strip()
    obj = _json_object(text)
    if obj is not None:
        found = {field: _lookup(obj, field) for field in (IDENTITY, CLOTHING)}
        if all(isinstance(v, str) for v in found.values()):
            return found[IDENTITY].strip(), found[CLOTHING].strip()
        missing = [f for f, v in found.items() if not isinstance(v, str)]
        raise MalformedAnswer(f"the JSON object lacks the string field(s) {missing}")
    labelled = {}
    for field, names in _ALIASES.items():
        pattern = r"(?im)^\W*(?:" + "|".join(re.escape(n) for n in names) + r")\W*[:\-]\s*(.+)$"
        m = re.search(pattern, text)
        if m:
            labelled[field] = m.group(1).strip().strip('"').strip()
    if len(labelled) == 2:
        return labelled[IDENTITY], labelled[CLOTHING]
    raise MalformedAnswer("the answer is not the JSON object with identity_description and clothing_description")


def _json_object(text: str) -> Optional[Dict[str, Any]]:
    candidates = [text]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start:end + 1])
    for c in candidates:
        try:
            obj = json.loads(c)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def _lookup(obj: Dict[str, Any], field: str) -> Any:
    lowered = {str(k).strip().lower(): v for k, v in obj.items()}
    for name in _ALIASES[field]:
        if name in lowered:
            return lowered[name]
    return None
