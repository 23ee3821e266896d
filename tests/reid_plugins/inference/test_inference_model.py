"""load_model / embed_images / embed_texts against the evaluation path itself: each project's test loader run
through fast-reid's inference_on_dataset (flip test as the trainer passes it), with the model the checkpoint was saved
from. Compared: the L2-normalised feature of every test image (and, for BDAM, of every test caption) against
embed_images(paths) / embed_texts(captions) of the model loaded from the checkpoint."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fastreid.evaluation import DatasetEvaluator, inference_on_dataset
from inference_fixtures import tiny_model

from reid_plugins.engine.checkpoint import CheckpointMismatchError
from reid_plugins.inference import NoTextEncoderError, UnsupportedModelError, load_model
from reid_plugins.projects import import_project

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


class Capture(DatasetEvaluator):
    def reset(self):
        self.batches = []

    def process(self, inputs, outputs):
        self.batches.append(({k: v for k, v in inputs.items() if k != "images"}, outputs))

    def evaluate(self):
        return {}


def _trainer(meta):
    if meta == "Baseline":
        from reid_plugins.engine import PluginTrainer

        return PluginTrainer
    return {"MUVA": import_project("MUVA").MUVATrainer, "BDAMT2I": import_project("BDAMT2I").BDAMTrainer}[meta]


def _evaluation_batches(meta, tiny, flip):
    loader, _ = _trainer(meta).build_test_loader(tiny.cfg, tiny.cfg.DATASETS.TESTS[0])
    capture = Capture()
    inference_on_dataset(tiny.model, loader, capture, flip_test=flip)
    return loader, capture.batches


@pytest.mark.parametrize("meta, extra", [
    ("Baseline", ["TEST.FLIP.ENABLED", "True"]),
    ("MUVA", []),                                                           # BN'd feature (TEST_AFTER_BN)
    ("MUVA", ["MODEL.MUVA.TEST_AFTER_BN", "False", "TEST.FLIP.ENABLED", "True"]),  # raw feature, flip-averaged
])
def test_image_features_equal_the_evaluators(meta, extra, synth_root, tmp_path):
    tiny = tiny_model(meta, synth_root, str(tmp_path), extra)
    _, batches = _evaluation_batches(meta, tiny, tiny.cfg.TEST.FLIP.ENABLED)
    paths = [p for inputs, _ in batches for p in inputs["img_paths"]]
    expected = F.normalize(torch.cat([out for _, out in batches]).float(), dim=1).numpy()

    model = load_model(tiny.config_file, tiny.weights, tiny.opts)
    got = model.embed_images(paths, batch_size=7)
    assert got.dtype == np.float32 and got.shape == expected.shape and len(paths) == 25
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, expected, atol=2e-5)
    # PIL images and preprocessed tensors give the same features as paths
    from PIL import Image

    np.testing.assert_allclose(model.embed_images([Image.open(p) for p in paths[:3]]), got[:3], atol=1e-6)
    tensors = torch.stack([model.preprocess(p) for p in paths[:3]])
    np.testing.assert_allclose(model.embed_images(tensors), got[:3], atol=1e-6)
    with pytest.raises(NoTextEncoderError, match=f"{meta} .* has no text encoder.*BDAMT2I"):
        model.embed_texts(["a person in a red coat"])


def test_bdam_image_and_text_features_equal_the_evaluators(synth_root, tmp_path):
    tiny = tiny_model("BDAMT2I", synth_root, str(tmp_path))
    loader, batches = _evaluation_batches("BDAMT2I", tiny, flip=False)  # BDAMTrainer.test: flip_test=False
    parts = [part.split for part in loader.dataset.datasets]  # T2IEvalSet: named splits, images then captions each
    img_paths = [p for split in parts for p in split.img_paths]
    captions = [c for split in parts for c in split.captions]
    image_out = [out["img_emb"] for _, out in batches if "img_emb" in out]
    text_out = [out["txt_emb"] for _, out in batches if "txt_emb" in out]

    model = load_model(tiny.config_file, tiny.weights, tiny.opts)
    assert model.has_text
    np.testing.assert_allclose(model.embed_images(img_paths), torch.cat(image_out).numpy(), atol=2e-5)
    texts = model.embed_texts(captions, batch_size=5)
    np.testing.assert_allclose(texts, torch.cat(text_out).numpy(), atol=2e-5)
    assert texts.dtype == np.float32 and texts.shape == (len(captions), 24)


def test_bad_inputs(synth_root, tmp_path):
    tiny = tiny_model("MUVA", synth_root, str(tmp_path / "muva"))
    other = tiny_model("Baseline", synth_root, str(tmp_path / "bot"))
    # weights of another model: PluginCheckpointer refuses them, MUVA's loader first misses its classifier
    with pytest.raises(CheckpointMismatchError, match="covers only .* another model"):
        load_model(other.config_file, tiny.weights, other.opts)
    with pytest.raises(KeyError, match="not a MUVA checkpoint"):
        load_model(tiny.config_file, other.weights, tiny.opts)
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_model(tiny.config_file, str(tmp_path / "nope.pth"), tiny.opts)
    with pytest.raises(ValueError, match="no weights given"):
        load_model(tiny.config_file, "", tiny.opts)
    with pytest.raises(UnsupportedModelError, match="'MGN' is not supported.*Baseline"):
        load_model(tiny.config_file, tiny.weights, tiny.opts + ["MODEL.META_ARCHITECTURE", "MGN"])
    model = load_model(tiny.config_file, tiny.weights, tiny.opts)
    with pytest.raises(OSError, match="missing.jpg"):
        model.embed_images([str(tmp_path / "missing.jpg")])
    with pytest.raises(ValueError, match=r"\[N, 3, 256, 128\]"):
        model.embed_images(torch.zeros(2, 3, 64, 32))
    with pytest.raises(ValueError, match="no images"):
        model.embed_images([])
