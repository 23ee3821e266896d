#!/usr/bin/env python
"""fast-reid's plain trainer (BoT / AGW / SBS baselines) with this project's datasets, evaluators and CPU fixes.

    python tools/train_net.py --config-file configs/Synth/bagtricks_R18_A.yml [--eval-only] [--resume] [KEY VALUE ...]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import reid_plugins  # noqa: E402,F401  (compat patches + dataset/evaluator registration)
from reid_plugins.config import setup_cfg  # noqa: E402
from reid_plugins.engine import PluginTrainer, default_argument_parser, launch_main  # noqa: E402


def main(args):
    cfg = setup_cfg(args)
    if args.eval_only:
        cfg.defrost()
        cfg.MODEL.BACKBONE.PRETRAIN = False
        return PluginTrainer.test(cfg, PluginTrainer.load_for_eval(cfg))
    trainer = PluginTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    print("Command Line Args:", args)
    launch_main(main, args)
