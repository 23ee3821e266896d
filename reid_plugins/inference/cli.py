"""What the extract / search / export CLIs share: fast-reid's --config-file + KEY VALUE options (MODEL.WEIGHTS among
them), and bad input reported as one line naming the problem (exit status 2) instead of a traceback.

Light on purpose (argparse only): the CLIs import torch, fast-reid and the models after parsing, so --help is
immediate."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, List, Optional, Sequence, Tuple


def add_model_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--config-file", required=required, default="", metavar="FILE",
                        help="the model's config (the one it was trained with)")
    parser.add_argument("opts", nargs="*", metavar="KEY VALUE",
                        help="config overrides as in fast-reid; MODEL.WEIGHTS path/to/model_final.pth names the "
                             "trained weights")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")


def split_weights(opts: Sequence[str], required: bool = True) -> Tuple[str, List[str]]:
    """KEY VALUE options -> (MODEL.WEIGHTS value, the other options)."""
    opts = list(opts)
    if len(opts) % 2:
        raise ValueError(f"config options must be KEY VALUE pairs; got {len(opts)} items: {opts}")
    weights, rest = "", []
    for key, value in zip(opts[::2], opts[1::2]):
        if key == "MODEL.WEIGHTS":
            weights = value
        else:
            rest += [key, value]
    if required and not weights:
        raise ValueError("no trained weights: add MODEL.WEIGHTS path/to/model_final.pth")
    return weights, rest


def bad_input_errors() -> tuple:
    """The exceptions that mean bad input (a file, a key, a value), reported without a traceback."""
    from reid_plugins.engine.checkpoint import CheckpointMismatchError

    return (ValueError, KeyError, OSError, CheckpointMismatchError)


def run(main: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None) -> int:
    import warnings

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("reid_plugins").setLevel(logging.INFO)
    # fast-reid's ToTensor uses torch.ByteStorage, deprecated in torch 2: one warning per process, about fast-reid
    warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001  (re-raised unless it is bad input)
        if isinstance(e, bad_input_errors()):
            message = e.args[0] if isinstance(e, KeyError) and e.args else e
            print(f"error: {message}", file=sys.stderr)
            return 2
        raise


def set_threads(threads: int) -> None:
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
