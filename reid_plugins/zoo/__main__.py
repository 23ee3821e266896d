"""python -m reid_plugins.zoo list [--json] | build [--only NAME ...] [--force] | verify [--only NAME ...]"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m reid_plugins.zoo", description=(
        "Stand-in pretrained checkpoints, trained on the synthetic web corpus SynthPed-W only (no benchmark domain). "
        "Configs load them as zoo:<name>."))
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="the entries, where their files are and whether they are present")
    ls.add_argument("--json", action="store_true", help="print a JSON list (name, stands_for, path, sha256, present, ...)")
    for name, text in (("build", "train, export and record entries (resumes an interrupted build)"),
                       ("verify", "check each file's sha256 and that a rebuild reproduces the first training steps")):
        q = sub.add_parser(name, help=text)
        q.add_argument("--only", nargs="+", metavar="NAME", help="these entries only (default: all)")
        q.add_argument("--root", default=os.environ.get("FASTREID_DATASETS", "datasets"),
                       help="datasets root; SynthPed-W is generated under <root>/synthped/domain_W when missing")
        q.add_argument("--quiet", action="store_true", help="no progress bars")
        if name == "build":
            q.add_argument("--force", action="store_true", help="rebuild entries that are up to date")
            q.add_argument("--workers", type=int, default=1, help="image-loading worker processes")
            q.add_argument("--work-dir", default=None, help="resume state (default outputs/zoo_build/<name>)")
        else:
            q.add_argument("--no-replay", action="store_true", help="check the sha256 only")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(name)s]: %(message)s", datefmt="%H:%M:%S")
    from . import builder as zoo_build
    from .entries import ENTRIES
    from .store import ZooError

    if args.command == "list":
        rows = zoo_build.listing()
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        for r in rows:
            state = "present" if r["present"] else "missing"
            print(f"{r['name']:16s} {state:8s} {r['config_value']:20s} stands for {r['stands_for']}\n"
                  f"{'':16s} {r['path']}  sha256 {r['sha256']}")
        return 0
    unknown = sorted(set(args.only or ()) - set(ENTRIES))
    if unknown:
        print(f"python -m reid_plugins.zoo {args.command}: no entry {unknown}; the zoo has {sorted(ENTRIES)}",
              file=sys.stderr)
        return 2
    try:
        if args.command == "build":
            status = zoo_build.build(args.only, root=args.root, force=args.force, workers=args.workers,
                                     progress=not args.quiet, work_root=args.work_dir)
            for name, s in status.items():
                print(f"{name}: {s}")
            return 0
        results = zoo_build.verify(args.only, root=args.root, replay=not args.no_replay, progress=not args.quiet)
    except ZooError as e:
        print(f"python -m reid_plugins.zoo {args.command}: error: {e}", file=sys.stderr)
        return 1
    bad = 0
    for name, r in results.items():
        if r["ok"]:
            extra = (f", first {r['replayed_steps']} steps replayed (max relative difference {r['max_rel_diff']:.1e})"
                     if "replayed_steps" in r else "")
            print(f"{name}: ok (sha256 matches{extra})")
        else:
            bad += 1
            for problem in r["problems"]:
                print(f"{name}: FAILED: {problem}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
