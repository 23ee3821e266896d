"""Binary voting: hand-computed grids for every rule, edge conventions, and the stripes."""
import numpy as np
import pytest

from reid_plugins.grounding import DEFAULT_STRIPES, stripe_boxes, vote
from reid_plugins.grounding.voting import pack_masks, unpack_masks

NAN = [np.nan] * 4


def _one(box, grid=(4, 2), **kw):
    """Vote a single box as the head; return the flat indices set."""
    boxes = np.array([box, NAN, NAN], dtype=float)
    m = vote(boxes, grid, **kw)
    assert m.shape == (3, grid[0] * grid[1]) and m.dtype == bool
    assert not m[1:].any()
    return sorted(np.flatnonzero(m[0]).tolist())


# 4 x 2 grid: rows [0,.25) [.25,.5) [.5,.75) [.75,1); cols [0,.5) [.5,1); flat index = row * 2 + col.
def test_center_rule_hand_computed():
    # row centres .125 .375 .625 .875 in [.2, .55) -> row 1; col centres .25 .75 in [.1, .6) -> col 0
    assert _one([0.1, 0.2, 0.6, 0.55]) == [2]


def test_any_overlap_rule_hand_computed():
    # rows 0, 1, 2 overlap (.2, .55); both columns overlap (.1, .6)
    assert _one([0.1, 0.2, 0.6, 0.55], rule="any") == [0, 1, 2, 3, 4, 5]


def test_fraction_rule_hand_computed():
    # row fractions .2 1 .2 0, col fractions .8 .2 -> products: (0,0) .16 (0,1) .04 (1,0) .8 (1,1) .2 (2,0) .16
    assert _one([0.1, 0.2, 0.6, 0.55], rule="fraction", fraction=0.5) == [2]
    assert _one([0.1, 0.2, 0.6, 0.55], rule="fraction", fraction=0.15) == [0, 2, 3, 4]


def test_center_rule_is_inclusive_at_top_left_exclusive_at_bottom_right():
    # y from .125 (row-0 centre, included) to .375 (row-1 centre, excluded)
    assert _one([0.0, 0.125, 1.0, 0.375]) == [0, 1]
    # x from .25 (col-0 centre, included) to .75 (col-1 centre, excluded)
    assert _one([0.25, 0.0, 0.75, 0.25]) == [0]
    # a box ending exactly on a patch border touches the next patch with zero area: not "any" overlap
    assert _one([0.0, 0.0, 0.5, 0.25], rule="any") == [0]


def test_pixel_box_on_the_16x8_grid_of_a_256x128_image():
    # head box x 48..80, y 16..48 px; centres at 8 + 16 k px -> rows 1, 2 (24, 40), cols 3, 4 (56, 72)
    box = [48 / 128, 16 / 256, 80 / 128, 48 / 256]
    assert _one(box, grid=(16, 8)) == [11, 12, 19, 20]


def test_tiny_box_keeps_the_patch_of_its_centre_unless_disabled():
    tiny = [0.6, 0.3, 0.7, 0.35]  # no patch centre inside; its centre (.65, .325) is in row 1, col 1
    assert _one(tiny) == [3]
    assert _one(tiny, ensure_one=False) == []


def test_missing_box_votes_nothing_and_batches_keep_shape():
    boxes = np.array([[[0, 0, 1, 1], NAN, [0, 0.5, 1, 1]], [NAN, NAN, NAN]], dtype=float)
    m = vote(boxes, (4, 2))
    assert m.shape == (2, 3, 8)
    assert m[0, 0].all() and not m[0, 1].any() and m[0, 2].tolist() == [False] * 4 + [True] * 4
    assert not m[1].any()


def test_default_stripes_are_thirds_of_the_height():
    s = stripe_boxes()
    np.testing.assert_allclose(s, [[0, 0, 1, 1 / 3], [0, 1 / 3, 1, 2 / 3], [0, 2 / 3, 1, 1]])
    m = vote(s, (16, 8)).reshape(3, 16, 8)
    rows = [np.flatnonzero(m[i].all(1)).tolist() for i in range(3)]
    assert rows == [list(range(0, 5)), list(range(5, 11)), list(range(11, 16))]
    assert DEFAULT_STRIPES[0] == (0.0, 1.0 / 3.0)


@pytest.mark.parametrize("bad", [((0.0, 0.5), (0.5, 1.0)), ((0.0, 0.4), (0.6, 0.5), (0.5, 1.0)),
                                 ((0.0, 0.4), (0.4, 0.7), (0.7, 1.2))])
def test_bad_stripes_are_refused(bad):
    with pytest.raises(ValueError, match="STRIPES"):
        stripe_boxes(bad)


def test_bad_rule_and_fraction_are_refused():
    with pytest.raises(ValueError, match="vote rule"):
        vote(np.zeros((3, 4)), (4, 2), rule="majority")
    with pytest.raises(ValueError, match="fraction"):
        vote(np.zeros((3, 4)), (4, 2), rule="fraction", fraction=0.0)


def test_pack_roundtrip():
    rng = np.random.default_rng(0)
    m = rng.random((5, 3, 128)) < 0.3
    np.testing.assert_array_equal(unpack_masks(pack_masks(m), 128), m)
    assert pack_masks(m).shape == (5, 3, 16)
