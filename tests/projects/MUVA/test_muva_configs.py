"""Every MUVA config loads; protocol files train / test on the paper's datasets with the paper's head counts;
ablation files name their paper table and build a consistent model (checked with the tiny CLIP)."""
import glob
import os

import muva_path  # noqa: F401
import pytest
from fastreid.modeling import build_model

from muva import add_muva_config
from reid_plugins.config import build_cfg
from reid_plugins.data.protocols import ALL, parse

CONFIGS = os.path.normpath(os.path.join(muva_path.PROJECT, "..", "..", "configs", "MUVA"))
ALL_FILES = sorted(glob.glob(os.path.join(CONFIGS, "**", "*.yml"), recursive=True))


def _cfg(path, *opts):
    return build_cfg(path, list(opts), (add_muva_config,))


def test_every_config_loads():
    assert len(ALL_FILES) >= 1 + 16 + 3 + 2 * 21 + 5  # base, protocols, source domain, ablations, synthetic
    for path in ALL_FILES:
        _cfg(path)


@pytest.mark.parametrize("protocol", ALL)
def test_protocol_files(protocol):
    cfg = _cfg(os.path.join(CONFIGS, f"{protocol}.yml"))
    sources, targets = parse(protocol)  # the protocol's one definition, shared with the baselines
    assert tuple(cfg.DATASETS.NAMES) == sources and tuple(cfg.DATASETS.TESTS) == targets
    multi_or_ms = len(sources) > 1 or sources == ("MSMT17Market",)
    assert cfg.MODEL.MUVA.RMP.NUM_HEADS == (8 if multi_or_ms else 2)
    assert cfg.MODEL.BACKBONE.CLIP_ARCH == "ViT-B-16-reid" and cfg.MODEL.BACKBONE.PRETRAIN_PATH
    assert cfg.SOLVER.BASE_LR == 5e-6 and cfg.SOLVER.MAX_EPOCH == 60 and cfg.SOLVER.IMS_PER_BATCH == 64
    assert not cfg.INPUT.PADDING.ENABLED and not cfg.INPUT.REA.ENABLED and cfg.INPUT.FLIP.ENABLED
    first = open(os.path.join(CONFIGS, f"{protocol}.yml")).readline()
    assert "Table 1" in first or "Table 2" in first or "Table 3" in first


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(CONFIGS, "ablations", "MA_to_MS", "*.yml"))),
                         ids=os.path.basename)
def test_ablation_builds_a_consistent_model(path):
    head = open(path).read(300)
    assert "paper Table" in head and "Paper: mAP" in head
    cfg = _cfg(path, "MODEL.BACKBONE.CLIP_ARCH", "ViT-T-16-reid", "MODEL.BACKBONE.PRETRAIN", "False",
               "MODEL.DEVICE", "cpu", "MODEL.HEADS.NUM_CLASSES", "4", "MODEL.MUVA.RMP.NUM_HEADS",
               str(min(4, _cfg(path).MODEL.MUVA.RMP.NUM_HEADS)))
    build_model(cfg)  # raises on an inconsistent loss list / parts / prompts combination


def test_ablation_sets_match_between_protocols():
    ma = {os.path.basename(p) for p in glob.glob(os.path.join(CONFIGS, "ablations", "MA_to_MS", "*.yml"))}
    ms = {os.path.basename(p) for p in glob.glob(os.path.join(CONFIGS, "ablations", "MS_to_MA", "*.yml"))}
    # each protocol omits the head count that is its own default (2 for MA -> MS, 8 for MS -> MA)
    assert ma - {"T12_heads8.yml"} == ms - {"T12_heads2.yml"}


def test_synthetic_configs():
    for name, parts, text in (("MUVA_tiny_A", 3, True), ("MUVA_tiny_A_vision_only", 3, False),
                              ("MUVA_tiny_A_wo_ammsa", 0, True)):
        cfg = _cfg(os.path.join(CONFIGS, "Synth", f"{name}.yml"), "MODEL.HEADS.NUM_CLASSES", "4")
        assert cfg.DATASETS.NAMES == ("SynthPedA",)
        assert cfg.DATASETS.TESTS == ("SynthPedA", "SynthPedB", "SynthPedC", "SynthPedD")
        assert cfg.MODEL.MASKS.BACKEND == "oracle" and cfg.MODEL.DEVICE == "cpu"
        model = build_model(cfg)
        assert model.backbone.num_parts == parts and model.has_text == text


def test_scratch_synthetic_configs_differ_only_in_weights():
    """The embedded configs start from the zoo's CLIP; their *_scratch variants differ only in the weights."""
    for name in ("MUVA_tiny_A", "MUVA_tiny_A_vision_only"):
        zoo = _cfg(os.path.join(CONFIGS, "Synth", f"{name}.yml"))
        scratch = _cfg(os.path.join(CONFIGS, "Synth", f"{name}_scratch.yml"))
        assert zoo.MODEL.BACKBONE.PRETRAIN and zoo.MODEL.BACKBONE.PRETRAIN_PATH.endswith(
            os.path.join("clip-tiny-w", "model.safetensors"))
        assert not scratch.MODEL.BACKBONE.PRETRAIN and scratch.MODEL.BACKBONE.PRETRAIN_PATH == ""
        changed = {k for k in ("MODEL", "SOLVER", "INPUT", "DATASETS", "DATALOADER", "TEST")
                   if zoo[k] != scratch[k]}
        assert changed == {"MODEL"}
        assert {k for k in zoo.MODEL if zoo.MODEL[k] != scratch.MODEL[k]} == {"BACKBONE"}
        assert {k for k in zoo.MODEL.BACKBONE if zoo.MODEL.BACKBONE[k] != scratch.MODEL.BACKBONE[k]} == {
            "PRETRAIN", "PRETRAIN_PATH"}
        assert scratch.OUTPUT_DIR == zoo.OUTPUT_DIR + "_scratch"

def test_keys_of_the_old_dialect_name_their_new_home(tmp_path):
    """MUVA's keys moved under MODEL.MUVA (issue 20); threads, figures and the attention-mask switch have one key."""
    from reid_plugins.config import ConfigError

    expected = {"MUVA.STAGE1.BASE_LR": "MODEL.MUVA.STAGE1.BASE_LR", "MUVA.PARTS": "MODEL.MUVA.PARTS",
                "MUVA.NUM_THREADS": "SOLVER.NUM_THREADS", "MUVA.VIS.ENABLED": "TEST.VIS.ENABLED",
                "MUVA.VIS.NUM_IMAGES": "TEST.VIS.NUM_IMAGES", "MUVA.MASK_MODE": "MODEL.MUVA.ATTENTION_MASKS",
                "TEST.VIS_RANK_LIST": "TEST.VIS.ENABLED", "TEST.VIS_DIR": "TEST.VIS.DIR"}
    for old, new in expected.items():
        with pytest.raises(ConfigError, match=rf"^command-line option: {old} moved to {new}\b"):
            _cfg("", old, "1")
    with pytest.raises(ConfigError, match=r"MUVA.MASK_MODE moved to MODEL.MUVA.ATTENTION_MASKS \(values .*"
                                          r"'stripe' is now 'fixed-stripes'\)"):
        _cfg("", "MUVA.MASK_MODE", "stripe")
    old_file = tmp_path / "old.yml"
    old_file.write_text(f"_BASE_: {os.path.join(CONFIGS, 'MA_to_MS.yml')}\nMUVA:\n  STAGE1:\n    BASE_LR: 0.1\n")
    with pytest.raises(ConfigError, match=r"old.yml': MUVA.STAGE1.BASE_LR moved to MODEL.MUVA.STAGE1.BASE_LR"):
        _cfg(str(old_file))
    with pytest.raises(ValueError, match=r"MODEL.MUVA.ATTENTION_MASKS='stripe'.*\('stripe' is now 'fixed-stripes'\)"):
        _cfg("", "MODEL.MUVA.ATTENTION_MASKS", "stripe")
    cfg = _cfg(os.path.join(CONFIGS, "Synth", "MUVA_tiny_A.yml"))
    assert (cfg.SOLVER.NUM_THREADS, cfg.TEST.VIS.ENABLED, cfg.TEST.VIS.NUM_IMAGES) == (1, True, 6)


def test_the_mask_grid_is_derived_from_the_input_size_and_checked_once():
    tiny = ["MODEL.BACKBONE.CLIP_ARCH", "ViT-T-16-reid"]
    assert tuple(_cfg("", *tiny).MODEL.MASKS.GRID) == (16, 8)                            # 256x128 / 16
    assert tuple(_cfg("", *tiny, "INPUT.SIZE_TRAIN", "[384, 128]").MODEL.MASKS.GRID) == (24, 8)
    assert tuple(_cfg("", *tiny, "INPUT.SIZE_TRAIN", "[384, 128]", "MODEL.MASKS.GRID", "(24, 8)").MODEL.MASKS.GRID
                 ) == (24, 8)
    with pytest.raises(ValueError, match=r"MODEL.MASKS.GRID=\(16, 8\) but the patch grid of INPUT.SIZE_TRAIN="
                                         r"\[384, 128\] with MODEL.BACKBONE.CLIP_ARCH=ViT-T-16-reid's patches is "
                                         r"\(24, 8\)"):
        _cfg("", *tiny, "INPUT.SIZE_TRAIN", "[384, 128]", "MODEL.MASKS.GRID", "(16, 8)")
    cfg = _cfg("", *tiny, "INPUT.SIZE_TRAIN", "[384, 128]", "MODEL.BACKBONE.PRETRAIN", "False", "MODEL.DEVICE", "cpu",
               "MODEL.HEADS.NUM_CLASSES", "2")
    assert build_model(cfg).backbone.grid == (24, 8)  # the model is built on the same grid
