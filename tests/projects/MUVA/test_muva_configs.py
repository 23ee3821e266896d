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
    assert cfg.MUVA.RMP.NUM_HEADS == (8 if multi_or_ms else 2)
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
               "MODEL.DEVICE", "cpu", "MODEL.HEADS.NUM_CLASSES", "4", "MUVA.RMP.NUM_HEADS",
               str(min(4, _cfg(path).MUVA.RMP.NUM_HEADS)))
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
        changed = {k for k in ("MODEL", "MUVA", "SOLVER", "INPUT", "DATASETS", "DATALOADER", "TEST")
                   if zoo[k] != scratch[k]}
        assert changed == {"MODEL"}
        assert {k for k in zoo.MODEL if zoo.MODEL[k] != scratch.MODEL[k]} == {"BACKBONE"}
        assert {k for k in zoo.MODEL.BACKBONE if zoo.MODEL.BACKBONE[k] != scratch.MODEL.BACKBONE[k]} == {
            "PRETRAIN", "PRETRAIN_PATH"}
        assert scratch.OUTPUT_DIR == zoo.OUTPUT_DIR + "_scratch"