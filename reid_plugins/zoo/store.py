"""Where the zoo's checkpoints live, what the manifest records about them, and how configs name them.

    <zoo dir>/manifest.json           {"entries": {name: record}}; a record has the sha256 of every file, the recipe
                                      hash, steps, wall time, first losses and the sanity metrics
    <zoo dir>/<name>/<files>          the checkpoint(s)

The zoo dir is reid_plugins/zoo/weights (committed with the package) unless $REID_ZOO_DIR names another. A config
value "zoo:<name>" (in the keys an entry lists) becomes the checkpoint's path once its files are present, have the
recorded sha256 and the config has the entry's architecture; otherwise ZooError names the file, the expected sha256
and the command that rebuilds it.
"""
from __future__ import annotations

import hashlib
import os
from typing import Dict, Iterable, Optional

from ..utils.io import read_json
from .entries import ENTRIES, ZooEntry, get_entry

PREFIX = "zoo:"
ENV_DIR = "REID_ZOO_DIR"
DEFAULT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")


class ZooError(RuntimeError):
    """A zoo checkpoint that is missing, altered, stale or loaded into the wrong architecture."""


def zoo_dir() -> str:
    return os.environ.get(ENV_DIR) or DEFAULT_DIR


def rebuild_command(name: str) -> str:
    return f"python -m reid_plugins.zoo build --only {name}"


def manifest_path(root: Optional[str] = None) -> str:
    return os.path.join(root or zoo_dir(), "manifest.json")


def read_manifest(root: Optional[str] = None) -> Dict[str, dict]:
    path = manifest_path(root)
    if not os.path.isfile(path):
        return {}
    data = read_json(path, "zoo manifest", error=ZooError,
                     fix="restore it from git or rebuild the zoo (python -m reid_plugins.zoo build)")
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise ZooError(f"zoo manifest {path!r}: expected {{\"entries\": {{name: record}}}}")
    return entries


def write_record(name: str, record: dict, root: Optional[str] = None) -> None:
    """Replace one entry's record in the manifest (atomically; the other records are kept)."""
    from reid_plugins.utils.io import write_json_atomic

    entries = read_manifest(root)
    entries[name] = record
    write_json_atomic(manifest_path(root), {"entries": {k: entries[k] for k in sorted(entries)}}, indent=2)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def entry_dir(name: str, root: Optional[str] = None) -> str:
    return os.path.join(root or zoo_dir(), name)


def weights_path(entry: ZooEntry, root: Optional[str] = None) -> str:
    return os.path.normpath(os.path.join(entry_dir(entry.name, root), entry.weights))


def check_files(entry: ZooEntry, root: Optional[str] = None) -> dict:
    """The manifest record of `entry` after checking that every file is present with its recorded sha256."""
    record = read_manifest(root).get(entry.name)
    if record is None:
        raise ZooError(f"zoo entry {entry.name!r} has not been built: no record in {manifest_path(root)!r}. "
                       f"Build it with: {rebuild_command(entry.name)}")
    if record.get("recipe_hash") != entry.recipe_hash():
        raise ZooError(f"zoo entry {entry.name!r} in {entry_dir(entry.name, root)!r} was built with another recipe "
                       f"(recorded {record.get('recipe_hash')}, the code's is {entry.recipe_hash()}). Rebuild it "
                       f"with: {rebuild_command(entry.name)}")
    for fname in entry.files:
        path = os.path.join(entry_dir(entry.name, root), fname)
        expected = record.get("sha256", {}).get(fname)
        if not os.path.isfile(path):
            raise ZooError(f"zoo checkpoint {path!r} is missing (expected sha256 {expected}). Restore it from git "
                           f"or rebuild it with: {rebuild_command(entry.name)}")
        actual = sha256_file(path)
        if actual != expected:
            raise ZooError(f"zoo checkpoint {path!r} has sha256 {actual}, expected {expected}: the file is "
                           f"truncated or altered. Restore it from git or rebuild it with: "
                           f"{rebuild_command(entry.name)}")
    return record


def entry_path(name: str, root: Optional[str] = None) -> str:
    """Path of a verified checkpoint (the value a config's key receives for "zoo:<name>")."""
    entry = get_entry(name)
    check_files(entry, root)
    return weights_path(entry, root)


def get_key(cfg, dotted: str):
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def set_key(cfg, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    node = cfg
    for part in parents:
        node = node[part]
    node[leaf] = value


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return list(a) == list(b) if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) else False
    return a == b


# a key whose value is only read when another key is on (fast-reid loads PRETRAIN_PATH only with PRETRAIN True)
ENABLED_BY = {"MODEL.BACKBONE.PRETRAIN_PATH": "MODEL.BACKBONE.PRETRAIN"}


def resolve_config(cfg, keys: Optional[Iterable[str]] = None) -> Dict[str, str]:
    """Replace every "zoo:<name>" value in the entries' config keys of `cfg` (a yacs CfgNode, not frozen) by the
    verified checkpoint path; returns {key: name}. The config must have the entry's architecture. A value the config
    does not use (PRETRAIN_PATH with PRETRAIN False) is left as it is."""
    keys = sorted(set(keys) if keys is not None else {k for e in ENTRIES.values() for k in e.config_keys})
    resolved = {}
    for key in keys:
        try:
            value = get_key(cfg, key)
        except KeyError:
            continue
        if not (isinstance(value, str) and value.startswith(PREFIX)):
            continue
        switch = ENABLED_BY.get(key)
        if switch is not None and not get_key(cfg, switch):
            continue
        name = value[len(PREFIX):]
        try:
            entry = get_entry(name)
        except KeyError as e:
            raise ZooError(f"{key}={value!r}: {e.args[0]}") from e
        if key not in entry.config_keys:
            raise ZooError(f"{key}={value!r}: zoo entry {name!r} ({entry.stands_for}) is loaded through "
                           f"{list(entry.config_keys)}, not {key}")
        wrong = []
        for arch_key, expected in entry.arch.items():
            try:
                have = get_key(cfg, arch_key)
            except KeyError:
                have = "<no such key>"
            if not _same(have, expected):
                wrong.append(f"{arch_key}={have!r} (the checkpoint has {expected!r})")
        if wrong:
            raise ZooError(f"{key}={value!r} is a checkpoint of another architecture than this config builds: "
                           f"{'; '.join(wrong)}. Use a config with the entry's architecture or another checkpoint.")
        set_key(cfg, key, entry_path(name))
        resolved[key] = name
    return resolved
