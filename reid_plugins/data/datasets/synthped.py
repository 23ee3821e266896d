"""The synthetic domains as fast-reid datasets (Market-1501 layout under <root>/synthped/domain_X).

If <root>/synthped/manifest.json is missing, the benchmark is generated first with the preset from
$REID_SYNTH_PRESET (default "default"), so configs can name SynthPedA..E like any real dataset.

`SynthPedAVal` is domain A's *training* split divided for choosing hyperparameters (held-out source data): one
family in five (families hold the near-twins) is held out as query / gallery, the other families train. It never
reads A's test split, and no benchmark domain is used for tuning.
"""
from __future__ import annotations

import logging
import os
from typing import List, Tuple

from fastreid.data.datasets import DATASET_REGISTRY

from ...utils.io import read_json
from .market_layout import MarketLayoutDataset

logger = logging.getLogger(__name__)


class _SynthPed(MarketLayoutDataset):
    """Generates its domain (preset from $REID_SYNTH_PRESET) when it is missing, then reads it."""
    domain = ""

    def __init__(self, root: str = "datasets", **kwargs):
        from reid_plugins.data.synthetic import ensure_domain

        ensure_domain(root, self.domain, "domain.json", type(self).__name__)
        super().__init__(root=root, **kwargs)


def register_domain_datasets(base: type, prefix: str, doc: str, module: str) -> Tuple[type, ...]:
    """<prefix>A .. <prefix>E: one subclass of `base` per benchmark domain (domain, dataset_dir
    synthped/domain_<letter>, dataset_name the lower-cased class name), registered in fast-reid's DATASET_REGISTRY.
    `doc` is formatted with the domain's letter and role."""
    from reid_plugins.data.synthetic import BENCHMARK_DOMAINS, SUBDIR
    from reid_plugins.data.synthetic.domains import get_domain

    classes = []
    for domain in BENCHMARK_DOMAINS:
        letter = domain[len("domain_"):]
        cls = type(f"{prefix}{letter}", (base,),
                   {"domain": domain, "dataset_dir": f"{SUBDIR}/{domain}", "dataset_name": f"{prefix}{letter}".lower(),
                    "__module__": module, "__doc__": doc.format(letter=letter, role=get_domain(domain).role)})
        DATASET_REGISTRY.register(cls)
        classes.append(cls)
    return tuple(classes)


SynthPedA, SynthPedB, SynthPedC, SynthPedD, SynthPedE = register_domain_datasets(
    _SynthPed, "SynthPed", "Synthetic domain {letter}: {role}.", __name__)


# every VAL_EVERY-th family of domain A's training identities (sorted by family number) is held out
VAL_EVERY = 4
VAL_QUERY_CAMS = 2   # queries per held-out identity: one image in each of up to this many of its cameras


def held_out_pids(attributes: dict, every: int = VAL_EVERY) -> List[int]:
    """The training identities of the families held out for validation (attributes.json of the domain)."""
    families = sorted({a["family"] for a in attributes.values() if a["split"] == "train"})
    held = set(families[::every])
    return sorted(int(pid) for pid, a in attributes.items() if a["split"] == "train" and a["family"] in held)


def validation_split(items: list, held: set, query_cams: int = VAL_QUERY_CAMS):
    """(train, query, gallery) from domain A's training images (path, pid, camid): images of `held` pids become
    query / gallery (Market protocol: one query in each of up to `query_cams` cameras, never in every camera, so each
    query keeps a true match in another camera); the other pids stay training identities."""
    train, by_pid = [], {}
    for path, pid, cam in items:
        if pid in held:
            by_pid.setdefault(pid, {}).setdefault(cam, []).append(path)
        else:
            train.append((path, pid, cam))
    query, gallery = [], []
    for pid in sorted(by_pid):
        cams = sorted(by_pid[pid])
        query_in = set(cams[:min(query_cams, len(cams) - 1)])
        for cam in cams:
            paths = sorted(by_pid[pid][cam])
            if cam in query_in:
                query.append((paths[0], pid, cam))
                paths = paths[1:]
            gallery.extend((p, pid, cam) for p in paths)
    return train, query, gallery


@DATASET_REGISTRY.register()
class SynthPedAVal(SynthPedA):
    """Domain A's training split, 3/4 of its families to train and 1/4 as query / gallery (hyperparameter choice)."""
    dataset_name = "synthpedaval"

    def process_dir(self, sub: str, is_train: bool):
        if not hasattr(self, "_split"):
            attributes = read_json(os.path.join(self.data_dir, "attributes.json"), "synthped domain_A attributes",
                                   fix="regenerate the benchmark (python -m reid_plugins.data.synthetic --force)")
            held = set(held_out_pids(attributes))
            items = super().process_dir(self.split_dirs["train"], is_train=False)
            self._split = dict(zip(self.split_dirs.values(), validation_split(items, held)))
        items = self._split[sub]
        if is_train:
            return [(p, f"{self.dataset_name}_{pid}", f"{self.dataset_name}_{cam}") for p, pid, cam in items]
        return items
