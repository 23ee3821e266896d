#!/usr/bin/env python
"""BDAM text-to-image Re-ID training / evaluation.

    python projects/BDAM_T2I/train_net.py --config-file configs/BDAM_T2I/Synth-T2I.yml [--eval-only] [--resume]
        [KEY VALUE ...]
"""
import reid_plugins  # noqa: F401  (compat patches before fastreid; the project packages importable)
from reid_plugins.engine import run_cli, train_or_evaluate

from bdam import BDAMTrainer, add_bdam_config  # projects/BDAM_T2I/bdam


def main(args):
    return train_or_evaluate(args, BDAMTrainer, (add_bdam_config,))


if __name__ == "__main__":
    run_cli(main, __doc__)
