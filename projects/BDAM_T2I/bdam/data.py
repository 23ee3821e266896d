"""Config -> T2I datasets, tokenizer and loaders (reid_plugins.data.t2i + fast-reid transforms / samplers).

Evaluation loader of a dataset: the split DATASETS.T2I.TEST_SPLIT names, plus
  - "val", when TEST_SPLIT is "test" and the dataset has a val split (its own, or DATASETS.T2I.VAL_FROM_TRAIN of the
    training identities held out of training): the re-ranking setting and the best checkpoint are chosen there;
  - "train", TEST.RERANK_T2I.TRAIN_IDS training identities, when the fusion head re-ranks: the re-ranker's gain on
    identities it was trained on, next to its gain on unseen ones.
"""
from __future__ import annotations

import logging
import os

from fastreid.data.transforms import build_transforms
from fastreid.utils import comm

from reid_plugins.data.root import dataset_root
from reid_plugins.data.t2i import build_t2i_dataset
from reid_plugins.data.t2i.tokenized import (T2ITokenizer, T2ITrainSet, build_t2i_eval_loader,
                                             build_t2i_train_loader)
from reid_plugins.modeling.hf_encoders import build_bert_tokenizer

logger = logging.getLogger(__name__)


def tokenizer_source(cfg) -> str:
    """TEXT.VOCAB if set; else the text encoder's own folder when it holds a vocab.txt; else the bundled vocab."""
    T = cfg.MODEL.BDAM.TEXT
    if T.VOCAB:
        return T.VOCAB
    if T.PRETRAINED_DIR and T.PRETRAINED_DIR != "minilm" and os.path.isfile(
            os.path.join(T.PRETRAINED_DIR, "vocab.txt")):
        return T.PRETRAINED_DIR
    return ""  # bert-base-uncased WordPiece vocabulary shipped with MiniLM


def build_tokenizer(cfg) -> T2ITokenizer:
    return T2ITokenizer(build_bert_tokenizer(tokenizer_source(cfg)), cfg.MODEL.BDAM.TEXT.LENGTH)


def load_dataset(cfg, name: str, **kwargs):
    """The T2I dataset, with DATASETS.T2I.VAL_FROM_TRAIN of its training identities held out as val when it has no
    val split (identical in the train and the test loader: the held-out ids depend on the annotation only)."""
    T = cfg.DATASETS.T2I
    ds = build_t2i_dataset(name, dataset_root(cfg), check_images=T.CHECK_IMAGES, **kwargs)
    ds.hold_out_validation(T.VAL_FROM_TRAIN)
    return ds


def log_text_truncation(tokenizer: T2ITokenizer, texts, what: str, limit: int = 50_000) -> dict:
    """How many of the (distinct) texts are longer than TEXT.LENGTH tokens; warns when any is. Above ``limit``
    distinct texts an evenly spaced sample of ``limit`` is measured (the Python WordPiece tokenizer does ~10k texts
    a second)."""
    unique = sorted(set(texts))
    sample = unique if len(unique) <= limit else unique[::-(-len(unique) // limit)]
    lengths = tokenizer.lengths(sample) if sample else []
    over = sum(n > tokenizer.max_length for n in lengths)
    stats = {"texts": len(sample), "truncated": over, "max_tokens": max(lengths, default=0)}
    if over:
        logger.warning("%s texts: %d of %d are longer than MODEL.BDAM.TEXT.LENGTH=%d tokens (longest %d) and are "
                       "truncated; raise TEXT.LENGTH", what, over, len(sample), tokenizer.max_length,
                       stats["max_tokens"])
    elif comm.is_main_process():
        logger.info("%s texts: none of %d longer than TEXT.LENGTH=%d (longest %d tokens)", what, len(sample),
                    tokenizer.max_length, stats["max_tokens"])
    return stats


def build_train_loader(cfg):
    T = cfg.DATASETS.T2I
    if T.ANNOTATION_FILE and len(cfg.DATASETS.NAMES) != 1:
        raise ValueError(f"DATASETS.T2I.ANNOTATION_FILE replaces the annotation of one dataset; DATASETS.NAMES has "
                         f"{len(cfg.DATASETS.NAMES)}: {list(cfg.DATASETS.NAMES)}")
    datasets = []
    for name in cfg.DATASETS.NAMES:
        ds = load_dataset(cfg, name, annotation_file=T.ANNOTATION_FILE)
        if comm.is_main_process():
            logger.info("%s\ndescriptions: %s", ds.summary(), ds.description_coverage())
        datasets.append(ds)
    train_set = T2ITrainSet(datasets, build_transforms(cfg, is_train=True), build_tokenizer(cfg),
                            id_text=T.ID_TEXT, missing_description=T.MISSING_DESCRIPTION)
    return build_t2i_train_loader(train_set, total_batch_size=cfg.SOLVER.IMS_PER_BATCH,
                                  num_instance=cfg.DATALOADER.NUM_INSTANCE, num_workers=cfg.DATALOADER.NUM_WORKERS,
                                  seed=None if cfg.SEED < 0 else cfg.SEED)


def build_test_split(cfg, dataset_name: str):
    """The evaluated split (DATASETS.T2I.TEST_SPLIT) of a T2I test set."""
    return load_dataset(cfg, dataset_name).split(cfg.DATASETS.T2I.TEST_SPLIT)


def evaluation_parts(cfg, ds):
    """{part name: T2ISplit} evaluated for a dataset (see the module docstring)."""
    name = cfg.DATASETS.T2I.TEST_SPLIT
    parts = {name: ds.split(name)}
    if name == "test" and ds.val.img_paths:
        parts["val"] = ds.val
    rr = cfg.TEST.RERANK_T2I
    if cfg.MODEL.BDAM.FUSION.ENABLED and rr.ENABLED and rr.TRAIN_IDS > 0:
        parts["train"] = ds.train_identity_split(rr.TRAIN_IDS)
    return parts


def build_test_loader(cfg, dataset_name: str):
    """(loader over every part's gallery images and query captions, number of queries over all parts)."""
    ds = load_dataset(cfg, dataset_name)
    loader = build_t2i_eval_loader(evaluation_parts(cfg, ds), build_transforms(cfg, is_train=False),
                                   build_tokenizer(cfg), cfg.TEST.IMS_PER_BATCH, cfg.TEST.NUM_WORKERS)
    return loader, loader.dataset.num_texts
