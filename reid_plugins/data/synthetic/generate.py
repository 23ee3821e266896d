"""Generate (or reuse) the synthetic benchmark under <root>/synthped/.

    ensure_generated(root, preset=None, seed=0, workers=2) -> manifest dict

Idempotent: manifest.json is written last (atomically) and a second call with the same preset / seed / sizes returns
it without touching any file. A root generated with another configuration is refused (SyntheticConfigError) unless
force=True. Interrupted runs resume: images are rendered in chunks whose part boxes are saved atomically, and
finished chunks / domains are skipped on the next call.
"""
from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import shutil
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
from tqdm import tqdm

from ...utils.io import read_json, write_bytes_atomic, write_json_atomic
from .attributes import wear
from .captions import STYLES, WEB_STYLES, image_captions
from .domains import BENCHMARK_DOMAINS, DOMAIN_NAMES, get_domain, make_cameras
from .layout import ImageTask, plan_domain, split_counts
from .presets import DEFAULT_PRESET, resolve_sizes
from .render import encode_jpeg, plate_for, render
from .web import sample_look

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 4          # bump whenever the pixels or the annotations change for the same seed
SUBDIR = "synthped"
CHUNK = 48                     # images per worker task (and per resumable unit)
ENV_PRESET = "REID_SYNTH_PRESET"


class SyntheticConfigError(RuntimeError):
    """The folder already holds a synthetic benchmark generated with another configuration."""


# --- small file helpers ---------------------------------------------------------------------------------------------
def _read_json(path: str, what: str):
    return read_json(path, what, fix="delete it or re-run with --force", error=SyntheticConfigError)


def synth_dir(root: str) -> str:
    return os.path.join(root, SUBDIR)


def generator_config(preset: str, seed: int, overrides: Optional[dict]) -> dict:
    sizes = resolve_sizes(preset, overrides)
    return {"generator_version": GENERATOR_VERSION, "preset": preset, "seed": int(seed),
            "sizes": {d: s.to_json() for d, s in sizes.items()}}


def _config_hash(config: dict) -> str:
    return hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]


def _describe(config: dict) -> str:
    return f"preset={config.get('preset')!r} seed={config.get('seed')} generator_version={config.get('generator_version')}"


# --- worker side --------------------------------------------------------------------------------------------------
_PLATES: Dict[tuple, np.ndarray] = {}


def _render_chunk(job: dict) -> List[tuple]:
    """Render and write one chunk of images; returns [(rel_path, boxes, meta, captions)] (also saved as the
    chunk file). Captions are drawn here too, so that the workers share that work."""
    style = get_domain(job["domain"])
    out = []
    for index, rel_path, camid, ident in job["items"]:
        camera = job["cameras"][camid - 1]
        key = (job["seed"], job["domain"], camid)
        if key not in _PLATES:
            _PLATES[key] = plate_for(style, camera, job["seed"], job["domain_index"])
        rng = np.random.default_rng([job["seed"], job["domain_index"], 2, index])
        look, cam = style, camera
        if style.web:   # every web image has its own look (own stream: the render draws stay per image)
            look, cam = sample_look(style, camera, np.random.default_rng([job["seed"], job["domain_index"], 5, index]))
        img, boxes, meta = render(ident, look, cam, _PLATES[key], rng)
        # no fsync per image (13k of them in the default preset): they are regenerable, and a chunk counts as done
        # only once its chunk file exists
        write_bytes_atomic(os.path.join(job["domain_dir"], rel_path), encode_jpeg(img, meta["jpeg_quality"]),
                           fsync=False)
        caps = image_captions(ident, np.random.default_rng([job["seed"], job["domain_index"], 3, index]),
                              styles=WEB_STYLES if style.web else STYLES)
        out.append((rel_path, boxes, meta, caps))
    write_json_atomic(job["chunk_file"], out)
    return out


# --- parent side --------------------------------------------------------------------------------------------------
def _domain_outputs(plan, results: Dict[str, tuple], cameras, config) -> Dict[str, object]:
    parts, meta, captions = {}, {}, []
    for t in plan.tasks:
        boxes, m, caps = results[t.rel_path]
        base = os.path.basename(t.rel_path)
        parts[base] = {k: boxes[k] for k in ("head", "upper", "legs", "person")}
        meta[base] = m
        entry = {"split": "train" if t.split == "train" else "test", "file_path": t.rel_path, "id": int(t.pid)}
        if plan.style.changes_clothes:
            entry["outfit"] = t.outfit      # the captions describe this image's outfit; the pid is the person
        captions.append({**entry, **caps})
    attributes = {str(pid): plan.identities[pid] for pid in sorted(plan.identities)}
    domain = {**plan.style.to_json(), "cameras": cameras, "counts": split_counts(plan.tasks), "generator": config}
    return {"parts.json": parts, "meta.json": meta, "captions.json": captions, "attributes.json": attributes,
            "domain.json": domain}


def _check_existing(base: str, config: dict, force: bool) -> Optional[dict]:
    """The manifest if it matches `config`; None if there is none. Raises on a mismatch unless `force`."""
    path = os.path.join(base, "manifest.json")
    found = []
    if os.path.isfile(path):
        manifest = _read_json(path, "synthetic manifest") if not force else None
        if manifest is not None:
            if {k: manifest.get(k) for k in config} == config:
                return manifest
            found.append((path, manifest))
    for d in DOMAIN_NAMES:   # an interrupted run with another configuration leaves domain.json files behind
        dj = os.path.join(base, d, "domain.json")
        if os.path.isfile(dj) and not force:
            gen = _read_json(dj, "synthetic domain description").get("generator", {})
            if gen != config:
                found.append((dj, gen))
    if found and not force:
        where, other = found[0]
        raise SyntheticConfigError(
            f"{where!r} was generated with {_describe(other)} (sizes {other.get('sizes')}), but "
            f"{_describe(config)} (sizes {config['sizes']}) was requested. Re-run with --force (force=True) to "
            f"delete and regenerate {base!r}, or pass another --root.")
    return None


def ensure_domain(root: str, domain: str, needed_file: str, requested_by: str) -> None:
    """Generate <root>/synthped/<domain> (preset from $REID_SYNTH_PRESET) unless the manifest and
    <domain>/<needed_file> are both there: what a dataset class calls before it reads a synthetic domain."""
    base = synth_dir(root)
    if os.path.isfile(os.path.join(base, "manifest.json")) and os.path.isfile(os.path.join(base, domain, needed_file)):
        return
    logger.info("%s: %s missing, generating the synthetic benchmark's %s under %s", requested_by,
                os.path.join(base, domain, needed_file), domain, base)
    ensure_generated(root, domains=[domain])


def ensure_generated(root: str, preset: Optional[str] = None, seed: int = 0, workers: Optional[int] = None,
                     domains: Optional[Sequence[str]] = None, force: bool = False, overrides: Optional[dict] = None,
                     progress: bool = True, preview: bool = True) -> dict:
    """Make sure <root>/synthped holds the benchmark for (preset, seed, overrides); returns the manifest.

    preset: None -> $REID_SYNTH_PRESET or "default". workers: processes (None -> min(2, cpus); <= 1 runs in-process).
    domains: subset of DOMAIN_NAMES to generate (added to an existing matching manifest); default: the benchmark
    domains A-E (the web corpus W is generated only when asked for, by the model zoo)."""
    preset = preset or os.environ.get(ENV_PRESET) or DEFAULT_PRESET
    config = generator_config(preset, seed, overrides)
    wanted = list(domains) if domains else list(BENCHMARK_DOMAINS)
    for d in wanted:
        get_domain(d)
    base = synth_dir(root)
    manifest = _check_existing(base, config, force)
    if (manifest is not None and manifest.get("complete") and set(wanted) <= set(manifest.get("domains", {}))
            and all(os.path.isfile(os.path.join(base, d, "domain.json")) for d in manifest["domains"])):
        return manifest
    if force:
        # regenerate the requested domains; drop the others only if they were made with another configuration
        for d in DOMAIN_NAMES:
            if d in wanted or not _domain_complete(base, d, config):
                shutil.rmtree(os.path.join(base, d), ignore_errors=True)
        for name in ("manifest.json", "preview.png"):
            if os.path.exists(os.path.join(base, name)):
                os.remove(os.path.join(base, name))
        manifest = None
    # domains already complete with this configuration (earlier runs with --domains) stay listed in the manifest
    wanted += [d for d in DOMAIN_NAMES if d not in wanted and _domain_complete(base, d, config)]
    os.makedirs(base, exist_ok=True)
    # a domain the manifest lists but whose folder was deleted or damaged since is generated again
    done = {d: c for d, c in (manifest["domains"] if manifest else {}).items() if _domain_complete(base, d, config)}

    # Plan the domains (cheap) in a fixed order, up to the last one needed, so identities stay disjoint across
    # domains whatever is requested.
    sizes = resolve_sizes(preset, overrides)
    taken: set = set()
    last = max(DOMAIN_NAMES.index(d) for d in wanted)
    plans = {d: plan_domain(get_domain(d), i, sizes[d], seed, taken) for i, d in enumerate(DOMAIN_NAMES[:last + 1])}
    todo = [d for d in wanted if d not in done and not _domain_complete(base, d, config)]
    for d in wanted:
        if d not in todo and d not in done:
            done[d] = _read_json(os.path.join(base, d, "domain.json"), "synthetic domain description")["counts"]
    if todo:
        _generate(base, plans, todo, seed, config, workers, progress)
        for d in todo:
            done[d] = split_counts(plans[d].tasks)
    if preview:
        from .preview import contact_sheet
        contact_sheet(base, os.path.join(base, "preview.png"), domains=sorted(done))
    manifest = {**config, "domains": {d: done[d] for d in sorted(done)}, "complete": True}
    write_json_atomic(os.path.join(base, "manifest.json"), manifest, indent=2)
    return manifest


def _domain_complete(base: str, d: str, config: dict) -> bool:
    path = os.path.join(base, d, "domain.json")
    if not os.path.isfile(path):
        return False
    try:
        return _read_json(path, "synthetic domain description").get("generator") == config
    except SyntheticConfigError:
        return False


def _generate(base: str, plans: dict, todo: List[str], seed: int, config: dict, workers: Optional[int],
              progress: bool) -> None:
    chash = _config_hash(config)
    jobs, results, remaining, cams = [], {}, {}, {}
    for d in todo:
        plan = plans[d]
        di = DOMAIN_NAMES.index(d)
        ddir = os.path.join(base, d)
        chunk_dir = os.path.join(ddir, f".chunks-{chash}")
        if os.path.isdir(ddir) and not os.path.isdir(chunk_dir):
            # left by another configuration (or complete but stale): its images must not mix with ours
            shutil.rmtree(ddir)
        for sub in ("bounding_box_train", "bounding_box_test", "query"):
            os.makedirs(os.path.join(ddir, sub), exist_ok=True)
            for name in os.listdir(os.path.join(ddir, sub)):      # half-written files of an interrupted run
                if ".tmp" in name:
                    os.remove(os.path.join(ddir, sub, name))
        os.makedirs(chunk_dir, exist_ok=True)
        cams[d] = make_cameras(plan.style, np.random.default_rng([seed, di, 999]))
        results[d] = {}
        remaining[d] = 0
        for c0 in range(0, len(plan.tasks), CHUNK):
            chunk: List[ImageTask] = plan.tasks[c0:c0 + CHUNK]
            chunk_file = os.path.join(chunk_dir, f"{c0:07d}.json")
            if os.path.isfile(chunk_file):      # finished by an interrupted earlier run
                for rel_path, boxes, meta, caps in _read_json(chunk_file, "synthetic chunk"):
                    results[d][rel_path] = (boxes, meta, caps)
                continue
            remaining[d] += 1
            jobs.append({"domain": d, "domain_index": di, "seed": seed, "cameras": cams[d], "domain_dir": ddir,
                         "chunk_file": chunk_file,
                         "items": [(t.index, t.rel_path, t.camid, wear(plan.identities[t.pid], t.outfit))
                                   for t in chunk]})
    total = sum(len(j["items"]) for j in jobs)
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    bar = tqdm(total=total, desc=f"synthped {config['preset']} ({', '.join(todo)})", unit="img", disable=not progress)

    def finish(d: str) -> None:
        outputs = _domain_outputs(plans[d], results[d], cams[d], config)
        ddir = os.path.join(base, d)
        for name in ("parts.json", "meta.json", "captions.json", "attributes.json", "domain.json"):  # domain.json last
            write_json_atomic(os.path.join(ddir, name), outputs[name])
        shutil.rmtree(os.path.join(ddir, f".chunks-{chash}"), ignore_errors=True)

    for d in todo:
        if remaining[d] == 0:
            finish(d)
    results_iter: Iterable
    pool = mp.get_context("fork").Pool(workers) if workers > 1 and len(jobs) > 1 else None
    try:
        results_iter = pool.imap_unordered(_render_chunk, jobs) if pool else map(_render_chunk, jobs)
        job_domain = {j["chunk_file"]: j["domain"] for j in jobs}
        for out in _with_keys(results_iter, jobs, pool is not None):
            chunk_file, rows = out
            d = job_domain[chunk_file]
            for rel_path, boxes, meta, caps in rows:
                results[d][rel_path] = (boxes, meta, caps)
            bar.update(len(rows))
            remaining[d] -= 1
            if remaining[d] == 0:
                finish(d)
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()


def _with_keys(results_iter, jobs, unordered: bool):
    """Pairs each chunk's rows with its chunk file (imap_unordered loses the order, so rows name their paths)."""
    if not unordered:
        for job, rows in zip(jobs, results_iter):
            yield job["chunk_file"], rows
        return
    by_first = {j["items"][0][1]: j["chunk_file"] for j in jobs}
    for rows in results_iter:
        yield by_first[rows[0][0]], rows
