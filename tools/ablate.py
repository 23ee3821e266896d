#!/usr/bin/env python
"""The papers' ablation tables on the embedded benchmark: every row x seed of a suite as its own run, resumed, then
reports/<suite>.md (mean ± std over seeds, the paper's number, whether the paper's direction holds) and a PNG.

    python tools/ablate.py --suite muva|bdam|SPEC.yml [--seeds 0 1 2] [--root DATASETS_ROOT]
        [--output-root outputs/ablations] [--only ROW ...] [--dry-run] [--report-only]

Suites are data: configs/Ablations/<suite>.yml (format below; see reports/README.md). Run <row> with seed k writes
<output-root>/<suite>/<row>/seed<k>/ and gets `SEED k`, DATASETS.NAMES / TESTS (the suite's or the row's sources /
targets), DATASETS.ROOT, the row's profile opts, then the row's own opts (last wins). Running, resuming, skipping
finished runs and collecting are tools/compare.py's (its run_record.json: a finished run whose command line or config
files differ from the spec's now is run again, an interrupted one continues with --resume); this tool adds seeds,
statistics and verdicts. --dry-run prints the commands still to run and the time estimate, and builds every row's
config and model.

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
import datetime
import math
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "tools")]  # this checkout's reid_plugins and tools/compare.py

import compare  # noqa: E402  (tools/compare.py: runs an entry script per method, resume, collect)
from compare import SpecError  # noqa: E402

from reid_plugins.utils.figures import save_figure  # noqa: E402  (light: no torch)
from reid_plugins.utils.io import read_json, write_text_atomic  # noqa: E402

SUITES_DIR = os.path.join(REPO, "configs", "Ablations")
SUITE_KEYS = {"suite", "title", "paper_protocol", "metrics", "sources", "targets", "reference", "common_opts",
              "profiles", "rows"}
SUITE_REQUIRED = {"suite", "metrics", "targets", "profiles", "rows"}
ROW_KEYS = {"name", "paper_row", "entry", "config", "profile", "opts", "reference", "paper", "paper_reference",
            "expect", "sources", "targets", "est_run_s", "mirrors", "note"}
ROW_REQUIRED = {"name", "paper_row", "entry", "config", "profile"}
PROFILE_KEYS = {"est_run_s", "opts"}
DIRECTIONS = ("better", "worse")
NOT_COMPARED_IN_MIRRORS = ("OUTPUT_DIR", "SEED", "DATASETS.")  # the protocol belongs to the suite, not to the row


@dataclass
class Row:
    name: str
    paper_row: str
    entry: str
    config: str
    profile: str
    opts: List[str] = field(default_factory=list)
    reference: Optional[str] = None
    paper: Dict[str, float] = field(default_factory=dict)
    paper_reference: Dict[str, float] = field(default_factory=dict)
    expect: Optional[str] = None
    sources: List[str] = field(default_factory=list)
    targets: List[str] = field(default_factory=list)
    est_run_s: float = 0.0
    mirrors: str = ""
    note: str = ""


@dataclass
class Suite:
    name: str
    path: str
    title: str
    paper_protocol: str
    metrics: Dict[str, List[str]]
    profiles: Dict[str, dict]
    rows: List[Row]
    common_opts: List[str] = field(default_factory=list)

    def row(self, name: str) -> Row:
        return next(r for r in self.rows if r.name == name)

    def run_dir(self, output_root: str, row: Row, seed: int) -> str:
        return os.path.join(output_root, self.name, row.name, f"seed{seed}")


# ------------------------------------------------------------------------------------------------ spec
def suite_path(name_or_path: str) -> str:
    if name_or_path.endswith((".yml", ".yaml")) or os.sep in name_or_path:
        return name_or_path
    return os.path.join(SUITES_DIR, f"{name_or_path}.yml")


def load_suite(name_or_path: str) -> Suite:
    path = suite_path(name_or_path)
    if not os.path.isfile(path):
        known = sorted(f[:-4] for f in os.listdir(SUITES_DIR) if f.endswith(".yml"))
        raise SpecError(f"suite {name_or_path!r}: no spec file {path} (known suites: {known})")
    with open(path) as f:
        spec = yaml.safe_load(f) or {}
    _check_keys(spec, SUITE_KEYS, SUITE_REQUIRED, path)
    name = _folder_name(spec["suite"], f"{path}: suite")
    metrics = spec["metrics"]
    if not isinstance(metrics, dict) or not metrics or not all(isinstance(v, list) and v for v in metrics.values()):
        raise SpecError(f"{path}: metrics must map a report name to a non-empty list of results.json keys")
    profiles = {}
    for pname, prof in (spec["profiles"] or {}).items():
        _check_keys(prof, PROFILE_KEYS, PROFILE_KEYS, f"{path}: profile {pname}")
        profiles[pname] = {"est_run_s": _positive(prof["est_run_s"], f"{path}: profile {pname}: est_run_s"),
                           "opts": _pairs(prof["opts"], f"{path}: profile {pname}: opts")}
    default_ref = spec.get("reference")
    rows = [_row(raw, i, spec, profiles, metrics, default_ref, path) for i, raw in enumerate(spec["rows"] or [])]
    suite = Suite(name=name, path=path, title=str(spec.get("title") or name), rows=rows, metrics=metrics,
                  paper_protocol=str(spec.get("paper_protocol") or ""), profiles=profiles,
                  common_opts=_pairs(spec.get("common_opts"), f"{path}: common_opts"))
    _check_rows(suite)
    return suite


def _row(raw, i, spec, profiles, metrics, default_ref, path) -> Row:
    where = f"{path}: rows[{i}]" + (f" ({raw['name']})" if isinstance(raw, dict) and "name" in raw else "")
    _check_keys(raw, ROW_KEYS, ROW_REQUIRED, where)
    if raw["profile"] not in profiles:
        raise SpecError(f"{where}: unknown profile {raw['profile']!r} (profiles: {sorted(profiles)})")
    paper = {str(k): float(v) for k, v in (raw.get("paper") or {}).items()}
    paper_ref = {str(k): float(v) for k, v in (raw.get("paper_reference") or {}).items()}
    unknown = sorted((set(paper) | set(paper_ref)) - set(metrics))
    if unknown:
        raise SpecError(f"{where}: paper metric(s) {unknown} are not among the suite's metrics {list(metrics)}")
    if raw.get("expect") is not None and raw["expect"] not in DIRECTIONS:
        raise SpecError(f"{where}: expect must be one of {DIRECTIONS}, got {raw['expect']!r}")
    name = _folder_name(raw["name"], where)
    reference = raw["reference"] if "reference" in raw else (default_ref if default_ref != name else None)
    row = Row(name=name, paper_row=str(raw["paper_row"]), profile=str(raw["profile"]),
              entry=compare.resolve(str(raw["entry"]), f"{where}: entry script"),
              config=compare.resolve(str(raw["config"]), f"{where}: config file"),
              opts=_pairs(raw.get("opts"), f"{where}: opts"), reference=reference, paper=paper,
              paper_reference=paper_ref, expect=raw.get("expect"),
              sources=list(raw.get("sources") or spec.get("sources") or []),
              targets=list(raw.get("targets") or spec["targets"]),
              est_run_s=_positive(raw.get("est_run_s", profiles[raw["profile"]]["est_run_s"]), f"{where}: est_run_s"),
              mirrors=compare.resolve(str(raw["mirrors"]), f"{where}: mirrors") if raw.get("mirrors") else "",
              note=str(raw.get("note") or ""))
    return row


def _check_rows(suite: Suite) -> None:
    names = [r.name for r in suite.rows]
    if not names:
        raise SpecError(f"{suite.path}: no rows")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SpecError(f"{suite.path}: row names must be unique (they name output folders): {repeated} repeated")
    for row in suite.rows:
        if row.reference is None:
            continue
        if row.reference not in names or row.reference == row.name:
            raise SpecError(f"{suite.path}: row {row.name}: unknown reference row {row.reference!r} "
                            f"(rows: {names})")
        ref = suite.row(row.reference)
        if not set(row.targets) & set(ref.targets):
            raise SpecError(f"{suite.path}: row {row.name} and its reference {ref.name} test no common target "
                            f"({row.targets} vs {ref.targets})")
        if row.mirrors and not ref.mirrors:
            raise SpecError(f"{suite.path}: row {row.name} mirrors {row.mirrors} but its reference {ref.name} "
                            f"mirrors nothing to compare it with")


def _check_keys(raw, allowed, required, where) -> None:
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected a mapping, got {raw!r}")
    unknown, missing = sorted(set(raw) - allowed), sorted(required - set(raw))
    if unknown or missing:
        raise SpecError(f"{where}: unknown key(s) {unknown}, missing key(s) {missing}; allowed: {sorted(allowed)}")


def _folder_name(value, where) -> str:
    name = str(value)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", name):
        raise SpecError(f"{where}: name {name!r} must be letters, digits, '_', '.', '+', '-' (a folder name)")
    return name


def _pairs(values, where) -> List[str]:
    opts = [str(v) for v in values or []]
    if len(opts) % 2:
        raise SpecError(f"{where}: must be KEY VALUE pairs, got {opts}")
    return opts


def _positive(value, where) -> float:
    if not isinstance(value, (int, float)) or value <= 0:
        raise SpecError(f"{where}: expected a positive number of seconds, got {value!r}")
    return float(value)


# ------------------------------------------------------------------------------------------------ runs
def run_protocol(suite: Suite, row: Row, seed: int, output_root: str, extra_opts=()) -> compare.Protocol:
    """tools/compare.py's protocol with one method: this row's run with this seed."""
    opts = suite.profiles[row.profile]["opts"] + row.opts + ["SEED", str(seed)]
    method = compare.Method(f"seed{seed}", row.entry, row.config, opts)
    return compare.Protocol(protocol=f"{suite.name}/{row.name}", output_root=os.path.dirname(
        suite.run_dir(output_root, row, seed)), methods=[method], sources=row.sources, targets=row.targets,
        common_opts=suite.common_opts + list(extra_opts))


def run_state(proto: compare.Protocol, python: str) -> str:
    """compare.run_state of the protocol's one run: todo / resume / done / done-unrecorded / stale."""
    return compare.run_state(proto, proto.methods[0], python)


def run_suite(suite: Suite, rows: Sequence[Row], seeds: Sequence[int], output_root: str, python: str,
              extra_opts=(), dry_run=False) -> Dict[str, str]:
    """Runs every (row, seed) not finished; returns {"row/seedK": ran | done | failed | dry-run}."""
    status, jobs = {}, [(row, seed) for row in rows for seed in seeds]
    for i, (row, seed) in enumerate(jobs, 1):
        proto = run_protocol(suite, row, seed, output_root, extra_opts)
        key = f"{row.name}/seed{seed}"
        if run_state(proto, python) in ("done", "done-unrecorded"):
            status[key] = "done"
            continue
        print(f"[ablate] {i}/{len(jobs)} {key}", flush=True)
        status[key] = compare.run_methods(proto, python, dry_run=dry_run)[f"seed{seed}"]
    return status


def collect(suite: Suite, seeds: Sequence[int], output_root: str) -> Dict[str, Dict[int, dict]]:
    """{row: {seed: results.json}} for the finished runs."""
    table = {}
    for row in suite.rows:
        for seed in seeds:
            path = os.path.join(suite.run_dir(output_root, row, seed), "results.json")
            if os.path.isfile(path):
                table.setdefault(row.name, {})[seed] = read_json(path, "run results",
                                                                 fix="delete it to run that row again")
    return table


def wall_times(suite: Suite, seeds: Sequence[int], output_root: str) -> Dict[str, List[float]]:
    """{row: [wall seconds of each recorded finished run]}."""
    times = {}
    for row in suite.rows:
        for seed in seeds:
            run_dir = suite.run_dir(output_root, row, seed)
            record = compare.read_record(run_dir)
            finished = os.path.isfile(os.path.join(run_dir, "results.json"))
            if record and record.get("wall_s") is not None and finished:
                times.setdefault(row.name, []).append(float(record["wall_s"]))
    return times


# ------------------------------------------------------------------------------------------------ statistics
Stat = compare.Cell  # mean and sample std over seeds: the same statistic as compare.py's table cells


def metric_value(results: dict, target: str, keys: Sequence[str]) -> Optional[float]:
    per_target = results.get(target, {})
    return next((float(per_target[k]) for k in keys if k in per_target), None)


def seed_stat(per_seed: Dict[int, dict], targets: Sequence[str], keys: Sequence[str]) -> Stat:
    """Per seed the metric averaged over `targets` (seeds missing a target are left out), as a Stat over seeds."""
    values = []
    for seed in sorted(per_seed):
        vals = [metric_value(per_seed[seed], t, keys) for t in targets]
        if vals and all(v is not None for v in vals):
            values.append(sum(vals) / len(vals))
    return Stat(values)


def pooled_std(a: Stat, b: Stat) -> float:
    dof = a.n + b.n - 2
    return math.sqrt(((a.n - 1) * a.std ** 2 + (b.n - 1) * b.std ** 2) / dof) if dof > 0 else 0.0


def paper_direction(suite: Suite, row: Row, metric: str) -> Optional[str]:
    """better / worse: the paper's row against the reference's value in the same table; None: no direction."""
    if row.expect:
        return row.expect
    ref_values = row.paper_reference or (suite.row(row.reference).paper if row.reference else {})
    if metric not in row.paper or metric not in ref_values or row.paper[metric] == ref_values[metric]:
        return None
    return "better" if row.paper[metric] > ref_values[metric] else "worse"


def verdict(diff: float, pooled: float, expected: Optional[str], n_min: int) -> str:
    if expected is None:
        return "no paper direction"
    if diff == 0 or abs(diff) < pooled:
        return "within noise"
    holds = (diff > 0) == (expected == "better")
    return ("holds" if holds else "reversed") + (" (1 seed, no spread)" if n_min < 2 else "")


@dataclass
class Comparison:
    metric: str
    diff: float
    pooled: float
    expected: Optional[str]
    verdict: str


def compare_to_reference(suite: Suite, row: Row, results) -> List[Comparison]:
    """Row vs its reference on the targets both test, for every metric."""
    ref = suite.row(row.reference)
    shared = [t for t in row.targets if t in ref.targets]
    out = []
    for metric, keys in suite.metrics.items():
        a, b = seed_stat(results.get(row.name, {}), shared, keys), seed_stat(results.get(ref.name, {}), shared, keys)
        expected = paper_direction(suite, row, metric)
        if not a.n or not b.n:
            out.append(Comparison(metric, float("nan"), float("nan"), expected, "not run"))
            continue
        diff, pooled = a.mean - b.mean, pooled_std(a, b)
        out.append(Comparison(metric, diff, pooled, expected, verdict(diff, pooled, expected, min(a.n, b.n))))
    return out


# ------------------------------------------------------------------------------------------------ report
def _fmt(stat: Stat) -> str:
    return "–" if not stat.n else f"{stat.mean:.1f} ± {stat.std:.1f}"


def _shown(path: str) -> str:
    """Repository files relative to the repository, others as given."""
    rel = os.path.relpath(os.path.abspath(path), REPO)
    return path if rel.startswith("..") else rel


def _duration(seconds: float) -> str:
    h, rem = divmod(int(round(seconds)), 3600)
    return (f"{h} h " if h else "") + f"{rem // 60} min {rem % 60:02d} s"


def verdict_cell(comps: List[Comparison]) -> str:
    judged = [c for c in comps if c.expected is not None]
    if not judged:
        return "no paper direction"
    if len({c.verdict for c in judged}) == 1:
        return judged[0].verdict
    return "; ".join(f"{c.metric} {c.verdict}" for c in judged)


def markdown(suite: Suite, seeds, results, times: Dict[str, List[float]]) -> str:
    metrics = list(suite.metrics)
    judged = [m for m in metrics if any(m in r.paper for r in suite.rows)] or metrics  # the paper's metrics
    done = sum(len(v) for v in results.values())
    timed = sum(len(v) for v in times.values())
    est = sum(r.est_run_s for r in suite.rows) * len(seeds)
    lines = [f"# {suite.title}", "",
             f"Generated by `python tools/ablate.py --suite {suite.name}` from `{_shown(suite.path)}`"
             f" ({datetime.date.today().isoformat()}); seeds {', '.join(map(str, seeds))}; paper protocol: "
             f"{suite.paper_protocol or '–'}.", "",
             f"**Total wall time of the suite's runs: {_duration(sum(sum(v) for v in times.values()))}** "
             f"({timed} timed of {done} finished runs, {len(suite.rows) * len(seeds)} in the suite; "
             f"estimate {_duration(est)}).", "",
             "Cells: mean ± std over seeds of the metric averaged over the row's targets. Δ: row minus reference on "
             "the targets both test (pooled std in brackets). Verdict: \"within noise\" when |Δ| < pooled std, else "
             "whether the paper's direction (row vs reference: better / worse) holds or is reversed.", "",
             "| Row | Paper row | Seeds | " + " | ".join(metrics) + " | Paper " + " / ".join(judged)
             + " | Reference | Paper direction | Δ " + " / ".join(judged) + " | Verdict | min/run (est.) |",
             "|---" * (len(metrics) + 9) + "|"]
    for row in suite.rows:
        per_seed = results.get(row.name, {})
        cells = [_fmt(seed_stat(per_seed, row.targets, suite.metrics[m])) for m in metrics]
        paper = " / ".join(f"{row.paper[m]:g}" if m in row.paper else "–" for m in judged)
        if row.reference:
            comps = [c for c in compare_to_reference(suite, row, results) if c.metric in judged]
            directions = " / ".join(c.expected or "–" for c in comps)
            deltas = " / ".join("–" if math.isnan(c.diff) else f"{c.diff:+.1f} ({c.pooled:.1f})" for c in comps)
            ref, verdict_text = row.reference, verdict_cell(comps)
        else:
            ref = directions = deltas = "–"
            verdict_text = "reference"
        minutes = f"{sum(times[row.name]) / len(times[row.name]) / 60:.1f}" if row.name in times else "–"
        lines.append(f"| {row.name} | {row.paper_row} | {len(per_seed)} | " + " | ".join(cells)
                     + f" | {paper} | {ref} | {directions} | {deltas} | {verdict_text} | {minutes} "
                     f"({row.est_run_s / 60:.1f}) |")
    lines += _per_target_table(suite, results)
    notes = [f"- **{r.name}**: {r.note}" for r in suite.rows if r.note]
    if notes:
        lines += ["", "Notes:", ""] + notes
    lines += ["", f"![{suite.name} chart]({suite.name}.png)", ""]
    return "\n".join(lines)


def _per_target_table(suite: Suite, results) -> List[str]:
    targets = []
    for row in suite.rows:
        targets += [t for t in row.targets if t not in targets]
    if len(targets) < 2:
        return []
    metrics = list(suite.metrics)
    lines = ["", "Per target domain (mean ± std over seeds; cell: " + " / ".join(metrics) + "):", "",
             "| Row | " + " | ".join(targets) + " |", "|---" * (len(targets) + 1) + "|"]
    for row in suite.rows:
        per_seed = results.get(row.name, {})
        cells = [" / ".join(_fmt(seed_stat(per_seed, [t], suite.metrics[m])) for m in metrics)
                 if t in row.targets else "–" for t in targets]
        lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
    return lines


VERDICT_COLOURS = {"holds": "tab:green", "reversed": "tab:red", "within noise": "tab:gray"}


def bar_chart(suite: Suite, results, path: str) -> str:
    """One panel per metric: each row's mean over its targets with the std over seeds as error bar, coloured by the
    verdict on that metric (green holds, red reversed, grey within noise, blue reference / no direction)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    metrics = list(suite.metrics)
    names = [r.name for r in suite.rows]
    fig, axes = plt.subplots(len(metrics), 1, figsize=(max(6.0, 0.55 * len(names) + 2), 3.2 * len(metrics)),
                             squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics):
        means, stds, colours = [], [], []
        for row in suite.rows:
            stat = seed_stat(results.get(row.name, {}), row.targets, suite.metrics[metric])
            means.append(stat.mean if stat.n else 0.0)
            stds.append(stat.std)
            verdict_text = "reference"
            if row.reference:
                verdict_text = next(c.verdict for c in compare_to_reference(suite, row, results) if c.metric == metric)
            colours.append(VERDICT_COLOURS.get(verdict_text.split(" (")[0], "tab:blue"))
        ax.bar(range(len(names)), means, yerr=stds, capsize=3, color=colours)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(f"{metric} (%)")
    axes[0, 0].legend(handles=[Patch(color=c, label=k) for k, c in VERDICT_COLOURS.items()]
                      + [Patch(color="tab:blue", label="reference / no paper direction")], fontsize=7)
    fig.suptitle(suite.title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def write_report(suite: Suite, seeds, output_root: str, reports_dir: str) -> Dict[str, str]:
    results, times = collect(suite, seeds, output_root), wall_times(suite, seeds, output_root)
    os.makedirs(reports_dir, exist_ok=True)
    paths = {"md": os.path.join(reports_dir, f"{suite.name}.md")}
    write_text_atomic(paths["md"], markdown(suite, seeds, results, times))
    if results:
        paths["png"] = bar_chart(suite, results, os.path.join(reports_dir, f"{suite.name}.png"))
    return paths


# ------------------------------------------------------------------------------------------------ config checks
def config_functions(row: Row):
    """The add_*_config functions the row's entry script uses (None: an entry this tool cannot build)."""
    return compare.config_functions(row.entry)


def build_run_cfg(suite: Suite, row: Row, seed: int, output_root: str, extra_opts=()):
    """The config the row's run with this seed trains with (what setup_cfg builds from the command line)."""
    import reid_plugins  # noqa: F401  (compat patches before fastreid)
    from reid_plugins.config import build_cfg

    add_fns = config_functions(row)
    if add_fns is None:
        raise SpecError(f"row {row.name}: no config functions known for entry {row.entry} "
                        f"(known: {sorted(compare.CONFIG_FUNCTIONS)})")
    proto = run_protocol(suite, row, seed, output_root, extra_opts)
    cmd = compare.command(proto, proto.methods[0], sys.executable)
    return build_cfg(cmd[3], cmd[4:], add_fns)


def changed(a, b) -> Dict[str, tuple]:
    from reid_plugins.config import flatten_cfg

    fa, fb = flatten_cfg(a), flatten_cfg(b)
    return {k: (fb.get(k), fa.get(k)) for k in sorted(set(fa) | set(fb))
            if fa.get(k) != fb.get(k) and not k.startswith(NOT_COMPARED_IN_MIRRORS)}


def mirror_problems(suite: Suite, row: Row, cfgs: dict) -> List[str]:
    """The row must change, against its reference, the keys its real-data mirror changes against the reference's
    mirror, to the same values."""
    from reid_plugins.config import build_cfg

    ref = suite.row(row.reference)
    fns = config_functions(row)
    ours = changed(cfgs[row.name], cfgs[ref.name])
    theirs = changed(build_cfg(row.mirrors, (), fns), build_cfg(ref.mirrors, (), fns))
    problems = []
    if set(ours) != set(theirs):
        problems.append(f"row {row.name} changes {sorted(ours)} against {ref.name}, but its mirror "
                        f"{_shown(row.mirrors)} changes {sorted(theirs)} against {_shown(ref.mirrors)}")
    for key in sorted(set(ours) & set(theirs)):
        if ours[key][1] != theirs[key][1]:
            problems.append(f"row {row.name}: {key} = {ours[key][1]!r}, its mirror sets {theirs[key][1]!r}")
    return problems


def model_problems(row: Row, cfg) -> List[str]:
    """Builds the row's model (4 classes, no data): catches loss / part / module combinations that do not fit."""
    from fastreid.modeling import build_model

    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.HEADS.NUM_CLASSES = 4
    try:
        build_model(cfg)
    except Exception as e:  # noqa: BLE001  (any build error is the row's problem, reported with its name)
        return [f"row {row.name}: the model does not build: {type(e).__name__}: {e}"]
    return []


def check_configs(suite: Suite, seed: int, output_root: str, extra_opts=()) -> List[str]:
    """Builds every row's config with its project's config functions, and its model; checks that results.json is
    written only at the end and that mirrored rows change what their real-data configs change. Returns the problems
    (empty: all good)."""
    problems, cfgs = [], {}
    for row in suite.rows:
        try:
            cfg = cfgs[row.name] = build_run_cfg(suite, row, seed, output_root, extra_opts)
        except (SpecError, KeyError, ValueError, FileNotFoundError) as e:
            problems.append(f"row {row.name}: {e}")
            continue
        problems += model_problems(row, cfg)
        if cfg.TEST.EVAL_PERIOD < cfg.SOLVER.MAX_EPOCH:
            problems.append(f"row {row.name}: TEST.EVAL_PERIOD {cfg.TEST.EVAL_PERIOD} < SOLVER.MAX_EPOCH "
                            f"{cfg.SOLVER.MAX_EPOCH}: an evaluation before the end writes results.json, and a "
                            f"run killed after it would count as finished")
    for row in suite.rows:
        if row.mirrors and row.name in cfgs and row.reference in cfgs:
            problems += mirror_problems(suite, row, cfgs)
    return problems


# ------------------------------------------------------------------------------------------------ CLI
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
    p.add_argument("--reports-dir", default=os.path.join(REPO, "reports"))
    p.add_argument("--python", default=sys.executable, help="interpreter for the entry scripts")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.output_root = os.path.abspath(args.output_root)  # recorded in each run's argv: the same from any folder
    extra = ["DATASETS.ROOT", os.path.abspath(args.root)]
    try:
        suite = load_suite(args.suite)
        rows = suite.rows
        if args.only:
            unknown = sorted(set(args.only) - {r.name for r in suite.rows})
            if unknown:
                raise SpecError(f"--only {unknown}: no such row in {suite.path} (rows: {[r.name for r in rows]})")
            rows = [r for r in rows if r.name in args.only]
        if args.dry_run:
            return dry_run(suite, rows, args, extra)
        status = {} if args.report_only else run_suite(suite, rows, args.seeds, args.output_root, args.python, extra)
    except SpecError as e:
        print(f"ablate.py: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(compare.INTERRUPTED, file=sys.stderr)
        return 130
    paths = write_report(suite, args.seeds, args.output_root, args.reports_dir)
    print(open(paths["md"]).read())
    print("[ablate] wrote " + ", ".join(paths.values()))
    finished = collect(suite, args.seeds, args.output_root)
    missing = [f"{r.name}/seed{s}" for r in rows for s in args.seeds if s not in finished.get(r.name, {})]
    failed = [k for k, v in status.items() if v == "failed"]
    if missing:
        print(f"[ablate] no results for {', '.join(missing)}"
              + (f" (failed: {', '.join(failed)}; see <run dir>/compare_run.log)" if failed else ""), file=sys.stderr)
    return 1 if missing else 0


def dry_run(suite: Suite, rows, args, extra) -> int:
    todo = [(r, s) for r in rows for s in args.seeds
            if run_state(run_protocol(suite, r, s, args.output_root, extra), args.python) in ("todo", "stale",
                                                                                             "resume")]
    run_suite(suite, rows, args.seeds, args.output_root, args.python, extra, dry_run=True)
    total = sum(r.est_run_s for r in suite.rows) * len(args.seeds)
    print(f"[ablate] {len(todo)} run(s) to do, estimated {_duration(sum(r.est_run_s for r, _ in todo))}; the whole "
          f"suite ({len(suite.rows)} rows x {len(args.seeds)} seeds) is estimated at {_duration(total)}")
    problems = check_configs(suite, args.seeds[0], args.output_root, extra)
    for problem in problems:
        print(f"[ablate] config problem: {problem}", file=sys.stderr)
    print(f"[ablate] configs and models of {len(suite.rows)} rows built: {len(problems)} problem(s)")
    return 2 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
