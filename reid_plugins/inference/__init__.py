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
from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "model": ("NoTextEncoderError", "ReidModel", "UnsupportedModelError", "load_model"),
    "images": ("ImageList", "list_images"),
    "features": ("FeatureFile", "ImageReadError", "extract_features", "load_feature_file"),
    "index": ("GalleryIndex", "IndexParams", "build_index", "choose_kind"),
})
