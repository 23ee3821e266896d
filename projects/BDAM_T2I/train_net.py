#!/usr/bin/env python
"""BDAM text-to-image Re-ID training / evaluation.

    python projects/BDAM_T2I/train_net.py --config-file configs/BDAM_T2I/Synth-T2I.yml [--eval-only] [--resume]
        [KEY VALUE ...]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import reid_plugins  # noqa: E402,F401  (compat patches before fastreid)
import torch  # noqa: E402
from reid_plugins.config import setup_cfg  # noqa: E402
from reid_plugins.engine import default_argument_parser, launch_main  # noqa: E402

from bdam import BDAMTrainer, add_bdam_config  # noqa: E402


def main(args):
    cfg = setup_cfg(args, (add_bdam_config,))
    if cfg.SOLVER.NUM_THREADS > 0:
        torch.set_num_threads(cfg.SOLVER.NUM_THREADS)
    if args.eval_only:
        return BDAMTrainer.test(cfg, BDAMTrainer.load_for_eval(cfg))
    trainer = BDAMTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    print("Command Line Args:", args)
    launch_main(main, args)
