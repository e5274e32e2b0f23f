"""Computations behind the figures: roots, model outputs on grids and cross-sections."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from nnbook.data import ThreeClassProblem
from nnbook.devices import model_device
from nnbook.models import ACTIVATIONS
from nnbook.training import eval_mode

__all__ = [
    "Grid",
    "cross_section",
    "find_roots",
    "grid_points",
    "largest_drops",
    "mlp_class_grids",
    "model_grid",
    "posterior_grid",
    "posterior_section",
    "rule_grid",
    "section_boundaries",
    "snapshot_grids",
    "stack_snapshots",
    "wrong_side_fractions",
]


def find_roots(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Where the sampled curve `y(x)` crosses zero, by linear interpolation.

    `x` and `y` are 1-D of the same length; returns every crossing in order of `x`
    (empty when there is none). A sample exactly at zero counts once.
    """
    x, y = torch.as_tensor(x), torch.as_tensor(y)
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


@dataclass(frozen=True)
class Grid:
    """Values on a regular grid: `values[i, j]` belongs to the point `(x[j], y[i])`.

    `x` has shape (nx,), `y` (ny,), `values` (ny, nx, ...): rows follow y, as
    `imshow(values, origin="lower", extent=grid.extent)` and `contour(x, y, values)` expect.
    """

    x: torch.Tensor
    y: torch.Tensor
    values: torch.Tensor

    @property
    def extent(self) -> tuple[float, float, float, float]:
        return (self.x[0].item(), self.x[-1].item(), self.y[0].item(), self.y[-1].item())


def grid_points(
    xlim: tuple[float, float], ylim: tuple[float, float], steps: int | tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Axes and points of a grid: `x` (nx,), `y` (ny,), points (ny * nx, 2), rows follow y."""
    if isinstance(steps, int):
        steps = (steps, steps)
    if not isinstance(steps, tuple | list) or len(steps) != 2:
        raise ValueError(f"steps must be an int or a pair (nx, ny), got {steps!r}")
    nx, ny = steps
    for name, n in [("steps (x)", nx), ("steps (y)", ny)]:
        if not isinstance(n, int) or n < 2:
            raise ValueError(f"{name} must be an int of at least 2, got {n!r}")
    for name, (lo, hi) in [("xlim", xlim), ("ylim", ylim)]:
        if not hi > lo:
            raise ValueError(f"{name} must have positive extent (low < high), got {(lo, hi)}")
    x = torch.linspace(xlim[0], xlim[1], nx)
    y = torch.linspace(ylim[0], ylim[1], ny)
    xx, yy = torch.meshgrid(x, y, indexing="xy")  # both (ny, nx)
    return x, y, torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


@torch.no_grad()
def model_grid(
    model: nn.Module,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    steps: int | tuple[int, int] = 200,
    output: str = "proba",
    device: torch.device | str | None = None,
) -> Grid:
    """Evaluate a 2-input classifier on a grid.

    `output="proba"`: for one logit, P(class 1) of shape (ny, nx); for C logits,
    softmax probabilities (ny, nx, C). `output="class"`: predicted class (ny, nx).
    `output="logits"`: raw logits (ny, nx, C).
    """
    if output not in ("proba", "class", "logits"):
        raise ValueError(f"output must be 'proba', 'class' or 'logits', got {output!r}")
    x, y, points = grid_points(xlim, ylim, steps)
    device = model_device(model, device)
    with eval_mode(model):
        logits = model(points.to(device)).cpu()  # (ny * nx, C)
    shape = (len(y), len(x))
    if output == "logits":
        values = logits.reshape(*shape, -1)
    elif logits.shape[1] == 1:
        values = torch.sigmoid(logits[:, 0]) if output == "proba" else (logits[:, 0] > 0).long()
        values = values.reshape(shape)
    elif output == "proba":
        values = torch.softmax(logits, dim=1).reshape(*shape, -1)
    else:
        values = logits.argmax(dim=1).reshape(shape)
    return Grid(x, y, values)


# --- the three-class problem: its exact answers on grids, sections and re-drawn samples ----


def rule_grid(
    predict: Callable[[torch.Tensor], torch.Tensor],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    steps: int | tuple[int, int] = 400,
) -> Grid:
    """Classes that a rule `predict(X) -> (N,)` assigns on a grid; values (ny, nx), int64.

    `predict` is a function of float64 points, such as `problem.bayes_predict` or
    `problem.centerline_predict`; for a trained model use `model_grid(..., output="class")`.
    """
    if not callable(predict):
        raise TypeError(f"predict must be callable, got {type(predict).__name__}")
    x, y, points = grid_points(xlim, ylim, steps)
    labels = predict(points.to(torch.float64))  # (ny * nx,)
    if labels.shape != (points.shape[0],):
        raise ValueError(
            f"predict must return one class per point, shape ({points.shape[0]},), "
            f"got {tuple(labels.shape)}"
        )
    return Grid(x, y, labels.long().reshape(len(y), len(x)))


def posterior_grid(problem: ThreeClassProblem, steps: int | tuple[int, int] = 200) -> Grid:
    """The exact posterior P(class | x) on a grid over the problem's domain; values (ny, nx, 3)."""
    x, y, points = grid_points(problem.xlim, problem.ylim, steps)
    post = problem.posterior(points.to(torch.float64))  # (ny * nx, 3)
    return Grid(x, y, post.reshape(len(y), len(x), -1))


def posterior_section(problem: ThreeClassProblem, x1: float, steps: int = 301) -> pd.DataFrame:
    """The exact posterior along the vertical line at `x1`, in long format.

    Returns a DataFrame with columns `x2`, `class` and `prob`: `steps` rows per class,
    x2 running from the bottom of the domain to its top.
    """
    if not problem.x1_min <= x1 <= problem.x1_max:
        raise ValueError(f"x1 must lie in {problem.xlim}, got {x1}")
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an int of at least 2, got {steps!r}")
    x2 = torch.linspace(problem.x2_min, problem.x2_max, steps, dtype=torch.float64)
    points = torch.stack([torch.full_like(x2, x1), x2], dim=1)  # (steps, 2)
    wide = pd.DataFrame(problem.posterior(points).numpy())
    wide.insert(0, "x2", x2.numpy())
    return wide.melt(id_vars="x2", var_name="class", value_name="prob")


def wrong_side_fractions(
    problem: ThreeClassProblem,
    n: int,
    repeats: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Wrong-side share in each of `repeats` fresh samples of `n` points; shape (repeats,).

    Each sample is drawn as `problem.make_dataset(n)` draws it; the share is the
    fraction of its points that `problem.wrong_side` flags.
    """
    for name, value in [("n", n), ("repeats", repeats)]:
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    X, y = problem.make_dataset(n * repeats, generator)  # all samples in one draw
    wrong = problem.wrong_side(X, y).reshape(repeats, n)
    return wrong.to(torch.float64).mean(dim=1)


# --- many snapshots at once, cross-sections and abrupt changes (chapter 5) ----------------


def stack_snapshots(snapshots: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack state_dicts of one architecture along a new first dimension: each entry (S, ...)."""
    snapshots = list(snapshots)
    if not snapshots:
        raise ValueError(
            "snapshots must hold at least one state_dict, got none "
            "(a report keeps snapshots only when trained with keep_snapshots=True)"
        )
    keys = list(snapshots[0])
    for i, snap in enumerate(snapshots):
        if list(snap) != keys:
            raise ValueError(
                f"snapshot {i} has keys {sorted(snap)}, but snapshot 0 has {sorted(keys)}"
            )
        for k in keys:
            if snap[k].shape != snapshots[0][k].shape:
                raise ValueError(
                    f"snapshot {i} has {k} of shape {tuple(snap[k].shape)}, but snapshot 0 "
                    f"has {tuple(snapshots[0][k].shape)}: the snapshots come from different models"
                )
    return {k: torch.stack([snap[k] for snap in snapshots]) for k in keys}


def _outputs_from_logits(logits: torch.Tensor, output: str) -> torch.Tensor:
    """Classes, probabilities or logits from logits (..., C), as `model_grid` defines them."""
    if output == "logits":
        return logits
    if logits.shape[-1] == 1:  # one logit: binary
        if output == "proba":
            return torch.sigmoid(logits[..., 0])
        return (logits[..., 0] > 0).long()
    if output == "proba":
        return torch.softmax(logits, dim=-1)
    return logits.argmax(dim=-1)


@torch.no_grad()
def snapshot_grids(
    model: nn.Module,
    snapshots: Sequence[Mapping[str, torch.Tensor]],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    steps: int | tuple[int, int] = 600,
    output: str = "class",
    device: torch.device | str | None = None,
    chunk_size: int = 8,
) -> Grid:
    """Evaluate `model` with the weights of every snapshot on one grid, batched over snapshots.

    `model` supplies the architecture; its own weights are not used. The snapshots are
    stacked and run through `torch.func.functional_call` under `torch.vmap`, `chunk_size`
    snapshots per pass to bound memory. Values are (S, ny, nx) for `output="class"`, and
    (S, ny, nx, C) for `"proba"` or `"logits"` (C = 1 gives (S, ny, nx) probabilities),
    each slice equal to `model_grid` run on that snapshot.
    """
    if output not in ("proba", "class", "logits"):
        raise ValueError(f"output must be 'proba', 'class' or 'logits', got {output!r}")
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    stacked = stack_snapshots(snapshots)
    x, y, points = grid_points(xlim, ylim, steps)
    device = model_device(model, device)
    points = points.to(device)

    def forward(params: dict[str, torch.Tensor], X: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(model, params, (X,))

    batched = torch.vmap(forward, in_dims=(0, None))  # params (S, ...), points shared
    parts = []
    n = len(snapshots)
    with eval_mode(model):
        for start in range(0, n, chunk_size):
            params = {k: v[start : start + chunk_size].to(device) for k, v in stacked.items()}
            logits = batched(params, points)  # (s, ny * nx, C)
            parts.append(_outputs_from_logits(logits, output).cpu())
    values = torch.cat(parts)
    return Grid(x, y, values.reshape(n, len(y), len(x), *values.shape[2:]))


@torch.no_grad()
def cross_section(
    model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    x1: float,
    ylim: tuple[float, float],
    steps: int = 300,
    device: torch.device | str | None = None,
) -> pd.DataFrame:
    """Class probabilities along the vertical line at `x1`, in long format.

    `model` is a classifier (its logits go through softmax) or any function that maps
    points (N, 2) to probabilities (N, C), such as `problem.posterior`. Returns a
    DataFrame with columns `x2`, `class` and `prob` (as `posterior_section`): `steps`
    rows per class, x2 rising from `ylim[0]` to `ylim[1]`.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 2:
        raise ValueError(f"steps must be an int of at least 2, got {steps!r}")
    if not ylim[1] > ylim[0]:
        raise ValueError(f"ylim must have positive extent (low < high), got {ylim}")
    x2 = torch.linspace(ylim[0], ylim[1], steps)
    points = torch.stack([torch.full_like(x2, float(x1)), x2], dim=1)  # (steps, 2)
    if isinstance(model, nn.Module):
        device = model_device(model, device)
        with eval_mode(model):
            probs = torch.softmax(model(points.to(device)), dim=1).cpu()
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
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
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


# --- many snapshots on one grid, laid out for speed (chapter 7) ---------------------------


_ELEMENTWISE: tuple[type[nn.Module], ...] = tuple(ACTIVATIONS.values())
# In-place forms of the activations: the hidden layer of a chunk is a fresh tensor that
# nothing else holds, so overwriting it saves one allocation and one pass over memory.
_IN_PLACE = {nn.Tanh: torch.tanh_, nn.ReLU: torch.relu_, nn.Sigmoid: torch.sigmoid_}


def _first_argmax(logits: torch.Tensor) -> torch.Tensor:
    """Classes from (S, C, N) logits as `model_grid` defines them; (S, N) uint8.

    One logit: class 1 where it is positive. Several: `logits.argmax(dim=1)`, computed by
    comparisons; a strict `>` keeps the first maximum, as `argmax` does. `argmax` over a
    short middle dimension is a slow strided reduction; a few whole-array comparisons are not.
    """
    if logits.shape[1] == 1:
        return torch.gt(logits[:, 0], 0).view(torch.uint8)
    classes = torch.gt(logits[:, 1], logits[:, 0]).view(torch.uint8)  # bool is one byte
    best = logits[:, 0]
    for c in range(2, logits.shape[1]):
        best = torch.maximum(best, logits[:, c - 1])
        classes.masked_fill_(torch.gt(logits[:, c], best), c)
    return classes


@torch.no_grad()
def mlp_class_grids(
    model: nn.Module,
    snapshots: Sequence[Mapping[str, torch.Tensor]],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    steps: int | tuple[int, int] = 600,
    device: torch.device | str | None = None,
    chunk_size: int = 2048,
) -> Grid:
    """Predicted classes of an `MLP` for every snapshot on one grid; values (S, ny, nx) int64.

    The same grids as `snapshot_grids(..., output="class")`, computed in a layout that
    suits tiny layers: points are columns, so the first layer of all S snapshots is one
    matrix product (S * hidden, 2) @ (2, n), and each later layer one batched product
    (S, out, in) @ (S, in, n) with a long inner dimension; `chunk_size` points per pass
    keep the hidden activations in cache. Each logit is the same sum of the same
    products as in a per-snapshot forward pass, so the classes match it (the tests and
    `make bench` check identity). Requires `model.net`: an `nn.Sequential` of `nn.Linear`
    layers and elementwise activations, as `MLP` builds it; the logits must be finite.
    """
    net = getattr(model, "net", None)
    if not isinstance(net, nn.Sequential) or not isinstance(net[0], nn.Linear):
        raise TypeError(
            f"model must be an MLP (an nn.Sequential `net` starting with nn.Linear), "
            f"got {type(model).__name__}"
        )
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    layers = list(net.named_children())
    for name, layer in layers:
        if not isinstance(layer, (nn.Linear, *_ELEMENTWISE)):
            raise TypeError(
                f"layer {name} of model.net is a {type(layer).__name__}; expected nn.Linear "
                f"or an elementwise activation ({', '.join(t.__name__ for t in _ELEMENTWISE)})"
            )
    stacked = stack_snapshots(snapshots)
    prefix = next(k for k, v in model.named_children() if v is net)  # "net"
    x, y, points = grid_points(xlim, ylim, steps)
    device = model_device(model, device)
    stacked = {k: v.to(device) for k, v in stacked.items()}
    columns = points.T.contiguous().to(device)  # (2, ny * nx): one point per column
    n_snap, n_points = len(snapshots), columns.shape[1]
    classes = torch.empty(n_snap, n_points, dtype=torch.int64, device=device)
    for start in range(0, n_points, chunk_size):
        h = columns[:, start : start + chunk_size]  # (2, n), shared by all snapshots
        for i, (name, layer) in enumerate(layers):
            if not isinstance(layer, nn.Linear):
                in_place = _IN_PLACE.get(type(layer))
                h = in_place(h) if in_place is not None else layer(h)  # elementwise
            elif i == 0:
                weight, bias = stacked[f"{prefix}.{name}.weight"], stacked[f"{prefix}.{name}.bias"]
                h = torch.addmm(bias.reshape(-1, 1), weight.reshape(-1, weight.shape[2]), h)
                h = h.view(n_snap, weight.shape[1], -1)  # (S, o, n)
            else:
                weight, bias = stacked[f"{prefix}.{name}.weight"], stacked[f"{prefix}.{name}.bias"]
                h = torch.baddbmm(bias.unsqueeze(2), weight, h)  # (S, o, n)
        classes[:, start : start + chunk_size] = _first_argmax(h)  # uint8 -> int64
    return Grid(x, y, classes.cpu().reshape(n_snap, len(y), len(x)))
