"""CLI: generate the synthetic multi-domain pedestrian benchmark (and/or its preview contact sheet).

    python -m reid_plugins.data.synthetic --root datasets --preset default --workers 2
    python -m reid_plugins.data.synthetic --root datasets --preview synthped.png
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from .domains import DOMAIN_NAMES
from .generate import ENV_PRESET, SyntheticConfigError, ensure_generated, synth_dir
from .presets import DEFAULT_PRESET, PRESETS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reid_plugins.data.synthetic",
        description="Generate the synthetic multi-domain Re-ID benchmark in Market-1501 layout under <root>/synthped/ "
                    "(cached: re-running with the same preset/seed does nothing).")
    p.add_argument("--root", default=os.environ.get("FASTREID_DATASETS", "datasets"),
                   help="datasets root (default: $FASTREID_DATASETS or ./datasets); data goes to <root>/synthped/")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help=f"size preset (default: ${ENV_PRESET} or {DEFAULT_PRESET!r})")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed => byte-identical files)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: min(2, cpus); 1 = in-process)")
    p.add_argument("--force", action="store_true", help="delete and regenerate a root made with another configuration")
    p.add_argument("--domains", nargs="+", choices=DOMAIN_NAMES, default=None, help="generate only these domains")
    p.add_argument("--train-ids", type=int, default=None, help="override: training identities per domain")
    p.add_argument("--test-ids", type=int, default=None, help="override: test identities per domain")
    p.add_argument("--imgs-per-cam", type=int, nargs=2, metavar=("MIN", "MAX"), default=None,
                   help="override: images of an identity per camera")
    p.add_argument("--cams-per-id", type=int, nargs=2, metavar=("MIN", "MAX"), default=None,
                   help="override: cameras an identity appears in")
    p.add_argument("--preview", metavar="PNG", default=None,
                   help="also write a contact sheet (sample images with part boxes) to this PNG")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {"train_ids": args.train_ids, "test_ids": args.test_ids,
                 "imgs_per_cam": tuple(args.imgs_per_cam) if args.imgs_per_cam else None,
                 "cams_per_id": tuple(args.cams_per_id) if args.cams_per_id else None}
    t0 = time.time()
    try:
        manifest = ensure_generated(args.root, preset=args.preset, seed=args.seed, workers=args.workers,
                                    domains=args.domains, force=args.force, overrides=overrides,
                                    progress=not args.quiet)
    except (SyntheticConfigError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    base = synth_dir(args.root)
    print(f"synthped preset={manifest['preset']} seed={manifest['seed']} at {base} ({time.time() - t0:.1f} s)")
    for d, counts in manifest["domains"].items():
        print(f"  {d}: " + ", ".join(f"{s} {c['ids']} ids / {c['images']} imgs / {c['cameras']} cams"
                                     for s, c in counts.items()))
    if args.preview:
        from .preview import contact_sheet
        print("preview:", contact_sheet(base, args.preview, domains=list(manifest["domains"])))
    else:
        print("preview:", os.path.join(base, "preview.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
