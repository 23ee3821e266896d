"""Runs: each method (or ablation row x seed) as a child process of its entry script, resumed and re-run as its run
record says, and the finished runs' results.json collected.

Every run records its command line and the content of its config files in <OUTPUT_DIR>/run_record.json when it
starts: a finished run of the same record is not run again, one whose config or options changed since is run again
from scratch (its old results kept as results.stale.json), an interrupted one continues with --resume.
"""
from __future__ import annotations

import datetime
import hashlib
import os
import subprocess
import time
from typing import Dict, List, Optional, Sequence

from ..utils.io import read_json, write_json_atomic
from .progress import ProgressPrinter
from .spec import Method, Protocol, Row, SpecError, Suite, resolve

RUN_RECORD = "run_record.json"
LEGACY_RUN_RECORD = "ablate_run.json"  # written by tools/ablate.py before the record moved here (argv only)
RUN_LOG = "compare_run.log"
INTERRUPTED = ("interrupted; rerun the same command to continue: finished methods are kept, the interrupted one "
               "resumes from its last checkpoint")
FINISHED = ("done", "done-unrecorded")


# ------------------------------------------------------------------------------------------------ one run
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
    from ..config import load_config_file  # lazy: reid_plugins.config imports torch

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
        if state in FINISHED:
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
        code = run_child(cmd, os.path.join(out_dir, RUN_LOG), method.name, append=state == "resume",
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
                  f"see {os.path.join(out_dir, RUN_LOG)}", flush=True)
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


def collect(proto: Protocol) -> Dict[str, Dict[str, Dict[str, float]]]:
    """{run name: results.json} of the finished runs ("<M>" or, with seeds, "<M>/seed<k>")."""
    table = {}
    for method in proto.runs():
        path = os.path.join(proto.output_dir(method), "results.json")
        if os.path.isfile(path):
            table[method.name] = read_json(path, "run results", fix="delete it to run that method again")
    return table


# ------------------------------------------------------------------------------------------------ a suite's runs
def row_protocol(suite: Suite, row: Row, seed: int, output_root: str, extra_opts=()) -> Protocol:
    """A protocol with one method: this row's run with this seed (the profile's opts, the row's, then SEED)."""
    opts = suite.profiles[row.profile]["opts"] + row.opts + ["SEED", str(seed)]
    method = Method(f"seed{seed}", row.entry, row.config, opts)
    return Protocol(protocol=f"{suite.name}/{row.name}", output_root=os.path.dirname(
        suite.run_dir(output_root, row, seed)), methods=[method], sources=row.sources, targets=row.targets,
        common_opts=suite.common_opts + list(extra_opts))


def row_state(proto: Protocol, python: str) -> str:
    """run_state of a row protocol's one run."""
    return run_state(proto, proto.methods[0], python)


def run_suite(suite: Suite, rows: Sequence[Row], seeds: Sequence[int], output_root: str, python: str,
              extra_opts=(), dry_run=False) -> Dict[str, str]:
    """Runs every (row, seed) not finished; returns {"row/seedK": ran | done | failed | dry-run}."""
    status, jobs = {}, [(row, seed) for row in rows for seed in seeds]
    for i, (row, seed) in enumerate(jobs, 1):
        proto = row_protocol(suite, row, seed, output_root, extra_opts)
        key = f"{row.name}/seed{seed}"
        if row_state(proto, python) in FINISHED:
            status[key] = "done"
            continue
        print(f"[ablate] {i}/{len(jobs)} {key}", flush=True)
        status[key] = run_methods(proto, python, dry_run=dry_run)[f"seed{seed}"]
    return status


def collect_suite(suite: Suite, seeds: Sequence[int], output_root: str) -> Dict[str, Dict[int, dict]]:
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
            record = read_record(run_dir)
            finished = os.path.isfile(os.path.join(run_dir, "results.json"))
            if record and record.get("wall_s") is not None and finished:
                times.setdefault(row.name, []).append(float(record["wall_s"]))
    return times


def _tuple(names: List[str]) -> str:
    return "(" + ", ".join(f'"{n}"' for n in names) + ",)"


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")
