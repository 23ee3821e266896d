"""The reports: tools/compare.py's comparison (<output_root>/comparison.{md,png,json}: a Markdown table and a bar
chart per metric, targets then the unseen mean) and tools/ablate.py's suite report (reports/<suite>.{md,png}: rows
with mean ± std over seeds, the paper's numbers, Δ against the reference and the verdict)."""
from __future__ import annotations

import datetime
import math
import os
from typing import Dict, List, Optional

from ..utils.figures import save_figure
from ..utils.io import write_json_atomic, write_text_atomic
from .runner import collect_suite, wall_times
from .spec import REPO, Protocol, Suite
from .statistics import Cell, Comparison, cells, columns, compare_to_reference, method_runs, seed_stat, targets_of


# ------------------------------------------------------------------------------------------------ comparison
def _cell_text(cell: Cell, seeds: bool, best: bool) -> str:
    if not cell.n:
        return "–"
    text = f"{cell.mean:.1f} ± {cell.std:.1f}" if seeds else f"{cell.mean:.1f}"
    return f"**{text}**" if best else text


def comparison_markdown(proto: Protocol, results, status, params: Optional[Dict[str, int]] = None) -> str:
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


def comparison_chart(proto: Protocol, results, path: str) -> str:
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


def write_comparison(proto: Protocol, results, status) -> Dict[str, str]:
    os.makedirs(proto.output_root, exist_ok=True)
    paths = {k: os.path.join(proto.output_root, f"comparison.{k}") for k in ("md", "png", "json")}
    params = None
    if proto.params:
        from .checks import parameter_counts  # builds every model: torch

        params = parameter_counts(proto)
    write_text_atomic(paths["md"], comparison_markdown(proto, results, status, params))
    stats = {name: {key: {m: {"mean": c.mean, "std": c.std, "n": c.n} for m, c in per.items() if c.n}
                    for key, per in per_key.items()} for name, per_key in cells(proto, results).items()}
    write_json_atomic(paths["json"], {"protocol": proto.protocol, "sources": proto.sources,
                                      "targets": targets_of(proto, results), "seeds": proto.seeds, "status": status,
                                      "results": results, "stats": stats, "params": params}, indent=2, sort_keys=True)
    if results:
        comparison_chart(proto, results, paths["png"])
    else:
        paths.pop("png")
    return paths


# ------------------------------------------------------------------------------------------------ ablation suite
def _stat_text(stat: Cell) -> str:
    return _cell_text(stat, seeds=True, best=False)


def shown(path: str) -> str:
    """Repository files relative to the repository, others as given."""
    rel = os.path.relpath(os.path.abspath(path), REPO)
    return path if rel.startswith("..") else rel


def duration(seconds: float) -> str:
    h, rem = divmod(int(round(seconds)), 3600)
    return (f"{h} h " if h else "") + f"{rem // 60} min {rem % 60:02d} s"


def verdict_cell(comps: List[Comparison]) -> str:
    judged = [c for c in comps if c.expected is not None]
    if not judged:
        return "no paper direction"
    if len({c.verdict for c in judged}) == 1:
        return judged[0].verdict
    return "; ".join(f"{c.metric} {c.verdict}" for c in judged)


def suite_markdown(suite: Suite, seeds, results, times: Dict[str, List[float]]) -> str:
    metrics = list(suite.metrics)
    judged = [m for m in metrics if any(m in r.paper for r in suite.rows)] or metrics  # the paper's metrics
    done = sum(len(v) for v in results.values())
    timed = sum(len(v) for v in times.values())
    est = sum(r.est_run_s for r in suite.rows) * len(seeds)
    lines = [f"# {suite.title}", "",
             f"Generated by `python tools/ablate.py --suite {suite.name}` from `{shown(suite.path)}`"
             f" ({datetime.date.today().isoformat()}); seeds {', '.join(map(str, seeds))}; paper protocol: "
             f"{suite.paper_protocol or '–'}.", "",
             f"**Total wall time of the suite's runs: {duration(sum(sum(v) for v in times.values()))}** "
             f"({timed} timed of {done} finished runs, {len(suite.rows) * len(seeds)} in the suite; "
             f"estimate {duration(est)}).", "",
             "Cells: mean ± std over seeds of the metric averaged over the row's targets. Δ: row minus reference on "
             "the targets both test (pooled std in brackets). Verdict: \"within noise\" when |Δ| < pooled std, else "
             "whether the paper's direction (row vs reference: better / worse) holds or is reversed.", "",
             "| Row | Paper row | Seeds | " + " | ".join(metrics) + " | Paper " + " / ".join(judged)
             + " | Reference | Paper direction | Δ " + " / ".join(judged) + " | Verdict | min/run (est.) |",
             "|---" * (len(metrics) + 9) + "|"]
    for row in suite.rows:
        per_seed = results.get(row.name, {})
        cells = [_stat_text(seed_stat(per_seed, row.targets, suite.metrics[m])) for m in metrics]
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
        cells = [" / ".join(_stat_text(seed_stat(per_seed, [t], suite.metrics[m])) for m in metrics)
                 if t in row.targets else "–" for t in targets]
        lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
    return lines


VERDICT_COLOURS = {"holds": "tab:green", "reversed": "tab:red", "within noise": "tab:gray"}


def suite_chart(suite: Suite, results, path: str) -> str:
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


def write_suite_report(suite: Suite, seeds, output_root: str, reports_dir: str) -> Dict[str, str]:
    results, times = collect_suite(suite, seeds, output_root), wall_times(suite, seeds, output_root)
    os.makedirs(reports_dir, exist_ok=True)
    paths = {"md": os.path.join(reports_dir, f"{suite.name}.md")}
    write_text_atomic(paths["md"], suite_markdown(suite, seeds, results, times))
    if results:
        paths["png"] = suite_chart(suite, results, os.path.join(reports_dir, f"{suite.name}.png"))
    return paths
