"""Config -> T2I datasets, tokenizer and loaders (reid_plugins.data.t2i + fast-reid transforms / samplers)."""
from __future__ import annotations

import logging
import os

import fastreid.data.build as fastreid_build
from fastreid.data.transforms import build_transforms
from fastreid.utils import comm

from reid_plugins.data.t2i import build_t2i_dataset
from reid_plugins.data.t2i.tokenized import (T2ITokenizer, T2ITrainSet, build_t2i_test_loader,
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


def _root() -> str:
    return fastreid_build._root


def build_train_loader(cfg):
    T = cfg.DATASETS.T2I
    if T.ANNOTATION_FILE and len(cfg.DATASETS.NAMES) != 1:
        raise ValueError(f"DATASETS.T2I.ANNOTATION_FILE replaces the annotation of one dataset; DATASETS.NAMES has "
                         f"{len(cfg.DATASETS.NAMES)}: {list(cfg.DATASETS.NAMES)}")
    datasets = []
    for name in cfg.DATASETS.NAMES:
        ds = build_t2i_dataset(name, _root(), annotation_file=T.ANNOTATION_FILE, check_images=T.CHECK_IMAGES)
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
    ds = build_t2i_dataset(dataset_name, _root(), check_images=cfg.DATASETS.T2I.CHECK_IMAGES)
    return ds.split(cfg.DATASETS.T2I.TEST_SPLIT)


def build_test_loader(cfg, dataset_name: str):
    """(loader over the gallery images then the query captions, number of queries)."""
    split = build_test_split(cfg, dataset_name)
    loader = build_t2i_test_loader(split, build_transforms(cfg, is_train=False), build_tokenizer(cfg),
                                   cfg.TEST.IMS_PER_BATCH, cfg.TEST.NUM_WORKERS)
    return loader, len(split.captions)
