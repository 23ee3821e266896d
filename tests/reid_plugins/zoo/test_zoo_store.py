"""reid_plugins.zoo build / verify / list and "zoo:<name>" in configs, on a zoo built from the tiny SynthPed-W with
a few steps per entry (REID_ZOO_DIR points at a temporary folder): files and records, sha256 checks with errors that
name the file, the expected sha256 and the rebuild command, replay of the first steps, architecture checks."""
import json
import os
import subprocess
import sys

import pytest
import torch

from reid_plugins.zoo import ENTRIES, ZooError, build, entry_path, resolve_config, verify
from reid_plugins.zoo.builder import listing
from reid_plugins.zoo.store import read_manifest, sha256_file

TINY = {"steps": 3, "batch": 8, "warmup": 1}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory):
    """Every entry built for 3 steps from the tiny SynthPed-W into a temporary zoo dir."""
    root = str(tmp_path_factory.mktemp("web"))
    zoo = str(tmp_path_factory.mktemp("zoo"))
    old = os.environ.get("REID_ZOO_DIR")
    os.environ["REID_ZOO_DIR"] = zoo
    threads = torch.get_num_threads()
    try:
        status = build(root=root, preset="tiny", progress=False, work_root=str(tmp_path_factory.mktemp("work")),
                       recipe_overrides=TINY)
    finally:
        torch.set_num_threads(threads)
        if old is None:
            os.environ.pop("REID_ZOO_DIR", None)
        else:
            os.environ["REID_ZOO_DIR"] = old
    return {"root": root, "zoo": zoo, "status": status}


@pytest.fixture
def zoo_env(tiny_zoo, monkeypatch):
    monkeypatch.setenv("REID_ZOO_DIR", tiny_zoo["zoo"])
    return tiny_zoo


def test_build_writes_files_and_records(zoo_env):
    assert zoo_env["status"] == {name: "built" for name in ENTRIES}
    records = read_manifest()
    for name, entry in ENTRIES.items():
        r = records[name]
        assert r["steps"] == 3 and len(r["first_losses"]) == 3 and r["recipe"]["batch"] == 8
        for f in entry.files:
            assert r["sha256"][f] == sha256_file(os.path.join(zoo_env["zoo"], name, f))
        assert r["stands_for"] == entry.stands_for and "SynthPed-W" in r["data"] and r["wall_s"] > 0
        assert "W held-out" in r["sanity"]
    assert set(records["clip-tiny-w"]["sanity"]["W held-out"]) == {"t2i_R1", "t2i_mAP", "mAP", "Rank-1"}
    assert set(records["osnet-x0_25-w"]["sanity"]["W held-out"]) == {"mAP", "Rank-1", "attr_acc"}
    clip = os.path.join(zoo_env["zoo"], "clip-tiny-w", "model.safetensors")
    from safetensors.torch import load_file

    assert all(t.dtype == torch.float16 for t in load_file(clip).values())   # stored as OpenAI releases CLIP
    assert not [f for _, _, fs in os.walk(zoo_env["zoo"]) for f in fs if ".tmp" in f]


def test_verify_replays_the_first_steps(zoo_env):
    result = verify(root=zoo_env["root"], preset="tiny", progress=False, recipe_overrides=TINY)
    assert all(r["ok"] and r["replayed_steps"] == 3 and r["max_rel_diff"] <= 1e-6 for r in result.values()), result


def test_list_json_fields(zoo_env):
    out = subprocess.run([sys.executable, "-m", "reid_plugins.zoo", "list", "--json"], capture_output=True, text=True,
                         env={**os.environ, "REID_ZOO_DIR": zoo_env["zoo"]}, cwd=REPO)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["name"] for r in rows] == list(ENTRIES)
    for r in rows:
        assert {"name", "stands_for", "path", "sha256", "present"} <= set(r) and r["present"] is True
        assert r["path"].startswith(zoo_env["zoo"])
    assert listing() == rows


@pytest.mark.parametrize("damage", ["truncate", "alter", "delete"])
def test_damaged_checkpoint_is_named_with_sha_and_rebuild_command(zoo_env, damage, tmp_path, monkeypatch):
    import shutil

    copy = str(tmp_path / "zoo")
    shutil.copytree(zoo_env["zoo"], copy)
    monkeypatch.setenv("REID_ZOO_DIR", copy)
    path = os.path.join(copy, "osnet-x0_25-w", "model.pth")
    expected = read_manifest()["osnet-x0_25-w"]["sha256"]["model.pth"]
    if damage == "truncate":
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
    elif damage == "alter":
        with open(path, "r+b") as f:
            f.seek(200)
            f.write(b"\x00\x01\x02\x03")
    else:
        os.remove(path)
    from reid_plugins.zoo import get_entry
    from reid_plugins.zoo.builder import with_recipe
    from reid_plugins.zoo.store import check_files

    with pytest.raises(ZooError) as e:
        check_files(with_recipe(get_entry("osnet-x0_25-w"), TINY))
    msg = str(e.value)
    assert path in msg and expected in msg and "python -m reid_plugins.zoo build --only osnet-x0_25-w" in msg
    result = verify(["osnet-x0_25-w"], root=zoo_env["root"], replay=False, recipe_overrides=TINY)
    assert not result["osnet-x0_25-w"]["ok"] and expected in result["osnet-x0_25-w"]["problems"][0]


def test_recipe_changed_since_build_is_stale(zoo_env):
    # the registry's recipes (1000+ steps) are not what the tiny zoo was built with
    with pytest.raises(ZooError, match="was built with another recipe.*build --only clip-tiny-w"):
        entry_path("clip-tiny-w")


def _cfg(config, *opts):
    from reid_plugins.config import build_cfg

    sys.path.insert(0, os.path.join(REPO, "projects", "MUVA"))
    from muva import add_muva_config

    return build_cfg(os.path.join(REPO, config), list(opts), (add_muva_config,) if "MUVA" in config else ())


def test_config_value_resolves_to_the_shipped_checkpoint():
    """The committed zoo: every entry's files match their records, and zoo:<name> in a config becomes that path."""
    cfg = _cfg("configs/Synth/bagtricks_A.yml")
    assert cfg.MODEL.BACKBONE.PRETRAIN_PATH == entry_path("osnet-x0_25-w")
    assert os.path.isfile(cfg.MODEL.BACKBONE.PRETRAIN_PATH)
    cfg = _cfg("configs/MUVA/Synth/MUVA_tiny_A.yml")
    assert cfg.MODEL.BACKBONE.PRETRAIN_PATH.endswith(os.path.join("clip-tiny-w", "model.safetensors"))
    scratch = _cfg("configs/Synth/bagtricks_A_scratch.yml")
    assert not scratch.MODEL.BACKBONE.PRETRAIN and scratch.MODEL.BACKBONE.PRETRAIN_PATH == ""


def test_checkpoint_of_another_architecture_is_refused():
    from fastreid.config import get_cfg

    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = "build_resnet_backbone"
    cfg.MODEL.BACKBONE.DEPTH = "18x"
    cfg.MODEL.BACKBONE.PRETRAIN = True
    cfg.MODEL.BACKBONE.PRETRAIN_PATH = "zoo:osnet-x0_25-w"
    with pytest.raises(ZooError, match="another architecture.*MODEL.BACKBONE.NAME='build_resnet_backbone'.*"
                                       "build_osnet_backbone"):
        resolve_config(cfg)
    cfg.MODEL.BACKBONE.PRETRAIN_PATH = "zoo:no-such-model"
    with pytest.raises(ZooError, match="no zoo entry 'no-such-model'"):
        resolve_config(cfg)
    cfg.MODEL.BACKBONE.PRETRAIN = False     # not loaded: left as it is
    assert resolve_config(cfg) == {} and cfg.MODEL.BACKBONE.PRETRAIN_PATH == "zoo:no-such-model"
