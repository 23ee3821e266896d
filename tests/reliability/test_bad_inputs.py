"""Rows of the bad-input matrix (docs/RELIABILITY.md) that no package test covers: unreadable images and images in
another mode, on both image paths (fast-reid's read_image, used by CommDataset and MUVA's loader; the T2I loader), and
a checkpoint of another model given to MUVA's --eval-only.

Policy for image modes: every image is converted to RGB (grayscale replicated, alpha dropped, palette expanded,
CMYK converted), as the T2I loader already does; fast-reid's read_image gets the same behaviour from the compat patch
`read_image_rgb` (tests/reid_plugins/test_compat.py shows it is needed).
"""
import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from reid_plugins.data.t2i.tokenized import load_image
from reliability_runs import MUVA_CONFIG, REPO, muva_opts

TOP, BOTTOM = (200, 30, 40), (20, 40, 200)


def fastreid_read(path):
    from fastreid.data.common import CommDataset

    item = CommDataset([(path, "d_1", "d_0")], transform=None, relabel=True)[0]  # what training reads
    return item["images"]


READERS = {"fastreid": fastreid_read, "t2i": load_image}


def two_colour_image():
    img = np.empty((32, 16, 3), np.uint8)
    img[:16], img[16:] = TOP, BOTTOM
    return Image.fromarray(img)


def gray(rgb):  # PIL's (ITU-R 601-2) luma
    r, g, b = rgb
    return (r * 299 + g * 587 + b * 114) // 1000


MODES = {  # mode -> (file name, how to make it from the RGB picture, expected top / bottom RGB, tolerance)
    "L": ("gray.png", lambda im: im.convert("L"), ((gray(TOP),) * 3, (gray(BOTTOM),) * 3), 1),
    "LA": ("gray_alpha.png", lambda im: im.convert("LA"), ((gray(TOP),) * 3, (gray(BOTTOM),) * 3), 1),
    "P": ("palette.png", lambda im: im.convert("P", palette=Image.ADAPTIVE, colors=4), (TOP, BOTTOM), 0),
    "RGBA": ("alpha.png", lambda im: im.convert("RGBA"), (TOP, BOTTOM), 0),
    "CMYK": ("cmyk.jpg", lambda im: im.convert("CMYK"), (TOP, BOTTOM), 12),  # JPEG: lossy
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reader", READERS)
def test_image_in_another_mode_is_converted_to_rgb(tmp_path, reader, mode):
    name, make, (top, bottom), tol = MODES[mode]
    path = str(tmp_path / name)
    make(two_colour_image()).save(path, quality=100) if name.endswith(".jpg") else make(two_colour_image()).save(path)
    assert Image.open(path).mode == mode
    img = READERS[reader](path)
    assert img.mode == "RGB"
    arr = np.asarray(img).astype(int)
    assert arr.shape == (32, 16, 3)
    np.testing.assert_allclose(arr[4:12].reshape(-1, 3).mean(0), top, atol=tol)  # away from the JPEG seam
    np.testing.assert_allclose(arr[20:28].reshape(-1, 3).mean(0), bottom, atol=tol)


def _zero_byte(path):
    open(path, "wb").close()


def _garbage(path):
    with open(path, "wb") as f:
        f.write(b"<html>404 not found</html>" * 8)


def _truncated(path):
    two_colour_image().save(path, quality=95)
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


BROKEN = {"zero-byte": _zero_byte, "garbage": _garbage, "truncated": _truncated}


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("reader", READERS)
def test_unreadable_image_error_names_the_file(tmp_path, reader, kind):
    path = str(tmp_path / "0001_c1s1_000001_00.jpg")
    BROKEN[kind](path)
    before = open(path, "rb").read()
    with pytest.raises(OSError) as e:
        READERS[reader](path)
    assert path in str(e.value)
    assert open(path, "rb").read() == before  # the reader never "repairs" a file


def test_muva_eval_only_refuses_a_checkpoint_of_another_model(tmp_path):
    sys.path.insert(0, os.path.join(REPO, "projects", "MUVA"))
    from muva import MUVATrainer, add_muva_config

    from reid_plugins.config import build_cfg
    from reid_plugins.engine.checkpoint import CheckpointMismatchError

    # a fast-reid ResNet checkpoint that happens to have a `classifier.weight` (8 identities)
    other = str(tmp_path / "resnet.pth")
    torch.save({"model": {"classifier.weight": torch.zeros(8, 2048), "backbone.conv1.weight": torch.zeros(64, 3, 7, 7),
                          "backbone.layer1.0.conv1.weight": torch.zeros(64, 64, 1, 1)}}, other)
    before = open(other, "rb").read()
    cfg = build_cfg(MUVA_CONFIG, muva_opts(str(tmp_path / "data")) + ["OUTPUT_DIR", str(tmp_path / "eval"),
                                                                      "MODEL.WEIGHTS", other], (add_muva_config,))
    with pytest.raises(CheckpointMismatchError, match=r"covers only 0.0% of MUVA's parameters .*another model"):
        MUVATrainer.load_for_eval(cfg)
    with pytest.raises(KeyError, match=r"MODEL.WEIGHTS=.*bare.pth.*not a MUVA checkpoint"):
        torch.save({"state_dict": {}}, str(tmp_path / "bare.pth"))
        MUVATrainer.load_for_eval(build_cfg(MUVA_CONFIG, ["MODEL.WEIGHTS", str(tmp_path / "bare.pth")],
                                            (add_muva_config,)))
    assert open(other, "rb").read() == before
