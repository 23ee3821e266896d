"""Fake copies of the real DG benchmarks' layouts (exact folder and file naming): counts of ids / images / cameras,
multi-source combining through fast-reid, and readable errors for missing or mis-laid copies."""
import os

import pytest
from PIL import Image

import reid_plugins  # noqa: F401
from fastreid.data.datasets import DATASET_REGISTRY

from reid_plugins.data.datasets import DatasetLayoutError


def _img(path, ext):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", (4, 8), (10, 20, 30)).save(path)


def make_market(root, sub="Market-1501-v15.09.15"):
    d = os.path.join(root, sub)
    # train: pids 2, 7 over cams 1..3 (6 images); junk pid -1 ignored; pid 0 (distractor) kept in gallery
    for pid, cam, frame in [(2, 1, 10), (2, 3, 11), (7, 2, 12), (7, 2, 13), (7, 5, 14), (2, 6, 15)]:
        _img(os.path.join(d, "bounding_box_train", f"{pid:04d}_c{cam}s1_{frame:06d}_00.jpg"), "jpg")
    for pid, cam, frame in [(11, 1, 1), (12, 2, 2)]:
        _img(os.path.join(d, "query", f"{pid:04d}_c{cam}s1_{frame:06d}_00.jpg"), "jpg")
    for name in ["0011_c2s1_000003_00.jpg", "0012_c4s1_000004_00.jpg", "0000_c1s1_000005_00.jpg",
                 "-1_c3s1_000006_00.jpg"]:
        _img(os.path.join(d, "bounding_box_test", name), "jpg")
    return d


def make_duke(root):
    d = os.path.join(root, "DukeMTMC-reID")
    for pid, cam, f in [(5, 1, 100), (5, 8, 101), (9, 4, 102)]:
        _img(os.path.join(d, "bounding_box_train", f"{pid:04d}_c{cam}_f{f:07d}.jpg"), "jpg")
    _img(os.path.join(d, "query", "0020_c1_f0000200.jpg"), "jpg")
    for name in ["0020_c2_f0000201.jpg", "0021_c3_f0000202.jpg"]:
        _img(os.path.join(d, "bounding_box_test", name), "jpg")
    return d


def make_msmt17(root):
    d = os.path.join(root, "MSMT17_V1")
    lists = {"train": [], "val": [], "query": [], "gallery": []}
    for split, folder, entries in [
        ("train", "train", [(0, 0, 1), (0, 1, 3), (1, 2, 15)]),
        ("val", "train", [(1, 3, 2)]),
        ("query", "test", [(0, 0, 4)]),
        ("gallery", "test", [(0, 1, 5), (1, 2, 6)]),
    ]:
        for pid, idx, cam in entries:
            rel = f"{pid:04d}/{pid:04d}_{idx:03d}_{cam:02d}_0303morning_0015_0.jpg"
            _img(os.path.join(d, folder, rel), "jpg")
            lists[split].append(f"{rel} {pid}\n")
    for split, lines in lists.items():
        with open(os.path.join(d, f"list_{split}.txt"), "w") as f:
            f.writelines(lines)
    return d


def make_cuhk03np(root, subset):
    d = os.path.join(root, "cuhk03-np", subset)
    for pid, cam, n in [(1, 1, 1), (1, 2, 2), (3, 1, 1), (3, 2, 3), (4, 2, 1)]:
        _img(os.path.join(d, "bounding_box_train", f"{pid:04d}_c{cam}_{n:03d}.png"), "png")
    _img(os.path.join(d, "query", "0100_c1_001.png"), "png")
    for name in ["0100_c2_002.png", "0101_c1_001.png", "0101_c2_002.png"]:
        _img(os.path.join(d, "bounding_box_test", name), "png")
    return d


def stats(ds):
    train_pids = {p for _, p, _ in ds.train}
    train_cams = {c for _, _, c in ds.train}
    return len(ds.train), len(train_pids), len(train_cams), len(ds.query), len(ds.gallery)


def test_market1501(tmp_path):
    make_market(str(tmp_path))
    ds = DATASET_REGISTRY.get("Market1501")(root=str(tmp_path))
    assert stats(ds) == (6, 2, 5, 2, 3)  # junk -1 dropped, distractor 0 kept
    assert {p for _, p, _ in ds.train} == {"market1501_2", "market1501_7"}
    assert sorted(c for _, _, c in ds.query) == [0, 1]


def test_dukemtmc(tmp_path):
    make_duke(str(tmp_path))
    ds = DATASET_REGISTRY.get("DukeMTMC")(root=str(tmp_path))
    assert stats(ds) == (3, 2, 3, 1, 2)
    assert sorted(c for _, _, c in ds.gallery) == [1, 2]


def test_msmt17(tmp_path):
    make_msmt17(str(tmp_path))
    ds = DATASET_REGISTRY.get("MSMT17")(root=str(tmp_path))
    assert stats(ds) == (3, 2, 3, 1, 2)
    # fast-reid offsets test pids by the number of training pids (2)
    assert sorted(p for _, p, _ in ds.gallery) == [2, 3]
    assert sorted(c for _, _, c in ds.train) == ["msmt17_0", "msmt17_14", "msmt17_2"]


@pytest.mark.parametrize("name, subset, prefix", [("CUHK03NP", "labeled", "cuhk03np"),
                                                  ("CUHK03NPDetected", "detected", "cuhk03npdetected")])
def test_cuhk03np(tmp_path, name, subset, prefix):
    make_cuhk03np(str(tmp_path), subset)
    ds = DATASET_REGISTRY.get(name)(root=str(tmp_path))
    assert stats(ds) == (5, 3, 2, 1, 3)
    assert {p for _, p, _ in ds.train} == {f"{prefix}_1", f"{prefix}_3", f"{prefix}_4"}
    assert [os.path.basename(p) for p, _, _ in ds.gallery] == ["0100_c2_002.png", "0101_c1_001.png",
                                                                "0101_c2_002.png"]  # sorted, deterministic


def test_msmt17_market_style(tmp_path):
    d = make_market(str(tmp_path), sub="MSMT17")
    assert os.path.isdir(d)
    ds = DATASET_REGISTRY.get("MSMT17Market")(root=str(tmp_path))
    assert stats(ds) == (6, 2, 5, 2, 3)


def test_multi_source_leave_one_out_combines_and_relabels(tmp_path):
    """Market + Duke + CUHK03NP -> MSMT17 through fast-reid's own combining (CommDataset relabel)."""
    from reid_plugins.config import build_cfg
    from fastreid.data.build import _train_loader_from_config

    for make in (make_market, make_duke, lambda r: make_cuhk03np(r, "labeled"), make_msmt17):
        make(str(tmp_path))
    cfg = build_cfg(opts=["DATASETS.ROOT", str(tmp_path), "DATASETS.NAMES", '("Market1501","DukeMTMC","CUHK03NP")',
                          "DATASETS.TESTS", '("MSMT17",)', "SOLVER.IMS_PER_BATCH", "4",
                          "DATALOADER.NUM_INSTANCE", "2"])
    out = _train_loader_from_config(cfg, combineall=False)
    train_set = out["train_set"]
    assert len(train_set) == 6 + 3 + 5
    assert train_set.num_classes == 2 + 2 + 3
    assert sorted(set(train_set.pid_dict.values())) == list(range(7))
    assert len(train_set.cam_dict) == 5 + 3 + 2


@pytest.mark.parametrize("name, make, expect", [
    ("Market1501", None, "Market-1501-v15.09.15"),
    ("DukeMTMC", None, "DukeMTMC-reID"),
    ("MSMT17", None, "MSMT17_V1"),
    ("CUHK03NP", None, "cuhk03-np/labeled"),
    ("MSMT17Market", None, "MSMT17"),
])
def test_missing_dataset_names_path_and_layout(tmp_path, name, make, expect):
    with pytest.raises(DatasetLayoutError) as e:
        ds = DATASET_REGISTRY.get(name)(root=str(tmp_path / "nowhere"))
        ds.train  # noqa: B018  (Market1501 reads lazily)
    msg = str(e.value)
    assert str(tmp_path / "nowhere") in msg and "Expected layout" in msg and expect in msg


def test_mislaid_datasets_name_the_problem(tmp_path):
    # CUHK03-NP with its query folder missing
    d = make_cuhk03np(str(tmp_path), "labeled")
    os.rename(os.path.join(d, "query"), os.path.join(d, "queries"))
    with pytest.raises(DatasetLayoutError, match=r"query folder .*cuhk03-np/labeled/query.* is missing"):
        DATASET_REGISTRY.get("CUHK03NP")(root=str(tmp_path))

    # Market with a wrongly named image: fast-reid would raise AttributeError lazily
    m = make_market(str(tmp_path / "m"))
    _img(os.path.join(m, "bounding_box_train", "person_a.jpg"), "jpg")
    with pytest.raises(DatasetLayoutError, match=r"file '.*bounding_box_train/person_a.jpg' does not match "
                                                 r"<pid>_c<camera>; Market1501 names files <pid>_c<camera>s"):
        DATASET_REGISTRY.get("Market1501")(root=str(tmp_path / "m")).train  # noqa: B018

    # MSMT17 without its list files
    s = make_msmt17(str(tmp_path / "s"))
    os.remove(os.path.join(s, "list_query.txt"))
    with pytest.raises(DatasetLayoutError, match=r"list_query.txt.*Expected layout"):
        DATASET_REGISTRY.get("MSMT17")(root=str(tmp_path / "s"))

    # CUHK03-NP image with a name that is not <pid>_c<cam>
    c = make_cuhk03np(str(tmp_path / "c"), "detected")
    _img(os.path.join(c, "bounding_box_test", "img_01.png"), "png")
    with pytest.raises(DatasetLayoutError, match=r"'img_01.png'.*does not match"):
        DATASET_REGISTRY.get("CUHK03NPDetected")(root=str(tmp_path / "c")).gallery  # noqa: B018

    # an empty split folder
    e = make_cuhk03np(str(tmp_path / "e"), "labeled")
    for f in os.listdir(os.path.join(e, "query")):
        os.remove(os.path.join(e, "query", f))
    with pytest.raises(DatasetLayoutError, match=r"no \.png images in .*query"):
        DATASET_REGISTRY.get("CUHK03NP")(root=str(tmp_path / "e")).query  # noqa: B018
