"""Entry-point helpers shared by tools/train_net.py and the projects' train_net.py."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from fastreid.engine import default_argument_parser as _fastreid_parser
from fastreid.engine import launch

from .guards import check_eval_weights

INTERRUPTED = "interrupted; rerun the same command with --resume (before the KEY VALUE options) to continue from " \
              "the last checkpoint in OUTPUT_DIR"


def default_argument_parser():
    """fast-reid's parser (--config-file, --resume, --eval-only, --num-gpus, --num-machines, --machine-rank,
    --dist-url, KEY VALUE opts). On CPU, --num-gpus N starts N gloo processes (reid_plugins.compat)."""
    return _fastreid_parser()


def launch_main(main, args):
    """fast-reid's launch() with the arguments of the parser above."""
    return launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
                  dist_url=args.dist_url, args=(args,))


def train_or_evaluate(args, trainer_cls, add_config_fns=(), eval_only_opts: Sequence[str] = ()):
    """The body of every train_net.py: build the config, set torch's CPU threads from SOLVER.NUM_THREADS (0 keeps
    torch's default), then evaluate ``MODEL.WEIGHTS`` (``--eval-only``, with ``eval_only_opts``
    merged; refused without MODEL.WEIGHTS) or train, resuming from the last checkpoint with ``--resume``. The test
    sets are checked before either."""
    import torch

    from reid_plugins.config import setup_cfg

    cfg = setup_cfg(args, add_config_fns)
    if cfg.SOLVER.NUM_THREADS > 0:
        torch.set_num_threads(cfg.SOLVER.NUM_THREADS)
    if args.eval_only:
        check_eval_weights(cfg.MODEL.WEIGHTS)
        trainer_cls.check_test_sets(cfg)
        if eval_only_opts:
            cfg.defrost()
            cfg.merge_from_list(list(eval_only_opts))
            cfg.freeze()
        return trainer_cls.test(cfg, trainer_cls.load_for_eval(cfg))
    trainer = trainer_cls(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def run_cli(main, description: str = "") -> None:
    """``if __name__ == "__main__"`` of every train_net.py: parse fast-reid's CLI and launch ``main(args)`` in every
    process (``main`` must be a module-level function so that spawned processes can import it). ``description``
    (the script's docstring, with an example) is what ``--help`` shows. Ctrl-C ends with one line and exit code
    130: the checkpoints written so far are intact, and ``--resume`` continues."""
    parser = default_argument_parser()
    if description:
        parser.description = description
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
    args = parser.parse_args()
    print("Command Line Args:", args)
    try:
        launch_main(main, args)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr, flush=True)
        sys.exit(130)
