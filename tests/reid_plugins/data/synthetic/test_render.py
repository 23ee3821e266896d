import dataclasses

import numpy as np
import pytest

from reid_plugins.data.synthetic.attributes import sample_identity
from reid_plugins.data.synthetic.domains import DOMAINS, make_cameras
from reid_plugins.data.synthetic.render import H, OCCLUDER, W, part_boxes, plate_for, render


def test_part_boxes_hand_computed():
    label = np.zeros((H, W), np.uint8)
    label[10:30, 50:70] = 1          # head: 400 px, fully visible
    label[30:120, 40:80] = 2         # upper: 3600 px visible of 4000 drawn (10% pushed out of the frame)
    label[120:200, 45:75] = 3        # legs: 2400 px drawn ...
    label[150:200, 45:75] = OCCLUDER  # ... 1500 of them behind an occluder -> 37.5% visible -> null
    full = np.zeros(OCCLUDER + 1, int)
    full[1], full[2], full[3] = 400, 4000, 2400
    boxes = part_boxes(full, label)
    assert boxes == {"head": [50, 10, 70, 30], "upper": [40, 30, 80, 120], "legs": None, "person": [40, 10, 80, 150]}
    # a part never drawn (e.g. outside the padded canvas) is null as well
    full[1] = 0
    assert part_boxes(full, label)["head"] is None


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_rendered_images_and_boxes_are_plausible(domain):
    style = DOMAINS[domain]
    cams = make_cameras(style, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    for k in range(12):
        cam = cams[k % len(cams)]
        img, boxes, meta = render(sample_identity(rng, style.priors), style, cam, plate_for(style, cam, 0, 0), rng)
        assert img.size == (W, H) and img.mode == "RGB"
        assert set(boxes) == {"head", "upper", "legs", "person"}
        assert boxes["person"] is not None
        for name, box in boxes.items():
            if box is None:
                continue
            x0, y0, x1, y1 = box
            assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H, (name, box)
            px0, py0, px1, py1 = boxes["person"]
            assert px0 <= x0 and py0 <= y0 and x1 <= px1 and y1 <= py1   # parts lie inside the person box
        centre = {n: (b[1] + b[3]) / 2 for n, b in boxes.items() if b is not None and n != "person"}
        if {"head", "upper"} <= set(centre):
            assert centre["head"] < centre["upper"]
        if {"upper", "legs"} <= set(centre):
            assert centre["upper"] < centre["legs"]
        assert meta["view"] in ("front", "back", "side")
        lo, hi = style.jpeg_quality
        assert lo <= meta["jpeg_quality"] <= hi


def test_render_is_deterministic_and_domains_look_different():
    a, b = DOMAINS["domain_A"], DOMAINS["domain_B"]
    ident = sample_identity(np.random.default_rng(3), {})
    cam_a = make_cameras(a, np.random.default_rng(0))[0]
    img1, boxes1, _ = render(ident, a, cam_a, plate_for(a, cam_a, 0, 0), np.random.default_rng(9))
    img2, boxes2, _ = render(ident, a, cam_a, plate_for(a, cam_a, 0, 0), np.random.default_rng(9))
    assert np.array_equal(np.asarray(img1), np.asarray(img2)) and boxes1 == boxes2
    # domain_B is darker and colder than domain_A on average (its colour cast gains favour blue over red)
    def mean_rgb(style):
        cams = make_cameras(style, np.random.default_rng(0))
        rng = np.random.default_rng(4)
        imgs = [np.asarray(render(ident, style, c, plate_for(style, c, 0, 1), rng)[0], np.float64) for c in cams]
        return np.mean([i.reshape(-1, 3).mean(0) for i in imgs], axis=0)
    ma, mb = mean_rgb(a), mean_rgb(b)
    assert mb.sum() < ma.sum()
    assert mb[2] / mb[0] > ma[2] / ma[0]


def test_full_occlusion_probability_occludes_every_image():
    style = dataclasses.replace(DOMAINS["domain_A"], occlusion_prob=1.0)
    cam = make_cameras(style, np.random.default_rng(0))[0]
    rng = np.random.default_rng(2)
    metas = [render(sample_identity(rng, {}), style, cam, plate_for(style, cam, 0, 0), rng)[2] for _ in range(8)]
    assert all(m["occluder"] in ("barrier", "pole", "passerby", "bush") for m in metas)
