#!/usr/bin/env python
"""Cost of BDAM's two-stage retrieval relative to dual-encoder retrieval at CUHK-PEDES test scale, per fusion variant,
and against a 4-layer Transformer fusion of the same width (paper Sec. 4.5).

    python benchmarks/bdam_rerank.py [--texts 6156] [--images 3074] [--topk 32] [--repeats 3] [--threads 1]
        [--variants vector tokens3 sequence sequence_bi transformer4] [--token-pairs 512] [--json out.json]

Both stages start from encoded features (encoding the queries and the gallery is common to every mode, not timed):
  dual    : cosine similarity of every text with every image + the full ranking (argsort), as retrieval_metrics does
  re-rank : the same, then the paper-sized fusion head (d_model 256, 2 Mamba layers, d_state 16, d_conv 4) scores the
            top-K images per text (K x texts = 197k pairs) and re-orders them (bdam/rerank.py)
Variants (bdam/fusion.py): vector / tokens3 take the pooled 768-d features; sequence (sequence_bi: bidirectional) scans
the 196 gated identity tokens of a 224x224 ViT-B/16 image followed by the caption's tokens (lengths drawn uniformly
in [16, 77], padded to 77); transformer4 is a 4-layer pre-norm Transformer encoder (width 256, 8 heads, MLP 1024) over
the same token sequence, read at the same position. Token variants are timed on --token-pairs pairs and extrapolated
(pairs are scored independently in chunks, so the cost per pair is constant); pooled variants score every pair.
All variants are timed side by side in one process (each once per repeat, median of --repeats); each then runs
once more in its own subprocess, which reports its peak RSS; "stored" is the size of the aligned features the
evaluator keeps for the whole test split (float32).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import reid_plugins  # noqa: F401  (makes the `bdam` project package importable)

VARIANTS = ("vector", "tokens3", "sequence", "sequence_bi", "transformer4")
FEAT, EMBED, DIM = 768, 512, 256      # paper: 768-d BDAM identity / bert-base text features, 512-d joint space
IMG_TOKENS, TXT_LEN = 196, 77          # ViT-B/16 at 224x224; text length 77


def dual_stage(txt_emb, img_emb):
    sim = txt_emb @ img_emb.t()
    order = sim.argsort(dim=1, descending=True)
    return sim, order


def build_head(variant):
    import torch
    from torch import nn

    from bdam.fusion import MambaFusion

    if variant != "transformer4":
        kind = "sequence" if variant.startswith("sequence") else variant
        return MambaFusion(FEAT, FEAT, dim=DIM, mamba_layers=2, d_state=16, d_conv=4, out_dim=256, dropout=0.1,
                           variant=kind, bidirectional=variant == "sequence_bi").eval()

    class TransformerFusion(MambaFusion):
        """The sequence variant with its Mamba layers replaced by a 4-layer Transformer encoder of the same width."""

        def __init__(self):
            super().__init__(FEAT, FEAT, dim=DIM, mamba_layers=0, out_dim=256, dropout=0.1, variant="sequence")
            layer = nn.TransformerEncoderLayer(DIM, 8, 4 * DIM, dropout=0.1, activation="gelu", batch_first=True,
                                               norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, 4, enable_nested_tensor=False)

        def _fuse_sequence(self, f_img, f_txt, txt_mask):
            m = txt_mask.to(f_txt.dtype)
            txt_len = m.sum(1).clamp_min(1)
            w = self._modality_weights(f_img.mean(1), (f_txt * m.unsqueeze(-1)).sum(1) / txt_len.unsqueeze(1))
            x = torch.cat([w[:, :1, None] * f_img, w[:, 1:, None] * f_txt], dim=1)
            pad = torch.cat([torch.zeros_like(f_img[..., 0], dtype=torch.bool), ~txt_mask.bool()], dim=1)
            x = self.encoder(x, src_key_padding_mask=pad)
            last = x[torch.arange(len(x)), f_img.shape[1] + txt_len.long() - 1]
            return self._head(last, w)

    return TransformerFusion().eval()


def setup(variant, args):
    """The head, its aligned stored inputs, the pairs to time and the chunk size of one variant."""
    import torch

    torch.manual_seed(0)
    head = build_head(variant)
    tokens = variant not in ("vector", "tokens3")
    with torch.no_grad():
        if tokens:
            lengths = torch.randint(16, TXT_LEN + 1, (args.texts,))
            mask = (torch.arange(TXT_LEN).view(1, -1) < lengths.view(-1, 1)).long()
            # the aligned inputs the evaluator stores (aligning them costs ~1 % of the scoring, not timed)
            img = torch.cat([head.align_images(torch.randn(256, IMG_TOKENS, FEAT))
                             for _ in range(-(-args.images // 256))])[:args.images]
            txt = torch.cat([head.align_texts(torch.randn(len(mk), TXT_LEN, FEAT), mk) for mk in mask.split(256)])
        else:
            mask = None
            img, txt = head.align_images(torch.randn(args.images, FEAT)), head.align_texts(torch.randn(args.texts, FEAT))
    # pairs timed: every top-K pair (pooled variants) or the top-K of the first texts (token variants)
    texts_timed = args.texts if not tokens else max(1, args.token_pairs // args.topk)
    return {"variant": variant, "head": head, "img": img, "txt": txt, "mask": mask, "texts_timed": texts_timed,
            "chunk": args.token_chunk if tokens else args.chunk, "stored": (img.numel() + txt.numel()) * 4}


def rerank_time(v, sim, topk):
    """Seconds to score and re-order the top-K of the variant's timed texts."""
    from bdam.rerank import Setting, fusion_pair_scorer, reranked_similarity, topk_fusion_scores

    t0 = time.perf_counter()
    sub = sim[:v["texts_timed"]]
    stage2 = topk_fusion_scores(sub, fusion_pair_scorer(v["head"], v["img"], v["txt"], v["mask"]), topk, v["chunk"])
    reranked_similarity(sub, stage2, Setting(topk, 1.0)).argsort(dim=1, descending=True)
    return time.perf_counter() - t0


def child_rss(args):
    """One variant in its own process: its stored features and a re-ranking pass over a bit more than one chunk of
    pairs, then its peak RSS (MB) on stdout."""
    import torch
    import torch.nn.functional as F

    import reid_plugins  # noqa: F401

    torch.set_num_threads(args.threads)
    v = setup(args.child, args)
    v["texts_timed"] = -(-v["chunk"] // args.topk) + 1  # more than one full chunk: the peak does not grow after it
    sim, _ = dual_stage(F.normalize(torch.randn(args.texts, EMBED), dim=1),
                        F.normalize(torch.randn(args.images, EMBED), dim=1))
    rerank_time(v, sim, args.topk)
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM belongs to the address space exec() created; ru_maxrss would
    start from the parent's resident size at fork (Linux), i.e. from all the variants the parent holds."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=6156)
    ap.add_argument("--images", type=int, default=3074)
    ap.add_argument("--topk", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=4096, help="pairs per fusion forward, pooled variants")
    ap.add_argument("--token-chunk", type=int, default=128, help="pairs per fusion forward, token variants")
    ap.add_argument("--token-pairs", type=int, default=512, help="pairs timed for the token variants")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--no-rss", dest="rss", action="store_false", help="skip the per-variant peak-RSS subprocesses")
    ap.add_argument("--json", default="", help="also write the results to this file")
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child_rss(args)
    import torch
    import torch.nn.functional as F

    import reid_plugins  # noqa: F401

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    txt_emb = F.normalize(torch.randn(args.texts, EMBED), dim=1)
    img_emb = F.normalize(torch.randn(args.images, EMBED), dim=1)
    variants = [setup(v, args) for v in args.variants]
    dual_t, score_t = [], {v["variant"]: [] for v in variants}
    for r in range(args.repeats):  # every variant once per repeat: load changes hit them alike
        t0 = time.perf_counter()
        sim, _ = dual_stage(txt_emb, img_emb)
        dual_t.append(time.perf_counter() - t0)
        for v in variants:
            score_t[v["variant"]].append(rerank_time(v, sim, args.topk))
            print(f"  [{r + 1}/{args.repeats}] {v['variant']}: {score_t[v['variant']][-1]:.2f} s for "
                  f"{v['texts_timed'] * args.topk} pairs", file=sys.stderr, flush=True)
    dual = statistics.median(dual_t)
    pairs = args.texts * min(args.topk, args.images)
    rows = []
    for v in variants:
        timed = v["texts_timed"] * min(args.topk, args.images)
        per_pair = statistics.median(score_t[v["variant"]]) / timed
        row = {"variant": v["variant"], "dual_s": dual, "rerank_s": dual + per_pair * pairs,
               "us_per_pair": per_pair * 1e6, "pairs_timed": timed, "pairs": pairs, "extrapolated": timed < pairs,
               "stored_features_mb": v["stored"] / 2 ** 20,
               "head_params_m": sum(p.numel() for p in v["head"].parameters()) / 1e6}
        row["ratio_rerank_over_dual"] = row["rerank_s"] / dual
        if args.rss:
            cmd = [sys.executable, os.path.abspath(__file__), "--child", v["variant"]] + [
                f"--{k.replace('_', '-')}={getattr(args, k)}" for k in
                ("texts", "images", "topk", "threads", "chunk", "token_chunk", "token_pairs")]
            out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
            row.update(json.loads(out.strip().splitlines()[-1]))
        rows.append(row)
    base = next((r for r in rows if r["variant"] == "tokens3"), rows[0])
    print(f"\nCUHK-PEDES test scale: {args.texts} texts x {args.images} images, top {args.topk} ({pairs} fused "
          f"pairs), {args.threads} thread(s), median of {args.repeats}, load average {os.getloadavg()[0]:.1f}")
    print(f"{'variant':>13} | {'re-rank s':>10} {'x dual':>7} {'us/pair':>9} {'x ' + base['variant']:>10} "
          f"{'stored MB':>10} {'peak RSS MB':>12} {'params M':>9}   (dual: {dual:.2f} s)")
    for r in rows:
        note = " (extrapolated)" if r["extrapolated"] else ""
        rss = f"{r['peak_rss_mb']:12.0f}" if "peak_rss_mb" in r else f"{'-':>12}"
        print(f"{r['variant']:>13} | {r['rerank_s']:10.1f} {r['ratio_rerank_over_dual']:7.1f} {r['us_per_pair']:9.1f} "
              f"{r['us_per_pair'] / base['us_per_pair']:10.2f} {r['stored_features_mb']:10.1f} {rss} "
              f"{r['head_params_m']:9.2f}{note}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
