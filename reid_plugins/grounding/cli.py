"""python -m reid_plugins.grounding {label, export-official, eval-calibration} (see docs/GROUNDING.md)."""
from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from typing import List, Optional, Sequence

import numpy as np

from ..utils.redaction import redact, setup_cli_logging
from .backends import BACKENDS, build_backend
from .cache import MASKS_FILE, dataset_cache_dir, read_mask_cache
from .config import DEFAULT_CACHE_SUBDIR, MaskSettings, settings_from_args
from .label import FatalBackendError, LabelItem, format_summary, label_items
from .parsing import JSON_COORDS, MULTI_BOX_RULES, PLAIN_COORDS
from .voting import VOTE_RULES, unpack_masks

logger = logging.getLogger("reid_plugins.grounding")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SPLITS = ("train", "query", "gallery")


def _names(value: str) -> List[str]:
    # comma-separated rather than nargs="+", which would swallow the trailing KEY VALUE opts
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected one or more comma-separated names, got {value!r}")
    return names


def _splits(value: str) -> List[str]:
    names = _names(value)
    bad = [n for n in names if n not in SPLITS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown split(s) {bad}; expected some of {','.join(SPLITS)}")
    return names


def _label_parser(sub) -> None:
    p = sub.add_parser("label", help="label a registered dataset or an image folder with a backend into a cache",
                       description="Ask a grounding backend for head / upper-body / legs boxes of every image, "
                                   "calibrate them per part, vote them onto the patch grid and write "
                                   "<out>/<dataset>/masks.npz. Interrupted runs resume (answers.jsonl).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", type=_names, help="registered fast-reid dataset name(s), comma-separated, e.g. "
                                                  "SynthPedA or Market1501,DukeMTMC")
    src.add_argument("--images", help="a folder of images (searched recursively)")
    p.add_argument("--root", default=os.getenv("FASTREID_DATASETS", "datasets"),
                   help="datasets root (default: $FASTREID_DATASETS or ./datasets)")
    p.add_argument("--name", default="", help="--images: cache name (default: the folder's name)")
    p.add_argument("--splits", type=_splits, default=["train"],
                   help=f"dataset splits to label, comma-separated from {','.join(SPLITS)} (default: train, what MUVA "
                        f"reads)")
    p.add_argument("--backend", required=True, choices=BACKENDS)
    p.add_argument("--out", default="", help=f"cache root (default: <root>/{DEFAULT_CACHE_SUBDIR}; for --images the "
                                             f"folder's parent/{DEFAULT_CACHE_SUBDIR}); the cache is <out>/<name>/")
    g = p.add_argument_group("openai backend")
    g.add_argument("--model", default=os.getenv("OPENAI_MODEL", ""), help="model name (default: $OPENAI_MODEL)")
    g.add_argument("--base-url", default="", help="server URL, e.g. http://localhost:8000/v1 (default: "
                                                  "$OPENAI_BASE_URL)")
    g.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="name of the environment variable holding the API key (the key itself is never a flag)")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    g.add_argument("--max-retries", type=int, default=5, help="retries on 429 / 5xx / timeouts (exponential backoff)")
    g.add_argument("--workers", type=int, default=4, help="concurrent requests (HTTP backends)")
    g = p.add_argument_group("hf backend")
    g.add_argument("--model-dir", default="", help="local transformers model directory")
    g.add_argument("--trust-remote-code", action="store_true", help="allow the model directory's own code to run")
    g.add_argument("--device", default="cpu")
    g = p.add_argument_group("answers, calibration and voting")
    g.add_argument("--max-tokens", type=int, default=128)
    g.add_argument("--multi-box", choices=MULTI_BOX_RULES, default="union", help="several boxes for one part")
    g.add_argument("--json-coords", choices=JSON_COORDS, default="pixels", help="bbox_2d coordinates")
    g.add_argument("--plain-coords", choices=PLAIN_COORDS, default="auto", help="plain number lists")
    g.add_argument("--grid", nargs=2, type=int, metavar=("ROWS", "COLS"), help="patch grid (default MODEL.MASKS.GRID)")
    g.add_argument("--vote-rule", choices=VOTE_RULES, help="default MODEL.MASKS.VOTE_RULE (center)")
    g.add_argument("--vote-fraction", type=float)
    g.add_argument("--config-file", default="", help="a yaml with MODEL.MASKS.* keys")
    g = p.add_argument_group("run")
    g.add_argument("--limit", type=int, help="ask for at most N images in this run (rerun to continue)")
    g.add_argument("--max-failed-fraction", type=float, default=0.0, metavar="F",
                   help="write the cache even if up to this fraction of the images failed (their parts become "
                        "calibrated stripes; default 0: any failed image leaves no cache and exits with 1)")
    g.add_argument("--visualize", type=int, default=0, metavar="K", help="write <cache>/visualize.png with K images")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("opts", nargs=argparse.REMAINDER,
                   help="MODEL.MASKS.* KEY VALUE pairs (e.g. MODEL.MASKS.CALIB.IQR_K 2)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reid_plugins.grounding",
                                     description="VGE part pseudo-masks (MUVA §3.2.3): label images with a grounding "
                                                 "backend, calibrate, vote onto the patch grid, cache.")
    sub = parser.add_subparsers(dest="command", required=True)
    _label_parser(sub)
    e = sub.add_parser("export-official", help="write a cache as the MUVA authors' mask pickle")
    e.add_argument("--cache", required=True, help="a cache folder (<out>/<dataset>) or its masks.npz")
    e.add_argument("--out", required=True, help="output .pkl")
    e.add_argument("--uncalibrated", action="store_true", help="export the raw-box masks (Table 9 'w/o calibration')")
    c = sub.add_parser("eval-calibration", help="measure calibration on the synthetic benchmark with oracle-noisy "
                                                "(injected errors caught vs clean boxes replaced)")
    c.add_argument("--root", default=os.getenv("FASTREID_DATASETS", "datasets"))
    c.add_argument("--dataset", type=_names, default=["SynthPedA", "SynthPedB", "SynthPedC", "SynthPedD"],
                   help="synthetic datasets, comma-separated (default: SynthPedA,SynthPedB,SynthPedC,SynthPedD)")
    c.add_argument("--config-file", default="")
    c.add_argument("opts", nargs=argparse.REMAINDER, help="MODEL.MASKS.* KEY VALUE pairs")
    return parser


def dataset_items(name: str, root: str, splits: Sequence[str]) -> List[LabelItem]:
    from fastreid.data.datasets import DATASET_REGISTRY

    if name not in DATASET_REGISTRY._obj_map:
        raise SystemExit(f"--dataset {name!r} is not a registered fast-reid dataset; registered: "
                         f"{', '.join(sorted(DATASET_REGISTRY._obj_map))}")
    data = DATASET_REGISTRY.get(name)(root=root)
    seen, items = set(), []
    for split in splits:
        for entry in getattr(data, split):
            path = entry[0]
            if path in seen:
                continue
            seen.add(path)
            rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root)).replace(os.sep, "/")
            items.append(LabelItem(path, rel))
    return items


def folder_items(folder: str) -> List[LabelItem]:
    if not os.path.isdir(folder):
        raise SystemExit(f"--images {folder!r} is not a directory")
    items = []
    for dirpath, dirnames, files in os.walk(folder):
        dirnames.sort()
        for f in sorted(files):
            if f.lower().endswith(IMAGE_EXTS):
                path = os.path.join(dirpath, f)
                items.append(LabelItem(path, os.path.relpath(path, folder).replace(os.sep, "/")))
    if not items:
        raise SystemExit(f"--images {folder!r} holds no {'/'.join(IMAGE_EXTS)} files")
    return items


def _command(args, name: str, out_root: str, settings: MaskSettings) -> str:
    """The CLI call that regenerates this cache (never carries a key: keys come from the environment)."""
    src = ["--images", args.images, "--name", name] if args.images else ["--dataset", name, "--root", args.root]
    parts = ["python", "-m", "reid_plugins.grounding", "label", *src, "--backend", args.backend, "--out", out_root,
             "--grid", str(settings.grid[0]), str(settings.grid[1]), "--vote-rule", settings.vote_rule]
    if args.splits != ["train"] and not args.images:
        parts += ["--splits", ",".join(args.splits)]
    if args.backend == "openai":
        parts += ["--model", args.model] + (["--base-url", args.base_url] if args.base_url else [])
        if args.api_key_env != "OPENAI_API_KEY":
            parts += ["--api-key-env", args.api_key_env]
    if args.backend == "hf":
        parts += ["--model-dir", args.model_dir] + (["--trust-remote-code"] if args.trust_remote_code else [])
    for flag, value, default in (("--multi-box", args.multi_box, "union"),
                                 ("--json-coords", args.json_coords, "pixels"),
                                 ("--plain-coords", args.plain_coords, "auto")):
        if value != default:
            parts += [flag, value]
    if args.config_file:
        parts += ["--config-file", args.config_file]
    return " ".join(shlex.quote(p) for p in parts)


def visualize(out_dir: str, items: Sequence[LabelItem], k: int) -> str:
    from .plots import save_overlay_grid

    cache = read_mask_cache(os.path.join(out_dir, MASKS_FILE))
    rows = np.unique(np.linspace(0, len(items) - 1, num=min(k, len(items))).round().astype(int))
    gh, gw = cache.grid
    masks = np.stack([unpack_masks(cache.masks[r], gh * gw) for r in rows])
    path = os.path.join(out_dir, "visualize.png")
    save_overlay_grid([items[r].path for r in rows], cache.raw_boxes[rows].astype(float),
                      cache.boxes[rows].astype(float), masks, cache.grid, path)
    return path


def run_label(args, on_image=None) -> List[dict]:
    settings = settings_from_args(args)
    backend = build_backend(args.backend, settings, model=args.model, base_url=args.base_url,
                            api_key_env=args.api_key_env, timeout=args.timeout, max_retries=args.max_retries,
                            max_tokens=args.max_tokens, model_dir=args.model_dir,
                            trust_remote_code=args.trust_remote_code, device=args.device, multi_box=args.multi_box,
                            json_coords=args.json_coords, plain_coords=args.plain_coords)
    if args.images:
        sources = [(args.name or os.path.basename(os.path.normpath(args.images)), folder_items(args.images))]
        out_root = args.out or os.path.join(os.path.dirname(os.path.abspath(args.images)), DEFAULT_CACHE_SUBDIR)
    else:
        sources = [(name, dataset_items(name, args.root, args.splits)) for name in args.dataset]
        out_root = args.out or os.path.join(args.root, DEFAULT_CACHE_SUBDIR)
    summaries = []
    try:
        for name, items in sources:
            out_dir = dataset_cache_dir(out_root, name)
            summary = label_items(items, backend, out_dir, settings, dataset=name,
                                  command=_command(args, name, out_root, settings), workers=args.workers,
                                  limit=args.limit, on_image=on_image, progress=not args.quiet,
                                  max_failed_fraction=args.max_failed_fraction)
            for line in format_summary(summary):
                print(line)
            if summary["cache_written"]:
                if args.visualize:
                    try:
                        print(f"overlays: {visualize(out_dir, items, args.visualize)}")
                    except OSError as e:  # an image the cache could do without (its parts are stripes)
                        print(f"warning: overlays not written: {e}", file=sys.stderr)
                print(f"cache: {os.path.join(out_dir, MASKS_FILE)} (MODEL.MASKS.BACKEND cache, "
                      f"MODEL.MASKS.CACHE_DIR {out_root})")
            elif not summary.get("left_for_next_run"):
                print(f"error: {summary['failed_images']} of {summary['images']} images failed (their requests "
                      f"failed after the retries; see the warnings above); {MASKS_FILE} not written. Rerun the "
                      f"same command to ask for them again, or pass --max-failed-fraction to accept calibrated "
                      f"stripes for them", file=sys.stderr)
            summaries.append(summary)
    finally:
        backend.close()
    return summaries


def failed_runs(summaries: Sequence[dict]) -> List[dict]:
    """The labelled sets whose cache was not written because too many images failed."""
    return [s for s in summaries if not s["cache_written"] and not s.get("left_for_next_run")]


def run_export(args) -> str:
    from .official import export_official_pickle

    path = args.cache if args.cache.endswith(".npz") else os.path.join(args.cache, MASKS_FILE)
    cache = read_mask_cache(path)
    gh, gw = cache.grid
    packed = cache.raw_masks if args.uncalibrated else cache.masks
    masks = {}
    for rel, row in zip(cache.relpaths.tolist(), unpack_masks(packed, gh * gw)):
        base = os.path.basename(rel)
        if base in masks:
            raise SystemExit(f"{path}: two images share the basename {base!r}, which the authors' format keys by; "
                             f"export each dataset separately")
        masks[base] = row
    export_official_pickle(args.out, masks)
    print(f"wrote {len(masks)} masks to {args.out}")
    return args.out


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    setup_cli_logging("%(levelname)s %(name)s: %(message)s")
    if args.command == "label":
        if args.opts and args.opts[0] == "--":
            args.opts = args.opts[1:]
        try:
            summaries = run_label(args)
        except FatalBackendError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except (FileNotFoundError, ValueError, KeyError) as e:  # bad arguments, config or input: named, no traceback
            print(f"error: {redact(e)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted: answers so far are journaled; rerun the same command to continue", file=sys.stderr)
            return 130
        return 1 if failed_runs(summaries) else 0
    if args.command == "export-official":
        run_export(args)
        return 0
    from .evaluate import run_eval_calibration

    run_eval_calibration(args)
    return 0
