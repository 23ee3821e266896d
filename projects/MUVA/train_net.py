#!/usr/bin/env python
"""MUVA training (two stages) and evaluation.

    python projects/MUVA/train_net.py --config-file configs/MUVA/MA_to_MS.yml [--eval-only] [--resume] [KEY VALUE ...]
"""
import reid_plugins  # noqa: F401  (compat patches before fastreid; the project packages importable)
from reid_plugins.engine import run_cli, train_or_evaluate

from muva import MUVATrainer, add_muva_config  # projects/MUVA/muva


def main(args):
    return train_or_evaluate(args, MUVATrainer, (add_muva_config,))


if __name__ == "__main__":
    run_cli(main, __doc__)
