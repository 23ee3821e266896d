"""The numbers of the tables: per-run metrics, mean ± sample std over seeds, the comparison table's columns (the
targets, then the unseen mean) and an ablation row's verdict against its reference row."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from .spec import Method, Protocol, Row, Suite


@dataclass
class Cell:
    """A metric over finished runs (one, or one per seed): a table cell of tools/compare.py, a row's statistic in
    tools/ablate.py."""
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


# ------------------------------------------------------------------------------------------------ comparison table
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
            out[method.name] = {key: {m: Cell([v for v in (value(r, key, m) for r in runs) if v is not None])
                                      for m in proto.metrics} for _, key in cols}
    return out


def with_mean(res, mean, metrics):
    """Adds the mean column (label, targets) of `mean_column` (only when every one of its targets has the metric)."""
    res = dict(res)
    if mean:
        label, targets = mean
        res[label] = {m: sum(res[t][m] for t in targets) / len(targets) for m in metrics
                      if all(value(res, t, m) is not None for t in targets)}
    return res


def value(res, target, metric) -> Optional[float]:
    """One metric of one target in a results.json, None when absent."""
    found = res.get(target, {}).get(metric)
    return None if found is None else float(found)


# ------------------------------------------------------------------------------------------------ ablation rows
def metric_value(results: dict, target: str, keys: Sequence[str]) -> Optional[float]:
    """The first of the metric's results.json keys present on the target."""
    per_target = results.get(target, {})
    return next((float(per_target[k]) for k in keys if k in per_target), None)


def seed_stat(per_seed: Dict[int, dict], targets: Sequence[str], keys: Sequence[str]) -> Cell:
    """Per seed the metric averaged over `targets` (seeds missing a target are left out), as a Cell over seeds."""
    values = []
    for seed in sorted(per_seed):
        vals = [metric_value(per_seed[seed], t, keys) for t in targets]
        if vals and all(v is not None for v in vals):
            values.append(sum(vals) / len(vals))
    return Cell(values)


def pooled_std(a: Cell, b: Cell) -> float:
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
