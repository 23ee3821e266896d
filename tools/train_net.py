#!/usr/bin/env python
"""fast-reid's plain trainer (BoT / AGW / SBS baselines) with this project's datasets, evaluators and CPU fixes.

    python tools/train_net.py --config-file CONFIG [--resume | --eval-only] [--num-gpus N] [KEY VALUE ...]

Flags come first, then the config overrides as KEY VALUE pairs. Examples:
    # train BoT on the embedded synthetic domain A, evaluate on A-D (results.json in OUTPUT_DIR)
    python tools/train_net.py --config-file configs/Synth/bagtricks_A.yml OUTPUT_DIR logs/bot_A
    # continue an interrupted run from its last checkpoint
    python tools/train_net.py --config-file configs/Synth/bagtricks_A.yml --resume OUTPUT_DIR logs/bot_A
    # evaluate a trained model
    python tools/train_net.py --config-file configs/Synth/bagtricks_A.yml --eval-only \\
        MODEL.WEIGHTS logs/bot_A/model_final.pth OUTPUT_DIR logs/bot_A_eval
"""
import reid_plugins  # noqa: F401  (compat patches + dataset/evaluator registration)
from reid_plugins.engine import PluginTrainer, run_cli, train_or_evaluate


def main(args):
    # --eval-only: the weights come from MODEL.WEIGHTS, so the ImageNet backbone weights are not loaded first
    return train_or_evaluate(args, PluginTrainer, eval_only_opts=("MODEL.BACKBONE.PRETRAIN", False))


if __name__ == "__main__":
    run_cli(main, __doc__)
