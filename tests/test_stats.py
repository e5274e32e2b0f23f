"""Confidence intervals over seeds, against scipy's t-tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from nnbook.stats import Interval, difference_interval, mean_interval, paired_interval

A = [0.90, 0.91, 0.885, 0.902, 0.899, 0.907]
B = [0.88, 0.905, 0.87, 0.899, 0.89, 0.9]


def bounds(interval: Interval) -> tuple[float, float]:
    return interval.low, interval.high


def test_mean_interval_matches_scipy_one_sample_t():
    """The mean's interval is scipy's one-sample t confidence interval."""
    reference = scipy_stats.ttest_1samp(A, 0.0).confidence_interval(0.95)
    interval = mean_interval(A)
    assert interval.estimate == pytest.approx(np.mean(A))
    assert bounds(interval) == pytest.approx((reference.low, reference.high))
    assert interval.n == len(A) and interval.confidence == 0.95


def test_paired_interval_matches_scipy_paired_t():
    """The paired difference's interval is scipy's related-samples t interval."""
    reference = scipy_stats.ttest_rel(A, B).confidence_interval(0.9)
    interval = paired_interval(A, B, confidence=0.9)
    assert bounds(interval) == pytest.approx((reference.low, reference.high))


def test_difference_interval_matches_scipy_welch_t():
    """The unpaired difference's interval is scipy's Welch t interval."""
    reference = scipy_stats.ttest_ind(A, B[:4], equal_var=False).confidence_interval(0.95)
    interval = difference_interval(A, B[:4])
    assert interval.estimate == pytest.approx(np.mean(A) - np.mean(B[:4]))
    assert bounds(interval) == pytest.approx((reference.low, reference.high))


def test_pairing_removes_the_variation_the_settings_share():
    """A small shift on top of a large seed-to-seed spread is clear paired, not unpaired."""
    rng = np.random.default_rng(0)
    per_seed = rng.normal(0.0, 1.0, 20)
    a, b = per_seed + 0.1 + rng.normal(0, 0.01, 20), per_seed
    assert paired_interval(a, b).excludes(0.0)
    assert not difference_interval(a, b).excludes(0.0)


def test_series_are_paired_by_their_index():
    """Two Series in different orders are paired by seed label, not by position."""
    a = pd.Series([1.0, 2.0, 4.0], index=[0, 1, 2])
    b = pd.Series([3.5, 0.5, 1.5], index=[2, 0, 1])
    assert paired_interval(a, b).estimate == pytest.approx(0.5)
    assert paired_interval(a, b).half_width == pytest.approx(0.0)


def test_constant_values_give_a_point_interval():
    """Values without spread give an interval of zero width, not NaN."""
    interval = difference_interval([1.0, 1.0], [0.5, 0.5, 0.5])
    assert bounds(interval) == (0.5, 0.5)
    assert interval.excludes(0.0) and not interval.excludes(0.5)


def test_text_writes_estimate_and_bounds():
    """text() writes the estimate and the bounds with the given formatter."""
    interval = Interval(0.5, 0.25, 0.75, 8, 0.95)
    assert interval.text(lambda v: f"{v:.2f}") == "0.50 (95% interval 0.25 to 0.75)"


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: mean_interval([1.0]), ValueError, "at least two values"),
        (lambda: mean_interval([1.0, float("nan")]), ValueError, "NaN or infinite"),
        (lambda: mean_interval([[1.0, 2.0]]), ValueError, "one-dimensional"),
        (lambda: mean_interval("12"), TypeError, "sequence of numbers"),
        (lambda: mean_interval(["a", "b"]), TypeError, "numbers only"),
        (lambda: mean_interval([1.0, 2.0], confidence=95), ValueError, "between 0 and 1"),
        (lambda: mean_interval([1.0, 2.0], confidence=True), TypeError, "confidence must be"),
        (lambda: paired_interval([1.0, 2.0], [1.0, 2.0, 3.0]), ValueError, "one value per pair"),
        (
            lambda: paired_interval(pd.Series([1.0, 2.0]), pd.Series([1.0, 2.0], index=[0, 5])),
            ValueError,
            "same unique index labels",
        ),
        (lambda: difference_interval([1.0, 2.0], [3.0]), ValueError, "at least two values"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(call, error, message):
    """Too few values, non-finite values, bad shapes, bad levels and unpaired data are refused."""
    with pytest.raises(error, match=message):
        call()
