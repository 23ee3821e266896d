"""projects/MUVA/tools/model_stats.py: Table 13 parameter counts (exact), and the latency / memory fields."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import muva_path  # noqa: E402,F401

sys.path.insert(0, os.path.join(muva_path.PROJECT, "tools"))
import model_stats  # noqa: E402

CONFIGS = os.path.normpath(os.path.join(muva_path.PROJECT, "..", "..", "configs", "MUVA"))


@pytest.mark.parametrize("config,train,infer", [
    # paper Table 13 (Market-1501 source, 751 identities): 161.7 / 115.9, w/o AM-MSA 126.2 / 86.1,
    # w/o language 117.4 / 115.9 (M)
    ("MA_to_MS.yml", 161_725_952, 115_904_512),
    ("ablations/MA_to_MS/T5_G.yml", 126_195_200, 86_141_440),
    ("ablations/MA_to_MS/T6_vision_only_multi.yml", 117_442_560, 115_904_512),
])
def test_parameter_counts_match_table13(config, train, infer):
    stats = model_stats.main(["--config-file", os.path.join(CONFIGS, config), "--json", "--no-latency"])
    assert stats["num_classes"] == 751
    assert stats["params_train"] == train and stats["params_infer"] == infer
    assert round(stats["params_train"] / 1e6, 1) == round(train / 1e6, 1)


def test_stage_trainable_counts_and_multi_source_classes():
    stats = model_stats.main(["--config-file", os.path.join(CONFIGS, "MA+D+MS_to_C3.yml"), "--no-latency"])
    assert stats["num_classes"] == 751 + 702 + 1041
    # stage 1: the prompt contexts only (identities x 4 granularities x 4 tokens x 512)
    assert stats["params_trainable_stage1"] == 2494 * 4 * 4 * 512
    # stage 2: everything of inference but the frozen patch projection and BN bias, plus the classifier
    conv1, bn_bias = 768 * 3 * 16 * 16, 2048
    assert stats["params_trainable_stage2"] == stats["params_infer"] - conv1 - bn_bias + 2048 * 2494


def test_latency_fields_tiny(capsys):
    stats = model_stats.main(["--config-file", os.path.join(CONFIGS, "Synth", "MUVA_tiny_A.yml"), "--json",
                              "--batch", "4", "--iters", "1", "--num-classes", "10"])
    assert '"latency_ratio"' in capsys.readouterr().out
    assert stats["latency_ms"] > 0 and stats["plain_clip_latency_ms"] > 0 and stats["peak_mem_mb"] > 0
    assert stats["latency_ratio"] == pytest.approx(stats["latency_ms"] / stats["plain_clip_latency_ms"])
    assert stats["batch"] == 4 and stats["peak_mem_kind"] == "cpu_peak_rss"
