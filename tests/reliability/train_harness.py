"""Runs a project's train_net.py unchanged, in this process, as `python train_net.py ARGS...` would.

    python tests/reliability/train_harness.py projects/MUVA/train_net.py --config-file ... [--resume] [KEY VALUE ...]

The tiny runs take seconds, so a test that polled the output directory and then sent a signal would race them. The
harness lets a test pick the point instead: the process stops itself (SIGSTOP) there and the test kills it by signal.

    REL_STOP_AFTER=<checkpoint name>   right after that checkpoint ("model_stage1", "model_0000") has been written
    REL_STOP_AT_LOG=<text>             when fast-reid's logger (or a child such as fastreid.muva.trainer) logs a
                                       message containing <text>, e.g. "Stage 1 epoch 1/" (mid stage 1)

Nothing else about the run changes: the stops draw no random number and the checkpoint stop comes after the atomic
write.
"""
import logging
import os
import runpy
import signal
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STOP_ENV = "REL_STOP_AFTER"
STOP_LOG_ENV = "REL_STOP_AT_LOG"


def _install_stop(target: str) -> None:
    from reid_plugins.engine.checkpoint import PluginCheckpointer

    save = PluginCheckpointer.save

    def save_then_stop(self, name, **kwargs):
        save(self, name, **kwargs)
        if name == target:
            os.kill(os.getpid(), signal.SIGSTOP)  # the test sends SIGKILL / SIGTERM now

    PluginCheckpointer.save = save_then_stop


class _StopAtLog(logging.Handler):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def emit(self, record):
        if self.text in record.getMessage():
            os.kill(os.getpid(), signal.SIGSTOP)


def main() -> None:
    script = os.path.abspath(sys.argv[1])
    sys.path.insert(0, REPO)
    import reid_plugins  # noqa: F401  (compat patches before fastreid, as train_net.py does)

    if os.environ.get(STOP_ENV):
        _install_stop(os.environ[STOP_ENV])
    if os.environ.get(STOP_LOG_ENV):
        # fast-reid's setup_logger makes "fastreid" a non-propagating logger; its children's records reach it
        logging.getLogger("fastreid").addHandler(_StopAtLog(os.environ[STOP_LOG_ENV]))
    sys.argv = [script] + sys.argv[2:]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
