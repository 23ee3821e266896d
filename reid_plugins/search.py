"""Search a gallery made by python -m reid_plugins.extract with an image or (text-to-image models) a text.

    python -m reid_plugins.search --gallery gallery --query person.jpg [--top-k 10] [--rerank] [--out result]
    python -m reid_plugins.search --gallery gallery --text "a woman in a red coat with a black bag"

Writes OUT.json (the query and its top-k: gallery path, score, cosine, label verdict) and OUT.png (the query, then
the top-k with their scores; green / red frames when the gallery has labels and the query's pid is known).
The query is embedded with the gallery's own model (recorded in FEATS.json); --config-file / MODEL.WEIGHTS override it.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from .inference.cli import add_model_arguments, run, set_threads, split_weights


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reid_plugins.search", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gallery", required=True, metavar="FEATS", help="FEATS.npy + FEATS.json from extract")
    query = p.add_mutually_exclusive_group(required=True)
    query.add_argument("--query", metavar="IMAGE", help="an image")
    query.add_argument("--text", help="a description (BDAMT2I models)")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--rerank", action="store_true",
                   help="k-reciprocal re-ranking (fast-reid's, on the CPU) of the --rerank-candidates best items")
    p.add_argument("--rerank-candidates", type=int, default=100)
    p.add_argument("--k1", type=int, default=20, help="re-ranking k1 (fast-reid's TEST.RERANK.K1)")
    p.add_argument("--k2", type=int, default=6, help="re-ranking k2")
    p.add_argument("--lambda", dest="lam", type=float, default=0.3, help="weight of the original distance")
    p.add_argument("--index", choices=("auto", "exact", "approx"), default="auto",
                   help="exact (faiss IndexFlatIP) or approximate (HNSW / IVF-PQ by size, cached as "
                        "FEATS.<kind>.faiss); auto: exact up to 200,000 items")
    p.add_argument("--query-pid", help="the query's identity (green / red frames); for --query it is read from a "
                                       "Market-1501 name when the gallery's labels came from such names")
    p.add_argument("--query-camid", help="the query's camera (same identity and camera: grey, as in evaluation)")
    p.add_argument("--out", default="search_result", metavar="OUT", help="writes OUT.json and OUT.png")
    add_model_arguments(p, required=False)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_intermixed_args(argv)
    weights, opts = split_weights(args.opts, required=False)
    from .inference.features import load_feature_file
    from .inference.images import MARKET_NAME
    from .inference.model import load_model
    from .inference.retrieval import RerankParams, gallery_index, search, write_outputs

    gallery = load_feature_file(args.gallery)
    recorded = gallery.manifest.get("model") or {}
    config_file = args.config_file or recorded.get("config_file", "")
    if not config_file:
        raise ValueError(f"{args.gallery}: the manifest names no model; pass --config-file and MODEL.WEIGHTS")
    if args.text is not None and recorded.get("has_text") is False and not args.config_file:
        raise ValueError(f"a text query needs a text-to-image model, but the gallery {args.gallery!r} was embedded "
                         f"with {recorded.get('meta_architecture')} (image only); use a gallery extracted with a "
                         f"BDAMT2I model")
    set_threads(args.threads)
    model = load_model(config_file, weights or recorded.get("weights", ""),
                       opts if args.config_file else recorded.get("opts", []) + opts)
    if args.text is not None:
        query_feature = model.embed_texts([args.text])[0]
        query = {"text": args.text}
    else:
        query_feature = model.embed_images([args.query])[0]
        query = {"image": os.path.abspath(args.query)}
        match = MARKET_NAME.match(os.path.basename(args.query))
        if args.query_pid is None and gallery.manifest.get("labels") == "market" and match:
            args.query_pid, args.query_camid = str(int(match.group(1))), args.query_camid or str(int(match.group(2)))
    query.update(pid=args.query_pid, camid=args.query_camid)
    rerank = RerankParams(args.k1, args.k2, args.lam, args.rerank_candidates) if args.rerank else None
    index = gallery_index(gallery, args.index)
    hits = search(gallery, query_feature, args.top_k, index, rerank, args.query_pid, args.query_camid)
    title = (f"{'text' if args.text is not None else 'image'} query, top-{len(hits)} of {len(gallery.features)} "
             f"({index.kind}{', re-ranked' if rerank else ''})")
    json_path, png_path = write_outputs(args.out, hits, query, gallery, title)
    for h in hits:
        print(f"{h.rank:3d}  {h.score:.4f}  {h.path}" + (f"  [{h.kind}]" if h.kind != "unknown" else ""))
    print(f"wrote {json_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
