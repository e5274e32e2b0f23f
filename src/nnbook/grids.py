"""A model, a rule or the exact posterior evaluated on a regular grid of the input plane.

Grids are built with `torch.meshgrid(..., indexing="xy")`, so `values[i, j]` belongs to
the point `(x[j], y[i])`: rows follow y, as `imshow(origin="lower")` and `contour` expect.
`snapshot_grids` and `mlp_class_grids` evaluate many snapshots of one model at once.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from nnbook._checks import interval, one_of, positive_int
from nnbook.data import ThreeClassProblem
from nnbook.devices import model_device
from nnbook.models import ACTIVATIONS, OUTPUTS, from_logits
from nnbook.training import eval_mode

__all__ = [
    "Grid",
    "mlp_class_grids",
    "model_grid",
    "near_tie_differences",
    "posterior_grid",
    "rule_grid",
    "snapshot_grids",
]


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
    """Axes and points of a grid: `x` (nx,), `y` (ny,), points (ny * nx, 2), rows follow y.

    All float32: every grid and section helper makes its points in this one dtype, and
    hands them to a model in the model's dtype (float32 values are exact in float64).
    """
    if isinstance(steps, int):
        steps = (steps, steps)
    if not isinstance(steps, tuple | list) or len(steps) != 2:
        raise ValueError(f"steps must be an int or a pair (nx, ny), got {steps!r}")
    nx = positive_int("steps (x)", steps[0], minimum=2)
    ny = positive_int("steps (y)", steps[1], minimum=2)
    xlim, ylim = interval("xlim", xlim), interval("ylim", ylim)
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
    """Evaluate a 2-input classifier on a grid; `output` as in `nnbook.models.from_logits`.

    `"proba"`: P(class 1) (ny, nx) for one logit, softmax probabilities (ny, nx, C) for
    several; `"class"`: predicted classes (ny, nx); `"logits"`: raw logits (ny, nx, C).
    """
    one_of("output", output, OUTPUTS)
    x, y, points = grid_points(xlim, ylim, steps)
    device = model_device(model, device)
    dtype = next(model.parameters()).dtype  # float32 points are exact in float64
    with eval_mode(model):
        logits = model(points.to(device, dtype)).cpu()  # (ny * nx, C)
    values = from_logits(logits, output)
    return Grid(x, y, values.reshape(len(y), len(x), *values.shape[1:]))


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
    one_of("output", output, OUTPUTS)
    positive_int("chunk_size", chunk_size)
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
            parts.append(from_logits(logits, output).cpu())
    values = torch.cat(parts)
    return Grid(x, y, values.reshape(n, len(y), len(x), *values.shape[2:]))


# --- many snapshots on one grid, laid out for speed (chapter 8) ---------------------------


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


def _mlp_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """`model.net`'s layers as (state_dict key prefix, layer): Linear or elementwise only."""
    net = getattr(model, "net", None)
    if not isinstance(net, nn.Sequential) or not isinstance(net[0], nn.Linear):
        raise TypeError(
            f"model must be an MLP (an nn.Sequential `net` starting with nn.Linear), "
            f"got {type(model).__name__}"
        )
    prefix = next(k for k, v in model.named_children() if v is net)  # "net"
    for name, layer in net.named_children():
        if not isinstance(layer, (nn.Linear, *_ELEMENTWISE)):
            raise TypeError(
                f"layer {name} of model.net is a {type(layer).__name__}; expected nn.Linear "
                f"or an elementwise activation ({', '.join(t.__name__ for t in _ELEMENTWISE)})"
            )
    return [(f"{prefix}.{name}", layer) for name, layer in net.named_children()]


def _stacked_forward(
    layers: list[tuple[str, nn.Module]], stacked: Mapping[str, torch.Tensor], h: torch.Tensor
) -> torch.Tensor:
    """Logits (S, C, n) of all S stacked snapshots for the points in the columns of `h` (2, n)."""
    n_snap = next(iter(stacked.values())).shape[0]
    for i, (key, layer) in enumerate(layers):
        if not isinstance(layer, nn.Linear):
            in_place = _IN_PLACE.get(type(layer))
            h = in_place(h) if in_place is not None else layer(h)  # elementwise
        elif i == 0:  # every snapshot's first layer as one product: (S * o, 2) @ (2, n)
            weight, bias = stacked[f"{key}.weight"], stacked[f"{key}.bias"]
            h = torch.addmm(bias.reshape(-1, 1), weight.reshape(-1, weight.shape[2]), h)
            h = h.view(n_snap, weight.shape[1], -1)  # (S, o, n)
        else:
            weight, bias = stacked[f"{key}.weight"], stacked[f"{key}.bias"]
            h = torch.baddbmm(bias.unsqueeze(2), weight, h)  # (S, o, n)
    return h


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
    products as in a per-snapshot forward pass, but other kernels may add them in another
    order, so the classes match it to float32 rounding: they can differ only where two
    logits tie to within rounding. Requires `model.net`: an `nn.Sequential` of `nn.Linear`
    layers and elementwise activations, as `MLP` builds it; the logits must be finite.
    """
    positive_int("chunk_size", chunk_size)
    layers = _mlp_layers(model)
    stacked = stack_snapshots(snapshots)
    x, y, points = grid_points(xlim, ylim, steps)
    device = model_device(model, device)
    stacked = {k: v.to(device) for k, v in stacked.items()}
    columns = points.T.contiguous().to(device)  # (2, ny * nx): one point per column
    n_snap, n_points = len(snapshots), columns.shape[1]
    classes = torch.empty(n_snap, n_points, dtype=torch.int64, device=device)
    for start in range(0, n_points, chunk_size):
        h = columns[:, start : start + chunk_size]  # (2, n), shared by all snapshots
        classes[:, start : start + chunk_size] = _first_argmax(_stacked_forward(layers, stacked, h))
    return Grid(x, y, classes.cpu().reshape(n_snap, len(y), len(x)))


@torch.no_grad()
def near_tie_differences(
    model: nn.Module,
    snapshots: Sequence[Mapping[str, torch.Tensor]],
    classes_a: torch.Tensor,
    classes_b: torch.Tensor,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    tol: float = 1e-4,
) -> int:
    """How many points two (S, ny, nx) class grids of the same snapshots disagree on.

    Two correct methods that run different kernels may round a near-tie of two logits
    either way, and only that. So every point where they differ is re-evaluated in
    float64; if the two classes' logits there do not tie to within `tol` of the largest,
    one of the methods is wrong, and a ValueError says where.
    """
    if classes_a.shape != classes_b.shape or classes_a.ndim != 3:
        raise ValueError(
            f"need two class grids of one shape (S, ny, nx), got {tuple(classes_a.shape)} "
            f"and {tuple(classes_b.shape)}"
        )
    steps = (classes_a.shape[2], classes_a.shape[1])
    x, y, _ = grid_points(xlim, ylim, steps)
    exact = copy.deepcopy(model).double()
    differ = (classes_a != classes_b).nonzero().tolist()  # [snapshot, row, column] per point
    for s, i, j in differ:
        exact.load_state_dict(snapshots[s])
        point = torch.stack([x[j], y[i]]).double().unsqueeze(0)  # the float32 point, exactly
        with eval_mode(exact):
            logits = exact(point.to(next(exact.parameters()).device))[0].cpu()
        a, b = int(classes_a[s, i, j]), int(classes_b[s, i, j])
        gap = float(logits.max() - torch.minimum(logits[a], logits[b]))
        if gap >= tol:
            raise ValueError(
                f"snapshot {s}, grid point ({i}, {j}): classes {a} and {b} differ, but their "
                f"logits are {gap:.1e} apart, not a near-tie (tolerance {tol})"
            )
    return len(differ)
