#!/usr/bin/env python
"""MUVA training (two stages) and evaluation.

    python projects/MUVA/train_net.py --config-file configs/MUVA/MA_to_MS.yml [--eval-only] [--resume] [KEY VALUE ...]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import reid_plugins  # noqa: E402,F401  (compat patches before fastreid)
from reid_plugins.engine import run_cli, train_or_evaluate  # noqa: E402

from muva import MUVATrainer, add_muva_config  # noqa: E402


def main(args):
    return train_or_evaluate(args, MUVATrainer, (add_muva_config,))


if __name__ == "__main__":
    run_cli(main, __doc__)
