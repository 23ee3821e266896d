import muva_path  # noqa: F401
import numpy as np
import pytest
import torch
from PIL import Image

from muva.data import MaskedReidDataset, flip_mask
from muva.data import test_transforms as muva_test_transforms
from reid_plugins.config import build_cfg


def test_flip_mask_on_the_patch_grid():
    m = torch.zeros(1, 2, 3, dtype=torch.bool)
    m[0, 0, 0] = m[0, 1, 1] = True  # row-major [[1, 0, 0], [0, 1, 0]]
    out = flip_mask(m.reshape(1, 6), (2, 3)).reshape(1, 2, 3)
    assert out[0].tolist() == [[False, False, True], [False, True, False]]
    assert torch.equal(flip_mask(flip_mask(m.reshape(1, 6), (2, 3)), (2, 3)), m.reshape(1, 6))


@pytest.fixture()
def left_marked_image(tmp_path):
    img = np.zeros((256, 128, 3), dtype=np.uint8)
    img[:, :16] = 255  # white stripe on the left patch column
    path = str(tmp_path / "0001_c1s1_000001_00.jpg")
    Image.fromarray(img).save(path, quality=100)
    mask = torch.zeros(3, 16, 8, dtype=torch.bool)
    mask[:, :, 0] = True  # every part on the left column
    return path, mask.reshape(3, 128)


@pytest.mark.parametrize("flip_prob", [0.0, 1.0])
def test_image_and_mask_flip_together(left_marked_image, flip_prob):
    path, mask = left_marked_image
    to_tensor = muva_test_transforms(build_cfg())
    ds = MaskedReidDataset([(path, "synth_1", "synth_c1")], to_tensor, mask.unsqueeze(0), (16, 8), flip_prob)
    item = ds[0]
    img, m = item["images"], item["masks"].bool().reshape(3, 16, 8)
    bright_left = img[:, :, :16].mean() > img[:, :, -16:].mean()
    assert bool(bright_left) == (flip_prob == 0.0)
    assert bool(m[:, :, 0].all()) == (flip_prob == 0.0) and bool(m[:, :, 7].all()) == (flip_prob == 1.0)
    assert item["targets"] == 0 and item["camids"] == 0 and img.shape == (3, 256, 128)
    assert float(img.max()) > 200  # fast-reid's ToTensor keeps 0-255 (the model normalises with mean = std = 127.5)


def test_test_transform_is_bilinear(left_marked_image, tmp_path):
    img = Image.fromarray((np.arange(64 * 32 * 3) % 251).astype(np.uint8).reshape(64, 32, 3))
    out = muva_test_transforms(build_cfg())(img)
    ref = np.asarray(img.resize((128, 256), Image.BILINEAR), dtype=np.float32).transpose(2, 0, 1)
    assert torch.allclose(out, torch.from_numpy(ref), atol=1.0)
    with pytest.raises(ValueError, match="masks for"):
        MaskedReidDataset([("a", 1, 1)], None, torch.zeros(2, 3, 128, dtype=torch.bool), (16, 8))


def test_masks_are_read_only_when_used(tmp_path):
    from muva import add_muva_config
    from muva.data import read_masks

    items = [(str(tmp_path / "0001_c1s1_000001_00.jpg"), "x_1", "x_c1")]
    missing = ["MODEL.MASKS.BACKEND", "official-pickle", "MODEL.MASKS.OFFICIAL_PICKLE", str(tmp_path / "none.pkl")]
    for opts in (["MODEL.MUVA.PARTS", "()"], ["MODEL.MUVA.ATTENTION_MASKS", "fixed-stripes"]):
        masks = read_masks(build_cfg("", missing + opts, (add_muva_config,)), items)
        assert masks.shape == (1, 3, 128) and not masks.any()
    with pytest.raises(FileNotFoundError, match="none.pkl"):
        read_masks(build_cfg("", missing, (add_muva_config,)), items)
