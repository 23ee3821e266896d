#!/usr/bin/env python
"""The main job on the embedded default (README command 1): generate the synthetic multi-domain benchmark, train the
fast-reid BoT baseline and tiny MUVA on domain A, evaluate both on A and the unseen domains, print the table.

    .venv/bin/python tools/run_embedded.py [--root datasets] [--output-root outputs/embedded] [--preset default]
        [--seed N] [--train-seeds 0 1 2] [--spec configs/Synth/main_table.yml]

--seed N re-draws the benchmark (generator seed N; 0 is the benchmark of record): it is generated under
<root>/benchmark-seed<N>/synthped and the runs go to <output-root>/benchmark-seed<N>, so each draw's outputs stay
apart. --train-seeds runs every method once per training seed and reports mean ± std (tools/compare.py seeds).

Resumes: the benchmark is generated once (manifest); a method whose results.json belongs to the spec's config and
options now is not trained again, one whose config changed is trained again, an interrupted one continues from its
last checkpoint (tools/compare.py). --force re-trains everything and regenerates a benchmark of another preset.
Writes <output-root>/comparison.{md,png,json}; each method's run is in <output-root>/<name>/, its whole log in
compare_run.log, and the terminal shows a progress line per method.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from reid_plugins.experiments import report, runner, spec

DEFAULT_SPEC = os.path.join(spec.REPO, "configs", "Synth", "embedded_default.yml")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=os.environ.get("FASTREID_DATASETS", "datasets"),
                   help="dataset root (default: $FASTREID_DATASETS or ./datasets); the benchmark goes to <root>/synthped")
    p.add_argument("--preset", default=None, help="generator preset (default: $REID_SYNTH_PRESET or 'default')")
    p.add_argument("--spec", default=DEFAULT_SPEC, help="methods to compare (tools/compare.py spec)")
    p.add_argument("--output-root", default=None, help="overrides the spec's output_root")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these methods of the spec")
    p.add_argument("--seed", type=int, default=0, help="benchmark draw (generator seed; default 0)")
    p.add_argument("--train-seeds", nargs="+", type=int, default=None,
                   help="training seeds: every method once per seed, cells mean ± std (default: the spec's)")
    p.add_argument("--force", action="store_true",
                   help="re-train every method from scratch; also regenerates a benchmark made with another preset "
                        "or seed under --root")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        proto = spec.load_protocol(args.spec, output_root=args.output_root, seeds=args.train_seeds)
        spec.select_methods(proto, args.only)
        if args.seed < 0:
            raise spec.SpecError(f"--seed {args.seed}: a benchmark seed is an integer >= 0")
    except spec.SpecError as e:
        print(f"run_embedded.py: error: {e}", file=sys.stderr)
        return 2
    import reid_plugins  # noqa: F401  (compat patches before anything imports fastreid)
    from reid_plugins.data.synthetic import SyntheticConfigError, ensure_generated

    start = time.time()
    workers = min(2, os.cpu_count() or 1)
    root = args.root
    if args.seed:   # another draw of the benchmark, and its own outputs
        root = os.path.join(args.root, f"benchmark-seed{args.seed}")
        proto.output_root = os.path.join(proto.output_root, f"benchmark-seed{args.seed}")
    try:
        ensure_generated(root, preset=args.preset, seed=args.seed, workers=workers)
    except SyntheticConfigError as e:
        if not args.force:
            print(f"run_embedded.py: error: {e}", file=sys.stderr)
            return 2
        print(f"[embedded] --force: regenerating the benchmark ({e})", flush=True)
        ensure_generated(root, preset=args.preset, seed=args.seed, workers=workers, force=True)
    print(f"[embedded] benchmark (seed {args.seed}) ready under {os.path.join(root, 'synthped')} "
          f"(preview: {os.path.join(root, 'synthped', 'preview.png')})", flush=True)

    proto.common_opts += ["DATASETS.ROOT", os.path.abspath(root)]
    try:
        status = runner.run_methods(proto, sys.executable, force=args.force)
    except KeyboardInterrupt:
        print(runner.INTERRUPTED, file=sys.stderr)
        return 130
    paths = report.write_comparison(proto, runner.collect(proto), status)
    print(open(paths["md"]).read())
    print(f"[embedded] wrote {', '.join(paths.values())}; total {time.time() - start:.0f} s")
    failed = [n for n, s in status.items() if s in ("failed", "missing")]
    if failed:
        print(f"[embedded] no results for {', '.join(failed)}: see <output-root>/<name>/compare_run.log",
              file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
