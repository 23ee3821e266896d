"""ONNX export: onnxruntime against PyTorch (max abs difference on the features <= 1e-4) for MUVA's inference path
(predicted AM-MSA masks in every layer), BDAM's image and text encoders and fast-reid's Baseline; the CLI; an
unsupported config."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import torch
from inference_fixtures import tiny_model

from reid_plugins.export import main
from reid_plugins.inference import load_model
from reid_plugins.inference.cli import run
from reid_plugins.inference.onnx_export import export_onnx


def _session(path):
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def test_muva_export_is_the_masked_inference_path(synth_root, tmp_path):
    tiny = tiny_model("MUVA", synth_root, str(tmp_path / "m"))
    model = load_model(tiny.config_file, tiny.weights, tiny.opts)
    written = export_onnx(model, str(tmp_path / "onnx"))
    images = torch.stack([model.preprocess(p) for p in
                          [f"{synth_root}/synthped/domain_A/query/{n}" for n in
                           sorted(__import__("os").listdir(f"{synth_root}/synthped/domain_A/query"))[:4]]])
    got = _session(written["image_encoder"]).run(None, {"images": images.numpy()})[0]
    want = model.embed_batch(images)
    assert got.shape == want.shape == (4, 512)
    assert np.abs(got - want).max() <= 1e-4
    # the masks are not trivial on these images (some patches in, some out of each part), so agreeing with PyTorch
    # means the graph gates attention as the model does; and it has one gate (probability > threshold) per layer
    with torch.no_grad():
        probs = model.model.features(model.model.preprocess_image(images))["mask_probs"]
    assert 0 < float((probs > 0.5).float().mean()) < 1
    graph = onnx.load(written["image_encoder"]).graph
    assert sum(n.op_type == "Greater" for n in graph.node) == model.model.backbone.num_layers
    meta = json.loads(open(written["meta"]).read())
    assert meta["parity_max_abs_diff"]["image_encoder"] <= 1e-4 and "text_encoder" not in meta


def test_bdam_image_and_text_encoders(synth_root, tmp_path):
    tiny = tiny_model("BDAMT2I", synth_root, str(tmp_path / "b"), extra=["MODEL.BDAM.TEXT.FREEZE", "True"])
    model = load_model(tiny.config_file, tiny.weights, tiny.opts)
    written = export_onnx(model, str(tmp_path / "onnx"))
    texts = ["a man in a blue shirt", "a woman carrying a large red bag and wearing white shoes"]
    ids, mask = model.support.tokenizer(model.cfg)(texts)
    got = _session(written["text_encoder"]).run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    assert np.abs(got - model.embed_texts(texts)).max() <= 1e-4
    images = torch.rand(5, 3, *model.image_size) * 255
    got = _session(written["image_encoder"]).run(None, {"images": images.numpy()})[0]
    assert np.abs(got - model.embed_batch(images)).max() <= 1e-4
    assert model.model.text_encoder.freeze  # the feature cache is back on after the export


def test_cli_exports_baseline_and_refuses_unsupported_config(synth_root, tmp_path, capsys):
    # a ResNet backbone (no zoo initialisation): OSNet's many small branches take 2.5x longer to export
    extra = ["TEST.FLIP.ENABLED", "True", "MODEL.BACKBONE.NAME", "build_resnet_backbone", "MODEL.BACKBONE.DEPTH", "34x",
             "MODEL.BACKBONE.FEAT_DIM", "512", "MODEL.BACKBONE.PRETRAIN", "False",
             "MODEL.BACKBONE.PRETRAIN_PATH", ""]
    tiny = tiny_model("Baseline", synth_root, str(tmp_path / "bot"), extra=extra)
    args = ["--config-file", tiny.config_file, *tiny.opts, "MODEL.WEIGHTS", tiny.weights, "--out",
            str(tmp_path / "onnx")]
    assert run(main, args) == 0
    model = load_model(tiny.config_file, tiny.weights, tiny.opts)
    images = torch.rand(3, 3, *model.image_size) * 255
    got = _session(str(tmp_path / "onnx" / "image_encoder.onnx")).run(None, {"images": images.numpy()})[0]
    assert np.abs(got - model.embed_batch(images)).max() <= 1e-4  # flip-averaged, as the evaluation

    assert run(main, args[:-2] + ["MODEL.META_ARCHITECTURE", "MGN", "--out", str(tmp_path / "mgn")]) == 2
    err = capsys.readouterr().err
    assert "'MGN' is not supported" in err and "BDAMT2I" in err and "MUVA" in err
    assert not (tmp_path / "mgn").exists()
