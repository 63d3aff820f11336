"""`distill.metrics.paired_bootstrap`: the interval that says whether a difference is real."""

import numpy as np
import pytest

from distill.metrics import paired_bootstrap


def test_the_interval_of_a_known_difference_covers_it():
    rng = np.random.default_rng(0)
    a = (rng.random(1300) < 0.82).astype(float)
    flip = rng.random(1300) < 0.03                       # b is a wrong on 3% of the rows: a known difference
    b = np.where(flip, 0.0, a)
    result = paired_bootstrap(a, b)
    assert result["difference"] == pytest.approx(a.mean() - b.mean())
    assert result["low"] < result["difference"] < result["high"] and result["low"] > 0
    assert result["rows"] == 1300 and result["confidence"] == 0.95


def test_a_difference_in_the_noise_straddles_zero():
    rng = np.random.default_rng(1)
    a, b = (rng.random(1300) < 0.8).astype(float), (rng.random(1300) < 0.8).astype(float)
    result = paired_bootstrap(a, b)
    assert result["low"] < 0 < result["high"]
    assert result["high"] - result["low"] > 0.04   # two unrelated runs on 1,300 rows: ±2+ points of noise


def test_identical_rows_give_a_point_interval_and_bad_shapes_are_refused():
    same = np.ones(10)
    assert paired_bootstrap(same, same) == {"difference": 0.0, "low": 0.0, "high": 0.0, "confidence": 0.95,
                                            "rows": 10}
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap(np.ones(3), np.ones(4))
