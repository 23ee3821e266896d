#!/usr/bin/env python
"""Compare methods on one protocol (source dataset(s) -> target datasets): run or collect each method, then write a
Markdown table and a bar chart (mAP / Rank-1 per target domain). A CLI over reid_plugins.experiments.

    python tools/compare.py --spec configs/Synth/embedded_default.yml
    python tools/compare.py --spec configs/Synth/embedded_default.yml \\
        --method SBS tools/train_net.py configs/Synth/sbs_A.yml SOLVER.MAX_EPOCH 2   # the spec's methods + SBS
    python tools/compare.py --method BoT tools/train_net.py configs/Synth/bagtricks_A.yml --sources SynthPedA \\
        --targets SynthPedB SynthPedC --output-root outputs/compare/A

Spec file (YAML or JSON; every key optional except methods, when no --method is given):
    protocol: A->BCD                   # title of the table / chart
    output_root: outputs/compare/A     # method M runs with OUTPUT_DIR <output_root>/<M>
    sources: [SynthPedA]               # -> DATASETS.NAMES for every method (default: as in each config)
    targets: [SynthPedB, SynthPedC]    # -> DATASETS.TESTS for every method, and the table's column order
    metrics: [mAP, Rank-1]             # keys read from results.json
    common_opts: [TEST.EVALUATOR, FastReidEvaluator]   # KEY VALUE pairs appended for every method
    seeds: [0, 1, 2]                   # optional: every method once per training seed (SEED k, OUTPUT_DIR
                                       # <output_root>/<M>/seed<k>); cells become mean ± std over the seeds
    params: true                       # optional: a column with each method's inference parameter count
    methods:
      - {name: BoT, entry: tools/train_net.py, config: configs/Synth/bagtricks_A.yml, opts: [SOLVER.MAX_EPOCH, 2]}
Each entry script takes tools/train_net.py's CLI (--config-file FILE [--resume] KEY VALUE ...) and, through
PluginTrainer.test, writes <OUTPUT_DIR>/results.json = {dataset: {metric: value}}. Relative paths are taken from the
working directory, else from the repository root.

Resume: every run records its command line and the content of its config file (with its _BASE_ files) in
<OUTPUT_DIR>/run_record.json when it starts. A method whose results.json belongs to the same record is not run again;
one whose config or options changed since is run again from scratch (its old results kept as results.stale.json); one
that was interrupted is continued with --resume from its last checkpoint. --force re-runs everything from scratch.
Outputs: <output_root>/comparison.{md,png,json} (the "unseen mean" column averages the targets that are not
sources); each run's whole log is <output_root>/<M>/compare_run.log, and the terminal shows one progress line per
method (epoch, ETA, loss; reid_plugins/experiments/progress.py).
"""
from __future__ import annotations

import argparse
import sys

from reid_plugins.experiments import report, runner, spec


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spec", help="YAML/JSON protocol spec (see above)")
    p.add_argument("--method", nargs="+", action="append", default=[], metavar="ARG",
                   help="NAME ENTRY CONFIG [KEY VALUE ...]; repeatable, added after the spec's methods")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run / show only these methods")
    p.add_argument("--output-root", help="overrides the spec's output_root")
    p.add_argument("--protocol", help="overrides the spec's protocol title")
    p.add_argument("--sources", nargs="+", help="overrides the spec's sources (DATASETS.NAMES)")
    p.add_argument("--targets", nargs="+", help="overrides the spec's targets (DATASETS.TESTS)")
    p.add_argument("--metrics", nargs="+", help="results.json keys to show (default: mAP Rank-1)")
    p.add_argument("--seeds", nargs="+", type=int, help="overrides the spec's seeds (each method once per seed)")
    p.add_argument("--collect-only", action="store_true", help="run nothing; tabulate existing results.json")
    p.add_argument("--force", action="store_true",
                   help="re-run every method from scratch, also those with results for this spec")
    p.add_argument("--dry-run", action="store_true", help="print the commands without running them")
    p.add_argument("--python", default=sys.executable, help="interpreter for the entry scripts")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        proto = spec.load_protocol(args.spec, args.method, args.output_root, args.sources, args.targets,
                                   args.metrics, args.protocol, args.seeds)
        spec.select_methods(proto, args.only)
        status = runner.run_methods(proto, args.python, args.force, args.collect_only, args.dry_run)
    except spec.SpecError as e:
        print(f"compare.py: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(runner.INTERRUPTED, file=sys.stderr)
        return 130
    if args.dry_run:
        return 0
    paths = report.write_comparison(proto, runner.collect(proto), status)
    print(open(paths["md"]).read())
    print("[compare] wrote " + ", ".join(paths.values()))
    bad = [n for n, s in status.items() if s in ("failed", "missing")]
    if bad:
        print(f"[compare] no results for: {', '.join(bad)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
