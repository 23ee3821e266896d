"""Apply a trained model to your own images and texts: embeddings, feature files, gallery indexes, search, ONNX.

    from reid_plugins.inference import load_model
    model = load_model(config_file, weights)          # MUVA, BDAMT2I or fast-reid's Baseline
    model.embed_images(paths)                          # float32 [N, D], unit-norm rows
    model.embed_texts(["a woman in a red coat"])       # BDAMT2I only

Modules: model (load_model, ReidModel), images (folders and list files), features (FEATS.npy + FEATS.json, chunked
resumable extraction), index (faiss: exact, HNSW, IVF-PQ), retrieval (search, k-reciprocal re-ranking, rank-list
PNG), onnx_export. CLIs on top: ``python -m reid_plugins.extract``, ``.search``, ``.export``. Importing this package
is light: the names below are imported from their modules on first use.
"""
import importlib as _importlib

_EXPORTS = {
    "model": ("NoTextEncoderError", "ReidModel", "UnsupportedModelError", "load_model"),
    "images": ("ImageList", "list_images"),
    "features": ("FeatureFile", "ImageReadError", "extract_features", "load_feature_file"),
    "index": ("GalleryIndex", "IndexParams", "build_index", "choose_kind"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = list(_MODULE_OF)


def __getattr__(name):
    if name in _MODULE_OF:
        return getattr(_importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
