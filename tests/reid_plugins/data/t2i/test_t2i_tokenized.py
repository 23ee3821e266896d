import pytest
import torch
import torchvision.transforms as T

from reid_plugins.data.t2i import CUHKPEDES, SynthPedT2IA
from reid_plugins.data.t2i.tokenized import (ModalityBatchSampler, SegmentBatchSampler, T2ITestSet, T2ITokenizer, T2ITrainSet,
                                             build_t2i_eval_loader, build_t2i_train_loader)
from reid_plugins.modeling.hf_encoders import build_bert_tokenizer

from t2i_fakes import make_cuhk_pedes, make_synthped_captions

TRANSFORM = T.Compose([T.Resize((32, 16)), T.PILToTensor(), T.ConvertImageDtype(torch.float32)])


@pytest.fixture(scope="module")
def tokenizer():
    return T2ITokenizer(build_bert_tokenizer(""), max_length=12)


def test_tokenizer_fixed_length_bert_ids(tokenizer):
    ids, mask = tokenizer("A man in a blue shirt.")
    # bert-base-uncased WordPiece: [CLS] a man in a blue shirt . [SEP] then [PAD]
    assert ids.tolist() == [101, 1037, 2158, 1999, 1037, 2630, 3797, 1012, 102, 0, 0, 0]
    assert mask.tolist() == [1] * 9 + [0] * 3
    long_ids, long_mask = tokenizer("a " * 40)
    assert long_ids.shape == (12,) and long_ids[-1].item() == 102 and long_mask.all()  # truncated, [SEP] kept
    batch_ids, _ = tokenizer(["a man", "a blue shirt"])
    assert batch_ids.shape == (2, 12)


def test_train_set_samples_and_description_fallback(tmp_path, tokenizer):
    make_cuhk_pedes(str(tmp_path), n_train=4, n_val=1, n_test=1)
    ds = CUHKPEDES(root=str(tmp_path))
    train = T2ITrainSet([ds], TRANSFORM, tokenizer)  # no descriptions: clothing text falls back to the caption
    assert len(train) == 16 and train.num_classes == 4
    item = train[0]
    assert item["images"].shape == (3, 32, 16)
    assert item["targets"] == 0
    assert torch.equal(item["id_input_ids"], tokenizer(ds.train[0].caption)[0])
    assert torch.equal(item["clo_input_ids"], item["id_input_ids"])
    assert train.img_items[5] == (ds.train[5].img_path, ds.train[5].pid, ds.train[5].image_id)
    with pytest.raises(ValueError, match=r"reid_raw.json: 8 training images have no 'clothing_description'"):
        T2ITrainSet([ds], TRANSFORM, tokenizer, missing_description="error")


def test_train_set_identity_text_and_pid_offsets(tmp_path, tokenizer):
    make_synthped_captions(str(tmp_path), "A", n_train=3, n_test=1, per_id=2)
    make_cuhk_pedes(str(tmp_path), n_train=2, n_val=1, n_test=1)
    synth, cuhk = SynthPedT2IA(root=str(tmp_path)), CUHKPEDES(root=str(tmp_path))
    train = T2ITrainSet([synth, cuhk], TRANSFORM, tokenizer, id_text="identity_description")
    assert train.num_classes == 5
    assert sorted({s.pid for s in train.samples}) == [0, 1, 2, 3, 4]  # CUHK pids offset by 3
    assert train.id_texts[0] == "A tall adult, person 1."
    assert train.clo_texts[0] == "A red shirt and orange trousers."
    # CUHK entries have no identity description: the caption stands in
    assert train.id_texts[-1] == cuhk.train[-1].caption


def test_modality_batches_never_mix():
    s = ModalityBatchSampler(num_images=5, num_texts=3, batch_size=2)
    assert list(s) == [[0, 1], [2, 3], [4], [5, 6], [7]]
    assert len(s) == 5


def test_test_loader_order_and_keys(tmp_path, tokenizer):
    make_cuhk_pedes(str(tmp_path), n_train=2, n_val=1, n_test=2, per_id=2)
    split = CUHKPEDES(root=str(tmp_path)).test
    loader = build_t2i_eval_loader({"test": split}, TRANSFORM, tokenizer, batch_size=3)
    batches = list(loader)
    assert all(b["part"] == ["test"] * len(b["pids"]) for b in batches)
    img = [b for b in batches if "images" in b]
    txt = [b for b in batches if "input_ids" in b]
    assert [len(b["pids"]) for b in img] == [3, 1] and [len(b["pids"]) for b in txt] == [3, 3, 2]
    assert torch.cat([b["pids"] for b in img]).tolist() == split.image_pids
    assert torch.cat([b["index"] for b in txt]).tolist() == list(range(8))
    assert txt[0]["input_ids"].shape == (3, 12)
    assert len(T2ITestSet(split, TRANSFORM, tokenizer)) == 12


def test_eval_loader_chains_named_splits_without_mixing_parts_or_modalities(tmp_path, tokenizer):
    make_cuhk_pedes(str(tmp_path), n_train=2, n_val=1, n_test=2, per_id=2)
    ds = CUHKPEDES(root=str(tmp_path))
    loader = build_t2i_eval_loader({"test": ds.test, "val": ds.val}, TRANSFORM, tokenizer, batch_size=3)
    assert loader.dataset.part_names == ["test", "val"]
    assert loader.dataset.captions == ds.test.captions + ds.val.captions
    assert loader.dataset.num_texts == len(ds.test.captions) + len(ds.val.captions)
    seen = {"test": {"img": [], "txt": []}, "val": {"img": [], "txt": []}}
    for b in loader:
        assert len(set(b["part"])) == 1 and (("images" in b) != ("input_ids" in b))
        seen[b["part"][0]]["img" if "images" in b else "txt"] += b["pids"].tolist()
    for name, split in (("test", ds.test), ("val", ds.val)):
        assert seen[name]["img"] == split.image_pids and seen[name]["txt"] == split.caption_pids
    assert list(SegmentBatchSampler([2, 0, 3], batch_size=2)) == [[0, 1], [2, 3], [4]]
    assert len(SegmentBatchSampler([2, 0, 3], batch_size=2)) == 3


def test_train_loader_is_identity_balanced(tmp_path, tokenizer):
    make_cuhk_pedes(str(tmp_path), n_train=4, n_val=1, n_test=1)
    train = T2ITrainSet([CUHKPEDES(root=str(tmp_path))], TRANSFORM, tokenizer)
    loader = build_t2i_train_loader(train, total_batch_size=8, num_instance=4, seed=0)
    batch = next(iter(loader))
    pids = batch["targets"].tolist()
    assert len(pids) == 8 and sorted(pids.count(p) for p in set(pids)) == [4, 4]
    assert batch["id_input_ids"].shape == (8, 12) and batch["images"].shape == (8, 3, 32, 16)
    with pytest.raises(ValueError, match="multiple of DATALOADER.NUM_INSTANCE"):
        build_t2i_train_loader(train, total_batch_size=6, num_instance=4)
    with pytest.raises(ValueError, match=r"training set has 4 identities, but SOLVER.IMS_PER_BATCH 16 .* needs 8 "
                                         r"identities per batch .* at most 8"):
        build_t2i_train_loader(train, total_batch_size=16, num_instance=2)
