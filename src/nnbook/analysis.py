"""Computations behind the figures: roots, model outputs on grids and cross-sections."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Grid", "find_roots", "grid_points", "model_grid"]


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
    nx, ny = (steps, steps) if isinstance(steps, int) else steps
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
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    logits = model(points.to(device)).cpu()  # (ny * nx, C)
    model.train(was_training)
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
