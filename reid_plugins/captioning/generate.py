"""Identity / clothing description generation for an annotation file: prompts, validation with feedback retries,
journal, output annotation JSON and the run summary."""
from __future__ import annotations

import copy
import datetime as _dt
import logging
import os
from typing import Any, Dict, List, Optional, Sequence

from ..utils.images import image_data_url
from ..utils.journal import Journal
from ..utils.mllm_client import ChatResult, MalformedResponse, MLLMClient
from .annotations import image_key
from .prompts import MalformedAnswer, build_messages, describe_prompt, feedback_message, parse_answer
from .runner import run_journaled
from .style_bank import StyleBank
from .validation import CLOTHING, IDENTITY, Problem, is_refusal, validate_descriptions

logger = logging.getLogger(__name__)

GENERATED, REJECTED = "generated", "rejected"


class DescriptionGenerator:
    """Describes one image: prompt (with style exemplars), up to VALIDATION.MAX_ATTEMPTS chat turns with feedback,
    and returns the journal record. Raises the client's errors when the server fails (not the model)."""

    def __init__(self, client: MLLMClient, cfg, style_bank: Optional[StyleBank] = None):
        self.client = client
        self.p = cfg.CAPTIONING.PROMPT
        self.v = cfg.CAPTIONING.VALIDATION
        self.style_bank = style_bank

    def style_for(self, key: str):
        if self.style_bank is None or self.p.NUM_EXEMPLARS == 0:
            return None, []
        return self.style_bank.choose(key, self.p.NUM_EXEMPLARS, seed=self.p.SEED)

    def describe(self, entry: Dict[str, Any], image_path: str) -> Dict[str, Any]:
        key = image_key(entry)
        cluster, exemplars = self.style_for(key)
        prompt = describe_prompt(self.p.IDENTITY_ATTRIBUTES, self.p.CLOTHING_ATTRIBUTES, self.p.TARGET_WORDS,
                                 exemplars)
        messages = build_messages(prompt, image_data_url(image_path))
        identity = clothing = ""
        problems: List[Problem] = []
        answered = False  # did any attempt get an answer from the model (as opposed to a broken server reply)?
        attempts = 0
        for attempts in range(1, self.v.MAX_ATTEMPTS + 1):
            try:
                result = self.client.chat(messages, temperature=self.p.TEMPERATURE, max_tokens=self.p.MAX_TOKENS,
                                          json_mode=self.p.JSON_MODE)
            except MalformedResponse:
                if attempts == self.v.MAX_ATTEMPTS and not answered:
                    raise  # the server, not the model, failed every time: not finished, a re-run retries it
                continue
            answered = True
            identity, clothing, problems = self._check(result, entry.get("captions", []))
            if not problems:
                break
            messages = messages + [{"role": "assistant", "content": result.text or (result.refusal or "")},
                                   feedback_message(problems)]
        record = {"status": REJECTED if problems else GENERATED, IDENTITY: identity, CLOTHING: clothing,
                  "attempts": attempts, "problems": [p.to_dict() for p in problems], "style_cluster": cluster,
                  "model": self.client.model, "finished": _dt.datetime.now(_dt.timezone.utc).isoformat()}
        return record

    def _check(self, result: ChatResult, captions: Sequence[str]):
        if result.refusal or (is_refusal(result.text) and "{" not in result.text):
            return "", "", [Problem("response", "refusal", "you declined the task; describe only the visible "
                                                           "appearance of the person, without identifying anyone")]
        try:
            identity, clothing = parse_answer(result.text)
        except MalformedAnswer as e:
            if result.finish_reason == "length":
                return "", "", [Problem("response", "truncated", "the answer was cut off; write shorter descriptions")]
            return "", "", [Problem("response", "malformed", str(e))]
        return identity, clothing, validate_descriptions(
            identity, clothing, captions, min_words=self.v.MIN_WORDS, max_words=self.v.MAX_WORDS,
            require_coverage=self.v.REQUIRE_COVERAGE, identity_no_clothing=self.v.IDENTITY_NO_CLOTHING)


def check_images(entries: Sequence[Dict[str, Any]], image_root: str) -> None:
    """Fails before anything is sent when images are missing (a half-run would waste requests)."""
    missing = [image_key(e) for e in entries if not os.path.isfile(os.path.join(image_root, image_key(e)))]
    if missing:
        raise FileNotFoundError(f"{len(missing)} of {len(entries)} images are missing under --image-root "
                                f"{image_root!r}, e.g. {missing[:3]}")


def generate_descriptions(entries: Sequence[Dict[str, Any]], image_root: str, generator: DescriptionGenerator,
                          journal: Journal, *, workers: int = 1, progress: bool = True):
    """Describes every entry not yet in the journal; returns runner.RunResult."""
    check_images(entries, image_root)
    jobs = [(image_key(e), (lambda e=e: generator.describe(e, os.path.join(image_root, image_key(e)))))
            for e in entries]
    return run_journaled(jobs, journal, workers=workers, desc="describing", progress=progress)


def merge_into_annotations(all_entries: Sequence[Dict[str, Any]], done: Dict[str, Dict[str, Any]]) -> List[Dict]:
    """The input annotation list with the journal's results: generated entries get identity_description /
    clothing_description; rejected ones lose any such keys (no unvalidated text reaches the trainer); entries
    that were not processed are copied unchanged."""
    out = []
    for e in all_entries:
        e = copy.deepcopy(e)
        rec = done.get(image_key(e))
        if rec is not None:
            if rec["status"] == GENERATED:
                e[IDENTITY], e[CLOTHING] = rec[IDENTITY], rec[CLOTHING]
            else:
                e.pop(IDENTITY, None)
                e.pop(CLOTHING, None)
        out.append(e)
    return out


def summarize(selected_keys: Sequence[str], done: Dict[str, Dict[str, Any]], run_result, requests_sent: int,
              style_bank: Optional[StyleBank]) -> Dict[str, Any]:
    """Counts over the selected items (this run and earlier runs of the same journal)."""
    recs = [done[k] for k in selected_keys if k in done]
    rejected = [r for r in recs if r["status"] == REJECTED]
    return {
        "selected": len(selected_keys),
        "finished": len(recs),
        "generated": sum(r["status"] == GENERATED for r in recs),
        "retried": sum(r["attempts"] > 1 for r in recs),
        "rejected": len(rejected),
        "unfinished": len(selected_keys) - len(recs),
        "this_run": {"finished": run_result.finished, "skipped_as_done": run_result.skipped,
                     "failed": len(run_result.failed), "http_requests": requests_sent},
        "clusters": None if style_bank is None else {"count": style_bank.num_clusters, "sizes": style_bank.sizes},
        "rejected_items": [{"file_path": r["key"], "attempts": r["attempts"],
                            "problems": [p["message"] for p in r["problems"]]} for r in rejected],
        "failed_items": run_result.failed,
    }
