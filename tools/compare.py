#!/usr/bin/env python
"""Compare methods on one protocol (source dataset(s) -> target datasets): run or collect each method, then write a
Markdown table and a bar chart (mAP / Rank-1 per target domain).

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
method (epoch, ETA, loss; tools/run_progress.py).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "tools")]  # this checkout's reid_plugins (imported lazily) and tools

from run_progress import ProgressPrinter  # noqa: E402  (tools/run_progress.py)

from reid_plugins.utils.figures import save_figure  # noqa: E402  (light: no torch)
from reid_plugins.utils.io import read_json, write_json_atomic  # noqa: E402

SPEC_KEYS = {"protocol", "output_root", "sources", "targets", "metrics", "common_opts", "methods", "seeds", "params"}
METHOD_KEYS = {"name", "entry", "config", "opts"}
DEFAULT_METRICS = ["mAP", "Rank-1"]
RUN_RECORD = "run_record.json"
LEGACY_RUN_RECORD = "ablate_run.json"  # written by tools/ablate.py before the record moved here (argv only)
INTERRUPTED = ("interrupted; rerun the same command to continue: finished methods are kept, the interrupted one "
               "resumes from its last checkpoint")


class SpecError(ValueError):
    pass


@dataclass
class Method:
    name: str
    entry: str
    config: str
    opts: List[str] = field(default_factory=list)


@dataclass
class Protocol:
    protocol: str
    output_root: str
    methods: List[Method]
    sources: List[str] = field(default_factory=list)
    targets: List[str] = field(default_factory=list)
    metrics: List[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    common_opts: List[str] = field(default_factory=list)
    seeds: List[int] = field(default_factory=list)   # empty: one run per method with its config's SEED
    params: bool = False

    def output_dir(self, method: Method) -> str:
        return os.path.join(self.output_root, method.name)

    def runs(self) -> List[Method]:
        """What is run: the methods, or with seeds each method once per seed ("<M>/seed<k>", SEED k last)."""
        if not self.seeds:
            return list(self.methods)
        return [Method(f"{m.name}/seed{k}", m.entry, m.config, m.opts + ["SEED", str(k)])
                for m in self.methods for k in self.seeds]


# ------------------------------------------------------------------------------------------------ spec
def load_protocol(spec_path: Optional[str], cli_methods=(), output_root=None, sources=None, targets=None,
                  metrics=None, protocol=None, seeds=None) -> Protocol:
    spec = {}
    if spec_path:
        if not os.path.isfile(spec_path):
            raise SpecError(f"spec file {spec_path!r} does not exist")
        with open(spec_path) as f:
            spec = yaml.safe_load(f) or {}
        if not isinstance(spec, dict):
            raise SpecError(f"{spec_path}: expected a mapping with keys {sorted(SPEC_KEYS)}")
        unknown = set(spec) - SPEC_KEYS
        if unknown:
            raise SpecError(f"{spec_path}: unknown key(s) {sorted(unknown)}; expected some of {sorted(SPEC_KEYS)}")
    where = spec_path or "command line"
    methods = [_method(m, f"{where}: methods[{i}]") for i, m in enumerate(spec.get("methods") or [])]
    for i, args in enumerate(cli_methods):
        if len(args) < 3 or len(args[3:]) % 2:
            raise SpecError(f"--method #{i + 1} {args}: expected NAME ENTRY CONFIG [KEY VALUE ...]")
        methods.append(_method({"name": args[0], "entry": args[1], "config": args[2], "opts": args[3:]},
                               f"--method {args[0]}"))
    if not methods:
        raise SpecError("no methods: give a spec file with 'methods' and/or --method NAME ENTRY CONFIG ...")
    names = [m.name for m in methods]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(f"method names must be unique (they name the output folders): {duplicates} repeated")
    name = protocol or spec.get("protocol") or "comparison"
    root = output_root or spec.get("output_root") or os.path.join("outputs", "compare", _safe(name))
    common = [str(x) for x in spec.get("common_opts") or []]
    if len(common) % 2:
        raise SpecError(f"{where}: common_opts must be KEY VALUE pairs, got {common}")
    seeds = list(seeds if seeds is not None else spec.get("seeds") or [])
    if not all(isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in seeds) or \
            len(set(seeds)) != len(seeds):
        raise SpecError(f"{where}: seeds must be distinct integers >= 0, got {seeds}")
    return Protocol(protocol=str(name), output_root=root, methods=methods,
                    sources=list(sources or spec.get("sources") or []),
                    targets=list(targets or spec.get("targets") or []),
                    metrics=list(metrics or spec.get("metrics") or DEFAULT_METRICS), common_opts=common,
                    seeds=seeds, params=bool(spec.get("params", False)))


def _method(raw, where) -> Method:
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected a mapping with keys {sorted(METHOD_KEYS)}, got {raw!r}")
    unknown = set(raw) - METHOD_KEYS
    missing = {"name", "entry", "config"} - set(raw)
    if unknown or missing:
        raise SpecError(f"{where}: unknown key(s) {sorted(unknown)}, missing key(s) {sorted(missing)}")
    name = str(raw["name"])
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", name):
        raise SpecError(f"{where}: method name {name!r} must be letters, digits, '_', '.', '+', '-' (a folder name)")
    opts = [str(x) for x in raw.get("opts") or []]
    if len(opts) % 2:
        raise SpecError(f"{where}: opts must be KEY VALUE pairs, got {opts}")
    return Method(name, str(raw["entry"]), str(raw["config"]), opts)


def select_methods(proto: Protocol, only: Optional[Sequence[str]]) -> None:
    """Keeps the methods named by --only; an unknown name is an error (a typo would otherwise run nothing)."""
    if not only:
        return
    unknown = sorted(set(only) - {m.name for m in proto.methods})
    if unknown:
        raise SpecError(f"--only {unknown}: no such method (have {[m.name for m in proto.methods]})")
    proto.methods = [m for m in proto.methods if m.name in only]


def resolve(path: str, what: str) -> str:
    for candidate in (path, os.path.join(REPO, path)):
        if os.path.exists(candidate):
            return os.path.abspath(candidate)
    raise SpecError(f"{what} {path!r} not found (looked in {os.getcwd()} and {REPO})")


# ------------------------------------------------------------------------------------------------ running
def command(proto: Protocol, method: Method, python: str) -> List[str]:
    cmd = [python, resolve(method.entry, f"method {method.name}: entry script"), "--config-file",
           resolve(method.config, f"method {method.name}: config file"), "OUTPUT_DIR", proto.output_dir(method)]
    if proto.sources:
        cmd += ["DATASETS.NAMES", _tuple(proto.sources)]
    if proto.targets:
        cmd += ["DATASETS.TESTS", _tuple(proto.targets)]
    return cmd + proto.common_opts + method.opts  # the method's own opts win over the common ones


def config_digest(path: str) -> str:
    """sha256 over the config file and every _BASE_ file it reads (what the run's configuration is made of)."""
    from reid_plugins.config import load_config_file  # lazy: the package imports torch

    try:
        files = load_config_file(path)[1]
    except (OSError, ValueError, KeyError) as e:
        raise SpecError(f"config {path!r} cannot be read: {e}") from e
    digest = hashlib.sha256()
    for name in files:
        with open(name, "rb") as f:
            digest.update(hashlib.sha256(f.read()).digest())
    return digest.hexdigest()


def fingerprint(proto: Protocol, method: Method, python: str) -> dict:
    """What makes a finished run's results the results of this spec: its command line (without the interpreter)
    and its config files' content."""
    cmd = command(proto, method, python)
    return {"argv": cmd[1:], "config_sha256": config_digest(cmd[3])}


def read_record(run_dir: str) -> Optional[dict]:
    for name in (RUN_RECORD, LEGACY_RUN_RECORD):
        path = os.path.join(run_dir, name)
        if os.path.isfile(path):
            return read_json(path, "run record")
    return None


def write_record(run_dir: str, record: dict) -> None:
    write_json_atomic(os.path.join(run_dir, RUN_RECORD), record, indent=2)


def same_run(record: Optional[dict], fp: dict) -> bool:
    """The record was written for this fingerprint (records of tools/ablate.py before this one hold the argv only)."""
    return record is not None and record.get("argv") == fp["argv"] and \
        record.get("config_sha256", fp["config_sha256"]) == fp["config_sha256"]


def run_state(proto: Protocol, method: Method, python: str) -> str:
    """done / done-unrecorded (results.json without a record: runs from before records) / stale (finished with
    another config or options) / resume (interrupted after a checkpoint) / todo."""
    out = proto.output_dir(method)
    record, fp = read_record(out), fingerprint(proto, method, python)
    if os.path.isfile(os.path.join(out, "results.json")):
        if record is None:
            return "done-unrecorded"
        return "done" if same_run(record, fp) else "stale"
    if same_run(record, fp) and os.path.isfile(os.path.join(out, "last_checkpoint")):
        return "resume"
    return "todo"


def run_methods(proto: Protocol, python: str, force=False, collect_only=False, dry_run=False,
                progress_interval: Optional[float] = None) -> Dict[str, str]:
    """Runs every method not finished with this spec; returns {method: status} (ran / collected / failed / missing /
    dry-run)."""
    status = {}
    for method in proto.runs():
        out_dir = proto.output_dir(method)
        results = os.path.join(out_dir, "results.json")
        if collect_only:
            status[method.name] = "collected" if os.path.isfile(results) else "missing"
            continue
        state = "todo" if force else run_state(proto, method, python)
        if state in ("done", "done-unrecorded"):
            status[method.name] = "collected"
            continue
        cmd = command(proto, method, python)
        if state == "resume":
            cmd = cmd[:4] + ["--resume"] + cmd[4:]  # fast-reid's flags come before the KEY VALUE options
        why = {"stale": " (its config or options changed since its results.json: running it again)",
               "resume": " (interrupted: resuming from its last checkpoint)"}.get(state, "")
        print(f"[compare] {method.name}{why}: {' '.join(cmd)}", flush=True)
        if dry_run:
            status[method.name] = "dry-run"
            continue
        os.makedirs(out_dir, exist_ok=True)
        if os.path.isfile(results):  # a failed re-run must not leave the old numbers looking fresh
            os.replace(results, os.path.join(out_dir, "results.stale.json"))
        earlier = read_record(out_dir) if state == "resume" else None
        record = dict(fingerprint(proto, method, python), started=_now(), finished=None,
                      wall_s=(earlier or {}).get("wall_s") or 0.0)
        write_record(out_dir, record)
        start = time.time()
        code = run_child(cmd, os.path.join(out_dir, "compare_run.log"), method.name, append=state == "resume",
                         interval=progress_interval)
        record["wall_s"] = round(record["wall_s"] + time.time() - start, 1)
        ok = code == 0 and os.path.isfile(results)
        status[method.name] = "ran" if ok else "failed"
        if ok:
            write_record(out_dir, dict(record, finished=_now()))
        else:
            write_record(out_dir, record)
            if os.path.isfile(results):
                # numbers of a run that crashed afterwards must not be collected (or skipped) as finished next time
                os.replace(results, os.path.join(out_dir, "results.failed.json"))
            print(f"[compare] {method.name} FAILED (exit code {code}{'' if code else ', no results.json'}): "
                  f"see {os.path.join(out_dir, 'compare_run.log')}", flush=True)
    return status


def run_child(cmd: List[str], log_path: str, name: str, append: bool = False,
              interval: Optional[float] = None) -> int:
    """Runs one entry script: its whole output goes to `log_path`, a short progress line to the terminal. Ctrl-C
    (which the child receives too) waits for the child to stop, then propagates."""
    printer = ProgressPrinter(name, interval=interval)
    env = dict(os.environ, PYTHONUNBUFFERED="1")  # the child's log lines must arrive as they are written
    with open(log_path, "a" if append else "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                                env=env)
        try:
            for line in proc.stdout:  # text mode splits tqdm's carriage returns into lines too
                log.write(line)
                printer.feed(line)
            return proc.wait()
        except KeyboardInterrupt:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
        finally:
            printer.close()


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def collect(proto: Protocol) -> Dict[str, Dict[str, Dict[str, float]]]:
    """{run name: results.json} of the finished runs ("<M>" or, with seeds, "<M>/seed<k>")."""
    table = {}
    for method in proto.runs():
        path = os.path.join(proto.output_dir(method), "results.json")
        if os.path.isfile(path):
            table[method.name] = read_json(path, "run results", fix="delete it to run that method again")
    return table


# ------------------------------------------------------------------------------------------------ outputs
def targets_of(proto: Protocol, results) -> List[str]:
    if proto.targets:
        return list(proto.targets)
    seen = []
    for per_method in results.values():
        seen += [t for t in per_method if t not in seen]
    return seen


def mean_column(proto: Protocol, targets: List[str]):
    """(label, the targets it averages): the unseen mean over the targets that are not sources when the sources are
    known (a source's own test split must not lift a generalisation average), else the mean of all targets; None
    when there is nothing to average."""
    if proto.sources:
        unseen = [t for t in targets if t not in proto.sources]
        return ("unseen mean", unseen) if unseen else None
    return ("mean", targets) if len(targets) > 1 else None


def columns(proto: Protocol, results):
    """[(column label, results key)] of the table and the chart: the targets (a source marked so), then the mean."""
    targets = targets_of(proto, results)
    cols = [(f"{t} (source)" if t in proto.sources else t, t) for t in targets]
    mean = mean_column(proto, targets)
    return cols + ([(mean[0], mean[0])] if mean else []), mean


@dataclass
class Cell:
    """One table cell: a metric of a method on a column, over its finished runs (one, or one per seed)."""
    values: List[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / self.n

    @property
    def std(self) -> float:
        """Sample standard deviation over seeds (n - 1); 0 for one run."""
        if self.n < 2:
            return 0.0
        return (sum((v - self.mean) ** 2 for v in self.values) / (self.n - 1)) ** 0.5


def method_runs(proto: Protocol, method: Method) -> List[str]:
    return [f"{method.name}/seed{k}" for k in proto.seeds] if proto.seeds else [method.name]


def cells(proto: Protocol, results) -> Dict[str, Dict[str, Dict[str, Cell]]]:
    """{method: {column key: {metric: Cell}}}: per run the metric (the mean column computed within each run), then
    collected over the method's runs."""
    cols, mean = columns(proto, results)
    out = {}
    for method in proto.methods:
        runs = [with_mean(results[r], mean, proto.metrics) for r in method_runs(proto, method) if r in results]
        if runs:
            out[method.name] = {key: {m: Cell([v for v in (_value(r, key, m) for r in runs) if v is not None])
                                      for m in proto.metrics} for _, key in cols}
    return out


def _cell_text(cell: Cell, seeds: bool, best: bool) -> str:
    if not cell.n:
        return "–"
    text = f"{cell.mean:.1f} ± {cell.std:.1f}" if seeds else f"{cell.mean:.1f}"
    return f"**{text}**" if best else text


def markdown(proto: Protocol, results, status, params: Optional[Dict[str, int]] = None) -> str:
    cols, mean = columns(proto, results)
    metric_names = " / ".join(proto.metrics)
    source = f" (trained on {', '.join(proto.sources)})" if proto.sources else ""
    explain = f" {mean[0]}: mean over {', '.join(mean[1])}." if mean else ""
    if proto.seeds:
        explain += (f" Mean ± std (sample std, n - 1) over training seeds {', '.join(map(str, proto.seeds))}; a "
                    f"method with fewer finished seeds says how many.")
    table = cells(proto, results)
    header = ["Method"] + (["Params (inference)"] if params is not None else []) + [label for label, _ in cols]
    lines = [f"### {proto.protocol}{source}", "", f"Each cell: {metric_names} (%).{explain}", "",
             "| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    best = {(key, m): max((t[key][m].mean for t in table.values() if t[key][m].n), default=None)
            for _, key in cols for m in proto.metrics}
    for method in proto.methods:
        name = method.name
        row = [name] + ([f"{params[name] / 1e6:.2f}M" if params.get(name) else "–"] if params is not None else [])
        if name not in table:
            lines.append("| " + " | ".join(row + [status.get(method_runs(proto, method)[0], "missing")] * len(cols))
                         + " |")
            continue
        done = max(c.n for per_key in table[name].values() for c in per_key.values())
        if proto.seeds and done < len(proto.seeds):
            row[0] = f"{name} ({done} of {len(proto.seeds)} seeds)"
        row += [" / ".join(_cell_text(table[name][key][m], bool(proto.seeds), table[name][key][m].n > 0 and
                                      table[name][key][m].mean == best[(key, m)]) for m in proto.metrics)
                for _, key in cols]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def with_mean(res, mean, metrics):
    """Adds the mean column (label, targets) of `mean_column` (only when every one of its targets has the metric)."""
    res = dict(res)
    if mean:
        label, targets = mean
        res[label] = {m: sum(res[t][m] for t in targets) / len(targets) for m in metrics
                      if all(_value(res, t, m) is not None for t in targets)}
    return res


def _value(res, target, metric):
    value = res.get(target, {}).get(metric)
    return None if value is None else float(value)


def bar_chart(proto: Protocol, results, path: str) -> str:
    """Bars per column and method (the mean over seeds, with the std as an error bar when there are seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cols, _ = columns(proto, results)
    table = cells(proto, results)
    names = [m.name for m in proto.methods if m.name in table]
    panel_width = max(5.0, 0.35 * len(cols) * max(2, len(names)))
    fig, axes = plt.subplots(1, len(proto.metrics), figsize=(panel_width * len(proto.metrics), 4), squeeze=False)
    width = 0.8 / max(1, len(names))
    for ax, metric in zip(axes[0], proto.metrics):
        for i, name in enumerate(names):
            cs = [table[name][key][metric] for _, key in cols]
            values = [c.mean if c.n else None for c in cs]
            xs = np.arange(len(cols)) + (i - (len(names) - 1) / 2) * width
            bars = ax.bar(xs, [v if v is not None else 0 for v in values], width, label=name,
                          yerr=[c.std for c in cs] if proto.seeds else None, capsize=2)
            for bar, v in zip(bars, values):
                if v is not None:
                    ax.text(bar.get_x() + bar.get_width() / 2, v, f"{v:.1f}", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(np.arange(len(cols)))
        ax.set_xticklabels([label for label, _ in cols], rotation=15)
        ax.set_ylabel(f"{metric} (%)" + (" mean ± std over seeds" if proto.seeds else ""))
        ax.set_ylim(0, 105)
        ax.set_title(metric)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(proto.protocol + (f"  (sources: {', '.join(proto.sources)})" if proto.sources else ""))
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def write_outputs(proto: Protocol, results, status) -> Dict[str, str]:
    os.makedirs(proto.output_root, exist_ok=True)
    paths = {k: os.path.join(proto.output_root, f"comparison.{k}") for k in ("md", "png", "json")}
    params = parameter_counts(proto) if proto.params else None
    with open(paths["md"], "w") as f:
        f.write(markdown(proto, results, status, params))
    stats = {name: {key: {m: {"mean": c.mean, "std": c.std, "n": c.n} for m, c in per.items() if c.n}
                    for key, per in per_key.items()} for name, per_key in cells(proto, results).items()}
    with open(paths["json"], "w") as f:
        json.dump({"protocol": proto.protocol, "sources": proto.sources, "targets": targets_of(proto, results),
                   "seeds": proto.seeds, "status": status, "results": results, "stats": stats, "params": params},
                  f, indent=2, sort_keys=True)
    if results:
        bar_chart(proto, results, paths["png"])
    else:
        paths.pop("png")
    return paths


# entry script -> (project folder put on sys.path, module, add_*_config function) to build a method's config
CONFIG_FUNCTIONS = {
    "tools/train_net.py": None,
    "projects/MUVA/train_net.py": ("projects/MUVA", "muva", "add_muva_config"),
    "projects/BDAM_T2I/train_net.py": ("projects/BDAM_T2I", "bdam", "add_bdam_config"),
}


def config_functions(entry: str):
    """The add_*_config functions an entry script uses (() for plain fast-reid; None: an entry this tool cannot
    build)."""
    rel = os.path.relpath(os.path.abspath(entry), REPO).replace(os.sep, "/")
    if rel not in CONFIG_FUNCTIONS:
        return None
    if CONFIG_FUNCTIONS[rel] is None:
        return ()
    project, module, fn = CONFIG_FUNCTIONS[rel]
    if os.path.join(REPO, project) not in sys.path:
        sys.path.insert(0, os.path.join(REPO, project))
    import importlib

    return (getattr(importlib.import_module(module), fn),)


# parameters that serve training only: identity classifiers (fast-reid's heads, MUVA's), MUVA's prompt learner and
# text tower, BDAM's clothing projection
TRAINING_ONLY = ("heads.classifier.", "heads.weight", "classifier.", "prompt_learner.", "text_encoder.token_embedding")


def inference_parameters(model) -> int:
    """Parameters a model's test-time forward uses (image side), as papers count "Params" for inference."""
    if type(model).__name__ == "MUVA":   # the image encoder (CLIP ViT, part tokens, AM-MSA) and the BN neck
        return sum(p.numel() for n, p in model.named_parameters() if n.startswith(("backbone.", "bottleneck.")))
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith(TRAINING_ONLY))


def parameter_counts(proto: Protocol) -> Dict[str, Optional[int]]:
    """{method: inference parameter count}, built from each method's config with 1 identity (the classifier is not
    counted); None where the entry's config functions are unknown or the model does not build."""
    from fastreid.modeling import build_model

    from reid_plugins.config import build_cfg

    out: Dict[str, Optional[int]] = {}
    for method in proto.methods:
        fns = config_functions(resolve(method.entry, f"method {method.name}: entry script"))
        if fns is None:
            out[method.name] = None
            continue
        cfg = build_cfg(resolve(method.config, f"method {method.name}: config"),
                        method.opts + ["MODEL.HEADS.NUM_CLASSES", "1"], fns)
        out[method.name] = inference_parameters(build_model(cfg))
    return out


def _tuple(names: List[str]) -> str:
    return "(" + ", ".join(f'"{n}"' for n in names) + ",)"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name)


# ------------------------------------------------------------------------------------------------ CLI
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
        proto = load_protocol(args.spec, args.method, args.output_root, args.sources, args.targets, args.metrics,
                              args.protocol, args.seeds)
        select_methods(proto, args.only)
        status = run_methods(proto, args.python, args.force, args.collect_only, args.dry_run)
    except SpecError as e:
        print(f"compare.py: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    if args.dry_run:
        return 0
    results = collect(proto)
    paths = write_outputs(proto, results, status)
    print(open(paths["md"]).read())
    print("[compare] wrote " + ", ".join(paths.values()))
    bad = [n for n, s in status.items() if s in ("failed", "missing")]
    if bad:
        print(f"[compare] no results for: {', '.join(bad)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
