"""The README's commands and layouts are the ones the code reads (its first two lines are scripts/*.sh, run by CI)."""
import os
import re
import shlex

import reid_plugins  # noqa: F401
from reid_plugins.config import build_cfg
from reid_plugins.engine.trainer import check_backbone_weights

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md")).read()


def commands(script: str):
    """The README's shell commands that run `script`, with backslash continuations joined."""
    text = README.replace("\\\n", " ")
    return [shlex.split(line.split("#")[0]) for line in text.splitlines()
            if line.startswith(f".venv/bin/python {script}")]


def test_the_fast_reid_commands_need_no_download():
    cmds = commands("tools/train_net.py")
    assert cmds
    for cmd in cmds:
        config = cmd[cmd.index("--config-file") + 1]
        opts = [a for a in cmd[cmd.index("--config-file") + 2:] if not a.startswith("--")]
        cfg = build_cfg(os.path.join(ROOT, config), opts)
        if "--eval-only" in cmd:
            continue  # tools/train_net.py switches PRETRAIN off for --eval-only
        check_backbone_weights(cfg)  # raises when fast-reid would download ImageNet weights


def test_real_dataset_folders_are_the_ones_the_loaders_read():
    section = README[README.index("### Real datasets"):README.index("### Multi-process")]
    for folder in ("Market-1501-v15.09.15/", "DukeMTMC-reID/", "MSMT17_V1/", "MSMT17/", "cuhk03-np/"):
        assert folder in section, folder
    assert not re.search(r"`market1501/`", section)  # fast-reid never reads a folder of that name
    assert "MSMT17Market" in section and "CUHK03NPDetected" in section  # the protocols' variants, stated
