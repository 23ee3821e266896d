"""Embed a folder or a list of images with a trained model into FEATS.npy + FEATS.json (see reid_plugins.inference.
features for the format).

    python -m reid_plugins.extract --config-file configs/MUVA/Synth/MUVA_tiny_A.yml \\
        MODEL.WEIGHTS logs/synth/muva_tiny_A/model_final.pth --images photos/ --out gallery

Resumes by chunks: a killed run started again with the same arguments continues where it stopped.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from .inference.cli import add_model_arguments, run, set_threads, split_weights


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reid_plugins.extract", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p)
    p.add_argument("--images", required=True, metavar="DIR_OR_LIST",
                   help="a folder (searched recursively) or a text file with one image path per line "
                        "(optionally path<TAB>pid<TAB>camid)")
    p.add_argument("--out", required=True, metavar="FEATS", help="writes FEATS.npy and FEATS.json")
    p.add_argument("--labels", choices=("none", "market"), default="none",
                   help="market: read pid and camera from Market-1501 file names (for green / red rank lists)")
    p.add_argument("--on-error", choices=("fail", "skip"), default="fail",
                   help="an unreadable image stops the run (fail, default) or is recorded under 'skipped' in "
                        "FEATS.json and left out (skip)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--chunk-size", type=int, default=1024, help="images per resumable chunk")
    p.add_argument("--workers", type=int, default=0, help="image-decoding worker processes")
    p.add_argument("--force", action="store_true", help="replace FEATS made from other images or another model")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_intermixed_args(argv)
    weights, opts = split_weights(args.opts)
    from .inference.features import extract_features
    from .inference.images import list_images
    from .inference.model import load_model

    images = list_images(args.images, args.labels)  # before loading the model: bad input fails at once
    set_threads(args.threads)
    model = load_model(args.config_file, weights, opts)
    result = extract_features(model, images, args.out, batch_size=args.batch_size, chunk_size=args.chunk_size,
                              on_error=args.on_error, num_workers=args.workers, progress=not args.quiet,
                              force=args.force)
    skipped = result.manifest["skipped"]
    print(f"{result.path}: {len(result.features)} x {result.features.shape[1]} features"
          + (f"; {len(skipped)} unreadable images skipped (listed in the manifest)" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
