"""Launching the projects' train_net.py as real processes for the reliability tests: tiny settings, stop points,
signals, and comparisons of finished runs."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARNESS = os.path.join(REPO, "tests", "reliability", "train_harness.py")
MUVA_NET = os.path.join(REPO, "projects", "MUVA", "train_net.py")
MUVA_CONFIG = os.path.join(REPO, "configs", "MUVA", "Synth", "MUVA_tiny_A.yml")
BDAM_NET = os.path.join(REPO, "projects", "BDAM_T2I", "train_net.py")
BDAM_CONFIG = os.path.join(REPO, "configs", "BDAM_T2I", "Synth-T2I.yml")
RUN_TIMEOUT = 420  # seconds for one launch; the tiny runs take 10-60 s on the shared 2-core machine


def muva_opts(root: str) -> List[str]:
    """The tiny MUVA config at a few seconds per run: fixed seed, no worker processes (workers draw their own seeds
    on every restart), 2 stage-1 epochs (so that a run can be stopped inside stage 1), 2 stage-2 epochs with a
    checkpoint after each, one evaluation on SynthPedA."""
    return ["DATASETS.ROOT", root, "DATASETS.TESTS", '("SynthPedA",)', "SEED", "3",
            "SOLVER.IMS_PER_BATCH", "8", "DATALOADER.NUM_INSTANCE", "4", "DATALOADER.NUM_WORKERS", "0",
            "SOLVER.MAX_EPOCH", "2", "SOLVER.STEPS", "[1]", "SOLVER.CHECKPOINT_PERIOD", "1",
            "TEST.EVAL_PERIOD", "2", "TEST.NUM_WORKERS", "0", "TEST.IMS_PER_BATCH", "32",
            "MODEL.MUVA.STAGE1.MAX_EPOCH", "2", "MODEL.MUVA.STAGE1.IMS_PER_BATCH", "8", "MODEL.MUVA.FEATURE_BATCH", "64",
            "TEST.VIS.ENABLED", "False"]


def bdam_opts(root: str) -> List[str]:
    """The embedded BDAM config (SynthPedT2IA) on the tiny preset: 128x64 images, 2 epochs with a checkpoint after
    each, one evaluation. Batches of 8: the 6 training identities left after the validation hold-out have 44 captions,
    and with 2 steps of 16 per epoch fast-reid's writer fails (its IterationTimer records no time in the first 3
    steps)."""
    return ["DATASETS.ROOT", root, "SEED", "3", "SOLVER.IMS_PER_BATCH", "8", "DATALOADER.NUM_WORKERS", "0",
            "TEST.NUM_WORKERS", "0", "SOLVER.MAX_EPOCH", "2", "SOLVER.CHECKPOINT_PERIOD", "1", "TEST.EVAL_PERIOD", "2",
            "TEST.IMS_PER_BATCH", "64", "TEST.VIS.ENABLED", "False", "INPUT.SIZE_TRAIN", "[128, 64]",
            "INPUT.SIZE_TEST", "[128, 64]"]


class Launch:
    """One `python <train_net.py> ...` process; stdout and stderr go to <out>.launch<N>.log beside the output dir."""

    def __init__(self, net: str, config: str, opts: Sequence[str], out: str, resume: bool = False,
                 stop_after: Optional[str] = None, stop_at_log: Optional[str] = None, args: Sequence[str] = (),
                 env: Optional[Dict[str, str]] = None, harness: bool = True):
        n = 1
        while os.path.exists(f"{out}.launch{n}.log"):
            n += 1
        self.log_path = f"{out}.launch{n}.log"
        cmd = [sys.executable] + ([HARNESS] if harness else []) + [net, "--config-file", config, *args]
        cmd += (["--resume"] if resume else []) + list(opts) + ["OUTPUT_DIR", out]
        run_env = dict(os.environ, PYTHONPATH=REPO, PYTHONHASHSEED="1")
        run_env.update(env or {})
        run_env.pop("REL_STOP_AFTER", None)
        run_env.pop("REL_STOP_AT_LOG", None)
        if stop_after:
            run_env["REL_STOP_AFTER"] = stop_after
        if stop_at_log:
            run_env["REL_STOP_AT_LOG"] = stop_at_log
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=run_env, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        with open(self.log_path) as f:
            return f.read()

    def fail(self, what: str):
        raise AssertionError(f"{what} (exit {self.proc.returncode}); log {self.log_path}:\n{self.log()[-4000:]}")

    def wait_stopped(self, timeout: float = RUN_TIMEOUT) -> None:
        """Until the harness has stopped the process at its stop point."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail("the run ended before its stop point")
            with open(f"/proc/{self.proc.pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state == "T":
                return
            time.sleep(0.1)
        self.kill(signal.SIGKILL)
        self.fail(f"not stopped after {timeout} s")

    def kill(self, sig: int) -> int:
        os.kill(self.proc.pid, sig)
        if sig != signal.SIGKILL:
            os.kill(self.proc.pid, signal.SIGCONT)  # a stopped process acts on SIGTERM once continued
        rc = self.proc.wait(timeout=60)
        self._log.close()
        return rc

    def wait(self, timeout: float = RUN_TIMEOUT) -> "Launch":
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.fail(f"still running after {timeout} s")
        self._log.close()
        if self.proc.returncode != 0:
            self.fail("the run failed")
        return self


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def results(out: str) -> dict:
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f)


def checkpoints(out: str) -> List[str]:
    return sorted(n for n in os.listdir(out) if n.endswith(".pth")) if os.path.isdir(out) else []


def last_checkpoint(out: str) -> str:
    with open(os.path.join(out, "last_checkpoint")) as f:
        return f.read().strip()


def state(path: str) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_weights(dir_a: str, dir_b: str, name: str = "model_final.pth") -> None:
    a, b = state(os.path.join(dir_a, name))["model"], state(os.path.join(dir_b, name))["model"]
    assert sorted(a) == sorted(b)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ between {dir_a} and {dir_b}, e.g. {different[:5]}"
