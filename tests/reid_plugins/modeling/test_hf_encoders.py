import os

import pytest
import torch

from reid_plugins.modeling.hf_encoders import (EncoderLoadError, build_bert_encoder, build_bert_tokenizer,
                                               build_vit_encoder, read_wordpiece_vocab)
from reid_plugins.modeling.pretrained import bert_vocab_path, minilm_dir


def test_tiny_vit_round_trip(tmp_path):
    torch.manual_seed(0)
    vit = build_vit_encoder("", image_size=32, patch_size=8, hidden_size=16, num_layers=1, num_heads=2).eval()
    x = torch.randn(2, 3, 32, 32)
    out = vit(pixel_values=x).last_hidden_state
    assert out.shape == (2, 1 + 16, 16)  # [CLS] + (32/8)^2 patches
    assert vit.pooler is None
    vit.save_pretrained(str(tmp_path / "vit"))
    loaded = build_vit_encoder(str(tmp_path / "vit"), image_size=32).eval()
    assert torch.allclose(loaded(pixel_values=x).last_hidden_state, out, atol=1e-6)
    with pytest.raises(EncoderLoadError, match="trained at image_size=32, the config asks for 224"):
        build_vit_encoder(str(tmp_path / "vit"), image_size=224)
    with pytest.raises(EncoderLoadError, match="model_type='vit', expected 'bert'"):
        build_bert_encoder(str(tmp_path / "vit"))


def test_non_square_vit():
    vit = build_vit_encoder("", image_size=(32, 16), patch_size=8, hidden_size=16, num_layers=1, num_heads=2)
    assert vit(pixel_values=torch.randn(1, 3, 32, 16)).last_hidden_state.shape == (1, 1 + 8, 16)


def test_tiny_bert_round_trip_and_errors(tmp_path):
    torch.manual_seed(0)
    bert = build_bert_encoder("", vocab_size=100, hidden_size=16, num_layers=1, num_heads=2).eval()
    ids = torch.tensor([[2, 5, 7, 3, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    out = bert(input_ids=ids, attention_mask=mask).last_hidden_state
    assert out.shape == (1, 5, 16)
    bert.save_pretrained(str(tmp_path / "bert"))
    loaded = build_bert_encoder(str(tmp_path / "bert")).eval()
    assert torch.allclose(loaded(input_ids=ids, attention_mask=mask).last_hidden_state, out, atol=1e-6)
    with pytest.raises(EncoderLoadError, match="does not exist"):
        build_bert_encoder(str(tmp_path / "nope"))
    os.makedirs(tmp_path / "empty")
    (tmp_path / "empty" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(EncoderLoadError, match="no weights in"):
        build_bert_encoder(str(tmp_path / "empty"))


def test_bundled_minilm_is_pretrained():
    bert = build_bert_encoder(minilm_dir(), dropout=0.0).eval()
    assert bert.config.hidden_size == 384 and bert.config.num_hidden_layers == 6
    tok = build_bert_tokenizer(minilm_dir())
    enc = tok(["a man in a red coat", "a woman in a red coat", "a bowl of soup"], padding=True,
              return_tensors="pt")
    with torch.no_grad():
        h = bert(**enc).last_hidden_state
    m = enc["attention_mask"].unsqueeze(-1)
    f = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=1)
    # pretrained sentence embeddings: the two pedestrian descriptions are closer to each other than to the soup
    assert (f[0] @ f[1]) > (f[0] @ f[2]) + 0.2


def test_tokenizer_from_file_folder_and_default(tmp_path):
    expected = [101, 1037, 2158, 1999, 1037, 2630, 3797, 1012, 102]
    for source in ("", bert_vocab_path(), os.path.dirname(bert_vocab_path())):
        assert build_bert_tokenizer(source)("A man in a blue shirt.")["input_ids"] == expected
    assert len(read_wordpiece_vocab(bert_vocab_path())) == 30522


def test_bad_vocabularies(tmp_path):
    (tmp_path / "v.txt").write_text("[PAD]\n[UNK]\nhello\n")
    with pytest.raises(EncoderLoadError, match=r"lacks the special tokens \['\[CLS\]', '\[SEP\]', '\[MASK\]'\]"):
        build_bert_tokenizer(str(tmp_path / "v.txt"))
    (tmp_path / "d.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhi\nhi\n")
    with pytest.raises(EncoderLoadError, match="line 7: token 'hi' repeats line 6"):
        read_wordpiece_vocab(str(tmp_path / "d.txt"))
    with pytest.raises(EncoderLoadError, match="does not exist"):
        build_bert_tokenizer(str(tmp_path / "missing.txt"))


def test_keep_lowest_layers_of_a_pretrained_bert(tmp_path):
    torch.manual_seed(0)
    full = build_bert_encoder("", vocab_size=60, hidden_size=16, num_layers=3, num_heads=2, dropout=0.0).eval()
    full.save_pretrained(str(tmp_path / "b"))
    cut = build_bert_encoder(str(tmp_path / "b"), keep_layers=2, dropout=0.0).eval()
    assert len(cut.encoder.layer) == 2 and cut.config.num_hidden_layers == 2
    ids = torch.tensor([[2, 7, 9, 3]])
    with torch.no_grad():
        hidden = full(input_ids=ids, output_hidden_states=True).hidden_states
        # the truncated model's output is the full model's hidden state after its second layer
        assert torch.allclose(cut(input_ids=ids).last_hidden_state, hidden[2], atol=1e-6)
    with pytest.raises(EncoderLoadError, match="keep_layers=4 but .* has 3 layers"):
        build_bert_encoder(str(tmp_path / "b"), keep_layers=4)
