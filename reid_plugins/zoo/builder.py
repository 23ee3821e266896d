"""Building and verifying the zoo (python -m reid_plugins.zoo build | verify)."""
from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import shutil
import tempfile
from typing import Dict, List, Optional, Sequence

from .entries import ENTRIES, ZooEntry, get_entry
from .store import ZooError, check_files, entry_dir, read_manifest, sha256_file, weights_path, write_record, zoo_dir

logger = logging.getLogger(__name__)

CORPUS_PRESET = "default"     # SynthPed-W as the zoo is built from it (generator seed 0)
CORPUS_SEED = 0
REPLAY_RTOL = 1e-3            # verify: first losses of a rebuild vs the recorded ones (other CPUs round differently)


def default_work_root() -> str:
    return os.path.join("outputs", "zoo_build")


def with_recipe(entry: ZooEntry, overrides: Optional[dict]) -> ZooEntry:
    return dataclasses.replace(entry, recipe={**entry.recipe, **overrides}) if overrides else entry


def prepare_corpus(root: str, preset: str = CORPUS_PRESET, progress: bool = True):
    """Generate SynthPed-W under `root` if needed (about a minute) and read it."""
    from reid_plugins.data.synthetic import ensure_generated

    from .corpus import WebCorpus

    ensure_generated(root, preset=preset, seed=CORPUS_SEED, domains=["domain_W"], progress=progress)
    return WebCorpus(root)


def _entries(names: Optional[Sequence[str]]) -> List[ZooEntry]:
    return [get_entry(n) for n in (names or ENTRIES)]


def build(names: Optional[Sequence[str]] = None, root: str = "datasets", force: bool = False, workers: int = 1,
          progress: bool = True, work_root: Optional[str] = None, preset: str = CORPUS_PRESET,
          recipe_overrides: Optional[dict] = None) -> Dict[str, str]:
    """Train, export and record every named entry (default: all) whose files are not already built from its
    current recipe; returns {name: "built" | "up to date"}. Interrupted builds resume from <work_root>/<name>."""
    from .corpus import CORPUS_DESCRIPTION
    from .recipes import FIRST_STEPS, export, sanity, train

    work_root = work_root or default_work_root()
    status: Dict[str, str] = {}
    corpus = None
    for base in _entries(names):
        entry = with_recipe(base, recipe_overrides)
        if not force and recipe_overrides is None:
            try:
                check_files(entry)
                status[entry.name] = "up to date"
                continue
            except ZooError:
                pass
        if corpus is None:
            corpus = prepare_corpus(root, preset, progress)
        work_dir = os.path.join(work_root, entry.name)
        os.makedirs(work_dir, exist_ok=True)
        model, losses, wall = train(entry, corpus, work_dir, workers=workers, progress=progress)
        out = entry_dir(entry.name)
        export(entry, model, out)
        metrics = sanity(entry, model, corpus, root)
        import torch

        tail = losses[-50:]
        write_record(entry.name, {
            "name": entry.name, "stands_for": entry.stands_for, "kind": entry.kind, "loss": entry.loss,
            "data": CORPUS_DESCRIPTION.format(preset=preset, seed=CORPUS_SEED, ids=corpus.num_ids,
                                              images=len(corpus.train.paths),
                                              captions=sum(len(c) for c in corpus.train.captions)),
            "recipe": entry.recipe, "recipe_hash": entry.recipe_hash(), "steps": len(losses),
            "wall_s": round(wall, 1), "torch": torch.__version__,
            "first_losses": [round(v, 6) for v in losses[:FIRST_STEPS]],
            "final_loss": round(sum(tail) / len(tail), 4),
            "sha256": {f: sha256_file(os.path.join(out, f)) for f in entry.files},
            "bytes": sum(os.path.getsize(os.path.join(out, f)) for f in entry.files),
            "sanity": metrics, "built": datetime.date.today().isoformat(),
        })
        shutil.rmtree(work_dir, ignore_errors=True)   # the checkpoint is out; the resume state is not needed
        status[entry.name] = "built"
        logger.info("zoo %s: built in %.0f s, sanity %s", entry.name, wall, metrics)
    return status


def verify(names: Optional[Sequence[str]] = None, root: str = "datasets", replay: bool = True,
           progress: bool = True, preset: str = CORPUS_PRESET,
           recipe_overrides: Optional[dict] = None) -> Dict[str, dict]:
    """Check every named entry's files against their recorded sha256 and, with `replay`, that training it again from
    scratch reproduces its first recorded losses (within REPLAY_RTOL). Returns {name: {"ok", "problems", ...}}."""
    from .recipes import train

    out: Dict[str, dict] = {}
    corpus = None
    for entry in (with_recipe(e, recipe_overrides) for e in _entries(names)):
        result = {"ok": True, "problems": []}
        try:
            record = check_files(entry)
        except ZooError as e:
            result["ok"] = False
            result["problems"].append(str(e))
            out[entry.name] = result
            continue
        if replay:
            expected = record.get("first_losses") or []
            if corpus is None:
                corpus = prepare_corpus(root, preset, progress)
            with tempfile.TemporaryDirectory() as tmp:
                _, losses, _ = train(entry, corpus, tmp, steps=len(expected), progress=progress)
            worst = max((abs(a - b) / max(1.0, abs(b)) for a, b in zip(losses, expected)), default=0.0)
            result["replayed_steps"] = len(expected)
            result["max_rel_diff"] = worst
            if len(losses) != len(expected) or worst > REPLAY_RTOL:
                result["ok"] = False
                result["problems"].append(
                    f"rebuilding {entry.name} from scratch does not reproduce its first {len(expected)} losses "
                    f"(max relative difference {worst:.2e} > {REPLAY_RTOL}): recorded {expected}, now "
                    f"{[round(v, 6) for v in losses]}")
        out[entry.name] = result
    return out


def listing() -> List[dict]:
    """`zoo list --json`: one object per entry."""
    records = read_manifest()
    rows = []
    for entry in ENTRIES.values():
        record = records.get(entry.name, {})
        path = weights_path(entry)
        main_file = entry.files[-1]
        rows.append({
            "name": entry.name, "stands_for": entry.stands_for, "path": path,
            "sha256": record.get("sha256", {}).get(main_file),
            "present": all(os.path.isfile(os.path.join(entry_dir(entry.name), f)) for f in entry.files),
            "built": bool(record), "config_value": f"zoo:{entry.name}", "config_keys": list(entry.config_keys),
            "used_by": list(entry.used_by), "loss": entry.loss, "steps": record.get("steps"),
            "wall_s": record.get("wall_s"), "bytes": record.get("bytes"), "sanity": record.get("sanity"),
            "zoo_dir": zoo_dir(),
        })
    return rows
