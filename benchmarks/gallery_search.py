#!/usr/bin/env python
"""Gallery search at scale: faiss indexes of reid_plugins.inference.index built in chunks from memory-mapped features.

    .venv/bin/python benchmarks/gallery_search.py [--n 1000000] [--dim 512] [--queries 5000] [--kinds flat,auto]

Synthetic clustered features, written chunk by chunk to an .npy (never whole in memory): identities of ~20 images
(the eval_speed.py model: look-alike groups of ~15 identities, camera offsets, per-image noise levels), unit-norm
rows; the queries are other images of the gallery's identities. Each index kind runs in its own subprocess, one after
the other (peak RSS = its VmHWM: the index, the query batches and the pages of the memory-mapped features it
touched). "flat" (exact IndexFlatIP) gives the ground truth; "auto" is the approximate index choose_kind picks for the
size (HNSW below 50,000 vectors, IVF-PQ with exact re-scoring above).
Goals (issue 19): approximate recall@10 >= 0.95 against exact, >= 1000 queries/s on the 2 cores, peak RSS <= 1.5x
the features' size. Develop with a small --n; the machine is shared: the load average is printed.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


CHUNK = 100_000


def write_features(path, n, dim, seed, queries):
    """gallery.npy [n, dim] and queries.npy [queries, dim], float32 unit rows, generated chunk by chunk."""
    rng = np.random.default_rng(seed)
    num_ids = max(1, n // 20)
    looks = rng.standard_normal((max(1, num_ids // 15), dim), dtype=np.float32)
    centres = looks[rng.integers(0, len(looks), num_ids)] + 0.45 * rng.standard_normal((num_ids, dim),
                                                                                        dtype=np.float32)
    cam_shift = 0.3 * rng.standard_normal((15, dim), dtype=np.float32)

    def images(m):
        pids, cams = rng.integers(0, num_ids, m), rng.integers(0, 15, m)
        noise = (0.8 * np.exp(0.3 * rng.standard_normal((m, 1)))).astype(np.float32)
        x = centres[pids] + cam_shift[cams] + noise * rng.standard_normal((m, dim), dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    gallery = np.lib.format.open_memmap(os.path.join(path, "gallery.npy"), "w+", np.float32, (n, dim))
    for s in range(0, n, CHUNK):
        gallery[s:s + CHUNK] = images(min(CHUNK, n - s))
    gallery.flush()
    del gallery
    np.save(os.path.join(path, "queries.npy"), images(queries))


# ----------------------------------------------------------------------------------------------- worker side
def peak_rss_gb():
    """VmHWM: this process's own peak. (ru_maxrss would also count the driver's pages, which a forked child
    inherits: on Linux it survives exec.)"""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2 ** 20
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_worker(kind, data, threads, out):
    import faiss

    from reid_plugins.inference.index import build_index

    faiss.omp_set_num_threads(threads)
    features = np.load(os.path.join(data, "gallery.npy"), mmap_mode="r")
    queries = np.load(os.path.join(data, "queries.npy"))
    base_rss = peak_rss_gb()  # interpreter + libraries
    start = time.perf_counter()
    index = build_index(features, kind)
    build = time.perf_counter() - start
    start = time.perf_counter()
    _, ids = index.search(queries, 10)
    search = time.perf_counter() - start
    np.save(os.path.join(data, f"ids_{kind}.npy"), ids)
    with open(out, "w") as f:
        json.dump({"kind": index.kind, "build_s": build, "search_s": search, "qps": len(queries) / search,
                   "peak_rss_gb": peak_rss_gb(), "base_rss_gb": base_rss,
                   "params": vars(index.params)}, f)


# ----------------------------------------------------------------------------------------------- driver side
def run_side(kind, data, threads):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = tmp.name
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", kind, "--data", data, "--threads",
                    str(threads), "--out", out], check=True, env=env)
    with open(out) as f:
        result = json.load(f)
    os.unlink(out)
    return result


def recall_at_10(ids, truth):
    return float(np.mean([len(set(a[a >= 0]) & set(b)) / 10 for a, b in zip(ids, truth)]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="gallery size")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--kinds", default="flat,auto", help="comma-separated: flat (always run: the ground truth), "
                                                            "auto, hnsw, ivfpq")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args.worker, args.data, args.threads, args.out)

    kinds = ["flat"] + [k for k in args.kinds.split(",") if k and k != "flat"]
    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} CPUs; {args.threads} faiss threads")
    with tempfile.TemporaryDirectory(prefix="gallery_search_") as data:
        start = time.perf_counter()
        write_features(data, args.n, args.dim, args.seed, args.queries)
        size_gb = os.path.getsize(os.path.join(data, "gallery.npy")) / 2 ** 30
        print(f"{args.n:,} x {args.dim} features ({size_gb:.2f} GiB), {args.queries:,} queries, written in "
              f"{time.perf_counter() - start:.0f} s")
        results = {k: run_side(k, data, args.threads) for k in kinds}
        truth = np.load(os.path.join(data, "ids_flat.npy"))
        for k in kinds:
            results[k]["recall@10"] = recall_at_10(np.load(os.path.join(data, f"ids_{k}.npy")), truth)
    print(f"{'index':<8}{'kind':<7}{'build s':>9}{'queries/s':>11}{'peak RSS GiB':>14}{'x features':>12}"
          f"{'(libraries)':>13}{'recall@10':>11}")
    for k, r in results.items():
        print(f"{k:<8}{r['kind']:<7}{r['build_s']:9.1f}{r['qps']:11.0f}{r['peak_rss_gb']:14.2f}"
              f"{r['peak_rss_gb'] / size_gb:12.2f}{r['base_rss_gb']:13.2f}{r['recall@10']:11.3f}")
    for k in kinds[1:]:
        r = results[k]
        checks = [("recall@10 vs exact", r["recall@10"], ">= 0.95", r["recall@10"] >= 0.95),
                  ("queries/s", r["qps"], ">= 1000", r["qps"] >= 1000),
                  ("peak RSS / features", r["peak_rss_gb"] / size_gb, "<= 1.5", r["peak_rss_gb"] <= 1.5 * size_gb)]
        print(f"{k} ({r['kind']}, {r['params']}):")
        for label, value, goal, ok in checks:
            print(f"  {label:<22}{value:10.4g}   goal {goal:<8} {'met' if ok else 'MISSED'}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
