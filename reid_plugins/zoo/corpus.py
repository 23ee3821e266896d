"""SynthPed-W as pretraining data: identities, attribute labels, captions, the held-out identities, and batches that
are a pure function of (seed, step).

Batches are drawn by step index, not by an iterator: batch t comes from np.random.default_rng([seed, 7, t]). So a
build interrupted at step t resumes at step t with exactly the batches an uninterrupted build sees, whatever the
number of loader workers, and `zoo verify` can replay the first steps.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from reid_plugins.data.synthetic.attributes import VOCAB
from reid_plugins.utils.io import read_json

DOMAIN = "domain_W"
# the 19 person attributes, "group.name", and their values (the classification targets of the supervised recipe)
ATTRIBUTES: Tuple[str, ...] = tuple(f"{g}.{a}" for g, attrs in VOCAB.items() for a in attrs)
ATTRIBUTE_VALUES: Dict[str, Tuple[str, ...]] = {f"{g}.{a}": tuple(v) for g, attrs in VOCAB.items()
                                                for a, v in attrs.items()}
IGNORE = -100   # attributes that do not apply (pattern colour of a plain top, colour of an absent bag or hat)


class CorpusError(RuntimeError):
    """SynthPed-W is missing or malformed."""


@dataclass
class Split:
    paths: List[str] = field(default_factory=list)
    pids: List[int] = field(default_factory=list)          # raw W ids
    camids: List[int] = field(default_factory=list)
    captions: List[List[str]] = field(default_factory=list)


def _camid(path: str) -> int:
    name = os.path.basename(path)
    return int(name.split("_c", 1)[1].split("s", 1)[0])


def attribute_labels(attributes: dict) -> List[int]:
    """[19] class indices of an identity's attributes (IGNORE where the attribute does not apply)."""
    out = []
    for key in ATTRIBUTES:
        group, name = key.split(".")
        value = attributes[group][name]
        out.append(IGNORE if value is None else ATTRIBUTE_VALUES[key].index(value))
    return out


def read_domain(root: str, domain: str) -> Tuple[Split, Split, Split]:
    """(train, query, gallery) of a generated synthped domain, from its captions.json."""
    path = os.path.join(root, "synthped", domain, "captions.json")
    if not os.path.isfile(path):
        raise CorpusError(f"synthped {domain} is not generated: {path!r} is missing. Generate it with `python -m "
                          f"reid_plugins.data.synthetic --root {root} --domains {domain}` (the zoo build does this "
                          f"itself for {DOMAIN})")
    entries = read_json(path, f"synthped {domain} captions", error=CorpusError,
                        fix=f"regenerate it with `python -m reid_plugins.data.synthetic --root {root} --force`")
    train, query, gallery = Split(), Split(), Split()
    for e in entries:
        p = os.path.join(root, "synthped", domain, e["file_path"])
        split = train if e["split"] == "train" else (query if e["file_path"].startswith("query/") else gallery)
        split.paths.append(p)
        split.pids.append(int(e["id"]))
        split.camids.append(_camid(p))
        split.captions.append(list(e["captions"]))
    return train, query, gallery


class WebCorpus:
    """<root>/synthped/domain_W: `train` (identities 0..N-1, one entry per image with its captions), `query` and
    `gallery` of the held-out identities, and every identity's attribute labels."""

    def __init__(self, root: str):
        self.base = os.path.join(root, "synthped", DOMAIN)
        self.train, self.query, self.gallery = read_domain(root, DOMAIN)
        if not self.train.paths or not self.query.paths or not self.gallery.paths:
            raise CorpusError(f"{self.base!r}: SynthPed-W needs training, query and gallery images")
        attr_path = os.path.join(self.base, "attributes.json")
        if not os.path.isfile(attr_path):
            raise CorpusError(f"{attr_path!r} is missing: SynthPed-W was not generated completely")
        attributes = read_json(attr_path, "SynthPed-W attributes", error=CorpusError,
                               fix="regenerate SynthPed-W (python -m reid_plugins.data.synthetic --force)")
        self.train_ids = sorted(set(self.train.pids))
        self.label_of = {pid: i for i, pid in enumerate(self.train_ids)}
        self.train_labels = np.asarray([self.label_of[p] for p in self.train.pids], np.int64)
        self.images_of: List[np.ndarray] = [np.flatnonzero(self.train_labels == i) for i in range(self.num_ids)]
        self.attr_labels = {int(pid): attribute_labels(a) for pid, a in attributes.items()}

    @property
    def num_ids(self) -> int:
        return len(self.train_ids)

    @staticmethod
    def attribute_sizes() -> List[int]:
        return [len(ATTRIBUTE_VALUES[k]) for k in ATTRIBUTES]


def load_image(path: str, size: Sequence[int], flip: bool = False, shift: Tuple[int, int] = (0, 0), pad: int = 0):
    """uint8 -> float32 tensor [3, H, W] in 0-255 (fast-reid's convention): bicubic resize to `size` (H, W), then an
    optional horizontal flip and a translation by `shift` px inside a zero border of `pad` px (pad-and-crop)."""
    import torch
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            h, w = int(size[0]), int(size[1])
            if img.size != (w, h):
                img = img.resize((w, h), Image.BICUBIC)
            x = torch.from_numpy(np.asarray(img, np.float32).copy()).permute(2, 0, 1)
    except OSError as e:
        raise CorpusError(f"cannot read SynthPed-W image {path!r}: {e}") from e
    if flip:
        x = x.flip(2)
    if pad:
        dy, dx = shift
        canvas = torch.zeros(3, h + 2 * pad, w + 2 * pad)
        canvas[:, pad:pad + h, pad:pad + w] = x
        x = canvas[:, pad + dy:pad + dy + h, pad + dx:pad + dx + w]
    return x


class StepBatches:
    """Map-style dataset whose item t is training batch t (use with DataLoader(batch_size=None)).

    kind "clip": `batch` distinct identities, one random image of each and one random caption of that image,
    tokenized by `tokenizer`; images flipped with p = 0.5. kind "supervised": `batch` distinct training images with
    their identity and attribute labels; flip p = 0.5 and a random shift of up to `pad` px."""

    def __init__(self, corpus: WebCorpus, kind: str, batch: int, size: Sequence[int], seed: int, steps: int,
                 tokenizer=None, pad: int = 4):
        if kind not in ("clip", "supervised"):
            raise ValueError(f"StepBatches: kind must be 'clip' or 'supervised', got {kind!r}")
        if kind == "clip" and batch > corpus.num_ids:
            raise ValueError(f"batch {batch} > {corpus.num_ids} SynthPed-W identities (a batch holds distinct ids)")
        self.corpus, self.kind, self.batch, self.size = corpus, kind, int(batch), tuple(size)
        self.seed, self.steps, self.tokenizer, self.pad = int(seed), int(steps), tokenizer, int(pad)

    def __len__(self) -> int:
        return self.steps

    def indices(self, step: int) -> Tuple[np.ndarray, np.random.Generator]:
        rng = np.random.default_rng([self.seed, 7, int(step)])
        c = self.corpus
        if self.kind == "clip":
            ids = rng.choice(c.num_ids, size=self.batch, replace=False)
            return np.asarray([c.images_of[i][rng.integers(len(c.images_of[i]))] for i in ids]), rng
        return rng.choice(len(c.train.paths), size=self.batch, replace=False), rng

    def __getitem__(self, step: int) -> Dict[str, object]:
        import torch

        idx, rng = self.indices(step)
        c = self.corpus
        images = []
        for i in idx:
            flip = bool(rng.random() < 0.5)
            shift = tuple(int(v) for v in rng.integers(-self.pad, self.pad + 1, 2)) if self.kind != "clip" else (0, 0)
            images.append(load_image(c.train.paths[i], self.size, flip, shift, self.pad if self.kind != "clip" else 0))
        out: Dict[str, object] = {"images": torch.stack(images), "step": int(step)}
        if self.kind == "clip":
            captions = [c.train.captions[i][rng.integers(len(c.train.captions[i]))] for i in idx]
            out["tokens"] = self.tokenizer(captions)
        else:
            out["ids"] = torch.as_tensor(c.train_labels[idx])
            out["attrs"] = torch.as_tensor([c.attr_labels[c.train.pids[i]] for i in idx], dtype=torch.long)
        return out


def images_tensor(paths: Sequence[str], size: Sequence[int], start: int, stop: int):
    """Evaluation batch: paths[start:stop] resized, no augmentation."""
    import torch

    return torch.stack([load_image(p, size) for p in paths[start:stop]])


CORPUS_DESCRIPTION = ("SynthPed-W ({preset} preset, generator seed {seed}; no image of a benchmark domain): {ids} "
                      "training identities, {images} images, {captions} captions")
