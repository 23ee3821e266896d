#!/usr/bin/env python
"""Cost of the VGE mask pipeline after the grounding model: calibration + voting per image, and cache reload.

    python benchmarks/grounding_cost.py [--images 10000] [--cache-entries 100000] [--repeats 3]

Runs on one core (numpy / BLAS threads pinned to 1 before numpy loads). Reported, median of --repeats runs:
  calib+vote, dataset   fit the per-part fences on N raw boxes, apply them, vote N x 3 masks (what a labelling run
                        and the oracle providers do), per image                    goal <= 1 ms / image
  calib+vote, 1 image   apply fitted bounds to one image and vote it (the cost if done image by image)
  cache write / reload  masks.npz with --cache-entries entries: write, np.load, the relpath index, and every
                        provider lookup (unpacking each mask), without stat-ing image files
Boxes are random perturbations of a typical pedestrian layout, 10 % of them oversized / missing.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import reid_plugins  # noqa: E402,F401
from reid_plugins.grounding.cache import MASKS_FILE, entry_key, read_mask_cache, write_mask_cache  # noqa: E402
from reid_plugins.grounding.calibration import CalibrationConfig, Calibrator  # noqa: E402
from reid_plugins.grounding.voting import pack_masks, vote  # noqa: E402

LAYOUT = np.array([[0.38, 0.06, 0.62, 0.19], [0.25, 0.19, 0.75, 0.5], [0.25, 0.5, 0.75, 0.93]])


def random_boxes(n, rng):
    jitter = rng.normal(0, 0.02, (n, 3, 4))
    boxes = np.clip(LAYOUT[None] + jitter, 0, 1)
    boxes[..., 2:] = np.maximum(boxes[..., 2:], boxes[..., :2] + 0.02)
    bad = rng.random((n, 3))
    boxes[bad < 0.05] = (0.2, 0.02, 0.8, 0.98)   # oversized: the whole person
    boxes[(bad >= 0.05) & (bad < 0.1)] = np.nan  # missing
    return boxes


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--single", type=int, default=2000, help="images for the one-image-at-a-time loop")
    ap.add_argument("--cache-entries", type=int, default=100000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    grid = (16, 8)
    rows = []

    raw = random_boxes(args.images, rng)

    def dataset_pass():
        cal = Calibrator(CalibrationConfig()).fit(raw)
        fixed, _ = cal.apply(raw)
        return cal, vote(fixed, grid)

    t, (cal, masks) = timed(dataset_pass, args.repeats)
    rows.append(("calib+vote, dataset", f"{args.images} images", t, 1e3 * t / args.images, "ms/image"))

    singles = raw[:args.single]

    def one_by_one():
        for b in singles:
            fixed, _ = cal.apply(b)
            vote(fixed, grid)

    t, _ = timed(one_by_one, args.repeats)
    rows.append(("calib+vote, 1 image", f"{args.single} images", t, 1e3 * t / args.single, "ms/image"))

    n = args.cache_entries
    big = random_boxes(n, rng)
    big_cal = Calibrator(CalibrationConfig()).fit(big)
    fixed, reasons = big_cal.apply(big)
    relpaths = [f"synthped/domain_C/bounding_box_train/{i // 10:05d}_c{i % 15 + 1}s1_{i:06d}_00.jpg" for i in range(n)]
    sizes = rng.integers(3000, 9000, n)
    header = {"dataset": "bench", "backend": "oracle", "backend_id": "oracle", "prompt_id": "none", "grid": [16, 8],
              "command": "python benchmarks/grounding_cost.py"}
    arrays = {"relpaths": np.array(relpaths), "sizes": sizes,
              "keys": np.array([entry_key(r, int(s), "oracle", "none", grid) for r, s in zip(relpaths, sizes)]),
              "raw_boxes": big.astype(np.float32), "boxes": fixed.astype(np.float32), "reasons": reasons,
              "parsers": np.full((n, 3), 6, np.uint8), "masks": pack_masks(vote(fixed, grid)),
              "raw_masks": pack_masks(vote(big, grid))}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, MASKS_FILE)
        t, _ = timed(lambda: write_mask_cache(path, header, arrays), args.repeats)
        mb = os.path.getsize(path) / 2 ** 20
        rows.append(("cache write", f"{n} entries, {mb:.1f} MiB", t, 1e6 * t / n, "us/entry"))
        t, cache = timed(lambda: read_mask_cache(path), args.repeats)
        rows.append(("cache reload (np.load)", f"{n} entries", t, 1e6 * t / n, "us/entry"))

        def index_and_lookup():
            c = read_mask_cache(path)
            c.row(relpaths[0])  # builds the relpath -> row index
            return c

        t, cache = timed(index_and_lookup, args.repeats)
        rows.append(("reload + index", f"{n} entries", t, 1e6 * t / n, "us/entry"))

        def every_mask():
            for r in relpaths:
                cache.mask(cache.row(r))

        t, _ = timed(every_mask, args.repeats)
        rows.append(("lookup every mask", f"{n} entries", t, 1e6 * t / n, "us/entry"))

    print(f"{'step':26s} {'size':28s} {'total s':>9s} {'per item':>10s}")
    for name, size, total, per, unit in rows:
        print(f"{name:26s} {size:28s} {total:9.3f} {per:10.4f} {unit}")
    goal = rows[0][3]
    print(f"goal calibration + voting <= 1 ms/image on one core: {'met' if goal <= 1.0 else 'NOT met'} "
          f"({goal:.4f} ms/image over a dataset, {rows[1][3]:.4f} ms/image one by one)")


if __name__ == "__main__":
    main()
