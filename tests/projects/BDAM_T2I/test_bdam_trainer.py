"""BDAMTrainer's test-set check: DATASETS.TESTS are text-to-image sets whose test split has captions (the queries)
and readable images (the gallery); refused before anything is built."""
import os
import sys

import bdam_path  # noqa: F401
import pytest

from bdam import BDAMTrainer
from bdam_tiny import tiny_cfg

sys.path.insert(0, os.path.join(bdam_path.PROJECT, "..", "..", "tests", "reid_plugins", "data", "t2i"))
from t2i_fakes import make_cuhk_pedes  # noqa: E402


def test_t2i_test_sets_are_checked_before_training(tmp_path):
    root = str(tmp_path)
    make_cuhk_pedes(root)
    ok = tiny_cfg(extra=["DATASETS.ROOT", root, "DATASETS.TESTS", '("CUHKPEDES",)'])
    contents = BDAMTrainer.test_set_contents(ok, "CUHKPEDES")
    assert (contents.num_query, contents.num_gallery) == (3 * 2 * 2, 3 * 2)  # 2 captions per image, 3 ids x 2
    BDAMTrainer.check_test_sets(ok)

    for tests, message in (('("CUHKPEDEZ",)', r"'CUHKPEDEZ', which is not a registered dataset \(did you mean "
                                              r"'CUHKPEDES'\?\)"),
                           ('("Market1501",)', r"test set 'Market1501' .* not a text-to-image dataset")):
        with pytest.raises(ValueError, match=message):
            BDAMTrainer.check_test_sets(tiny_cfg(extra=["DATASETS.ROOT", root, "DATASETS.TESTS", tests]))

    victim = os.path.join(root, "CUHK-PEDES", "imgs", "test_query", "p7_s0.jpg")
    open(victim, "wb").close()
    with pytest.raises(ValueError, match=r"1 of 6 images cannot be read: '.*p7_s0.jpg': empty file"):
        BDAMTrainer.check_test_sets(ok)
