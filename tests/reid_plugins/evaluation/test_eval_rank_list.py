"""Rank-list pictures: hand-checked top-k verdicts and a readable PNG."""
import numpy as np
import pytest
from PIL import Image

import reid_plugins  # noqa: F401
from reid_plugins.evaluation import plot_rank_list, top_k_rows
from reid_plugins.evaluation.rank_list import COLOURS, _hex_rgb


def line(xs):
    return np.asarray(xs, np.float32).reshape(-1, 1)


# query 0 (pid 1, cam 0) at 0: gallery by euclidean distance g0 (pid 1, cam 0: junk), g1 (pid 2), g2 (pid 1, cam 1)
GALLERY = line([0.1, 0.2, 0.3, 0.4])
G_PIDS, G_CAMS = [1, 2, 1, 3], [0, 1, 1, 0]


def test_top_k_verdicts():
    rows = top_k_rows(line([0.0, 0.35]), GALLERY, [1, 3], G_PIDS, [0, 1], G_CAMS, [0, 1], topk=3,
                      metric="euclidean")
    assert rows[0].gallery.tolist() == [0, 1, 2]
    assert rows[0].kinds == ["junk", "wrong", "match"]
    # query 1 (pid 3, cam 1) at 0.35: g2 and g3 are both 0.05 away (tie -> lower index first), then g1
    assert rows[1].gallery.tolist() == [2, 3, 1]
    assert rows[1].kinds == ["wrong", "match", "wrong"]


def test_png_grid(tmp_path):
    paths = []
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]):
        paths.append(str(tmp_path / f"img{i}.jpg"))
        Image.fromarray(np.full((32, 16, 3), colour, np.uint8)).save(paths[-1])
    out = plot_rank_list(str(tmp_path / "vis" / "ranks.png"), paths[:1], paths[1:], line([0.0]), GALLERY, [1],
                         G_PIDS, [0], G_CAMS, topk=3, metric="euclidean")
    with Image.open(out) as img:
        pixels = np.asarray(img.convert("RGB"))
    for kind in ("query", "match", "wrong", "junk"):  # every frame colour is drawn
        assert (pixels == _hex_rgb(COLOURS[kind])).all(-1).sum() > 100, kind

    with pytest.raises(ValueError, match="got 2 query paths for 1 query features"):
        plot_rank_list(str(tmp_path / "x.png"), paths[:2], paths[1:], line([0.0]), GALLERY, [1], G_PIDS, [0],
                       G_CAMS)
    with pytest.raises(ValueError, match=r"query_indices must be non-empty indices in \[0, 1\)"):
        plot_rank_list(str(tmp_path / "x.png"), paths[:1], paths[1:], line([0.0]), GALLERY, [1], G_PIDS, [0],
                       G_CAMS, query_indices=[3])
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        plot_rank_list(str(tmp_path / "x.png"), [str(tmp_path / "missing.jpg")], paths[1:], line([0.0]), GALLERY,
                       [1], G_PIDS, [0], G_CAMS)
