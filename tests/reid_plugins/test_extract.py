"""python -m reid_plugins.extract: folder -> FEATS.npy + FEATS.json equal to embed_images, unreadable images named
(fatal or recorded), resume by chunks after a failure or a killed write, up-to-date and conflicting outputs."""
import json
import os
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "inference"))
from inference_fixtures import tiny_model  # noqa: E402

from reid_plugins.extract import main  # noqa: E402
from reid_plugins.inference import load_feature_file, load_model  # noqa: E402
from reid_plugins.inference.cli import run  # noqa: E402


@pytest.fixture(scope="module")
def muva(synth_root, tmp_path_factory):
    return tiny_model("MUVA", synth_root, str(tmp_path_factory.mktemp("muva")))


def gallery_folder(synth_root, tmp_path, broken=()):
    folder = tmp_path / "gallery"
    shutil.copytree(os.path.join(synth_root, "synthped", "domain_A", "bounding_box_test"), folder)
    for name in broken:
        (folder / name).write_bytes(b"not a picture")
    return folder


def args(tiny, images, out, *extra):
    return ["--config-file", tiny.config_file, *tiny.opts, "MODEL.WEIGHTS", tiny.weights, "--images", str(images),
            "--out", str(out), "--quiet", *extra]


def test_extract_folder_with_labels_and_skipped_image(muva, synth_root, tmp_path, capsys):
    folder = gallery_folder(synth_root, tmp_path, broken=["0099_c1s1_000001_00.jpg"])
    assert run(main, args(muva, folder, tmp_path / "feats", "--labels", "market", "--on-error", "skip",
                          "--chunk-size", "4", "--batch-size", "3")) == 0
    result = load_feature_file(str(tmp_path / "feats"))
    manifest = json.loads((tmp_path / "feats.json").read_text())
    assert manifest["skipped"][0]["path"].endswith("0099_c1s1_000001_00.jpg")
    assert "cannot read image" in manifest["skipped"][0]["error"]
    kept = sorted(str(p) for p in folder.iterdir() if p.name != "0099_c1s1_000001_00.jpg")
    assert result.paths == kept and len(result.features) == 14 == manifest["count"]
    assert manifest["pids"] == [str(int(os.path.basename(p)[:4])) for p in kept]
    model = load_model(muva.config_file, muva.weights, muva.opts)
    np.testing.assert_allclose(result.features, model.embed_images(kept), atol=1e-6)  # row i is paths[i]
    assert manifest["model"]["meta_architecture"] == "MUVA" and not manifest["model"]["has_text"]
    assert not os.path.exists(tmp_path / "feats.parts")
    assert "1 unreadable images skipped" in capsys.readouterr().out


def test_fail_names_the_image_then_resume_continues_after_the_finished_chunks(muva, synth_root, tmp_path, capsys,
                                                                               monkeypatch):
    folder = gallery_folder(synth_root, tmp_path, broken=["0500_c1s1_000001_00.jpg"])  # sorted into chunk 3
    out = tmp_path / "feats"
    assert run(main, args(muva, folder, out, "--chunk-size", "4")) == 2
    err = capsys.readouterr().err
    assert "0500_c1s1_000001_00.jpg" in err and "--on-error skip" in err and "3 finished chunks are kept" in err
    parts = sorted(os.listdir(str(out) + ".parts"))
    assert parts == ["chunk_000000.npz", "chunk_000001.npz", "chunk_000002.npz", "plan.json"]
    assert not os.path.exists(str(out) + ".npy")
    # a write killed halfway leaves only a temporary file, which does not count as a finished chunk
    (tmp_path / "feats.parts" / "chunk_000003.npz.tmp123.npz").write_bytes(b"half")

    Image.new("RGB", (64, 128), (10, 200, 30)).save(folder / "0500_c1s1_000001_00.jpg")  # the user fixes it
    from reid_plugins.inference.model import ReidModel

    embedded = []
    original = ReidModel.embed_batch
    monkeypatch.setattr(ReidModel, "embed_batch", lambda self, x: embedded.append(len(x)) or original(self, x))
    assert run(main, args(muva, folder, out, "--chunk-size", "4")) == 0
    assert sum(embedded) == 15 - 12  # only the last chunk (images 13-15) was computed
    result = load_feature_file(str(out))
    model = load_model(muva.config_file, muva.weights, muva.opts)
    np.testing.assert_allclose(result.features, model.embed_images(result.paths), atol=1e-6)
    assert result.manifest["skipped"] == [] and len(result.paths) == 15

    embedded.clear()  # the same command again: up to date, nothing embedded
    assert run(main, args(muva, folder, out, "--chunk-size", "4")) == 0 and embedded == []
    os.remove(folder / "0500_c1s1_000001_00.jpg")  # other images: refused without --force
    assert run(main, args(muva, folder, out)) == 2
    assert "made from other images or another model; pass --force" in capsys.readouterr().err
    assert run(main, args(muva, folder, out, "--force")) == 0
    assert len(load_feature_file(str(out)).paths) == 14


def test_bad_inputs(muva, synth_root, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run(main, args(muva, tmp_path / "empty", tmp_path / "f")) == 2
    assert "no images under" in capsys.readouterr().err
    folder = gallery_folder(synth_root, tmp_path, broken=[f"{i:04d}_c1s1_0_00.jpg" for i in range(3)])
    for p in folder.iterdir():
        if not p.name.endswith("_c1s1_0_00.jpg"):
            p.unlink()
    assert run(main, args(muva, folder, tmp_path / "f", "--on-error", "skip")) == 2  # every image unreadable
    assert "none of the 3 images could be read" in capsys.readouterr().err
    no_weights = ["--config-file", muva.config_file, "--images", str(folder), "--out", str(tmp_path / "f")]
    assert run(main, no_weights) == 2
    assert "MODEL.WEIGHTS" in capsys.readouterr().err


def test_features_and_manifest_of_different_lengths_are_refused(muva, synth_root, tmp_path):
    folder = gallery_folder(synth_root, tmp_path)
    assert run(main, args(muva, folder, tmp_path / "feats")) == 0
    feats = np.load(tmp_path / "feats.npy")
    np.save(tmp_path / "feats.npy", feats[:-2])
    with pytest.raises(ValueError, match="has 12 rows but its manifest .* lists 14 images"):
        load_feature_file(str(tmp_path / "feats"))
    np.save(tmp_path / "feats.npy", feats)
    manifest = json.loads((tmp_path / "feats.json").read_text())
    manifest["pids"] = ["1"]
    (tmp_path / "feats.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="pids has 1 entries for 14 images"):
        load_feature_file(str(tmp_path / "feats"))
    os.remove(tmp_path / "feats.json")
    with pytest.raises(FileNotFoundError, match="feats.json"):
        load_feature_file(str(tmp_path / "feats"))
