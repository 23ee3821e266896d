import json
import os

import numpy as np
import pytest
import torch
from fastreid.data import build_reid_test_loader, build_reid_train_loader
from fastreid.data.datasets import DATASET_REGISTRY

from reid_plugins.config import build_cfg
from reid_plugins.data.datasets import MarketLayoutDataset, SynthPedA, SynthPedB, SynthPedC, SynthPedD
from reid_plugins.data.synthetic import ENV_PRESET, SyntheticConfigError, ensure_generated

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
BASE_CFG = os.path.join(REPO, "configs", "Synth", "Base-bagtricks.yml")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("datasets"))
    return root, ensure_generated(root, preset="tiny", seed=0, workers=2, progress=False, preview=False)


def test_registered_under_their_names():
    from reid_plugins.data.t2i import T2I_DATASETS, T2IDataset

    for letter in "ABCDE":
        for name, base in ((f"SynthPed{letter}", MarketLayoutDataset), (f"SynthPedT2I{letter}", T2IDataset)):
            cls = DATASET_REGISTRY.get(name)
            assert cls.__name__ == name and issubclass(cls, base)
            assert cls.domain == f"domain_{letter}" and cls.dataset_dir == f"synthped/domain_{letter}"
            assert cls.dataset_name == name.lower() and f"domain {letter}" in cls.__doc__
        assert f"SynthPedT2I{letter}" in T2I_DATASETS
    assert (SynthPedA, SynthPedB, SynthPedC, SynthPedD) == tuple(DATASET_REGISTRY.get(f"SynthPed{x}") for x in "ABCD")
    assert SynthPedA.__doc__.startswith("Synthetic domain A: Market-1501 (")  # the domain's role


def test_a_domain_on_disk_is_not_generated_again(tiny, monkeypatch):
    import reid_plugins.data.synthetic.generate as generate

    root, _ = tiny
    calls = []
    monkeypatch.setattr(generate, "ensure_generated", lambda *a, **k: calls.append((a, k)))
    generate.ensure_domain(root, "domain_A", "domain.json", "test")
    generate.ensure_domain(root, "domain_A", "captions.json", "test")
    assert calls == []
    generate.ensure_domain(root, "domain_A", "no_such_file.json", "test")
    assert calls == [((root,), {"domains": ["domain_A"]})]


def test_loading_through_the_registry(tiny):
    root, manifest = tiny
    for name, domain in (("SynthPedA", "domain_A"), ("SynthPedC", "domain_C")):
        ds = DATASET_REGISTRY.get(name)(root=root)
        counts = manifest["domains"][domain]
        assert len(ds.train) == counts["train"]["images"]
        assert len(ds.query) == counts["query"]["images"] and len(ds.gallery) == counts["gallery"]["images"]
        prefix = name.lower() + "_"
        assert all(str(pid).startswith(prefix) and str(cam).startswith(prefix) for _, pid, cam in ds.train)
        assert all(isinstance(pid, int) and isinstance(cam, int) for _, pid, cam in ds.query + ds.gallery)
        assert len({pid for _, pid, _ in ds.train}) == counts["train"]["ids"]


def test_fast_reid_loaders_with_datasets_root(tiny):
    root, manifest = tiny
    cfg = build_cfg(BASE_CFG, ["DATASETS.ROOT", root, "DATASETS.NAMES", '("SynthPedA", "SynthPedD")',
                               "DATALOADER.NUM_WORKERS", "0", "SOLVER.IMS_PER_BATCH", "8"])
    train_loader = build_reid_train_loader(cfg)
    # two sources are relabelled jointly by fast-reid: classes add up
    n_classes = manifest["domains"]["domain_A"]["train"]["ids"] + manifest["domains"]["domain_D"]["train"]["ids"]
    assert train_loader.dataset.num_classes == n_classes
    batch = next(iter(train_loader))
    assert tuple(batch["images"].shape) == (8, 3, 128, 64)
    test_loader, num_query = build_reid_test_loader(cfg, dataset_name="SynthPedB", num_workers=0)
    assert num_query == manifest["domains"]["domain_B"]["query"]["images"]
    assert len(test_loader.dataset) == num_query + manifest["domains"]["domain_B"]["gallery"]["images"]


def test_missing_benchmark_is_generated_with_the_env_preset(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_PRESET, "tiny")
    ds = SynthPedD(root=str(tmp_path))
    with open(tmp_path / "synthped" / "manifest.json") as f:
        manifest = json.load(f)
    assert manifest["preset"] == "tiny" and list(manifest["domains"]) == ["domain_D"]
    assert len(ds.train) == manifest["domains"]["domain_D"]["train"]["images"]
    SynthPedB(root=str(tmp_path))          # another domain is added to the same benchmark
    with open(tmp_path / "synthped" / "manifest.json") as f:
        assert list(json.load(f)["domains"]) == ["domain_B", "domain_D"]
    monkeypatch.setenv(ENV_PRESET, "default")  # a different preset is not silently mixed in
    with pytest.raises(SyntheticConfigError, match="preset='tiny'"):
        SynthPedA(root=str(tmp_path))


def _reference_map(qf, gf, q_pids, g_pids, q_cams, g_cams):
    """Market-1501 protocol mAP, written independently of fast-reid: cosine distance, gallery images of the same
    pid AND camera as the query are ignored, AP averaged over queries that have a true match."""
    qf = qf / np.linalg.norm(qf, axis=1, keepdims=True)
    gf = gf / np.linalg.norm(gf, axis=1, keepdims=True)
    dist = 1.0 - qf @ gf.T
    aps = []
    for i in range(len(q_pids)):
        keep = ~((g_pids == q_pids[i]) & (g_cams == q_cams[i]))
        order = np.argsort(dist[i][keep], kind="stable")
        hits = (g_pids[keep][order] == q_pids[i]).astype(float)
        if hits.sum() == 0:
            continue
        precision = np.cumsum(hits) / (np.arange(len(hits)) + 1)
        aps.append((precision * hits).sum() / hits.sum())
    return 100.0 * float(np.mean(aps))


def test_tiny_train_then_eval_through_plugin_trainer(tiny, tmp_path):
    from reid_plugins.engine import PluginTrainer

    root, _ = tiny
    out = str(tmp_path / "run")
    cfg = build_cfg(os.path.join(REPO, "configs", "Synth", "bagtricks_A.yml"), [
        "DATASETS.ROOT", root, "DATASETS.TESTS", '("SynthPedA", "SynthPedD")', "OUTPUT_DIR", out,
        "SOLVER.MAX_EPOCH", "2", "SOLVER.IMS_PER_BATCH", "16", "SOLVER.WARMUP_ITERS", "1",
        "SOLVER.STEPS", "[1]", "SOLVER.CHECKPOINT_PERIOD", "2", "TEST.EVAL_PERIOD", "2",
        "DATALOADER.NUM_WORKERS", "0", "TEST.NUM_WORKERS", "0", "SEED", "0"])
    cfg.freeze()
    torch.manual_seed(0)
    trainer = PluginTrainer(cfg)
    before = {k: v.detach().clone() for k, v in trainer.model.state_dict().items() if v.dtype.is_floating_point}
    trainer.train()
    changed = [k for k, v in trainer.model.state_dict().items() if k in before and not torch.equal(v, before[k])]
    assert any("backbone" in k and "weight" in k and "bn" not in k for k in changed), \
        ("no convolution weight was updated: fast-reid's ContiguousParams buffers get grad=None from torch>=2 "
         "zero_grad(); PluginTrainer.build_optimizer must use build_optimizer(cfg, model, contiguous=False)")
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    assert set(results) == {"SynthPedA", "SynthPedD"}
    # the evaluator's mAP equals an independent computation on features of the final model
    model = trainer.model.eval()
    loader, num_query = PluginTrainer.build_test_loader(cfg, "SynthPedD")
    feats, pids, cams = [], [], []
    with torch.no_grad():
        for batch in loader:
            feats.append(model(batch).numpy())
            pids.append(batch["targets"].numpy())
            cams.append(batch["camids"].numpy())
    f, p, c = np.concatenate(feats), np.concatenate(pids), np.concatenate(cams)
    ref = _reference_map(f[:num_query], f[num_query:], p[:num_query], p[num_query:], c[:num_query], c[num_query:])
    assert results["SynthPedD"]["mAP"] == pytest.approx(ref, abs=1e-3)
    for metrics in results.values():
        assert 0.0 < metrics["mAP"] <= 100.0 and 0.0 <= metrics["Rank-1"] <= 100.0


def test_validation_split_holds_out_whole_families_of_training_identities(tiny):
    """SynthPedAVal (hyperparameter choice on held-out source data): one family in four of domain A's *training*
    identities becomes query / gallery; nothing comes from A's test split."""
    from reid_plugins.data.datasets.synthped import SynthPedAVal, held_out_pids, validation_split

    root, manifest = tiny
    assert DATASET_REGISTRY.get("SynthPedAVal") is SynthPedAVal
    with open(os.path.join(root, "synthped", "domain_A", "attributes.json")) as f:
        attributes = json.load(f)
    held = held_out_pids(attributes)
    families = sorted({a["family"] for a in attributes.values() if a["split"] == "train"})
    assert {attributes[str(p)]["family"] for p in held} == set(families[::4])
    ds = SynthPedAVal(root=root)
    train_pids = {int(pid.rsplit("_", 1)[1]) for _, pid, _ in ds.train}
    query_pids, gallery_pids = {p for _, p, _ in ds.query}, {p for _, p, _ in ds.gallery}
    assert query_pids == gallery_pids == set(held) and not train_pids & set(held)
    assert len(train_pids) + len(held) == manifest["domains"]["domain_A"]["train"]["ids"]
    assert all("/bounding_box_train/" in p for p, _, _ in ds.train + ds.query + ds.gallery)
    assert len(ds.train) + len(ds.query) + len(ds.gallery) == manifest["domains"]["domain_A"]["train"]["images"]
    for path, pid, cam in ds.query:   # every query has a true match in another camera
        assert any(p == pid and c != cam for _, p, c in ds.gallery)
    # known answer: pid 1 in cameras 1, 2, 3 -> queries in cameras 1 and 2 (first image each), never all cameras
    items = [("a", 1, 0), ("b", 1, 0), ("c", 1, 1), ("d", 1, 2), ("e", 2, 0), ("f", 2, 1), ("g", 3, 0)]
    train, query, gallery = validation_split(items, {1, 2})
    assert train == [("g", 3, 0)]
    assert query == [("a", 1, 0), ("c", 1, 1), ("e", 2, 0)]
    assert gallery == [("b", 1, 0), ("d", 1, 2), ("f", 2, 1)]
