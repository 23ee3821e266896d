"""Caption embedders from local weights: the bundled MiniLM (sentence-transformers pooling) and an open_clip text
tower loaded from a checkpoint file."""
import json

import numpy as np
import pytest
import torch

from reid_plugins.captioning.embedding import MiniLMEncoder, OpenClipTextEncoder, build_encoder, embed_texts


def test_minilm_embeddings_are_unit_padding_invariant_and_semantic():
    enc = MiniLMEncoder()
    texts = ["A man in a red coat.", "A man wearing a red coat.", "keywords: female, tall, slim, long hair",
             "A man in a red coat.", "INCIDENT REPORT - subject description follows. Subject: male; Height: tall."]
    x = embed_texts(texts, enc, batch_size=2)
    assert x.shape == (5, 384) and x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    assert np.array_equal(x[0], x[3])  # a repeated text is embedded once
    # Mean pooling over the attention mask: an embedding does not depend on the padding of its batch.
    alone = np.concatenate([enc.encode([t]) for t in texts[:3]])
    assert np.allclose(alone, x[:3], atol=1e-5)
    assert x[0] @ x[1] > 0.9 > x[0] @ x[2]  # paraphrase closer than another style and content


def test_open_clip_text_tower_from_a_local_checkpoint(tmp_path):
    import open_clip

    cfg = {"embed_dim": 16,
           "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    for name, width in (("captioning-test-tiny", 32), ("captioning-test-tiny-wide", 48)):
        cfg["text_cfg"]["width"] = width
        (tmp_path / f"{name}.json").write_text(json.dumps(cfg))
        open_clip.add_model_config(str(tmp_path / f"{name}.json"))
    torch.manual_seed(0)
    model = open_clip.create_model("captioning-test-tiny", pretrained=None).eval()
    ckpt = str(tmp_path / "tiny.pt")
    torch.save(model.state_dict(), ckpt)
    enc = build_encoder("open_clip", ckpt, "captioning-test-tiny")
    texts = ["A man in a red coat.", "keywords: female, tall"]
    with torch.no_grad():
        ref = torch.nn.functional.normalize(model.encode_text(open_clip.get_tokenizer("captioning-test-tiny")(texts)),
                                            dim=-1).numpy()
    assert np.allclose(embed_texts(texts, enc), ref, atol=1e-5)
    with pytest.raises(ValueError, match="does not fit the open_clip architecture"):  # strict load
        OpenClipTextEncoder("captioning-test-tiny-wide", ckpt)
    with pytest.raises(FileNotFoundError, match="ENCODER_PATH='/no/such.pt'"):
        OpenClipTextEncoder("captioning-test-tiny", "/no/such.pt")
    with pytest.raises(ValueError, match="CLIP_ARCH='ViT-Nope'"):
        OpenClipTextEncoder("ViT-Nope", ckpt)
