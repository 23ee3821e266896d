"""Registry sweep (timm-style): every entry this project adds to a registry is built and run on tiny input.

Registries: fast-reid's DATASET_REGISTRY, META_ARCH_REGISTRY and BACKBONE_REGISTRY (the entries whose class comes
from reid_plugins / muva / bdam), our EVALUATOR_REGISTRY, BDAM's LOSS_REGISTRY and the grounding mask sources
(grounding.parts.MASK_SOURCES). A newly registered entry without a case below fails test_every_entry_has_a_case.
"""
import functools
import math
import os
import sys

import numpy as np
import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
for sub in (("reid_plugins", "data", "t2i"), ("projects", "BDAM_T2I"), ("projects", "MUVA")):
    if os.path.join(TESTS, *sub) not in sys.path:
        sys.path.insert(0, os.path.join(TESTS, *sub))

import bdam_path  # noqa: E402,F401  (projects/BDAM_T2I on sys.path)
import muva_path  # noqa: E402,F401
from fastreid.data.datasets import DATASET_REGISTRY  # noqa: E402
from fastreid.modeling import build_model  # noqa: E402
from fastreid.modeling.backbones import BACKBONE_REGISTRY  # noqa: E402
from fastreid.modeling.meta_arch import META_ARCH_REGISTRY  # noqa: E402
from PIL import Image  # noqa: E402

import bdam  # noqa: E402,F401  (registers BDAMT2I, the T2I datasets, the evaluator and the losses)
import muva  # noqa: E402,F401
from bdam.losses import LOSS_REGISTRY  # noqa: E402
from bdam_tiny import tiny_cfg  # noqa: E402
from reid_plugins.config import build_cfg  # noqa: E402
from reid_plugins.evaluation import EVALUATOR_REGISTRY  # noqa: E402
from reid_plugins.grounding.parts import MASK_SOURCES  # noqa: E402
from t2i_fakes import make_cuhk_pedes, make_icfg_pedes, make_rstpreid  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
OURS = ("reid_plugins", "muva", "bdam")


def ours(registry):
    return {name for name, obj in registry._obj_map.items() if obj.__module__.split(".")[0] in OURS}


# ------------------------------------------------------------------------------------------------ datasets
def _market_dir(d, name):
    """A Market-1501 layout with 2 train ids in 2 cameras, 1 query and 2 gallery images; name(pid, cam, n)."""
    for sub, items in (("bounding_box_train", [(1, 1, 1), (1, 2, 2), (3, 1, 1), (3, 2, 2)]),
                       ("query", [(7, 1, 1)]), ("bounding_box_test", [(7, 2, 2), (8, 1, 1)])):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
        for pid, cam, n in items:
            Image.new("RGB", (4, 8), (pid * 20, cam * 40, n)).save(os.path.join(d, sub, name(pid, cam, n)))


def _check_image_dataset(ds, n_train=None):
    assert len(ds.train) and len(ds.query) and len(ds.gallery)
    assert n_train is None or len(ds.train) == n_train
    assert {p for _, p, _ in ds.query} <= {p for _, p, _ in ds.gallery}  # each query has a gallery match
    for path, _, _ in ds.train[:2] + ds.query[:1] + ds.gallery[:1]:
        assert os.path.isfile(path)


def _synthped(name, synth_root, tmp_path):
    _check_image_dataset(DATASET_REGISTRY.get(name)(root=synth_root))


def _cuhk03np(subset):
    def case(name, synth_root, tmp_path):
        _market_dir(os.path.join(tmp_path, "cuhk03-np", subset), lambda p, c, n: f"{p:04d}_c{c}_{n:03d}.png")
        _check_image_dataset(DATASET_REGISTRY.get(name)(root=str(tmp_path)), n_train=4)
    return case


def _msmt17_market(name, synth_root, tmp_path):
    _market_dir(os.path.join(tmp_path, "MSMT17"), lambda p, c, n: f"{p:04d}_c{c}s1_{n:06d}_00.jpg")
    _check_image_dataset(DATASET_REGISTRY.get(name)(root=str(tmp_path)), n_train=4)


def _t2i(make=None):
    def case(name, synth_root, tmp_path):
        root = synth_root
        if make is not None:
            root = str(tmp_path)
            make(root)
        ds = DATASET_REGISTRY.get(name)(root=root)
        assert len(ds.train) and ds.num_train_pids >= 2 and all(s.caption for s in ds.train)
        test = ds.split("test")
        assert test.img_paths and len(test.caption_pids) == len(test.captions) >= len(set(test.image_pids))
        assert set(test.caption_pids) <= set(test.image_pids) and os.path.isfile(test.img_paths[0])
    return case


DATASETS = {**{f"SynthPed{x}": _synthped for x in ("A", "B", "C", "D", "E", "AVal")},
            **{f"SynthPedT2I{x}": _t2i() for x in "ABCDE"},
            "CUHK03NP": _cuhk03np("labeled"), "CUHK03NPDetected": _cuhk03np("detected"),
            "MSMT17Market": _msmt17_market, "CUHKPEDES": _t2i(make_cuhk_pedes), "ICFGPEDES": _t2i(make_icfg_pedes),
            "RSTPReid": _t2i(make_rstpreid)}


# ------------------------------------------------------------------------------------------------ models
MUVA_TINY = ["MODEL.BACKBONE.CLIP_ARCH", "ViT-T-16-reid", "MODEL.BACKBONE.PRETRAIN", "False", "MODEL.DEVICE", "cpu",
             "MODEL.HEADS.NUM_CLASSES", "3"]


@functools.lru_cache(maxsize=None)
def _muva():
    from muva import add_muva_config

    torch.manual_seed(0)
    return build_model(build_cfg("", MUVA_TINY, (add_muva_config,)))


def _muva_batch(b=6):
    g = torch.Generator().manual_seed(5)
    masks = torch.zeros(b, 3, 16, 8, dtype=torch.uint8)
    masks[:, 0, :4], masks[:, 1, 4:10], masks[:, 2, 10:] = 1, 1, 1
    return {"images": torch.rand(b, 3, 256, 128, generator=g) * 255, "targets": torch.tensor([0, 0, 1, 1, 2, 2]),
            "masks": masks.reshape(b, 3, 128)}


def _bdam_batch():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 3000, (6, 12), generator=g)
    ids[:, 0], ids[:, -1] = 101, 102
    mask = torch.ones(6, 12, dtype=torch.long)
    return {"images": torch.rand(6, 3, 64, 32, generator=g) * 255, "targets": torch.arange(3).repeat_interleave(2),
            "id_input_ids": ids, "id_attention_mask": mask, "clo_input_ids": ids.flip(0),
            "clo_attention_mask": mask}


@functools.lru_cache(maxsize=None)
def _bdam_all_losses():
    from bdam.config import ALL_LOSSES

    torch.manual_seed(0)
    return build_model(tiny_cfg(extra=["MODEL.BDAM.LOSSES.NAME", repr(tuple(ALL_LOSSES))]))


def _finite_losses(losses, names):
    assert set(losses) == {f"loss_{n.lower()}" for n in names}
    assert all(v.dim() == 0 and math.isfinite(v.item()) for v in losses.values()), losses


def _meta_muva(name, synth_root, tmp_path):
    model = _muva()
    assert type(model).__name__ == name
    model.train()
    with torch.no_grad():
        model.text_memory.copy_(torch.randn(3, 512))
        model.memory.reset(torch.randn(3, 512))
    losses = model(_muva_batch())
    assert all(math.isfinite(v.item()) for v in losses.values()) and len(losses) == 5
    model.eval()
    with torch.no_grad():
        assert model(_muva_batch()).shape == (6, 512)


def _meta_bdam(name, synth_root, tmp_path):
    model = _bdam_all_losses()
    assert type(model).__name__ == name
    model.train()
    _finite_losses(model(_bdam_batch()), model.loss_names)
    model.eval()
    with torch.no_grad():
        out = model({"images": _bdam_batch()["images"]})
    assert out["img_emb"].shape == (6, 24) and torch.allclose(out["img_emb"].norm(dim=1), torch.ones(6), atol=1e-5)


def _backbone_muva(name, synth_root, tmp_path):
    model = _muva()
    assert BACKBONE_REGISTRY.get(name).__name__ == name  # MUVA's from_config builds MODEL.BACKBONE.NAME (this one)
    model.eval()
    with torch.no_grad():
        out = model.backbone(model.preprocess_image(_muva_batch()))
    assert out["tokens"].shape[:2] == (6, 4) and torch.isfinite(out["tokens"]).all()


def _loss(name, synth_root, tmp_path):
    model = _bdam_all_losses()
    assert name in model.loss_names  # the model built with every loss computes this one
    model.train()
    torch.manual_seed(1)
    value = model(_bdam_batch())[f"loss_{name.lower()}"]
    assert value.dim() == 0 and math.isfinite(value.item())


# ------------------------------------------------------------------------------------------------ evaluators
def _feats(n=24, dim=8):  # fast-reid's evaluator reads Rank-10: at least 10 gallery images
    rng = np.random.default_rng(0)
    pids = np.repeat(np.arange(n // 2), 2)
    centres = rng.normal(size=(n // 2, dim))
    return (centres[pids] + 0.05 * rng.normal(size=(n, dim))).astype(np.float32), pids


def _reid_evaluator(name, synth_root, tmp_path):
    feats, pids = _feats()
    camids = np.tile([0, 1], len(pids) // 2)
    query = np.arange(0, len(pids), 2)                # one query per id, its match in the other camera
    order = np.concatenate([query, np.arange(1, len(pids), 2)])
    evaluator = EVALUATOR_REGISTRY.get(name)(build_cfg(opts=["OUTPUT_DIR", str(tmp_path)]), len(query))
    evaluator.reset()
    evaluator.process({"targets": torch.as_tensor(pids[order]), "camids": torch.as_tensor(camids[order])},
                      torch.as_tensor(feats[order]))
    results = evaluator.evaluate()
    assert results["Rank-1"] == pytest.approx(100.0) and results["mAP"] == pytest.approx(100.0)


def _t2i_evaluator(name, synth_root, tmp_path):
    model = _bdam_all_losses()
    model.eval()
    batch = _bdam_batch()
    cfg = tiny_cfg(extra=["OUTPUT_DIR", str(tmp_path)])
    evaluator = EVALUATOR_REGISTRY.get(name)(cfg, num_query=6, model=model)
    pids = batch["targets"]
    with torch.no_grad():
        evaluator.process({"pids": pids, "index": torch.arange(6)}, model({"images": batch["images"]}))
        evaluator.process({"pids": pids, "index": torch.arange(6)},
                          model({"input_ids": batch["id_input_ids"], "attention_mask": batch["id_attention_mask"]}))
    results = evaluator.evaluate()
    assert 0.0 <= results["R1"] <= 100.0 and 0.0 < results["mAP"] <= 100.0
    assert any(k.startswith("fusion") or "rerank" in k.lower() for k in results), sorted(results)


EVALUATORS = {"FastReidEvaluator": _reid_evaluator, "ReidEvaluator": _reid_evaluator,
              "T2IRetrievalEvaluator": _t2i_evaluator}


# ------------------------------------------------------------------------------------------------ mask sources
def _mask_settings(root, **masks):
    from reid_plugins.grounding import MaskSettings, add_part_mask_config

    opts = ["DATASETS.ROOT", root]
    for k, v in masks.items():
        opts += [f"MODEL.MASKS.{k}", str(v)]
    cfg = build_cfg("", opts, [add_part_mask_config])
    return cfg, MaskSettings.from_config(cfg)


def _train_images(root, n=3):
    return [p for p, _, _ in DATASET_REGISTRY.get("SynthPedA")(root=root).train[:n]]


def _check_mask(mask):
    assert mask.shape == (3, 128) and mask.dtype == bool and mask.any(axis=1).all()


def _run_provider(cfg, images, names=("SynthPedA",)):
    from reid_plugins.grounding import PartMaskProvider

    masks = PartMaskProvider.from_config(cfg, list(names)).masks(images)
    for m in masks:
        _check_mask(m)
    return masks


def _reference_source(name, synth_root, tmp_path):
    """oracle / oracle-noisy / stripes: a labelling backend and a provider source."""
    from reid_plugins.grounding.backends import build_backend

    cfg, settings = _mask_settings(synth_root, BACKEND=name)
    images = _train_images(synth_root)
    backend = build_backend(name, settings)
    (w, h), answers = backend.ground(images[0])
    assert (w, h) == Image.open(images[0]).size and set(answers) == {"head", "upper", "legs"}
    assert all(a.box is not None for a in answers.values())
    _run_provider(cfg, images)


def _cache_source(name, synth_root, tmp_path):
    """A cache written by the label CLI (stripes backend), read by the provider."""
    from reid_plugins.grounding.cli import main

    out = str(tmp_path / "masks")
    assert main(["label", "--dataset", "SynthPedA", "--root", synth_root, "--backend", "stripes", "--out", out,
                 "--quiet"]) == 0
    cfg, _ = _mask_settings(synth_root, BACKEND=name, CACHE_DIR=out)
    _run_provider(cfg, _train_images(synth_root))


def _official_source(name, synth_root, tmp_path):
    from reid_plugins.grounding import export_official_pickle

    images = _train_images(synth_root)
    mask = np.zeros((3, 128), bool)
    mask[0, :32], mask[1, 32:80], mask[2, 80:] = True, True, True
    path = str(tmp_path / "masks.pkl")
    export_official_pickle(path, {os.path.basename(p): mask for p in images})
    cfg, _ = _mask_settings(synth_root, BACKEND=name, OFFICIAL_PICKLE=path)
    assert all(np.array_equal(m, mask) for m in _run_provider(cfg, images))


def _openai_source(name, synth_root, tmp_path):
    """Built without a request (answering is covered by the fake server in grounding/test_grounding_cli_openai.py)."""
    from reid_plugins.grounding.backends import build_backend

    _, settings = _mask_settings(synth_root)
    backend = build_backend(name, settings, model="m", base_url="http://127.0.0.1:9/v1", api_key_env="NO_SUCH_KEY")
    try:
        assert len(backend.prompts) == 3 and "m" in backend.backend_id
    finally:
        backend.close()


def _hf_source(name, synth_root, tmp_path):
    """Needs a local model directory: the missing one is named (answering: grounding/test_grounding_hf.py)."""
    from reid_plugins.grounding.backends import build_backend

    _, settings = _mask_settings(synth_root)
    missing = str(tmp_path / "no_model")
    with pytest.raises(Exception, match="no_model"):
        build_backend(name, settings, model_dir=missing)


MASK_SOURCE_CASES = {"oracle": _reference_source, "oracle-noisy": _reference_source, "stripes": _reference_source,
                     "cache": _cache_source, "official-pickle": _official_source, "openai": _openai_source,
                     "hf": _hf_source}

CASES = {
    "DATASET": (lambda: ours(DATASET_REGISTRY), DATASETS),
    "META_ARCH": (lambda: ours(META_ARCH_REGISTRY), {"MUVA": _meta_muva, "BDAMT2I": _meta_bdam}),
    "BACKBONE": (lambda: ours(BACKBONE_REGISTRY), {"build_muva_clip_backbone": _backbone_muva}),
    "EVALUATOR": (lambda: ours(EVALUATOR_REGISTRY), EVALUATORS),
    "BDAM_LOSS": (lambda: set(LOSS_REGISTRY._obj_map), {n: _loss for n in ("InfoNCE", "Triplet", "Adversarial",
                                                                             "HSIC", "GateReg", "FusionMatch",
                                                                             "ClothingMatch")}),
    "MASK_SOURCE": (lambda: set(MASK_SOURCES), MASK_SOURCE_CASES),
}


@pytest.mark.parametrize("registry", sorted(CASES))
def test_every_entry_has_a_case(registry):
    registered, cases = CASES[registry]
    assert registered() == set(cases), (f"{registry}: add a sweep case for {sorted(registered() - set(cases))}, "
                                        f"remove the cases of {sorted(set(cases) - registered())}")


@pytest.mark.parametrize("registry, name", [(r, n) for r in sorted(CASES) for n in sorted(CASES[r][1])])
def test_entry_builds_and_runs_on_tiny_input(registry, name, synth_root, tmp_path):
    CASES[registry][1][name](name, synth_root, tmp_path)
