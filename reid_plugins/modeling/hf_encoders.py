"""transformers encoders for text-to-image Re-ID: ViT image encoder, BERT text encoder, BERT WordPiece tokenizer.

Every builder takes either a local directory (``save_pretrained`` layout: ``config.json`` + ``model.safetensors`` /
``pytorch_model.bin``, or ``vocab.txt`` for the tokenizer) or, with an empty path, a small random-init config for
CPU runs and tests. Nothing is downloaded: ``local_files_only=True`` always, never ``trust_remote_code``.

    vit = build_vit_encoder("/models/vit-base-patch16-224", image_size=224)     # pretrained, 224x224
    vit = build_vit_encoder("", image_size=224, hidden_size=64, num_layers=2)   # tiny random
    bert = build_bert_encoder(minilm_dir())                                      # bundled MiniLM-L6 (pretrained)
    tok = build_bert_tokenizer("")                                               # bert-base-uncased vocab (bundled)
"""
from __future__ import annotations

import logging
import os
from typing import Dict, Optional

from ..utils.extras import require
from ..utils.io import read_json

logger = logging.getLogger(__name__)

_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                 "pytorch_model.bin.index.json")
_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class EncoderLoadError(RuntimeError):
    """A pretrained directory / vocabulary is missing or does not hold what the builder expects."""


def _transformers():
    return require("transformers", "The transformers ViT / BERT encoders (reid_plugins.modeling.hf_encoders, BDAM)")


def _check_model_dir(path: str, kind: str, expected_model_type: str) -> None:
    if not os.path.isdir(path):
        raise EncoderLoadError(f"{kind}: pretrained directory {path!r} does not exist; expected a transformers "
                               f"save_pretrained folder (config.json + model.safetensors) or an empty path for a "
                               f"random-init config")
    cfg_path = os.path.join(path, "config.json")
    if not os.path.isfile(cfg_path):
        raise EncoderLoadError(f"{kind}: {cfg_path!r} is missing; expected a transformers save_pretrained folder")
    if not any(os.path.isfile(os.path.join(path, f)) for f in _WEIGHT_FILES):
        raise EncoderLoadError(f"{kind}: no weights in {path!r}; expected one of {list(_WEIGHT_FILES)}")
    cfg = read_json(cfg_path, f"{kind}: transformers config", error=EncoderLoadError)
    model_type = cfg.get("model_type") if isinstance(cfg, dict) else None
    if model_type != expected_model_type:
        raise EncoderLoadError(f"{kind}: {cfg_path!r} has model_type={model_type!r}, expected "
                               f"{expected_model_type!r}")


def _height_width(size) -> list:
    """[H, W] of a transformers image_size (an int for square inputs, or a pair)."""
    return [int(v) for v in size] if isinstance(size, (list, tuple)) else [int(size), int(size)]


def build_vit_encoder(pretrained_dir: str = "", *, image_size: int = 224, patch_size: int = 16,
                      hidden_size: int = 768, num_layers: int = 12, num_heads: int = 12,
                      intermediate_size: Optional[int] = None, dropout: float = 0.0,
                      attn_dropout: Optional[float] = None):
    """transformers ``ViTModel`` without the pooler (callers use the patch tokens).

    With ``pretrained_dir`` the weights and architecture come from that folder (``image_size`` must match the
    checkpoint's: position embeddings are not interpolated); the keyword sizes are then ignored. Without it, a
    random-init ViT of the given sizes is built. ``attn_dropout`` (default: ``dropout``) is the attention-probability
    dropout; 0 lets torch use its fused attention kernels, which matters on CPU."""
    transformers = _transformers()
    attn_dropout = dropout if attn_dropout is None else attn_dropout
    if pretrained_dir:
        _check_model_dir(pretrained_dir, "ViT image encoder", "vit")
        model = transformers.ViTModel.from_pretrained(
            pretrained_dir, add_pooling_layer=False, local_files_only=True, hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=attn_dropout)
        if _height_width(model.config.image_size) != _height_width(image_size):
            raise EncoderLoadError(
                f"ViT image encoder: {pretrained_dir!r} was trained at image_size={model.config.image_size}, "
                f"the config asks for {image_size} (set INPUT.SIZE_TRAIN/SIZE_TEST to "
                f"{_height_width(model.config.image_size)})")
        logger.info("ViT image encoder loaded from %s", pretrained_dir)
        return model
    config = transformers.ViTConfig(image_size=image_size, patch_size=patch_size, hidden_size=hidden_size,
                                    num_hidden_layers=num_layers, num_attention_heads=num_heads,
                                    intermediate_size=intermediate_size or 4 * hidden_size,
                                    hidden_dropout_prob=dropout, attention_probs_dropout_prob=attn_dropout)
    return transformers.ViTModel(config, add_pooling_layer=False)


def build_bert_encoder(pretrained_dir: str = "", *, vocab_size: int = 30522, hidden_size: int = 768,
                       num_layers: int = 12, num_heads: int = 12, intermediate_size: Optional[int] = None,
                       max_position_embeddings: int = 512, dropout: float = 0.1,
                       attn_dropout: Optional[float] = None, keep_layers: int = 0):
    """transformers ``BertModel`` without the pooler. From ``pretrained_dir`` (e.g. bert-base-uncased or the bundled
    MiniLM, :func:`reid_plugins.modeling.pretrained.minilm_dir`), else random-init with the given sizes.
    ``keep_layers`` > 0 keeps only the lowest that many transformer layers of a pretrained model (a cheaper encoder
    that still starts from pretrained weights)."""
    transformers = _transformers()
    attn_dropout = dropout if attn_dropout is None else attn_dropout
    if pretrained_dir:
        _check_model_dir(pretrained_dir, "BERT text encoder", "bert")
        model = transformers.BertModel.from_pretrained(
            pretrained_dir, add_pooling_layer=False, local_files_only=True, hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=attn_dropout)
        logger.info("BERT text encoder loaded from %s", pretrained_dir)
        if keep_layers:
            total = len(model.encoder.layer)
            if not 0 < keep_layers <= total:
                raise EncoderLoadError(f"BERT text encoder: keep_layers={keep_layers} but {pretrained_dir!r} has "
                                       f"{total} layers")
            model.encoder.layer = model.encoder.layer[:keep_layers]
            model.config.num_hidden_layers = keep_layers
        return model
    config = transformers.BertConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
                                     num_attention_heads=num_heads,
                                     intermediate_size=intermediate_size or 4 * hidden_size,
                                     max_position_embeddings=max_position_embeddings, hidden_dropout_prob=dropout,
                                     attention_probs_dropout_prob=attn_dropout)
    return transformers.BertModel(config, add_pooling_layer=False)


def read_wordpiece_vocab(path: str) -> Dict[str, int]:
    """vocab.txt (one WordPiece token per line, id = line number) -> {token: id}; checks BERT's special tokens."""
    if not os.path.isfile(path):
        raise EncoderLoadError(f"BERT tokenizer: vocabulary file {path!r} does not exist")
    vocab: Dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            token = line.rstrip("\n")
            if token in vocab:
                raise EncoderLoadError(f"BERT tokenizer: {path!r} line {i + 1}: token {token!r} repeats line "
                                       f"{vocab[token] + 1}")
            vocab[token] = i
    missing = [t for t in _SPECIAL_TOKENS if t not in vocab]
    if missing:
        raise EncoderLoadError(f"BERT tokenizer: {path!r} lacks the special tokens {missing}; expected a BERT "
                               f"WordPiece vocab.txt")
    return vocab


def build_bert_tokenizer(path: str = ""):
    """BERT WordPiece tokenizer (lower-casing) from a local vocab.txt or a folder holding one.

    Empty path: the bert-base-uncased vocabulary bundled with the MiniLM package. (transformers 5's
    ``BertTokenizer(vocab_file=...)`` silently ignores the file, so the vocabulary is read here and passed as a dict.)
    """
    transformers = _transformers()

    if not path:
        from .pretrained import bert_vocab_path

        path = bert_vocab_path()
    if os.path.isdir(path):
        path = os.path.join(path, "vocab.txt")
    return transformers.BertTokenizer(vocab=read_wordpiece_vocab(path), do_lower_case=True)
