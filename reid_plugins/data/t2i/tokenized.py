"""torch datasets over T2I datasets: images through fast-reid transforms, texts through a BERT WordPiece tokenizer.

Training sample (one caption of one image), collated by fast-reid's ``fast_batch_collator``::

    {"images": float [3, H, W] (0-255, fast-reid convention), "targets": pid,
     "id_input_ids" / "id_attention_mask": long [L]   identity text (the caption, or the identity description)
     "clo_input_ids" / "clo_attention_mask": long [L] clothing text (the clothing description), "img_paths": str,
     "image_ids": the image's running index (distinct across the combined datasets)}

Evaluation: :class:`T2ITestSet` holds the gallery images then the query captions; :class:`ModalityBatchSampler`
never mixes the two in one batch, so a batch has either ``images`` or ``input_ids`` / ``attention_mask``, plus
``pids`` and ``index`` (position within its modality). :class:`T2IEvalSet` chains several named splits (e.g. test,
val and some training identities) into one loader; its items also carry ``part`` (the split's name) and no batch
mixes parts.
"""
from __future__ import annotations

import logging
from typing import Dict, Iterator, List, Optional, Sequence

import torch
from torch.utils.data import Dataset, Sampler

from .datasets import T2IDataset, T2ISample, T2ISplit

logger = logging.getLogger(__name__)

ID_TEXT_MODES = ("caption", "identity_description")
MISSING_POLICIES = ("caption", "error")


class T2ITokenizer:
    """Fixed-length BERT encoding: [CLS] tokens [SEP] [PAD]..., truncated to ``max_length`` (keeps [SEP] last)."""

    def __init__(self, tokenizer, max_length: int):
        if max_length < 3:
            raise ValueError(f"text length must be >= 3 ([CLS] token [SEP]), got {max_length}")
        self.tokenizer = tokenizer
        self.max_length = int(max_length)

    def lengths(self, texts) -> List[int]:
        """Untruncated token counts ([CLS] and [SEP] included) of the texts."""
        return [len(ids) for ids in self.tokenizer(list(texts), truncation=False)["input_ids"]]

    def __call__(self, texts):
        single = isinstance(texts, str)
        enc = self.tokenizer([texts] if single else list(texts), max_length=self.max_length, padding="max_length",
                             truncation=True, return_tensors="pt", return_token_type_ids=False)
        ids, mask = enc["input_ids"].long(), enc["attention_mask"].long()
        return (ids[0], mask[0]) if single else (ids, mask)


def load_image(path: str):
    from fastreid.data.data_utils import read_image

    try:
        return read_image(path, "RGB")
    except (OSError, ValueError) as e:
        raise OSError(f"cannot read image {path!r}: {e}") from e


def resolve_texts(samples: Sequence[T2ISample], id_text: str, missing: str, source: str):
    """(identity text, clothing text) per sample, following ID_TEXT mode and the missing-description policy."""
    if id_text not in ID_TEXT_MODES:
        raise ValueError(f"id_text must be one of {ID_TEXT_MODES}, got {id_text!r}")
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing-description policy must be one of {MISSING_POLICIES}, got {missing!r}")
    need = ["clothing_description"] + (["identity_description"] if id_text == "identity_description" else [])
    for key in need:
        lacking = [s for s in samples if getattr(s, key) is None]
        if not lacking:
            continue
        msg = (f"{source}: {len({s.img_path for s in lacking})} training images have no {key!r} (e.g. "
               f"{lacking[0].img_path}); generate them with reid_plugins.captioning and point "
               f"DATASETS.T2I.ANNOTATION_FILE at its output")
        if missing == "error":
            raise ValueError(msg)
        logger.warning("%s; using the caption instead", msg)
    id_texts = [s.caption if id_text == "caption" or s.identity_description is None else s.identity_description
                for s in samples]
    clo_texts = [s.clothing_description if s.clothing_description is not None else s.caption for s in samples]
    return id_texts, clo_texts


class T2ITrainSet(Dataset):
    """Training samples of one or more T2I datasets (pids offset so that datasets stay disjoint)."""

    def __init__(self, datasets: Sequence[T2IDataset], transform, tokenizer: T2ITokenizer,
                 id_text: str = "caption", missing_description: str = "caption"):
        self.samples: List[T2ISample] = []
        offset = image_offset = 0
        id_texts, clo_texts = [], []
        for ds in datasets:
            shifted = [s._replace(pid=s.pid + offset, image_id=s.image_id + image_offset) for s in ds.train]
            if not shifted:
                raise ValueError(f"{type(ds).__name__}: {ds.annotation_path} has no 'train' entries")
            a, b = resolve_texts(shifted, id_text, missing_description, ds.annotation_path)
            self.samples.extend(shifted)
            id_texts.extend(a)
            clo_texts.extend(b)
            offset += ds.num_train_pids
            image_offset += 1 + max(s.image_id for s in ds.train)
        self.id_texts, self.clo_texts = id_texts, clo_texts
        self.num_classes = offset
        self.transform = transform
        self.tokenizer = tokenizer
        # (img_path, pid, image_id) rows: the data_source format of fast-reid's identity samplers
        self.img_items = [(s.img_path, s.pid, s.image_id) for s in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Dict[str, object]:
        s = self.samples[i]
        img = load_image(s.img_path)
        if self.transform is not None:
            img = self.transform(img)
        id_ids, id_mask = self.tokenizer(self.id_texts[i])
        clo_ids, clo_mask = self.tokenizer(self.clo_texts[i])
        return {"images": img, "targets": s.pid, "id_input_ids": id_ids, "id_attention_mask": id_mask,
                "clo_input_ids": clo_ids, "clo_attention_mask": clo_mask, "img_paths": s.img_path,
                "image_ids": s.image_id}


class T2ITestSet(Dataset):
    """Gallery images (indices 0..num_images-1) followed by query captions."""

    def __init__(self, split: T2ISplit, transform, tokenizer: T2ITokenizer, part: Optional[str] = None):
        self.split = split
        self.part = part  # if given, every item carries it as "part"
        self.transform = transform
        self.tokenizer = tokenizer
        self.num_images = len(split.img_paths)
        self.num_texts = len(split.captions)

    def __len__(self) -> int:
        return self.num_images + self.num_texts

    def __getitem__(self, i: int) -> Dict[str, object]:
        if i < self.num_images:
            img = load_image(self.split.img_paths[i])
            if self.transform is not None:
                img = self.transform(img)
            item = {"images": img, "pids": self.split.image_pids[i], "index": i}
        else:
            j = i - self.num_images
            ids, mask = self.tokenizer(self.split.captions[j])
            item = {"input_ids": ids, "attention_mask": mask, "pids": self.split.caption_pids[j], "index": j}
        if self.part is not None:
            item["part"] = self.part
        return item


class T2IEvalSet(torch.utils.data.ConcatDataset):
    """Named splits one after the other, each as a T2ITestSet whose items carry "part": its name."""

    def __init__(self, parts: Dict[str, T2ISplit], transform, tokenizer: T2ITokenizer):
        if not parts:
            raise ValueError("T2IEvalSet needs at least one split")
        super().__init__([T2ITestSet(split, transform, tokenizer, part=name) for name, split in parts.items()])
        self.part_names = list(parts)
        self.tokenizer = tokenizer

    @property
    def captions(self) -> List[str]:
        return [c for part in self.datasets for c in part.split.captions]

    @property
    def num_texts(self) -> int:
        return sum(part.num_texts for part in self.datasets)

    def segment_sizes(self) -> List[int]:
        """Images then captions of each part: the runs a batch must not cross."""
        return [n for part in self.datasets for n in (part.num_images, part.num_texts)]


class SegmentBatchSampler(Sampler):
    """Sequential batches over consecutive segments of the given sizes; no batch crosses a segment boundary."""

    def __init__(self, sizes: Sequence[int], batch_size: int):
        if batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {batch_size}")
        self.sizes, self.batch_size = [int(n) for n in sizes], batch_size

    def _batches(self) -> Iterator[List[int]]:
        start = 0
        for size in self.sizes:
            stop = start + size
            for b in range(start, stop, self.batch_size):
                yield list(range(b, min(b + self.batch_size, stop)))
            start = stop

    def __iter__(self):
        return self._batches()

    def __len__(self) -> int:
        return sum(-(-n // self.batch_size) for n in self.sizes)


class ModalityBatchSampler(SegmentBatchSampler):
    """Sequential batches over a T2ITestSet that never mix images and captions."""

    def __init__(self, num_images: int, num_texts: int, batch_size: int):
        super().__init__((num_images, num_texts), batch_size)
        self.num_images, self.num_texts = num_images, num_texts


def build_t2i_eval_loader(parts: Dict[str, T2ISplit], transform, tokenizer: T2ITokenizer, batch_size: int,
                          num_workers: int = 0) -> torch.utils.data.DataLoader:
    """One loader over several named splits (T2IEvalSet); batches never mix parts or modalities."""
    from fastreid.data.build import fast_batch_collator

    eval_set = T2IEvalSet(parts, transform, tokenizer)
    return torch.utils.data.DataLoader(eval_set, batch_sampler=SegmentBatchSampler(eval_set.segment_sizes(),
                                                                                   batch_size),
                                       num_workers=num_workers, collate_fn=fast_batch_collator)


def build_t2i_train_loader(train_set: T2ITrainSet, *, total_batch_size: int, num_instance: int,
                           num_workers: int = 0, sampler: Optional[Sampler] = None, seed: Optional[int] = None):
    """fast-reid's train loader (identity sampler, DataLoaderX, fast_batch_collator) over a T2ITrainSet.

    Default sampler: NaiveIdentitySampler (P identities x K captions), which the in-batch InfoNCE / triplet need."""
    from fastreid.data import build_reid_train_loader, samplers
    from fastreid.utils import comm

    if sampler is None:
        from reid_plugins.engine.guards import check_identity_batch

        mini = total_batch_size // comm.get_world_size()
        check_identity_batch(len({row[1] for row in train_set.img_items}), total_batch_size, num_instance,
                             comm.get_world_size(), what="the text-to-image training set")
        sampler = samplers.NaiveIdentitySampler(train_set.img_items, mini, num_instance, seed=seed)
    return build_reid_train_loader(train_set=train_set, sampler=sampler, total_batch_size=total_batch_size,
                                   num_workers=num_workers)
