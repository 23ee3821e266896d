"""Calibration: hand-computed Tukey fences in log space, absolute bounds, reasons, stripes, counts, PNG."""
import math

import numpy as np
import pytest

from reid_plugins.grounding.calibration import (KEPT, MISSING, TOO_LARGE, TOO_SMALL, CalibrationConfig, Calibrator,
                                                calibration_rates, calibrator_from_json, replacement_counts)
from reid_plugins.grounding.plots import save_calibration_histograms

NAN = [np.nan] * 4


def _dataset(n=40, legs_h=0.4, legs_w=0.5):
    """n images: head 0.1 x 0.2 at the top, upper 0.3 x 0.6, legs legs_h x legs_w ending at y = 0.95."""
    b = np.zeros((n, 3, 4))
    b[:, 0] = (0.4, 0.05, 0.6, 0.15)
    b[:, 1] = (0.2, 0.15, 0.8, 0.45)
    b[:, 2] = (0.25, 0.95 - legs_h, 0.25 + legs_w, 0.95)
    return b


def _legs(h, w=0.5):
    return (0.25, 0.95 - h, 0.25 + w, 0.95)


def test_fences_are_tukey_in_log_space_with_the_minimum_spread():
    cal = Calibrator(CalibrationConfig(stripe_mode="fixed")).fit(_dataset())
    # all leg heights 0.4: log-IQR 0 -> MIN_LOG_IQR 0.2, k = 3 -> [0.4 e^-0.6, 0.4 e^0.6] = [0.2195, 0.7288],
    # clipped to the absolute legs height bounds (0.08, 0.7); area 0.2 -> [0.1098, 0.3644] inside (0.01, 0.5)
    lo, hi = cal.bounds["legs"]["height"]
    assert lo == pytest.approx(0.4 * math.exp(-0.6)) and hi == pytest.approx(0.7)
    assert cal.bounds["legs"]["area"] == pytest.approx((0.2 * math.exp(-0.6), 0.2 * math.exp(0.6)))
    assert cal.fitted == {"head": True, "upper": True, "legs": True}


def test_reasons_and_replacements_hand_computed():
    cal = Calibrator(CalibrationConfig(stripe_mode="fixed")).fit(_dataset())
    test = _dataset(6)
    test[0, 2] = _legs(0.75)            # taller than 0.7              -> too large
    test[1, 2] = _legs(0.30)            # inside both bounds           -> kept
    test[2, 2] = _legs(0.21)            # below 0.2195                 -> too small
    test[3, 2] = _legs(0.4, w=0.7)      # area 0.28 <= 0.3644          -> kept
    test[4, 2] = (0.02, 0.55, 0.97, 0.95)  # area 0.38 > 0.3644       -> too large
    test[5, 2] = NAN                    # no box                       -> missing
    out, reasons = cal.apply(test)
    assert reasons[:, 2].tolist() == [TOO_LARGE, KEPT, TOO_SMALL, KEPT, TOO_LARGE, MISSING]
    assert (reasons[:, :2] == KEPT).all()
    for n in (0, 2, 4, 5):
        np.testing.assert_allclose(out[n, 2], [0, 2 / 3, 1, 1])  # the fixed bottom stripe
    np.testing.assert_allclose(out[1, 2], test[1, 2])
    counts = replacement_counts(reasons)
    assert counts["legs"] == {"kept": 2, "missing": 1, "too_small": 1, "too_large": 2}
    assert calibration_rates(reasons) == {"head": 0.0, "upper": 0.0, "legs": pytest.approx(4 / 6)}


def test_quartile_fences_ignore_a_fifth_of_full_height_hallucinations():
    data = _dataset(48)
    data[40:, 2] = (0.0, 0.02, 1.0, 0.98)  # 8 of 48 leg boxes = the whole image (Fig. 5a's spurious peak)
    cal = Calibrator(CalibrationConfig(stripe_mode="fixed", height_frac=((0, 1),) * 3,
                                       area_frac=((0, 1),) * 3)).fit(data)
    _, reasons = cal.apply(data)
    assert (reasons[40:, 2] == TOO_LARGE).all() and (reasons[:40] == KEPT).all()


def test_too_few_boxes_use_only_the_absolute_bounds():
    data = _dataset(5)
    data[0, 2] = _legs(0.75)
    data[1, 2] = _legs(0.69)
    data[2, 2] = _legs(0.05, w=0.9)
    cal = Calibrator(CalibrationConfig(stripe_mode="fixed")).fit(data)
    assert cal.fitted["legs"] is False and cal.bounds["legs"]["height"] == (0.08, 0.7)
    _, reasons = cal.apply(data)
    assert reasons[:, 2].tolist() == [TOO_LARGE, KEPT, TOO_SMALL, KEPT, KEPT]


def test_fitted_stripe_is_the_median_of_kept_boxes():
    data = _dataset(41)
    data[:19, 2, 1] -= 0.05   # 19 kept legs start at 0.50, 21 at 0.55 -> median top 0.55; all end at 0.95
    data[40, 2] = (0.0, 0.0, 1.0, 1.0)  # not kept, so it does not pull the stripe
    cal = Calibrator(CalibrationConfig(stripe_mode="fit")).fit(data)
    np.testing.assert_allclose(cal.stripes[2], [0, 0.55, 1, 0.95])
    out, reasons = cal.apply(data)
    assert reasons[40, 2] == TOO_LARGE
    np.testing.assert_allclose(out[40, 2], [0, 0.55, 1, 0.95])


def test_json_roundtrip_gives_the_same_calibration():
    data = _dataset()
    data[0, 2] = _legs(0.9)
    cal = Calibrator().fit(data)
    clone = calibrator_from_json(cal.to_json())
    for a, b in zip(cal.apply(data), clone.apply(data)):
        np.testing.assert_array_equal(a, b)


def test_bad_config_is_named():
    with pytest.raises(ValueError, match="QUANTILES"):
        CalibrationConfig(quantiles=(0.8, 0.2))
    with pytest.raises(ValueError, match="HEIGHT_FRAC"):
        CalibrationConfig(height_frac=((0.1, 0.05), (0, 1), (0, 1)))
    with pytest.raises(ValueError, match="STRIPE_MODE"):
        CalibrationConfig(stripe_mode="median")
    with pytest.raises(RuntimeError, match="before fit"):
        Calibrator().apply(_dataset(2))


def test_histogram_png(tmp_path):
    data = _dataset()
    data[:4, 2] = (0.0, 0.02, 1.0, 0.98)
    cal = Calibrator().fit(data)
    out, _ = cal.apply(data)
    path = tmp_path / "calib.png"
    save_calibration_histograms(data, out, cal, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
