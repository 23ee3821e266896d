"""python -m reid_plugins.search: image and text queries against brute force, the rank-list PNG, cached approximate
index, k-reciprocal re-ranking against fast-reid's ReidEvaluator, and bad input."""
import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "inference"))
from inference_fixtures import tiny_model  # noqa: E402

from reid_plugins.evaluation.rank_list import COLOURS, _hex_rgb  # noqa: E402
from reid_plugins.inference import extract_features, list_images, load_feature_file, load_model  # noqa: E402
from reid_plugins.inference.cli import run  # noqa: E402
from reid_plugins.inference.features import FORMAT  # noqa: E402
from reid_plugins.inference.retrieval import RerankParams, search  # noqa: E402
from reid_plugins.search import main  # noqa: E402


def domain_a(synth_root, split="bounding_box_test"):
    return os.path.join(synth_root, "synthped", "domain_A", split)


@pytest.fixture(scope="module")
def muva_gallery(synth_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("muva_gallery")
    tiny = tiny_model("MUVA", synth_root, str(tmp / "model"))
    model = load_model(tiny.config_file, tiny.weights, tiny.opts)
    extract_features(model, list_images(domain_a(synth_root), "market"), str(tmp / "gallery"), progress=False)
    return str(tmp / "gallery"), model


def test_image_query_ranks_by_cosine_with_labelled_png(muva_gallery, synth_root, tmp_path):
    gallery_path, model = muva_gallery
    gallery = load_feature_file(gallery_path)
    query = gallery.paths[3]  # a gallery image: it must come first, at cosine 1, framed grey (same pid and camera)
    assert run(main, ["--gallery", gallery_path, "--query", query, "--top-k", "6", "--out", str(tmp_path / "r")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    hits = result["results"]
    cos = np.asarray(gallery.features) @ model.embed_images([query])[0]
    want = np.lexsort((np.arange(len(cos)), -cos))[:6]
    assert [h["row"] for h in hits] == want.tolist() and hits[0]["path"] == query
    np.testing.assert_allclose([h["score"] for h in hits], cos[want], atol=1e-5)
    assert hits[0]["kind"] == "junk" and result["query"]["pid"] == gallery.manifest["pids"][3]
    assert all(h["kind"] == ("match" if h["pid"] == hits[0]["pid"] else "wrong") for h in hits[1:]
               if h["camid"] != result["query"]["camid"])
    with Image.open(tmp_path / "r.png") as img:
        pixels = np.asarray(img.convert("RGB"))
    for kind in {h["kind"] for h in hits} | {"query"}:
        assert (pixels == _hex_rgb(COLOURS[kind])).all(-1).sum() > 100, kind


def test_rerank_and_cached_approximate_index(muva_gallery, tmp_path):
    gallery_path, _ = muva_gallery
    query = load_feature_file(gallery_path).paths[0]
    assert run(main, ["--gallery", gallery_path, "--query", query, "--index", "approx", "--rerank", "--k1", "6",
                      "--top-k", "5", "--out", str(tmp_path / "a")]) == 0
    cached = gallery_path + ".hnsw.faiss"
    assert os.path.isfile(cached) and os.path.isfile(cached + ".json")
    stamp = os.stat(cached).st_mtime_ns
    assert run(main, ["--gallery", gallery_path, "--query", query, "--index", "approx", "--rerank", "--k1", "6",
                      "--top-k", "5", "--out", str(tmp_path / "b")]) == 0
    assert os.stat(cached).st_mtime_ns == stamp  # reused, not rebuilt
    a, b = (json.loads((tmp_path / f"{x}.json").read_text())["results"] for x in "ab")
    assert a == b and len(a) == 5 and a[0]["path"] == query


def test_rerank_equals_fastreid_reranking_of_one_query(tmp_path, monkeypatch):
    """With every gallery item a candidate, search(..., rerank) orders the gallery by the distance fast-reid's
    ReidEvaluator (TEST.RERANK, cosine) computes for a single query."""
    import fastreid.evaluation.rank as fastreid_rank
    import torch
    from fastreid.config import get_cfg
    from fastreid.evaluation import ReidEvaluator

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((6, 16))
    feats = (centres[np.arange(31) % 6] + 0.8 * rng.standard_normal((31, 16))).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    gallery = _feature_file(tmp_path, feats[1:])
    hits = search(gallery, feats[0], top_k=30, rerank=RerankParams(k1=5, k2=3, lam=0.3, candidates=100))

    cfg = get_cfg()
    cfg.TEST.RERANK.ENABLED, cfg.TEST.RERANK.K1, cfg.TEST.RERANK.K2, cfg.TEST.RERANK.LAMBDA = True, 5, 3, 0.3
    captured = {}

    def capture(dist, *args, **kwargs):
        captured["dist"] = dist
        return np.ones(50), [1.0], [1.0]

    monkeypatch.setattr(fastreid_rank, "evaluate_rank", capture)
    evaluator = ReidEvaluator(cfg, num_query=1)
    evaluator.process({"targets": torch.arange(31) % 6, "camids": torch.zeros(31)}, torch.from_numpy(feats))
    evaluator.evaluate()
    dist = captured["dist"][0]
    order = np.lexsort((np.arange(30), dist))
    assert [h.row for h in hits] == order.tolist()
    np.testing.assert_allclose([1 - h.score for h in hits], dist[order], atol=1e-5)
    assert hits != search(gallery, feats[0], top_k=30)  # re-ranking changed the order


def test_text_query_with_bdam_and_bad_inputs(muva_gallery, synth_root, tmp_path, capsys):
    tiny = tiny_model("BDAMT2I", synth_root, str(tmp_path / "bdam"))
    model = load_model(tiny.config_file, tiny.weights, tiny.opts)
    extract_features(model, list_images(domain_a(synth_root)), str(tmp_path / "g"), progress=False)
    text = "a woman in a red coat and black trousers"
    assert run(main, ["--gallery", str(tmp_path / "g"), "--text", text, "--top-k", "4",
                      "--out", str(tmp_path / "t")]) == 0
    result = json.loads((tmp_path / "t.json").read_text())
    cos = np.asarray(load_feature_file(str(tmp_path / "g")).features) @ model.embed_texts([text])[0]
    assert [h["row"] for h in result["results"]] == np.argsort(-cos, kind="stable")[:4].tolist()
    assert result["query"]["text"] == text and all(h["kind"] == "unknown" for h in result["results"])
    assert os.path.isfile(tmp_path / "t.png")

    # a text query to an image-only model
    gallery_path, _ = muva_gallery
    assert run(main, ["--gallery", gallery_path, "--text", text, "--out", str(tmp_path / "x")]) == 2
    assert "needs a text-to-image model" in capsys.readouterr().err and not os.path.exists(tmp_path / "x.json")
    # an empty gallery
    _feature_file(tmp_path, np.zeros((0, 24), np.float32), name="empty")
    assert run(main, ["--gallery", str(tmp_path / "empty"), "--text", text]) == 2
    assert "is empty (0 images)" in capsys.readouterr().err
    assert run(main, ["--gallery", str(tmp_path / "absent"), "--text", text]) == 2
    assert "make it with python -m reid_plugins.extract" in capsys.readouterr().err


def _feature_file(tmp_path, feats, name="gallery"):
    np.save(tmp_path / f"{name}.npy", feats)
    paths = [f"/img/{i}.jpg" for i in range(len(feats))]
    (tmp_path / f"{name}.json").write_text(json.dumps({
        "format": FORMAT, "count": len(feats), "dim": feats.shape[1], "paths": paths, "pids": None, "camids": None,
        "labels": "none", "skipped": [], "model": {}}))
    return load_feature_file(str(tmp_path / name)) if len(feats) else None
