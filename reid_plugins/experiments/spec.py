"""The spec formats: a comparison protocol (tools/compare.py, tools/run_embedded.py) and an ablation suite
(tools/ablate.py, configs/Ablations/<suite>.yml). The formats are documented in the tools' docstrings."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import yaml

from ..projects import ROOT as REPO

SPEC_KEYS = {"protocol", "output_root", "sources", "targets", "metrics", "common_opts", "methods", "seeds", "params"}
METHOD_KEYS = {"name", "entry", "config", "opts"}
DEFAULT_METRICS = ["mAP", "Rank-1"]

SUITES_DIR = os.path.join(REPO, "configs", "Ablations")
SUITE_KEYS = {"suite", "title", "paper_protocol", "metrics", "sources", "targets", "reference", "common_opts",
              "profiles", "rows"}
SUITE_REQUIRED = {"suite", "metrics", "targets", "profiles", "rows"}
ROW_KEYS = {"name", "paper_row", "entry", "config", "profile", "opts", "reference", "paper", "paper_reference",
            "expect", "sources", "targets", "est_run_s", "mirrors", "note"}
ROW_REQUIRED = {"name", "paper_row", "entry", "config", "profile"}
PROFILE_KEYS = {"est_run_s", "opts"}
DIRECTIONS = ("better", "worse")


class SpecError(ValueError):
    pass


# ------------------------------------------------------------------------------------------------ protocol
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


def load_protocol(spec_path: Optional[str], cli_methods=(), output_root=None, sources=None, targets=None,
                  metrics=None, protocol=None, seeds=None) -> Protocol:
    """The spec file's protocol with the command line's methods added and its other arguments overriding."""
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
    common = pairs(spec.get("common_opts"), f"{where}: common_opts")
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
    name = folder_name(raw["name"], where, "method name")
    return Method(name, str(raw["entry"]), str(raw["config"]), pairs(raw.get("opts"), f"{where}: opts"))


def select_methods(proto: Protocol, only: Optional[Sequence[str]]) -> None:
    """Keeps the methods named by --only; an unknown name is an error (a typo would otherwise run nothing)."""
    if not only:
        return
    unknown = sorted(set(only) - {m.name for m in proto.methods})
    if unknown:
        raise SpecError(f"--only {unknown}: no such method (have {[m.name for m in proto.methods]})")
    proto.methods = [m for m in proto.methods if m.name in only]


def resolve(path: str, what: str) -> str:
    """A spec's path, from the working directory, else from the repository root."""
    for candidate in (path, os.path.join(REPO, path)):
        if os.path.exists(candidate):
            return os.path.abspath(candidate)
    raise SpecError(f"{what} {path!r} not found (looked in {os.getcwd()} and {REPO})")


# ------------------------------------------------------------------------------------------------ ablation suite
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


def suite_path(name_or_path: str) -> str:
    if name_or_path.endswith((".yml", ".yaml")) or os.sep in name_or_path:
        return name_or_path
    return os.path.join(SUITES_DIR, f"{name_or_path}.yml")


def load_suite(name_or_path: str) -> Suite:
    """A suite by name (configs/Ablations/<name>.yml) or spec file path, checked."""
    path = suite_path(name_or_path)
    if not os.path.isfile(path):
        known = sorted(f[:-4] for f in os.listdir(SUITES_DIR) if f.endswith(".yml"))
        raise SpecError(f"suite {name_or_path!r}: no spec file {path} (known suites: {known})")
    with open(path) as f:
        spec = yaml.safe_load(f) or {}
    _check_keys(spec, SUITE_KEYS, SUITE_REQUIRED, path)
    name = folder_name(spec["suite"], f"{path}: suite")
    metrics = spec["metrics"]
    if not isinstance(metrics, dict) or not metrics or not all(isinstance(v, list) and v for v in metrics.values()):
        raise SpecError(f"{path}: metrics must map a report name to a non-empty list of results.json keys")
    profiles = {}
    for pname, prof in (spec["profiles"] or {}).items():
        _check_keys(prof, PROFILE_KEYS, PROFILE_KEYS, f"{path}: profile {pname}")
        profiles[pname] = {"est_run_s": _positive(prof["est_run_s"], f"{path}: profile {pname}: est_run_s"),
                           "opts": pairs(prof["opts"], f"{path}: profile {pname}: opts:")}
    default_ref = spec.get("reference")
    rows = [_row(raw, i, spec, profiles, metrics, default_ref, path) for i, raw in enumerate(spec["rows"] or [])]
    suite = Suite(name=name, path=path, title=str(spec.get("title") or name), rows=rows, metrics=metrics,
                  paper_protocol=str(spec.get("paper_protocol") or ""), profiles=profiles,
                  common_opts=pairs(spec.get("common_opts"), f"{path}: common_opts:"))
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
    name = folder_name(raw["name"], where)
    reference = raw["reference"] if "reference" in raw else (default_ref if default_ref != name else None)
    return Row(name=name, paper_row=str(raw["paper_row"]), profile=str(raw["profile"]),
               entry=resolve(str(raw["entry"]), f"{where}: entry script"),
               config=resolve(str(raw["config"]), f"{where}: config file"),
               opts=pairs(raw.get("opts"), f"{where}: opts:"), reference=reference, paper=paper,
               paper_reference=paper_ref, expect=raw.get("expect"),
               sources=list(raw.get("sources") or spec.get("sources") or []),
               targets=list(raw.get("targets") or spec["targets"]),
               est_run_s=_positive(raw.get("est_run_s", profiles[raw["profile"]]["est_run_s"]), f"{where}: est_run_s"),
               mirrors=resolve(str(raw["mirrors"]), f"{where}: mirrors") if raw.get("mirrors") else "",
               note=str(raw.get("note") or ""))


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


# ------------------------------------------------------------------------------------------------ values
def folder_name(value, where: str, what: str = "name") -> str:
    """A method's or row's name: it names an output folder."""
    name = str(value)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", name):
        raise SpecError(f"{where}: {what} {name!r} must be letters, digits, '_', '.', '+', '-' (a folder name)")
    return name


def pairs(values, where: str) -> List[str]:
    """KEY VALUE options as strings (`where` names them in the error)."""
    opts = [str(v) for v in values or []]
    if len(opts) % 2:
        raise SpecError(f"{where} must be KEY VALUE pairs, got {opts}")
    return opts


def _positive(value, where) -> float:
    if not isinstance(value, (int, float)) or value <= 0:
        raise SpecError(f"{where}: expected a positive number of seconds, got {value!r}")
    return float(value)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name)
