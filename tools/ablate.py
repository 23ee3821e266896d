#!/usr/bin/env python
"""The papers' ablation tables on the embedded benchmark: every row x seed of a suite as its own run, resumed, then
reports/<suite>.md (mean ± std over seeds, the paper's number, whether the paper's direction holds) and a PNG.

    python tools/ablate.py --suite muva|bdam|SPEC.yml [--seeds 0 1 2] [--root DATASETS_ROOT]
        [--output-root outputs/ablations] [--only ROW ...] [--dry-run] [--report-only]

Suites are data: configs/Ablations/<suite>.yml (format below; see reports/README.md). Run <row> with seed k writes
<output-root>/<suite>/<row>/seed<k>/ and gets `SEED k`, DATASETS.NAMES / TESTS (the suite's or the row's sources /
targets), DATASETS.ROOT, the row's profile opts, then the row's own opts (last wins). Running, resuming, skipping
finished runs and collecting are tools/compare.py's (reid_plugins.experiments.runner; its run_record.json: a finished
run whose command line or config files differ from the spec's now is run again, an interrupted one continues with
--resume); this tool adds seeds, statistics and verdicts (a CLI over reid_plugins.experiments). --dry-run prints the
commands still to run and the time estimate, and builds every row's config and model.

Spec keys: suite, title, paper_protocol, metrics {name: [results.json keys, first present wins]}, sources, targets,
reference (default reference row), common_opts, profiles {name: {est_run_s, opts}}, rows: [{name, paper_row, entry,
config, profile, opts, reference (null: none), paper {metric: value}, paper_reference {metric: value} (the reference's
value in this row's paper table, when not the reference row's `paper`), expect (better|worse, when the paper gives
no number), sources, targets, est_run_s, mirrors (the real-data config expressing the same change against the
reference row's mirrors), note}].
Verdict of a row against its reference, per metric with a paper direction: the difference of the seed means over the
targets both rows test; "within noise" if |diff| < the pooled std, else "holds" or "reversed".
"""
from __future__ import annotations

import argparse
import os
import sys

from reid_plugins.experiments import checks, report, runner, spec


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", required=True, help="muva, bdam (configs/Ablations/<name>.yml) or a spec file path")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--root", default=os.environ.get("FASTREID_DATASETS", "datasets"),
                   help="dataset root, passed as DATASETS.ROOT (default: $FASTREID_DATASETS or ./datasets)")
    p.add_argument("--output-root", default=os.path.join("outputs", "ablations"),
                   help="run <row> seed k goes to <output-root>/<suite>/<row>/seed<k>")
    p.add_argument("--only", nargs="+", metavar="ROW", help="run only these rows (the report shows every row)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the runs still to do and their estimated time, build every row's config; run nothing")
    p.add_argument("--report-only", action="store_true", help="run nothing; write the report from finished runs")
    p.add_argument("--reports-dir", default=os.path.join(spec.REPO, "reports"))
    p.add_argument("--python", default=sys.executable, help="interpreter for the entry scripts")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.output_root = os.path.abspath(args.output_root)  # recorded in each run's argv: the same from any folder
    extra = ["DATASETS.ROOT", os.path.abspath(args.root)]
    try:
        suite = spec.load_suite(args.suite)
        rows = suite.rows
        if args.only:
            unknown = sorted(set(args.only) - {r.name for r in suite.rows})
            if unknown:
                raise spec.SpecError(f"--only {unknown}: no such row in {suite.path} "
                                     f"(rows: {[r.name for r in rows]})")
            rows = [r for r in rows if r.name in args.only]
        if args.dry_run:
            return dry_run(suite, rows, args, extra)
        status = {} if args.report_only else runner.run_suite(suite, rows, args.seeds, args.output_root,
                                                              args.python, extra)
    except spec.SpecError as e:
        print(f"ablate.py: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(runner.INTERRUPTED, file=sys.stderr)
        return 130
    paths = report.write_suite_report(suite, args.seeds, args.output_root, args.reports_dir)
    print(open(paths["md"]).read())
    print("[ablate] wrote " + ", ".join(paths.values()))
    finished = runner.collect_suite(suite, args.seeds, args.output_root)
    missing = [f"{r.name}/seed{s}" for r in rows for s in args.seeds if s not in finished.get(r.name, {})]
    failed = [k for k, v in status.items() if v == "failed"]
    if missing:
        print(f"[ablate] no results for {', '.join(missing)}"
              + (f" (failed: {', '.join(failed)}; see <run dir>/compare_run.log)" if failed else ""), file=sys.stderr)
    return 1 if missing else 0


def dry_run(suite: spec.Suite, rows, args, extra) -> int:
    todo = [(r, s) for r in rows for s in args.seeds
            if runner.row_state(runner.row_protocol(suite, r, s, args.output_root, extra), args.python)
            in ("todo", "stale", "resume")]
    runner.run_suite(suite, rows, args.seeds, args.output_root, args.python, extra, dry_run=True)
    total = sum(r.est_run_s for r in suite.rows) * len(args.seeds)
    estimate = report.duration(sum(r.est_run_s for r, _ in todo))
    print(f"[ablate] {len(todo)} run(s) to do, estimated {estimate}; the whole "
          f"suite ({len(suite.rows)} rows x {len(args.seeds)} seeds) is estimated at {report.duration(total)}")
    problems = checks.check_configs(suite, args.seeds[0], args.output_root, extra)
    for problem in problems:
        print(f"[ablate] config problem: {problem}", file=sys.stderr)
    print(f"[ablate] configs and models of {len(suite.rows)} rows built: {len(problems)} problem(s)")
    return 2 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
