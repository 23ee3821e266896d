"""The hf backend: prompt layout and parsing with a scripted model object, and the real AutoProcessor /
AutoModelForImageTextToText path on a tiny randomly initialised LLaVA saved to a temp dir (nothing downloaded)."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from reid_plugins.grounding import PROMPTS
from reid_plugins.grounding.backends.vlm_hf import HFBackend
from reid_plugins.grounding.cache import MASKS_FILE, read_mask_cache
from reid_plugins.grounding.cli import main

ANSWERS = {"head": "[[375,062,625,188]]", "upper": '```json\n[{"bbox_2d": [32, 48, 96, 128]}]\n```',
           "legs": "no idea"}


class ScriptedProcessor:
    """Just enough of a transformers processor: renders the chat as text, 'tokenises' to ids, decodes ids."""
    chat_template = "scripted"

    def __init__(self):
        self.rendered, self.calls = [], []

    def apply_chat_template(self, messages, add_generation_prompt, tokenize):
        assert add_generation_prompt and not tokenize
        content = messages[0]["content"]
        assert [c["type"] for c in content] == ["image", "text"]
        self.rendered.append(content[1]["text"])
        return "USER: <image> " + content[1]["text"] + " ASSISTANT:"

    def __call__(self, text, images, return_tensors):
        self.calls.append((text[0], images[0].size))
        return {"input_ids": torch.zeros(1, 5, dtype=torch.long), "pixel_values": torch.zeros(1, 3, 4, 4)}

    def batch_decode(self, ids, skip_special_tokens):
        return [self.answer_for(int(ids[0, 0]))]

    def answer_for(self, code):
        return list(ANSWERS.values())[code]


class ScriptedModel:
    def __init__(self, processor):
        self.processor = processor
        self.kwargs = []

    def generate(self, input_ids, pixel_values, max_new_tokens, do_sample):
        self.kwargs.append({"max_new_tokens": max_new_tokens, "do_sample": do_sample})
        prompt = self.processor.rendered[-1]
        code = [PROMPTS[p] for p in ANSWERS].index(prompt)
        return torch.cat([input_ids, torch.tensor([[code]])], dim=1)


def _image(path):
    Image.fromarray(np.full((256, 128, 3), 80, np.uint8)).save(path)
    return str(path)


def test_scripted_model_gets_the_paper_prompts_and_answers_are_parsed(tmp_path):
    proc = ScriptedProcessor()
    backend = HFBackend(processor=proc, model=ScriptedModel(proc), max_new_tokens=32)
    wh, answers = backend.ground(_image(tmp_path / "a.jpg"))
    assert wh == (128, 256)
    assert proc.rendered == [PROMPTS["head"], PROMPTS["upper"], PROMPTS["legs"]]
    assert all(size == (128, 256) for _, size in proc.calls)
    assert backend.model.kwargs[0] == {"max_new_tokens": 32, "do_sample": False}
    assert (answers["head"].parser, answers["head"].box) == ("cogvlm", (0.375, 0.062, 0.625, 0.188))
    assert (answers["upper"].parser, answers["upper"].box) == ("qwen_json", (0.25, 48 / 256, 0.75, 0.5))
    assert (answers["legs"].parser, answers["legs"].box, answers["legs"].text) == ("unparsed", None, "no idea")


def test_refusals_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="--model-dir"):
        HFBackend(str(tmp_path / "nope"))
    proc = ScriptedProcessor()
    proc.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        HFBackend(processor=proc, model=ScriptedModel(proc))


@pytest.fixture(scope="module")
def tiny_llava_dir(tmp_path_factory):
    """A 2-layer LLaVA (CLIP vision + Llama text, width 16) with a word-level tokenizer and a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast)

    words = ["<unk>", "<pad>", "<s>", "</s>", "<image>", "USER:", "ASSISTANT:", "[", "]", ","] + list("0123456789")
    vocab = {w: i for i, w in enumerate(words)}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                  eos_token="</s>", extra_special_tokens={"image_token": "<image>"})
    template = ("{% for m in messages %}USER: {% for c in m['content'] %}{% if c['type'] == 'image' %}<image> "
                "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %}{% if add_generation_prompt %} "
                "ASSISTANT:{% endif %}")
    proc = LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 28},
                                                             crop_size={"height": 28, "width": 28}),
                          tokenizer=tok, patch_size=14, vision_feature_select_strategy="default",
                          chat_template=template, image_token="<image>", num_additional_image_tokens=1)
    cfg = LlavaConfig(vision_config=CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                                     num_attention_heads=2, image_size=28, patch_size=14),
                      text_config=LlamaConfig(vocab_size=len(words), hidden_size=16, intermediate_size=32,
                                              num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                              max_position_embeddings=128, pad_token_id=1, bos_token_id=2,
                                              eos_token_id=3),
                      image_token_index=vocab["<image>"], vision_feature_layer=-1)
    torch.manual_seed(0)
    d = str(tmp_path_factory.mktemp("tiny_llava"))
    LlavaForConditionalGeneration(cfg).save_pretrained(d)
    proc.save_pretrained(d)
    return d


def test_tiny_random_llava_through_auto_classes_and_the_cli(tiny_llava_dir, tmp_path):
    backend = HFBackend(tiny_llava_dir, max_new_tokens=6)
    assert type(backend.model).__name__ == "LlavaForConditionalGeneration"
    wh, answers = backend.ground(_image(tmp_path / "x.jpg"))
    assert wh == (128, 256) and set(answers) == {"head", "upper", "legs"}
    assert all(isinstance(a.text, str) and a.text and a.parser in ("cogvlm", "plain", "unparsed")
               for a in answers.values())

    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg"):
        _image(folder / name)
    out = tmp_path / "cache"
    assert main(["label", "--images", str(folder), "--backend", "hf", "--model-dir", tiny_llava_dir,
                 "--max-tokens", "4", "--out", str(out), "--quiet"]) == 0
    cache = read_mask_cache(os.path.join(out, "imgs", MASKS_FILE))
    assert cache.relpaths.tolist() == ["a.jpg", "b.jpg"] and cache.header["backend_id"] == "hf:" + os.path.basename(
        tiny_llava_dir)
    assert "--trust-remote-code" not in cache.header["command"]


def test_trust_remote_code_only_with_the_flag_and_never_downloads(tiny_llava_dir, monkeypatch):
    import transformers

    seen = []
    for cls in (transformers.AutoProcessor, transformers.AutoModelForImageTextToText):
        original = cls.from_pretrained.__func__

        def spy(klass, path, _orig=original, **kw):
            seen.append((klass.__name__, kw.get("trust_remote_code"), kw.get("local_files_only")))
            return _orig(klass, path, **kw)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    HFBackend(tiny_llava_dir)
    HFBackend(tiny_llava_dir, trust_remote_code=True)
    assert seen == [("AutoProcessor", False, True), ("AutoModelForImageTextToText", False, True),
                    ("AutoProcessor", True, True), ("AutoModelForImageTextToText", True, True)]
