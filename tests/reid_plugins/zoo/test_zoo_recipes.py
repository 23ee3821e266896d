"""reid_plugins.zoo: the SynthPed-W corpus reader, step-indexed batches, the two recipes (known answers on fixed
batches), the learning-rate schedule, and exact resume of an interrupted build."""
import math
import os

import numpy as np
import pytest
import torch

from reid_plugins.data.synthetic import ensure_generated
from reid_plugins.data.synthetic.attributes import VOCAB
from reid_plugins.zoo import get_entry
from reid_plugins.zoo.builder import with_recipe
from reid_plugins.zoo.corpus import ATTRIBUTES, IGNORE, StepBatches, WebCorpus, attribute_labels
from reid_plugins.zoo.recipes import (SupervisedNet, build_clip_model, clip_loss_fn, lr_at, param_groups,
                                      supervised_loss, train)


@pytest.fixture(scope="module")
def web_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("web"))
    ensure_generated(root, preset="tiny", seed=0, domains=["domain_W"], progress=False, preview=False)
    return root


@pytest.fixture(scope="module")
def corpus(web_root):
    return WebCorpus(web_root)


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_corpus_reads_w_only_with_held_out_identities(corpus, web_root):
    # tiny preset: 40 training identities, 10 held out in query / gallery
    assert corpus.num_ids == 40 and corpus.train_ids == sorted(set(corpus.train.pids))
    assert all("/synthped/domain_W/bounding_box_train/" in p for p in corpus.train.paths)
    assert all("/synthped/domain_W/query/" in p for p in corpus.query.paths)
    assert not set(corpus.train.pids) & set(corpus.query.pids + corpus.gallery.pids)
    assert len(set(corpus.query.pids)) == 10 and set(corpus.query.pids) <= set(corpus.gallery.pids)
    assert corpus.train_labels.tolist() == [corpus.train_ids.index(p) for p in corpus.train.pids]
    assert len(ATTRIBUTES) == 19 == sum(len(a) for a in VOCAB.values())


def test_attribute_labels_known_answer():
    ident = {"body": {"gender": "female", "height": "tall", "build": "slim"},
             "head": {"skin": "pale", "hair_color": "red", "hair_style": "bun", "hat": "none", "hat_color": None},
             "upper": {"garment": "coat", "color": "navy", "pattern": "plain", "pattern_color": None,
                       "sleeves": "long", "bag": "backpack", "bag_color": "black"},
             "legs": {"garment": "skirt", "color": "grey", "shoes": "boots", "shoe_color": "brown"}}
    labels = dict(zip(ATTRIBUTES, attribute_labels(ident)))
    assert labels["body.gender"] == 1 and labels["body.height"] == 2 and labels["body.build"] == 0
    assert labels["head.hair_style"] == 4 and labels["head.hat"] == 0 and labels["head.hat_color"] == IGNORE
    assert labels["upper.garment"] == 4 and labels["upper.pattern_color"] == IGNORE and labels["upper.bag"] == 1
    assert labels["upper.color"] == list(VOCAB["upper"]["color"]).index("navy")
    assert labels["legs.garment"] == 2 and labels["legs.shoes"] == 1


def test_step_batches_are_a_function_of_the_step(corpus):
    from reid_plugins.modeling.clip import get_tokenizer

    tok = get_tokenizer("ViT-T-16-reid")
    a = StepBatches(corpus, "clip", 8, (256, 128), seed=3, steps=10, tokenizer=tok)
    b = StepBatches(corpus, "clip", 8, (256, 128), seed=3, steps=10, tokenizer=tok)
    x5, y5 = a[5], b[5]
    assert torch.equal(x5["images"], y5["images"]) and torch.equal(x5["tokens"], y5["tokens"])
    assert not torch.equal(a[4]["images"], x5["images"])
    idx, _ = a.indices(5)
    assert len({int(corpus.train_labels[i]) for i in idx}) == 8       # distinct identities
    with pytest.raises(ValueError, match="batch 41 > 40 SynthPed-W identities"):
        StepBatches(corpus, "clip", 41, (256, 128), 0, 1, tok)
    s = StepBatches(corpus, "supervised", 16, (128, 64), seed=0, steps=3)[2]
    assert s["images"].shape == (16, 3, 128, 64) and s["attrs"].shape == (16, 19)
    assert s["images"].min() >= 0 and s["images"].max() <= 255
    # the loader gives the same batches with or without worker processes
    loader = torch.utils.data.DataLoader(a, batch_size=None, sampler=range(2, 5), num_workers=2)
    assert [torch.equal(batch["images"], a[t]["images"]) for t, batch in zip(range(2, 5), loader)] == [True] * 3


def test_learning_rate_schedule_known_values():
    recipe = {"lr": 1e-3, "warmup": 10, "steps": 110}
    assert lr_at(0, recipe) == pytest.approx(1e-5)
    assert lr_at(5, recipe) == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5))
    assert lr_at(10, recipe) == pytest.approx(1e-3)
    assert lr_at(60, recipe) == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5))   # half way through the cosine
    assert lr_at(110, recipe) == pytest.approx(1e-5)


def test_weight_decay_groups_follow_open_clip():
    model = build_clip_model(get_entry("clip-tiny-w"))
    no_decay, decay = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert "logit_scale" in {names[id(p)] for p in no_decay["params"]}
    assert "visual.transformer.resblocks.0.attn.in_proj_weight" in {names[id(p)] for p in decay["params"]}
    assert all(p.ndim >= 2 for p in decay["params"]) and decay["weight_decay"] == 0.1
    assert no_decay["weight_decay"] == 0.0
    assert len(no_decay["params"]) + len(decay["params"]) == len(list(model.parameters()))


def test_contrastive_steps_align_a_fixed_batch(corpus, one_thread):
    """Known answer: 8 image-caption pairs of distinct identities start near chance (ClipLoss ~ ln 8) and are
    memorised: every image then retrieves its own caption and every caption its own image."""
    from reid_plugins.modeling.clip import get_tokenizer

    torch.manual_seed(0)
    entry = get_entry("clip-tiny-w")
    batch = StepBatches(corpus, "clip", 8, entry.recipe["size"], 0, 1, get_tokenizer("ViT-T-16-reid"))[0]
    model = build_clip_model(entry)
    model.train()
    optimizer = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-3)
    loss_fn = clip_loss_fn()
    losses = []
    for _ in range(60):
        loss = loss_fn(model, batch, entry.recipe)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    chance = math.log(8)
    assert losses[0] > 0.75 * chance and losses[-1] < 0.2 * chance
    model.eval()
    with torch.no_grad():
        from reid_plugins.zoo.recipes import _normalize

        img = model.encode_image(_normalize(batch["images"], entry.recipe), normalize=True)
        txt = model.encode_text(batch["tokens"], normalize=True)
    assert torch.equal((img @ txt.t()).argmax(1), torch.arange(8))
    assert torch.equal((txt @ img.t()).argmax(1), torch.arange(8))


@pytest.mark.parametrize("name", ["vit-tiny-w", "osnet-x0_25-w"])
@pytest.mark.parametrize("id_weight", [0.0, 1.0])
def test_supervised_recipe_fits_a_fixed_batch(corpus, name, id_weight, one_thread):
    """Known answer: at initialisation each attribute's loss is ~ln(#values) (and the identity loss ~ln(40) when the
    identity classifier is on); a fixed batch of 16 images is then fitted."""
    from reid_plugins.zoo.builder import with_recipe

    torch.manual_seed(0)
    entry = with_recipe(get_entry(name), {"id_weight": id_weight, "label_smoothing": 0.0})
    batch = StepBatches(corpus, "supervised", 16, entry.recipe["size"], 0, 1)[0]
    model = SupervisedNet(entry, corpus.num_ids, corpus.attribute_sizes())
    assert (model.id_head is None) == (id_weight == 0)
    model.train()
    optimizer = torch.optim.AdamW(param_groups(model, 0.0), lr=3e-3)
    first = float(supervised_loss(model, batch, entry.recipe))
    expected = id_weight * math.log(40) + np.mean([
        math.log(len(VOCAB[k.split(".")[0]][k.split(".")[1]])) for k in ATTRIBUTES
        if (batch["attrs"][:, ATTRIBUTES.index(k)] != IGNORE).any()])
    assert first == pytest.approx(expected, rel=0.25)
    for _ in range(80):
        loss = supervised_loss(model, batch, entry.recipe)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss) < 0.25 * first
    model.eval()
    with torch.no_grad():
        ids, attrs = model(batch["images"])
    labels = batch["attrs"]
    hits = [(a.argmax(1) == labels[:, k])[labels[:, k] != IGNORE] for k, a in enumerate(attrs)]
    assert torch.cat(hits).float().mean() >= 0.9
    if id_weight:
        assert (ids.argmax(1) == batch["ids"]).float().mean() >= 0.9


def test_interrupted_build_resumes_exactly(corpus, tmp_path, monkeypatch, one_thread):
    """A build interrupted after a saved step continues from it and ends with the losses and weights of an
    uninterrupted build."""
    import reid_plugins.zoo.recipes as recipes

    entry = with_recipe(get_entry("vit-tiny-w"), {"steps": 6, "batch": 8, "warmup": 2})
    _, reference, _ = train(entry, corpus, str(tmp_path / "a"), save_every=2, progress=False)
    reference_state = torch.load(tmp_path / "a" / "state.pt", weights_only=True)["model"]

    real = recipes.lr_at

    def interrupt(step, recipe):
        if step == 3:
            raise KeyboardInterrupt
        return real(step, recipe)

    monkeypatch.setattr(recipes, "lr_at", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(entry, corpus, str(tmp_path / "b"), save_every=2, progress=False)
    assert torch.load(tmp_path / "b" / "state.pt", weights_only=True)["step"] == 2
    monkeypatch.setattr(recipes, "lr_at", real)
    _, resumed, _ = train(entry, corpus, str(tmp_path / "b"), save_every=2, progress=False)
    assert resumed == reference
    state = torch.load(tmp_path / "b" / "state.pt", weights_only=True)["model"]
    assert all(torch.equal(state[k], reference_state[k]) for k in reference_state)
    assert not [f for f in os.listdir(tmp_path / "b") if ".tmp" in f]
