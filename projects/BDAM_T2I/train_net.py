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
from reid_plugins.engine import run_cli, train_or_evaluate  # noqa: E402

from bdam import BDAMTrainer, add_bdam_config  # noqa: E402


def main(args):
    return train_or_evaluate(args, BDAMTrainer, (add_bdam_config,))


if __name__ == "__main__":
    run_cli(main, __doc__)
