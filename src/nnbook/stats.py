"""Confidence intervals over seeds: of a mean, a paired difference, an unpaired difference.

A setting trained from several random seeds gives one number per seed (a final loss, an
expected accuracy). Its mean over the seeds is an estimate, and the Student-t interval around
it says how far that estimate may be from the mean over endless seeds. Two settings run with
the same seeds (the same initial weights, the same shuffled batches) are compared seed by seed:
the interval of the mean *paired* difference leaves out the variation that the two settings
share. Settings whose runs have nothing in common are compared with Welch's interval for the
difference of two means. An interval that excludes zero shows a clear difference; one that
contains zero shows none that these seeds can tell apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

__all__ = ["Interval", "difference_interval", "mean_interval", "paired_interval"]

Values = Sequence[float] | np.ndarray | pd.Series


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval [low, high] from `n` runs."""

    estimate: float
    low: float
    high: float
    n: int
    confidence: float

    @property
    def half_width(self) -> float:
        """Half the width of the interval (its margin of error)."""
        return (self.high - self.low) / 2

    def excludes(self, value: float = 0.0) -> bool:
        """Whether `value` lies outside the interval: a clear difference from it."""
        return value < self.low or value > self.high

    def text(self, write: Callable[[float], str]) -> str:
        """'estimate (95% interval low to high)', each number written by `write`."""
        level = f"{100 * self.confidence:g}%"
        return f"{write(self.estimate)} ({level} interval {write(self.low)} to {write(self.high)})"


def _values(name: str, values: Values) -> np.ndarray:
    """`values` as a 1-d float array of at least two finite numbers; else a clear error."""
    if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}")
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must hold numbers only: {err}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if len(array) < 2:
        raise ValueError(f"{name} needs at least two values for an interval, got {len(array)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values: {array.tolist()}")
    return array


def _confidence(confidence: float) -> float:
    """`confidence` if it is a number strictly between 0 and 1; else a clear error."""
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise TypeError(f"confidence must be a number, got {type(confidence).__name__}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    return float(confidence)


def _t_interval(estimate: float, se: float, df: float, n: int, confidence: float) -> Interval:
    """estimate ± t(df) quantile × se; a zero standard error gives the point itself."""
    half = 0.0 if se == 0 else float(scipy_stats.t.ppf((1 + confidence) / 2, df)) * se
    return Interval(estimate, estimate - half, estimate + half, n, confidence)


def mean_interval(values: Values, confidence: float = 0.95) -> Interval:
    """The mean of `values` (one per seed) with its Student-t confidence interval."""
    x = _values("values", values)
    confidence = _confidence(confidence)
    se = float(x.std(ddof=1)) / math.sqrt(len(x))
    return _t_interval(float(x.mean()), se, len(x) - 1, len(x), confidence)


def paired_interval(a: Values, b: Values, confidence: float = 0.95) -> Interval:
    """The mean of a - b over pairs (the same seed in both settings), with its interval.

    Pandas Series are paired by their index (both must hold the same labels, in any
    order); other sequences by position, and must have the same length.
    """
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        if set(a.index) != set(b.index) or not a.index.is_unique or not b.index.is_unique:
            raise ValueError(
                "a and b must hold the same unique index labels to be paired, got "
                f"{sorted(a.index.tolist())} and {sorted(b.index.tolist())}"
            )
        b = b.loc[a.index]
    x, y = _values("a", a), _values("b", b)
    if len(x) != len(y):
        raise ValueError(f"a and b must have one value per pair, got {len(x)} and {len(y)}")
    return mean_interval(x - y, confidence)


def difference_interval(a: Values, b: Values, confidence: float = 0.95) -> Interval:
    """mean(a) - mean(b) for independent runs, with Welch's interval (unequal variances)."""
    x, y = _values("a", a), _values("b", b)
    confidence = _confidence(confidence)
    va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = math.sqrt(va + vb)
    # Welch-Satterthwaite degrees of freedom; unused when both samples are constant (se = 0).
    df = (va + vb) ** 2 / (va**2 / (len(x) - 1) + vb**2 / (len(y) - 1)) if se > 0 else 1.0
    return _t_interval(float(x.mean() - y.mean()), se, df, len(x) + len(y), confidence)
