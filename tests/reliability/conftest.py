"""Session fixtures of the reliability suite: the tiny synthetic benchmark and one uninterrupted tiny MUVA run that
the resume, DDP and determinism tests compare against."""
import pytest

from reid_plugins.data.synthetic import ensure_generated
from reliability_runs import MUVA_CONFIG, MUVA_NET, Launch, muva_opts


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synth"))
    ensure_generated(root, preset="tiny", seed=0, workers=1, progress=False, preview=False)
    return root


@pytest.fixture(scope="session")
def muva_reference(synth_root, tmp_path_factory):
    """Output dir of an uninterrupted single-process run of the tiny MUVA config."""
    out = str(tmp_path_factory.mktemp("muva_reference") / "run")
    Launch(MUVA_NET, MUVA_CONFIG, muva_opts(synth_root), out, harness=False).wait()
    return out
