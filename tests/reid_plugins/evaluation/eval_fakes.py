"""Tiny Market-1501-layout image sets for evaluator tests."""
import os

import numpy as np
from PIL import Image


def make_market(root, n_train=4, n_test=8, cams=3, per_cam=2, noise=100.0, seed=0):
    """<root>/Market-1501-v15.09.15/{bounding_box_train,query,bounding_box_test}: each identity is a colour pair plus
    noise; one query per test identity (camera 1), its other camera-1 image is junk in the gallery."""
    rng = np.random.default_rng(seed)
    base = os.path.join(root, "Market-1501-v15.09.15")
    frame = 0
    for split, pids in (("train", range(1, n_train + 1)), ("test", range(100, 100 + n_test))):
        for pid in pids:
            top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
            for cam in range(1, cams + 1):
                for k in range(per_cam):
                    img = np.empty((32, 16, 3), np.float32)
                    img[:16], img[16:] = top, bottom
                    img = np.clip(img + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)
                    frame += 1
                    if split == "train":
                        sub = "bounding_box_train"
                    else:
                        sub = "query" if (cam == 1 and k == 0) else "bounding_box_test"
                    os.makedirs(os.path.join(base, sub), exist_ok=True)
                    Image.fromarray(img).save(os.path.join(base, sub, f"{pid:04d}_c{cam}s1_{frame:06d}_00.jpg"))
    return root
