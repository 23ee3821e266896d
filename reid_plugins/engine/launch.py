"""Entry-point helpers shared by tools/train_net.py and the projects' train_net.py."""
from __future__ import annotations

from fastreid.engine import default_argument_parser as _fastreid_parser
from fastreid.engine import launch


def default_argument_parser():
    """fast-reid's parser (--config-file, --resume, --eval-only, --num-gpus, --num-machines, --machine-rank,
    --dist-url, KEY VALUE opts). On CPU, --num-gpus N starts N gloo processes (reid_plugins.compat)."""
    return _fastreid_parser()


def launch_main(main, args):
    """fast-reid's launch() with the arguments of the parser above."""
    return launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
                  dist_url=args.dist_url, args=(args,))
