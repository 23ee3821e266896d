import muva_path  # noqa: F401
import pytest
import torch

from muva.prompt import MultiGrainedPromptLearner, encode_prompts, prompt_texts
from reid_plugins.modeling.clip import CLIPTextEncoder, build_clip, get_tokenizer


def test_templates_of_the_code():
    assert prompt_texts(["head", "upper", "legs"]) == [
        "A photo of a * * * * person", "A photo of a * * * * head of a person",
        "A photo of a * * * * upper body of a person", "A photo of a * * * * legs of a person"]
    assert prompt_texts([], 2) == ["A photo of a * * person"]
    assert prompt_texts(["legs"], template="part-agnostic") == ["A photo of a * * * *"] * 2
    assert prompt_texts(["head"], domain_context="in a dim corridor")[1] == \
        "A photo of a * * * * head of a person, in a dim corridor"
    with pytest.raises(ValueError, match="TEMPLATE"):
        prompt_texts(["head"], template="fancy")


@pytest.fixture(scope="module")
def clip_and_tok():
    torch.manual_seed(0)
    return build_clip("ViT-T-16-reid").eval(), get_tokenizer("ViT-T-16-reid")


def test_context_replaces_the_placeholders_only(clip_and_tok):
    clip, tok = clip_and_tok
    texts = prompt_texts(["head", "upper", "legs"])
    learner = MultiGrainedPromptLearner(5, texts, tok, clip.token_embedding, n_ctx=4, ctx_std=0.002)
    assert learner.learnable_ctx.shape == (5, 4, 4, 128)
    assert 0.0015 < float(learner.learnable_ctx.detach().std()) < 0.0025
    labels = torch.tensor([3, 0])
    prompts = learner(labels)
    fixed = clip.token_embedding(tok(texts)).detach()
    assert prompts.shape == (2, 4, 77, 128)
    assert torch.equal(prompts[:, :, 5:9], learner.learnable_ctx[labels])
    assert torch.equal(prompts[0, :, :5], fixed[:, :5]) and torch.equal(prompts[1, :, 9:], fixed[:, 9:])
    assert learner.eot_index.tolist() == [10, 13, 14, 13]  # <end_of_text> after "person"
    assert "learnable_ctx" in dict(learner.named_parameters()) and "prefix" not in dict(learner.named_parameters())


def test_encode_prompts_equals_clip_encode_text(clip_and_tok):
    clip, tok = clip_and_tok
    texts = prompt_texts(["head", "legs"])
    learner = MultiGrainedPromptLearner(3, texts, tok, clip.token_embedding)
    star = clip.token_embedding(tok(["*"])[0, 1]).detach()
    with torch.no_grad():
        learner.learnable_ctx.copy_(star.expand_as(learner.learnable_ctx))  # ctx = the '*' embedding
    feats = encode_prompts(CLIPTextEncoder(clip), learner, torch.tensor([2, 1]))
    ref = clip.encode_text(tok(texts)).detach().reshape(1, -1)  # [1, 3 * 128]: global, head, legs
    assert feats.shape == (2, 3 * 128)
    assert torch.allclose(feats, ref.expand(2, -1), atol=1e-5)


def test_templates_without_placeholders_are_refused(clip_and_tok):
    clip, tok = clip_and_tok
    with pytest.raises(ValueError, match="placeholders"):
        MultiGrainedPromptLearner(2, ["A photo of a person"], tok, clip.token_embedding)
