"""A training child's progress, from its log, as one short line per method in the parent's terminal.

:func:`reid_plugins.experiments.runner.run_child` (behind tools/compare.py, tools/run_embedded.py and
tools/ablate.py) writes each child's whole log to <output>/<method>/compare_run.log and feeds every line here. What
is recognised:

- fast-reid's config dump (`SOLVER.MAX_EPOCH`) and its metric printer (`eta: ...  epoch/iter: E/I  total_loss: L`),
  which every train_net.py here uses for the main training loop;
- MUVA's stage-1 lines (`Stage 1 epoch e/E: L_cmp ...`);
- tqdm bars (`desc:  40%|####  | 2/5 [00:01<00:02, ...]`: MUVA's feature passes, BDAM's text cache, ...);
- fast-reid's evaluation (`Start inference on N images`).

Hand-written: the child is another process, and its only interface is its log.
"""
from __future__ import annotations

import re
import sys
import time
from typing import Optional, TextIO

_METRICS = re.compile(r"(?:eta: (?P<eta>\S+)\s+)?epoch/iter: (?P<epoch>\d+)/(?P<iter>\d+)")
_TOTAL_LOSS = re.compile(r"total_loss: (?P<loss>\S+)")
_STAGE1 = re.compile(r"Stage 1 epoch (?P<epoch>\d+)/(?P<epochs>\d+): (?P<loss_name>\w+) (?P<loss>[-\d.eE+naif]+)")
_TQDM = re.compile(r"(?P<desc>[A-Za-z][^:|\[\]]{0,60}):\s+\d+%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+) "
                   r"\[[\d:]+<(?P<eta>[\d:?]+)")
_INFERENCE = re.compile(r"Start inference on (?P<n>\d+) (?:images|batches)")
_SECTION = re.compile(r"^(?P<name>[A-Z][A-Z0-9_]*):\s*$")
_MAX_EPOCH = re.compile(r"^  MAX_EPOCH: (?P<n>\d+)\s*$")


class ProgressParser:
    """Reads a child's log line by line; `status` is the last thing worth showing, `phase` what kind it is
    (training / stage 1 / evaluating / the tqdm description)."""

    def __init__(self):
        self.status = ""
        self.phase = ""
        self.epoch: Optional[int] = None
        self.max_epoch: Optional[int] = None
        self._section = ""

    def feed(self, line: str) -> bool:
        """True when the status changed."""
        before = self.status
        section = _SECTION.match(line)
        if section:
            self._section = section.group("name")
        elif self._section == "SOLVER" and _MAX_EPOCH.match(line):
            self.max_epoch = int(_MAX_EPOCH.match(line).group("n"))
        metrics, stage1, tqdm_bar, inference = (p.search(line) for p in (_METRICS, _STAGE1, _TQDM, _INFERENCE))
        if metrics:
            self.phase, self.epoch = "training", int(metrics.group("epoch")) + 1  # fast-reid counts epochs from 0
            total = f"/{self.max_epoch}" if self.max_epoch else ""
            loss = _TOTAL_LOSS.search(line)
            self.status = "  ".join(x for x in (
                f"epoch {self.epoch}{total}", f"iter {metrics.group('iter')}",
                f"eta {metrics.group('eta')}" if metrics.group("eta") else "",
                f"total_loss {loss.group('loss')}" if loss else "") if x)
        elif stage1:
            self.phase, self.epoch = "stage 1", int(stage1.group("epoch"))
            self.status = (f"stage 1 epoch {stage1.group('epoch')}/{stage1.group('epochs')}  "
                           f"{stage1.group('loss_name')} {stage1.group('loss')}")
        elif inference:
            self.phase, self.status = "evaluating", f"evaluating ({inference.group('n')} images)"
        elif tqdm_bar and self.phase != "evaluating":
            self.phase = tqdm_bar.group("desc").strip()
            self.status = f"{self.phase} {tqdm_bar.group('n')}/{tqdm_bar.group('total')}  eta {tqdm_bar.group('eta')}"
        return self.status != before


class ProgressPrinter:
    """Shows one method's status: rewritten in place on a terminal, else a new line when the phase or the epoch
    changes, at most every `interval` seconds (phase changes always)."""

    def __init__(self, name: str, stream: Optional[TextIO] = None, interval: Optional[float] = None):
        self.name, self.stream = name, stream or sys.stdout
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.interval = (0.5 if self.tty else 20.0) if interval is None else float(interval)
        self.parser = ProgressParser()
        self._shown = ("", None)
        self._printed: set = set()  # e.g. fast-reid's printer repeats the last epoch's line after evaluating
        self._last = float("-inf")
        self._width = 0

    def feed(self, line: str) -> None:
        if not self.parser.feed(line):
            return
        p = self.parser
        key = (p.phase, p.epoch)
        now = time.monotonic()
        if self.tty:
            if now - self._last >= self.interval:
                self._write(f"\r{self._line()}", now)
        elif key != self._shown and (p.phase != self._shown[0] or now - self._last >= self.interval) \
                and self._line() not in self._printed:
            self._write(self._line() + "\n", now)
            self._shown = key
            self._printed.add(self._line())

    def close(self) -> None:
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()

    def _line(self) -> str:
        return f"[{self.name}] {self.parser.status}"

    def _write(self, text: str, now: float) -> None:
        if self.tty:
            shown = text.lstrip("\r")
            text = text + " " * max(0, self._width - len(shown))
            self._width = len(shown)
        self.stream.write(text)
        self.stream.flush()
        self._last = now
