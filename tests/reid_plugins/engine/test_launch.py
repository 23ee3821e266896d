"""The shared entry-point code of every train_net.py: --eval-only without weights, Ctrl-C, flags after options."""
import importlib.util
import os
import sys

import pytest

import reid_plugins  # noqa: F401
from reid_plugins.config import ConfigError, build_cfg
from reid_plugins.engine import default_argument_parser, run_cli
from reid_plugins.engine.guards import EVAL_ONLY_NEEDS_WEIGHTS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ENTRIES = {  # entry script -> a config it runs
    "tools/train_net.py": "configs/Synth/bagtricks_A.yml",
    "projects/MUVA/train_net.py": "configs/MUVA/Synth/MUVA_tiny_A.yml",
    "projects/BDAM_T2I/train_net.py": "configs/BDAM_T2I/Synth-T2I.yml",
}


def entry_module(rel):
    spec = importlib.util.spec_from_file_location("entry_" + rel.replace("/", "_")[:-3], os.path.join(ROOT, rel))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: defines main() only
    return module


@pytest.mark.parametrize("entry", ENTRIES)
def test_eval_only_without_weights_is_refused_with_one_message(tmp_path, entry):
    import torch

    main = entry_module(entry).main
    out = tmp_path / "eval"
    args = default_argument_parser().parse_args(["--config-file", os.path.join(ROOT, ENTRIES[entry]), "--eval-only",
                                                 "DATASETS.ROOT", str(tmp_path / "data"), "OUTPUT_DIR", str(out),
                                                 "SOLVER.NUM_THREADS", "1"])
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(ValueError) as e:
            main(args)
        assert torch.get_num_threads() == 1  # every entry point applies SOLVER.NUM_THREADS before anything else
    finally:
        torch.set_num_threads(threads)
    assert str(e.value) == EVAL_ONLY_NEEDS_WEIGHTS
    assert not (out / "results.json").exists()
    args.opts += ["MODEL.WEIGHTS", str(tmp_path / "missing.pth")]
    with pytest.raises(FileNotFoundError, match=r"MODEL.WEIGHTS '.*missing.pth' does not exist; --eval-only needs"):
        main(args)


def test_ctrl_c_prints_one_line_and_exits_130(monkeypatch, capsys):
    def main(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(sys, "argv", ["train_net.py", "--config-file", "x.yml"])
    with pytest.raises(SystemExit) as e:
        run_cli(main)
    assert e.value.code == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["interrupted; rerun the same command with --resume (before the KEY VALUE "
                                        "options) to continue from the last checkpoint in OUTPUT_DIR"]
    assert "Traceback" not in err


def test_help_shows_the_entry_points_examples(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["train_net.py", "--help"])
    with pytest.raises(SystemExit):
        run_cli(lambda args: None, entry_module("tools/train_net.py").__doc__)
    shown = capsys.readouterr().out
    assert "fastreid Training" not in shown
    assert "--eval-only \\\n        MODEL.WEIGHTS logs/bot_A/model_final.pth" in shown  # kept as written


def test_a_flag_after_the_options_says_flags_come_first():
    with pytest.raises(ConfigError, match=r"option '--resume' comes after the KEY VALUE options; flags .* must come "
                                          r"before them"):
        build_cfg(opts=["SOLVER.MAX_EPOCH", "4", "--resume"])
