"""`python -m reid_plugins.captioning {cluster,generate,validate}`: see docs/CAPTIONING.md."""
from __future__ import annotations

import argparse
import collections
import datetime as _dt
import json
import logging
import os
import sys
import urllib.parse
from typing import List, Optional

from ..utils.io import write_json_atomic
from ..utils.mllm_client import BASE_URL_ENV, DEFAULT_KEY_ENV, MODEL_ENV, MLLMClient
from ..utils.redaction import redact, redact_obj, setup_cli_logging
from .annotations import image_key, load_annotations, select_entries
from .config import get_captioning_cfg

logger = logging.getLogger("reid_plugins.captioning")

EXIT_OK, EXIT_ERROR, EXIT_UNFINISHED = 0, 1, 2


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config-file", default="", help="YAML with CAPTIONING.* keys")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("opts", nargs=argparse.REMAINDER,
                   help="config overrides as KEY VALUE pairs, e.g. STYLE.EPS 0.25 VALIDATION.MAX_ATTEMPTS 4")


def _add_client(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("chat server (OpenAI-compatible: OpenAI, vLLM, Ollama, ...)")
    g.add_argument("--base-url", default=None, help=f"e.g. http://localhost:8000/v1 (default: ${BASE_URL_ENV}, "
                                                    f"else OpenAI)")
    g.add_argument("--model", default=os.environ.get(MODEL_ENV), help=f"model name (default: ${MODEL_ENV})")
    g.add_argument("--api-key-env", default=DEFAULT_KEY_ENV,
                   help="NAME of the environment variable holding the API key (the key itself is never a flag)")
    g.add_argument("--timeout", type=float, default=120.0, help="seconds per HTTP request")
    g.add_argument("--max-retries", type=int, default=5,
                   help="retries with exponential backoff on 429 / 5xx / timeouts / connection errors")
    g.add_argument("--rpm", type=float, default=0.0, help="at most this many requests per minute (0: no limit)")
    g.add_argument("--workers", type=int, default=4, help="concurrent requests")


def _splits(text: str) -> List[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"--splits {text!r}: expected comma-separated split names, e.g. train")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reid_plugins.captioning",
        description="MLLM identity / clothing descriptions for text-to-image re-ID (BDAM §3.3): style clustering "
                    "of existing captions, generation with validation, resumable.")
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("cluster", help="cluster caption styles -> style_bank.json, style_report.json, style_map.png")
    c.add_argument("--annotations", required=True, help="annotation JSON (CUHK-PEDES reid_raw.json format)")
    c.add_argument("--out-dir", required=True)
    _add_client(c)
    _add_common(c)

    g = sub.add_parser("generate", help="generate identity / clothing descriptions -> annotation JSON")
    g.add_argument("--annotations", required=True, help="annotation JSON (CUHK-PEDES reid_raw.json format)")
    g.add_argument("--image-root", default=None, help="folder the file_path entries are relative to "
                                                      "(default: the annotation file's folder)")
    g.add_argument("--output", required=True, help="annotation JSON to write (input + the two descriptions)")
    g.add_argument("--journal", default=None, help="resumable JSONL journal (default: <output>.journal.jsonl)")
    styles = g.add_mutually_exclusive_group(required=True)
    styles.add_argument("--styles", help="style_bank.json written by `cluster`")
    styles.add_argument("--no-styles", action="store_true", help="no style exemplars (the paper's w/o-style baseline)")
    g.add_argument("--splits", type=_splits, default=["train"], help="comma-separated splits to describe "
                                                                      "(default: train)")
    g.add_argument("--limit", type=int, default=0, help="describe only the first N selected images (a trial run)")
    g.add_argument("--allow-partial", action="store_true",
                   help="write the output even if some images are unfinished (they keep their input keys)")
    _add_client(g)
    _add_common(g)

    v = sub.add_parser("validate", help="check the descriptions already in an annotation file")
    v.add_argument("--annotations", required=True)
    v.add_argument("--splits", type=_splits, default=["train"], help="comma-separated (default: train)")
    v.add_argument("--report", default=None, help="write per-image problems to this JSON file")
    _add_common(v)
    return parser


def _client(args) -> MLLMClient:
    return MLLMClient(args.model, base_url=args.base_url, api_key_env=args.api_key_env, timeout=args.timeout,
                      max_retries=args.max_retries, rpm=args.rpm)


def cmd_cluster(args, cfg) -> int:
    from .styles import build_style_bank

    entries = load_annotations(args.annotations)
    client = _client(args) if cfg.CAPTIONING.STYLE.ABSTRACTION == "llm" else None
    try:
        report = build_style_bank(entries, cfg, args.out_dir, client=client, workers=args.workers,
                                  progress=not args.no_progress)
    finally:
        if client is not None:
            client.close()
    print(f"{report['captions']} captions -> {report['num_clusters']} style clusters "
          f"({report['method']}: {report['raw_clusters']} found, {report['noise_reassigned']} noise re-assigned, "
          f"{len(report['merged'])} small merged); sizes {report['sizes']}")
    if "ari_vs_known_styles" in report:
        print(f"adjusted Rand index vs the {report['known_styles']} known style labels: "
              f"{report['ari_vs_known_styles']:.3f}")
    print(f"wrote {os.path.join(args.out_dir, 'style_bank.json')}, style_report.json, {report['map']}")
    return EXIT_OK


def cmd_generate(args, cfg) -> int:
    from .generate import DescriptionGenerator, generate_descriptions, merge_into_annotations, summarize
    from ..utils.journal import Journal
    from .style_bank import StyleBank

    if os.path.realpath(args.output) == os.path.realpath(args.annotations):
        raise ValueError(f"--output {args.output!r} is the input annotation file; write to a new file so that the "
                         f"source annotations stay intact")
    entries = load_annotations(args.annotations)
    selected = select_entries(entries, args.splits)
    if args.limit:
        selected = selected[:args.limit]
    if not selected:
        raise ValueError(f"{args.annotations}: no entries in the splits {args.splits}; the file has "
                         f"{sorted({e['split'] for e in entries})}")
    image_root = args.image_root or os.path.dirname(os.path.abspath(args.annotations))
    bank = None if args.no_styles else StyleBank.load(args.styles)
    journal_path = args.journal or _stem(args.output) + ".journal.jsonl"
    client = _client(args)
    with Journal(journal_path) as journal:
        _note_run(journal, args, cfg, client)
        try:
            run = generate_descriptions(selected, image_root, DescriptionGenerator(client, cfg, bank), journal,
                                        workers=args.workers, progress=not args.no_progress)
        finally:
            client.close()
        keys = [image_key(e) for e in selected]
        summary = summarize(keys, journal.done, run, client.requests_sent, bank)
        summary.update(journal=journal_path, output=None)
        if summary["unfinished"] == 0 or args.allow_partial:
            write_json_atomic(args.output, merge_into_annotations(entries, journal.done), ensure_ascii=False)
            summary["output"] = args.output
    summary_path = _stem(args.output) + ".summary.json"
    write_json_atomic(summary_path, redact_obj(summary), indent=1, ensure_ascii=False)
    _print_summary(summary, summary_path)
    return EXIT_OK if summary["unfinished"] == 0 else EXIT_UNFINISHED


def cmd_validate(args, cfg) -> int:
    from .validation import validate_descriptions

    v = cfg.CAPTIONING.VALIDATION
    entries = select_entries(load_annotations(args.annotations), args.splits)
    counts: collections.Counter = collections.Counter()
    problems_by_image = {}
    described = 0
    for e in entries:
        if "identity_description" not in e and "clothing_description" not in e:
            continue
        described += 1
        problems = validate_descriptions(e.get("identity_description", ""), e.get("clothing_description", ""),
                                         e["captions"], min_words=v.MIN_WORDS, max_words=v.MAX_WORDS,
                                         require_coverage=v.REQUIRE_COVERAGE,
                                         identity_no_clothing=v.IDENTITY_NO_CLOTHING)
        if problems:
            problems_by_image[image_key(e)] = [p.to_dict() for p in problems]
            counts.update(p.code for p in problems)
    report = {"entries": len(entries), "described": described, "passing": described - len(problems_by_image),
              "failing": len(problems_by_image), "problem_counts": dict(counts), "problems": problems_by_image}
    if args.report:
        write_json_atomic(args.report, report, indent=1, ensure_ascii=False)
    print(f"{len(entries)} entries, {described} described, {report['passing']} pass, {report['failing']} fail"
          + (f"; problems: {dict(counts)}" if counts else ""))
    return EXIT_OK


def _note_run(journal, args, cfg, client) -> None:
    """A 'run' record: what produced the following items (no key). Warns when resuming with another model."""
    previous = {r.get("model") for r in journal.runs} - {None}
    if previous and previous != {client.model}:
        logger.warning("journal %s has items from model(s) %s; this run uses %s", journal.path, sorted(previous),
                       client.model)
    journal.append({"type": "run", "started": _dt.datetime.now(_dt.timezone.utc).isoformat(),
                    "model": client.model, "base_url": _redact_url(client.base_url), "styles": args.styles,
                    "prompt": json.loads(json.dumps(cfg.CAPTIONING.PROMPT)),
                    "validation": json.loads(json.dumps(cfg.CAPTIONING.VALIDATION)), "already_done": len(journal.done)})


def _print_summary(s, path) -> None:
    t = s["this_run"]
    clusters = "no style exemplars" if s["clusters"] is None else \
        f"{s['clusters']['count']} style clusters, sizes {s['clusters']['sizes']}"
    print(f"generated {s['generated']}, retried {s['retried']}, rejected {s['rejected']}, unfinished "
          f"{s['unfinished']} of {s['selected']} images; {clusters}")
    print(f"this run: {t['finished']} finished, {t['skipped_as_done']} already done, {t['failed']} failed, "
          f"{t['http_requests']} HTTP requests")
    if s["unfinished"]:
        print("re-run the same command to resume: finished images are not sent again")
    print(f"summary: {path}" + (f"; annotations: {s['output']}" if s["output"] else "; annotations not written"))


def _redact_url(url: Optional[str]) -> Optional[str]:
    """The URL without user:password@ or ?query, where credentials sometimes hide."""
    if not url:
        return url
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        return url.split("?", 1)[0].rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else ""),
                                    parts.path, "", ""))


def _stem(path: str) -> str:
    return path[:-5] if path.endswith(".json") else path


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    setup_cli_logging("%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = get_captioning_cfg(args.config_file, args.opts)
        return {"cluster": cmd_cluster, "generate": cmd_generate, "validate": cmd_validate}[args.command](args, cfg)
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as e:
        print(f"error: {redact(e)}", file=sys.stderr)
        return EXIT_ERROR
