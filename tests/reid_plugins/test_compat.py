"""Each compat patch is needed (the failure it names comes back when it is disabled) and works (behaviour is right
with it). Disabled runs happen in a subprocess with REID_PLUGINS_COMPAT_DISABLE=<name>."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import reid_plugins
from reid_plugins import compat

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_python(code: str, disable: str = "", timeout: int = 180, env=None) -> subprocess.CompletedProcess:
    env = dict(os.environ if env is None else env, REID_PLUGINS_COMPAT_DISABLE=disable, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_every_patch_applies_on_this_cpu_machine():
    reid_plugins.setup()  # what the first fast-reid import does (nothing here may have imported fast-reid yet)
    assert set(compat.APPLIED) == set(compat.PATCHES), "a patch reported it had nothing to fix on a CPU machine"
    for patch in compat.PATCHES.values():
        assert patch.fixes, f"patch {patch.name} does not say what it fixes"


def test_unknown_patch_name_is_rejected():
    res = run_python("import reid_plugins", disable="no_such_patch")
    assert res.returncode != 0
    assert "no_such_patch" in res.stderr and "known:" in res.stderr


@pytest.mark.parametrize("name, expected_error", [
    ("collections_abc", "cannot import name 'Mapping' from 'collections'"),
    ("torch_six", "No module named 'torch._six'"),
    ("torchvision_ops", "operator torchvision::nms does not exist"),
])
def test_import_time_patch_is_needed(name, expected_error):
    res = run_python("import reid_plugins\nfrom fastreid.engine import DefaultTrainer\nimport open_clip", disable=name)
    assert res.returncode != 0, f"disabling {name} did not break the import"
    assert expected_error in res.stderr


def test_imports_work_with_all_patches():
    res = run_python("import reid_plugins\nfrom fastreid.engine import DefaultTrainer\nimport open_clip, torchvision\n"
                     "from torchvision import transforms\nprint('ok')")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("ok")


def test_cpu_dataloader_needed_and_works():
    code = """
        import reid_plugins
        from fastreid.data.data_utils import DataLoaderX
        loader = DataLoaderX(0, dataset=list(range(4)), batch_size=2, pin_memory=True)
        print([b.tolist() for b in loader], loader.pin_memory)
    """
    broken = run_python(code, disable="cpu_dataloader")
    assert broken.returncode != 0 and "CUDA" in broken.stderr
    ok = run_python(code)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "[[0, 1], [2, 3]] False"


def test_cython_ranker_missing_no_longer_exits():
    # Simulate a machine without the compiled ranker and without a working `make`.
    code = """
        import sys, subprocess
        import reid_plugins
        sys.modules["fastreid.evaluation.rank_cylib.rank_cy"] = None   # import now raises ImportError
        subprocess.run = lambda *a, **k: subprocess.CompletedProcess(a, 2)  # `make` fails
        from fastreid.config import get_cfg
        from fastreid.evaluation import ReidEvaluator
        ReidEvaluator(get_cfg(), num_query=1)
        print("constructed")
    """
    broken = run_python(code, disable="cython_rank_no_exit")
    assert broken.returncode == 1 and "Making cython reid evaluation module failed" in broken.stdout
    ok = run_python(code)
    assert ok.returncode == 0, ok.stderr
    assert "constructed" in ok.stdout


def _rerank_inputs():
    g = torch.Generator().manual_seed(0)
    feats = torch.nn.functional.normalize(torch.randn(30, 8, generator=g), dim=1)
    pids = torch.arange(30) % 6
    camids = torch.arange(30) % 2
    return feats, pids, camids


def test_rerank_on_cpu_needed_and_matches_faiss_cpu_reference():
    code = """
        import torch, reid_plugins
        from fastreid.utils.compute_dist import build_dist
        f = torch.randn(10, 4)
        build_dist(f[:4], f[4:], metric="jaccard", k1=3, k2=2)
        print("ok")
    """
    broken = run_python(code, disable="cpu_jaccard_rerank")
    assert broken.returncode != 0 and "CUDA" in broken.stderr

    from fastreid.utils import compute_dist
    from fastreid.evaluation import reid_evaluation

    feats, _, _ = _rerank_inputs()
    got = reid_evaluation.build_dist(feats[:10], feats[10:], metric="jaccard", k1=5, k2=3)
    reference = compute_dist.compute_jaccard_distance(feats, k1=5, k2=3, search_option=3)[:10, 10:]
    np.testing.assert_allclose(got, reference, atol=1e-6)
    assert got.shape == (10, 20)


def test_flip_test_normalises_once():
    from fastreid.config import get_cfg
    from fastreid.modeling.meta_arch import build_model

    code = """
        import torch, reid_plugins
        from fastreid.config import get_cfg
        from fastreid.modeling.meta_arch.baseline import Baseline
        cfg = get_cfg(); cfg.MODEL.DEVICE = "cpu"
        class M(Baseline):
            pass
        m = Baseline.__new__(Baseline); torch.nn.Module.__init__(m)
        m.register_buffer("pixel_mean", torch.full((1, 3, 1, 1), 100.0)); m.register_buffer("pixel_std", torch.full((1, 3, 1, 1), 2.0))
        x = torch.full((1, 3, 2, 2), 104.0)
        m.preprocess_image({"images": x})
        print(float(x[0, 0, 0, 0]))
    """
    broken = run_python(code, disable="out_of_place_preprocess")
    assert broken.returncode == 0 and broken.stdout.strip() == "2.0"  # the caller's tensor was overwritten
    ok = run_python(code)
    assert ok.returncode == 0 and ok.stdout.strip() == "104.0"

    # With the patch, fast-reid's flip test equals the mean of the two separately computed features.
    from fastreid.evaluation.evaluator import inference_on_dataset, DatasetEvaluator

    cfg = get_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.BACKBONE.DEPTH = "18x"
    cfg.MODEL.BACKBONE.FEAT_DIM = 512
    cfg.MODEL.BACKBONE.PRETRAIN = False
    cfg.MODEL.HEADS.NUM_CLASSES = 3
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    images = torch.rand(2, 3, 64, 32) * 255

    class Collect(DatasetEvaluator):
        def reset(self):
            self.out = []

        def process(self, inputs, outputs):
            self.out.append(outputs)

        def evaluate(self):
            return {}

    loader = [{"images": images.clone(), "targets": torch.zeros(2), "camids": torch.zeros(2)}]

    class Loader(list):
        dataset = [0, 1]

    ev = Collect()
    inference_on_dataset(model, Loader(loader), ev, flip_test=True)
    with torch.no_grad():
        expected = (model(images.clone()) + model(images.flip(dims=[3]))) / 2
    torch.testing.assert_close(ev.out[0], expected)


DIST_MAIN = """
import sys, torch, torch.distributed as dist
sys.path.insert(0, {root!r})
import reid_plugins
from fastreid.engine import launch
from fastreid.utils import comm

def main(tag):
    t = torch.tensor([float(comm.get_rank() + 1)])
    dist.all_reduce(t)
    if comm.is_main_process():
        print(tag, comm.get_world_size(), float(t[0]), flush=True)

if __name__ == "__main__":
    launch(main, 2, num_machines=1, machine_rank=0, dist_url="auto", args=("sum",))
"""


@pytest.mark.slow
def test_distributed_launch_on_cpu(tmp_path):
    script = tmp_path / "dist_main.py"
    script.write_text(DIST_MAIN.format(root=ROOT))
    env = dict(os.environ, PYTHONPATH=ROOT)
    broken = subprocess.run([sys.executable, str(script)], env=dict(env, REID_PLUGINS_COMPAT_DISABLE="cpu_distributed_launch"),
                            capture_output=True, text=True, timeout=240)
    assert broken.returncode != 0 and "cuda is not available" in broken.stderr
    ok = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=240)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert ok.stdout.strip() == "sum 2 3.0"


def test_contiguous_params_needed_and_weights_update():
    # One SimpleTrainer step of a tiny model through fast-reid's own DefaultTrainer.build_optimizer: without the
    # patch the optimizer holds views of a flat buffer that zero_grad() detached, so the weight never moves.
    code = """
        import torch, reid_plugins
        from fastreid.config import get_cfg
        from fastreid.engine.defaults import DefaultTrainer
        from fastreid.engine.train_loop import SimpleTrainer
        cfg = get_cfg(); cfg.SOLVER.OPT = "SGD"; cfg.SOLVER.BASE_LR = 0.1; cfg.SOLVER.MOMENTUM = 0.0
        class Tiny(torch.nn.Module):
            def __init__(self):
                super().__init__(); self.fc = torch.nn.Linear(2, 1)
            def forward(self, batch):
                return {"loss": (self.fc(batch) ** 2).mean()}
        model = Tiny()
        optimizer, wrapper = DefaultTrainer.build_optimizer(cfg, model)
        before = model.fc.weight.detach().clone()
        trainer = SimpleTrainer(model, [torch.ones(4, 2)], optimizer, wrapper)
        trainer.iter = 0
        trainer.storage = __import__("fastreid.utils.events", fromlist=["EventStorage"]).EventStorage(0)
        with trainer.storage:
            trainer.run_step()
        print(bool(torch.equal(before, model.fc.weight.detach())))
    """
    broken = run_python(code, disable="contiguous_params_zero_grad")
    assert broken.returncode == 0, broken.stderr
    assert broken.stdout.strip().splitlines()[-1] == "True"  # weight unchanged: the bug
    ok = run_python(code)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().splitlines()[-1] == "False"


def test_read_image_rgb_needed_and_works(tmp_path):
    # fast-reid's reader keeps an RGBA file's 4 channels (the model's 3-channel stem then fails) and a truncated file
    # fails without its name; with the patch the image is RGB and the error names the file.
    from PIL import Image

    rgba, truncated = tmp_path / "alpha.png", tmp_path / "0001_c1s1_000001_00.jpg"
    Image.new("RGBA", (16, 32), (200, 30, 40, 128)).save(rgba)
    Image.new("RGB", (16, 32), (20, 40, 200)).save(truncated, quality=95)
    truncated.write_bytes(truncated.read_bytes()[:100])
    code = f"""
        import reid_plugins
        from fastreid.data.common import CommDataset
        print(CommDataset([({str(rgba)!r}, "d_1", "d_0")], transform=None)[0]["images"].mode)
        try:
            CommDataset([({str(truncated)!r}, "d_1", "d_0")], transform=None)[0]
        except OSError as e:
            print("named" if {truncated.name!r} in str(e) else "unnamed")
    """
    broken = run_python(code, disable="read_image_rgb")
    assert broken.returncode == 0, broken.stderr
    assert broken.stdout.split() == ["RGBA", "unnamed"]
    ok = run_python(code)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == ["RGB", "named"]


FILE_NAME_CASES = [  # dataset, its folder, a bad file name, the rule the error must state
    ("Market1501", "Market-1501-v15.09.15", "person_a.jpg", "does not match <pid>_c<camera>"),
    ("Market1501", "Market-1501-v15.09.15", "0002_c7s1_000451_03.jpg", "has camera c7, outside c1-c6"),
    ("Market1501", "Market-1501-v15.09.15", "1600_c1s1_000451_03.jpg",
     "has person id 1600, outside -1 (junk) and 0-1501"),
    ("DukeMTMC", "DukeMTMC-reID", "0005_c9_f0046985.jpg", "has camera c9, outside c1-c8"),
]


def test_market_duke_file_names_needed_and_named(tmp_path):
    from PIL import Image

    cases = []
    for i, (dataset, folder, name, rule) in enumerate(FILE_NAME_CASES):
        root = tmp_path / str(i)
        for sub in ("bounding_box_train", "bounding_box_test", "query"):
            os.makedirs(root / folder / sub)
            Image.new("RGB", (16, 32)).save(root / folder / sub / "0002_c1s1_000001_00.jpg")
        Image.new("RGB", (16, 32)).save(root / folder / "bounding_box_train" / name)
        cases.append((dataset, str(root), str(root / folder / "bounding_box_train" / name), rule))
    code = f"""
        import reid_plugins
        from fastreid.data.datasets import DATASET_REGISTRY
        for dataset, root, _, _ in {cases!r}:
            try:
                DATASET_REGISTRY.get(dataset)(root=root).train
            except Exception as e:
                print(repr(str(e)))
    """
    broken = run_python(code, disable="market_duke_file_names")
    assert broken.returncode == 0, broken.stderr
    assert len(broken.stdout.splitlines()) == len(cases)
    for (_, _, bad, _), line in zip(cases, broken.stdout.splitlines()):
        assert bad not in line  # fast-reid's AttributeError / AssertionError do not name the file
    ok = run_python(code)
    assert ok.returncode == 0, ok.stderr
    for (dataset, _, bad, rule), line in zip(cases, ok.stdout.splitlines()):
        assert f"{dataset}: file {bad!r} {rule}; {dataset} names files <pid>_c<camera>" in eval(line)


def test_metric_printer_short_runs_needed_and_works():
    # fast-reid's metric printer writes at the last step and again at the epoch's end; before its timer has 3
    # iterations it estimates the ETA from the iterations since the last write, 0 the second time.
    code = """
        import reid_plugins
        from fastreid.utils.events import CommonMetricPrinter, EventStorage
        printer = CommonMetricPrinter(max_iter=2)
        with EventStorage(0) as storage:
            storage.epoch = 0
            storage.put_scalar("total_loss", 1.0)
            printer.write()                 # end of step 0
            storage.iter = 1
            printer.write()                 # end of step 1 (the last)
            printer.write()                 # end of the epoch, still iteration 1
        print("written")
    """
    broken = run_python(code, disable="metric_printer_short_runs")
    assert broken.returncode != 0 and "ZeroDivisionError" in broken.stderr
    ok = run_python(code)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().endswith("written")


def test_dataset_layout_errors_needed_and_name_root_and_layout(tmp_path):
    # A root without the dataset: fast-reid's own errors name neither the expected layout nor (MSMT17) the root.
    nowhere = str(tmp_path / "nowhere")
    code = f"""
        import reid_plugins
        from fastreid.data.datasets import DATASET_REGISTRY
        for name in ("Market1501", "DukeMTMC", "MSMT17"):
            try:
                DATASET_REGISTRY.get(name)(root={nowhere!r}).train
            except Exception as e:
                print(type(e).__name__, repr(str(e)))
    """
    broken = run_python(code, disable="dataset_layout_errors")
    assert broken.returncode == 0, broken.stderr
    assert [line.split(" ", 1)[0] for line in broken.stdout.splitlines()] == ["RuntimeError", "RuntimeError",
                                                                            "AssertionError"]
    assert "Expected layout" not in broken.stdout
    ok = run_python(code)
    assert ok.returncode == 0, ok.stderr
    folders = ["Market-1501-v15.09.15", "DukeMTMC-reID", "MSMT17_V1"]
    for name, folder, line in zip(("Market1501", "DukeMTMC", "MSMT17"), folders, ok.stdout.splitlines()):
        kind, message = line.split(" ", 1)
        assert kind == "DatasetLayoutError"
        assert eval(message).startswith(f"{name}: cannot read the dataset under root {nowhere!r} (")
        assert f"Expected layout: <root>/{folder}/" in eval(message)


def test_dataset_root_from_cfg_needed_and_works():
    # $FASTREID_DATASETS is what fast-reid read at import; the config names another root.
    code = """
        import reid_plugins
        import fastreid.data.build as build
        from fastreid.config import get_cfg
        from fastreid.data.datasets import DATASET_REGISTRY
        from reid_plugins.config import add_reid_plugins_config

        class Built(Exception):
            pass

        @DATASET_REGISTRY.register()
        class RootProbe:
            def __init__(self, root="datasets", **kwargs):
                print(root)
                raise Built

        cfg = get_cfg(); add_reid_plugins_config(cfg)
        cfg.DATASETS.ROOT = "/cfg/root"; cfg.DATASETS.NAMES = ("RootProbe",)
        for build_loader in (lambda: build.build_reid_train_loader(cfg),
                             lambda: build.build_reid_test_loader(cfg, dataset_name="RootProbe")):
            try:
                build_loader()
            except Built:
                pass
    """
    env = dict(os.environ, FASTREID_DATASETS="/env/root")
    broken = run_python(code, disable="dataset_root_from_cfg", env=env)
    assert broken.returncode == 0, broken.stderr
    assert broken.stdout.split() == ["/env/root", "/env/root"]
    ok = run_python(code, env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == ["/cfg/root", "/cfg/root"]


def test_cpu_ddp_device_ids_needed_and_works(tmp_path):
    # fast-reid's DefaultTrainer call, DistributedDataParallel(model, device_ids=[local_rank], ...), in a one-process
    # gloo group; the wrapped model must give the module's output.
    code = f"""
        import torch, torch.distributed as dist
        import reid_plugins
        import fastreid.engine.defaults as defaults
        dist.init_process_group("gloo", init_method="file://{tmp_path / 'rendezvous'}", world_size=1, rank=0)
        torch.manual_seed(0)
        model = torch.nn.Linear(2, 1)
        ddp = defaults.DistributedDataParallel(model, device_ids=[0], broadcast_buffers=False)
        x = torch.ones(3, 2)
        print(bool(torch.equal(ddp(x), model(x))), ddp.device_ids, ddp.find_unused_parameters)
        dist.destroy_process_group()
    """
    broken = run_python(code, disable="cpu_ddp_device_ids")
    assert broken.returncode != 0
    assert "DistributedDataParallel device_ids and output_device arguments only work with" in broken.stderr
    ok = run_python(code)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == ["True", "None", "True"]
