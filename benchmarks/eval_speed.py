#!/usr/bin/env python
"""Evaluation speed and memory: FastReidEvaluator vs fast-reid 1.4.0's ReidEvaluator on the same features.

    .venv/bin/python benchmarks/eval_speed.py --scale market|msmt|both [--repeats N] [--block-size ROWS]

Synthetic clustered features (identities grouped into look-alike clusters, camera offsets, per-image noise levels) at
Market-1501 scale (3,368 x 15,913) and MSMT17 scale (11,659 x 82,161), 512-d. Each side runs in its own subprocess
(peak RSS = its ru_maxrss, features included) in one run, one after the other:
  gemm      the bare similarity GEMM in the same query blocks (normalise + matmul): the floor for any exact method
  ours      reid_plugins FastReidEvaluator (exact blocked ranking)
  fastreid  fastreid ReidEvaluator: build_dist (full matrix) + evaluate_rank (Cython ranker when built)
Goals (issue 6): >= 5x faster than fast-reid, identical metrics, peak RSS <= 2 GB, total <= 2x the bare GEMM.
The MSMT fast-reid side needs ~12 GB of RAM.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


SCALES = {  # query / gallery sizes of the real test sets; identity and camera counts as in them
    "market": dict(num_query=3368, num_gallery=15913, num_ids=750, num_cams=6),
    "msmt": dict(num_query=11659, num_gallery=82161, num_ids=3060, num_cams=15),
}
METRIC_KEYS = ("Rank-1", "Rank-5", "Rank-10", "mAP", "mINP", "metric")


def make_features(num_query, num_gallery, num_ids, num_cams, dim=512, seed=0):
    """Clustered features: ~15 identities share a look-alike centre (hard negatives), each camera shifts all its
    images, and every image has its own noise level (some are hard). Gives Market-like difficulty (see README)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    looks = torch.randn(max(1, num_ids // 15), dim, generator=gen)
    centres = looks[torch.randint(0, len(looks), (num_ids,), generator=gen)] + 0.45 * torch.randn(num_ids, dim,
                                                                                                 generator=gen)
    cam_shift = 0.3 * torch.randn(num_cams, dim, generator=gen)

    def images(n):
        pids = torch.randint(0, num_ids, (n,), generator=gen)
        cams = torch.randint(0, num_cams, (n,), generator=gen)
        noise = 0.8 * torch.exp(0.3 * torch.randn(n, 1, generator=gen))
        return centres[pids] + cam_shift[cams] + noise * torch.randn(n, dim, generator=gen), pids, cams

    qf, qp, qc = images(num_query)
    gf, gp, gc = images(num_gallery)
    return {"feats": torch.cat([qf, gf]).numpy(), "pids": torch.cat([qp, gp]).numpy(),
            "camids": torch.cat([qc, gc]).numpy()}


# ----------------------------------------------------------------------------------------------- worker side
def run_worker(side, data_dir, num_query, block_size, out_path):
    import torch

    import reid_plugins  # noqa: F401  (compat patches before fastreid)
    from fastreid.evaluation import ReidEvaluator

    from reid_plugins.config import build_cfg
    from reid_plugins.evaluation import FastReidEvaluator
    from reid_plugins.evaluation.scores import feature_score_blocks

    arrays = {k: torch.from_numpy(np.load(os.path.join(data_dir, k + ".npy"))) for k in ("feats", "pids", "camids")}
    rss_loaded = _current_rss_gb()
    cfg = build_cfg()
    results = {}
    cpu_start = _cpu_seconds()
    start = time.perf_counter()
    if side == "gemm":
        query, gallery = arrays["feats"][:num_query], arrays["feats"][num_query:]
        for _ in feature_score_blocks(query, gallery, "cosine", block_size):
            pass
    else:
        evaluator = (FastReidEvaluator if side == "ours" else ReidEvaluator)(cfg, num_query)
        evaluator.process({"targets": arrays["pids"], "camids": arrays["camids"]}, arrays["feats"])
        results = {k: float(v) for k, v in evaluator.evaluate().items()}
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux
    with open(out_path, "w") as f:
        json.dump({"seconds": seconds, "cpu_seconds": cpu, "peak_rss_gb": peak, "loaded_rss_gb": rss_loaded, "results": results,
                   "threads": torch.get_num_threads()}, f)


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _current_rss_gb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2 ** 20
    return float("nan")


# ----------------------------------------------------------------------------------------------- driver side
def run_side(side, data_dir, num_query, block_size):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = tmp.name
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", side, "--data", data_dir, "--num-query",
           str(num_query), "--out", out] + (["--block-size", str(block_size)] if block_size else [])
    subprocess.run(cmd, check=True)
    with open(out) as f:
        result = json.load(f)
    os.unlink(out)
    return result


def bench_scale(name, repeats, block_size, skip_fastreid, seed):
    spec = SCALES[name]
    with tempfile.TemporaryDirectory(prefix=f"eval_speed_{name}_") as data_dir:
        for key, value in make_features(**spec, seed=seed).items():
            np.save(os.path.join(data_dir, key + ".npy"), value)
        runs = {"gemm": [], "ours": []}
        for _ in range(repeats):  # alternate, so that a busy moment hits both alike
            for side in ("gemm", "ours"):
                runs[side].append(run_side(side, data_dir, spec["num_query"], block_size))
        best = {side: min(r, key=lambda x: x["seconds"]) for side, r in runs.items()}
        if not skip_fastreid:
            best["fastreid"] = run_side("fastreid", data_dir, spec["num_query"], block_size)
    return best


def report(name, best):
    spec = SCALES[name]
    print(f"\n{name}: {spec['num_query']} queries x {spec['num_gallery']} gallery, 512-d, "
          f"{best['ours']['threads']} torch threads")
    print(f"{'side':<10}{'wall s':>9}{'cpu s':>9}{'peak RSS GB':>13}{'after load':>12}   " + "  ".join(f"{k:>8}" for k in
                                                                                         METRIC_KEYS))
    for side, r in best.items():
        metrics = "  ".join(f"{r['results'][k]:8.4f}" if k in r["results"] else f"{'':8}" for k in METRIC_KEYS)
        print(f"{side:<10}{r['seconds']:9.2f}{r['cpu_seconds']:9.2f}{r['peak_rss_gb']:13.2f}{r['loaded_rss_gb']:12.2f}   {metrics}")
    ours, gemm = best["ours"], best["gemm"]
    lines = [("ours / bare GEMM", ours["seconds"] / gemm["seconds"], "<= 2", ours["seconds"] <= 2 * gemm["seconds"]),
             ("ours peak RSS GB", ours["peak_rss_gb"], "<= 2", ours["peak_rss_gb"] <= 2)]
    if "fastreid" in best:
        fr = best["fastreid"]
        diff = max(abs(ours["results"][k] - fr["results"][k]) for k in METRIC_KEYS)
        lines = [("speed-up vs fast-reid", fr["seconds"] / ours["seconds"], ">= 5",
                  fr["seconds"] >= 5 * ours["seconds"]),
                 ("max |metric diff| (percent)", diff, "<= 1e-4", diff <= 1e-4)] + lines
    cpu = {side: r["cpu_seconds"] for side, r in best.items()}
    lines.append(("(cpu time: ours / GEMM)", cpu["ours"] / cpu["gemm"], "", True))
    if "fastreid" in cpu:
        lines.append(("(cpu time: fast-reid / ours)", cpu["fastreid"] / cpu["ours"], "", True))
    for label, value, goal, ok in lines:
        verdict = f"goal {goal:<8} {'met' if ok else 'MISSED'}" if goal else "(wall time is what the goals use)"
        print(f"  {label:<30}{value:10.4g}   {verdict}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=("market", "msmt", "both"), default="market")
    parser.add_argument("--repeats", type=int, default=1, help="runs of the cheap sides (gemm, ours); best is kept")
    parser.add_argument("--block-size", type=int, default=0, help="query rows per block (0: ~256 MB of scores)")
    parser.add_argument("--skip-fastreid", action="store_true", help="only gemm and ours (fast-reid: ~12 GB at MSMT)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", choices=("gemm", "ours", "fastreid"), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--num-query", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args.worker, args.data, args.num_query, args.block_size or None, args.out)

    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} CPUs (other jobs slow every side alike)")
    for name in (("market", "msmt") if args.scale == "both" else (args.scale,)):
        report(name, bench_scale(name, args.repeats, args.block_size, args.skip_fastreid, args.seed))
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
