"""Cross-sections of the input plane: class probabilities along a line, and their crossings.

Also the one time-series helper the book needs for its training records: the largest
drops of a loss between consecutive records.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from nnbook._checks import finite, finite_tensor, interval, positive_int
from nnbook.data import ThreeClassProblem
from nnbook.devices import model_device
from nnbook.models import from_logits
from nnbook.training import eval_mode

__all__ = [
    "cross_section",
    "find_roots",
    "largest_drops",
    "posterior_section",
    "section_boundaries",
]


def find_roots(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Where the sampled curve `y(x)` crosses zero, by linear interpolation.

    `x` and `y` are 1-D of the same length; returns every crossing in order of `x`
    (empty when there is none). A sample exactly at zero counts once.
    """
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    finite_tensor("find_roots: x", x)
    finite_tensor("find_roots: y", y)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(
            f"x and y must be 1-D of equal length, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.shape[0] < 2:
        raise ValueError(f"need at least two samples to find a crossing, got {x.shape[0]}")
    s = torch.sign(y)
    exact = x[(s == 0)]
    change = torch.nonzero((s[:-1] * s[1:]) < 0, as_tuple=True)[0]  # strict sign changes
    x0, x1, y0, y1 = x[change], x[change + 1], y[change].abs(), y[change + 1].abs()
    crossings = x0 + (x1 - x0) * y0 / (y0 + y1)
    return torch.sort(torch.cat([exact.to(crossings.dtype), crossings])).values


def posterior_section(problem: ThreeClassProblem, x1: float, steps: int = 301) -> pd.DataFrame:
    """The exact posterior along the vertical line at `x1`, in long format.

    Returns a DataFrame with columns `x2`, `class` and `prob`: `steps` rows per class,
    x2 running from the bottom of the domain to its top.
    """
    if not problem.x1_min <= finite("x1", x1) <= problem.x1_max:
        raise ValueError(f"x1 must lie in {problem.xlim}, got {x1}")
    positive_int("steps", steps, minimum=2)
    x2 = torch.linspace(problem.x2_min, problem.x2_max, steps)  # float32, as every helper's
    points = torch.stack([torch.full_like(x2, x1), x2], dim=1).double()  # (steps, 2), exact
    wide = pd.DataFrame(problem.posterior(points).numpy())
    wide.insert(0, "x2", x2.numpy())
    return wide.melt(id_vars="x2", var_name="class", value_name="prob")


@torch.no_grad()
def cross_section(
    model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    x1: float,
    ylim: tuple[float, float],
    steps: int = 300,
    device: torch.device | str | None = None,
) -> pd.DataFrame:
    """Class probabilities along the vertical line at `x1`, in long format.

    `model` is a classifier (its logits become probabilities by `from_logits`: a
    softmax, or a sigmoid for one logit, giving classes 0 and 1) or any function that maps
    points (N, 2) to probabilities (N, C), such as `problem.posterior`. Returns a
    DataFrame with columns `x2`, `class` and `prob` (as `posterior_section`): `steps`
    rows per class, x2 rising from `ylim[0]` to `ylim[1]`.
    """
    positive_int("steps", steps, minimum=2)
    ylim = interval("ylim", ylim)
    x2 = torch.linspace(ylim[0], ylim[1], steps)
    points = torch.stack([torch.full_like(x2, finite("x1", x1)), x2], dim=1)  # (steps, 2)
    if isinstance(model, nn.Module):
        device = model_device(model, device)
        dtype = next(model.parameters()).dtype  # float32 points are exact in float64
        with eval_mode(model):
            probs = from_logits(model(points.to(device, dtype)), "proba").cpu()
        if probs.ndim == 1:  # one logit: P(class 1), so P(class 0) is its complement
            probs = torch.stack([1 - probs, probs], dim=1)
    elif callable(model):
        probs = torch.as_tensor(model(points))
    else:
        raise TypeError(f"model must be an nn.Module or a callable, got {type(model).__name__}")
    if probs.ndim != 2 or probs.shape[0] != steps:
        raise ValueError(f"expected probabilities of shape ({steps}, C), got {tuple(probs.shape)}")
    wide = pd.DataFrame(probs.double().numpy())
    wide.insert(0, "x2", x2.double().numpy())
    return wide.melt(id_vars="x2", var_name="class", value_name="prob")


def section_boundaries(section: pd.DataFrame) -> pd.DataFrame:
    """Where the most probable class changes along a cross-section, by root finding.

    `section` is long format (`x2`, `class`, `prob`), as `cross_section` returns. For each
    pair of classes a < b, the roots of p_a - p_b (linear interpolation) are kept where
    a and b are the two most probable classes, that is, where the predicted class
    switches between them. Returns a DataFrame with columns `class_a`, `class_b`, `x2`,
    sorted by `x2`.
    """
    missing = {"x2", "class", "prob"} - set(section.columns)
    if missing:
        raise ValueError(f"section needs columns x2, class and prob; missing {sorted(missing)}")
    wide = section.pivot(index="x2", columns="class", values="prob").sort_index()
    x2 = wide.index.to_numpy(dtype=np.float64)
    probs = wide.to_numpy(dtype=np.float64)  # (steps, C)
    classes = list(wide.columns)
    rows = []
    for i, j in itertools.combinations(range(len(classes)), 2):
        diff = torch.from_numpy(probs[:, i] - probs[:, j])
        for root in find_roots(torch.tensor(x2), diff).tolist():
            at_root = np.array([np.interp(root, x2, probs[:, k]) for k in range(len(classes))])
            others = np.delete(at_root, [i, j])
            if others.size == 0 or others.max() < at_root[i]:
                rows.append({"class_a": classes[i], "class_b": classes[j], "x2": root})
    frame = pd.DataFrame(rows, columns=["class_a", "class_b", "x2"])
    return frame.sort_values("x2", ignore_index=True)


def largest_drops(values: pd.Series, k: int = 3, start: float | None = None) -> pd.DataFrame:
    """The `k` largest decreases between consecutive entries of a series indexed by epoch.

    With `start`, only changes that end at an epoch >= `start` count (e.g. to skip the
    initial descent). Returns a DataFrame with columns `epoch_before`, `epoch`, `before`,
    `after` and `drop` (before - after, positive), largest drop first.
    """
    if not isinstance(values, pd.Series):
        raise TypeError(
            f"values must be a pandas Series indexed by epoch, got {type(values).__name__}"
        )
    positive_int("k", k)
    if len(values) < 2:
        raise ValueError(f"need at least two values to find a change, got {len(values)}")
    frame = pd.DataFrame(
        {
            "epoch_before": values.index[:-1],
            "epoch": values.index[1:],
            "before": values.to_numpy()[:-1],
            "after": values.to_numpy()[1:],
        }
    )
    frame["drop"] = frame["before"] - frame["after"]
    if start is not None:
        frame = frame[frame["epoch"] >= start]
    return frame.nlargest(k, "drop").reset_index(drop=True)
