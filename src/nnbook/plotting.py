"""Helpers that draw what was computed elsewhere, in the book's style (`nnbook.style`).

Every helper takes `ax=None`, creates a figure only when none is given, returns the Axes,
never calls `plt.show()` and never runs a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes

from nnbook.data import ThreeClassProblem
from nnbook.grids import Grid
from nnbook.style import CLASS_MARKERS, FIGSIZE, MAX_CLASSES, PALETTE, class_colors

__all__ = [
    "new_axes",
    "plot_binary_regions",
    "plot_boundary_evolution",
    "plot_boundary_stages",
    "plot_centerlines",
    "plot_class_boundaries",
    "plot_grid_image",
    "plot_matmul",
    "scatter_classes",
]


def new_axes(ax: Axes | None = None, figsize: tuple[float, float] | None = None) -> Axes:
    """Return `ax`, or the Axes of a new figure when `ax` is None."""
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize or FIGSIZE)
    return ax


def _to_numpy(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def scatter_classes(
    X, y, ax: Axes | None = None, labels: Sequence[str] | None = None, **kwargs
) -> Axes:
    """Scatter 2-D points, one colour and marker per class."""
    ax = new_axes(ax)
    X, y = _to_numpy(X), _to_numpy(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (N, 2), got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    style: dict[str, Any] = {
        "s": 18,
        "edgecolor": "#333333",
        "linewidth": 0.4,
        "alpha": 0.9,
    } | kwargs
    classes = np.unique(y)
    if len(classes) and (classes.min() < 0 or classes.max() >= MAX_CLASSES):
        raise ValueError(
            f"scatter_classes draws at most {MAX_CLASSES} classes (labels 0 to "
            f"{MAX_CLASSES - 1}), each in its own colour; got labels {classes.min()} to "
            f"{classes.max()}"
        )
    for c in classes:
        name = labels[int(c)] if labels is not None else f"class {int(c)}"
        mask = y == c
        ax.scatter(
            X[mask, 0],
            X[mask, 1],
            color=class_colors()[int(c)],
            marker=CLASS_MARKERS[int(c) % len(CLASS_MARKERS)],
            label=name,
            **style,
        )
    ax.set_xlabel(r"$x_1$")
    ax.set_ylabel(r"$x_2$")
    return ax


def plot_grid_image(
    grid: Grid, ax: Axes | None = None, colorbar_label: str | None = None, **kwargs
) -> Axes:
    """Show a (ny, nx) grid of values as an image, with y pointing up."""
    ax = new_axes(ax)
    values = _to_numpy(grid.values)
    if values.ndim != 2:
        raise ValueError(f"plot_grid_image needs (ny, nx) values, got shape {values.shape}")
    style: dict[str, Any] = {
        "cmap": "RdBu_r",
        "vmin": 0.0,
        "vmax": 1.0,
        "alpha": 0.6,
        "aspect": "auto",
    } | kwargs
    image = ax.imshow(values, origin="lower", extent=grid.extent, **style)
    if colorbar_label is not None:
        ax.figure.colorbar(image, ax=ax, label=colorbar_label)
    ax.grid(False)
    return ax


def plot_matmul(frame: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Plot GFLOP/s against matrix size, one line per device (and thread count)."""
    ax = new_axes(ax)
    keys = [k for k in ("device", "threads") if k in frame.columns]
    for key, part in frame.groupby(keys):
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{k}={v}" for k, v in zip(keys, key, strict=True))
        ax.plot(part["size"], part["gflops"], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("matrix size n (n x n times n x n)")
    ax.set_ylabel("GFLOP/s (median)")
    ax.legend()
    return ax


def plot_centerlines(
    problem: ThreeClassProblem, ax: Axes | None = None, steps: int = 400, **kwargs
) -> Axes:
    """Draw the two centerlines of a three-class problem and set the axes to its domain.

    The upper line is drawn across the domain; the lower line only where it separates
    classes 0 and 1, between the bottom edge and the point where it meets the upper line.
    """
    ax = new_axes(ax)
    x1 = torch.linspace(problem.x1_min, problem.x1_max, steps, dtype=torch.float64)
    upper, lower = problem.upper(x1), problem.lower(x1)
    visible = (lower >= problem.x2_min) & (lower <= upper)
    lower = torch.where(visible, lower, torch.nan)  # NaN leaves a gap in the line
    style: dict[str, Any] = {"color": PALETTE["centerline"], "linewidth": 2.0} | kwargs
    ax.plot(x1.numpy(), upper.numpy(), **style)
    style.pop("label", None)  # one legend entry for both lines
    ax.plot(x1.numpy(), lower.numpy(), **style)
    ax.set_xlim(problem.xlim)
    ax.set_ylim(problem.ylim)
    ax.set_xlabel(r"$x_1$")
    ax.set_ylabel(r"$x_2$")
    return ax


def plot_class_boundaries(grid: Grid, ax: Axes | None = None, **kwargs) -> Axes:
    """Draw the lines where the class of a (ny, nx) grid of class labels changes."""
    ax = new_axes(ax)
    values = _to_numpy(grid.values)
    if values.ndim != 2:
        raise ValueError(f"plot_class_boundaries needs (ny, nx) class labels, got {values.shape}")
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(
            f"plot_class_boundaries needs integer class labels, got {values.dtype} values "
            "(probabilities?); pass model_grid(..., output='class')"
        )
    x, y = _to_numpy(grid.x), _to_numpy(grid.y)
    style: dict[str, Any] = {"colors": PALETTE["bayes"], "linewidths": 2.0} | kwargs
    for c in np.unique(values):
        # the 0.5-level line of each one-vs-rest indicator; shared edges coincide exactly
        if (values == c).all():
            continue
        ax.contour(x, y, (values == c).astype(float), levels=[0.5], **style)
    return ax


def plot_binary_regions(
    grid: Grid, X, y, ax: Axes | None = None, colorbar_label: str | None = None, **kwargs
) -> Axes:
    """Draw a binary model's P(class 1) on a (ny, nx) grid, with labelled points on top.

    `grid` comes from `nnbook.grids.model_grid(model, ..., output="proba")`; `kwargs`
    go to `plot_grid_image`. The axes are limited to the grid.
    """
    values = _to_numpy(grid.values)
    if values.ndim != 2 or not ((values >= 0) & (values <= 1)).all():
        raise ValueError(
            f"plot_binary_regions needs (ny, nx) probabilities in [0, 1], got shape "
            f"{values.shape} with range [{values.min():.3g}, {values.max():.3g}]"
        )
    ax = plot_grid_image(grid, ax=ax, colorbar_label=colorbar_label, **kwargs)
    scatter_classes(X, y, ax=ax)
    x0, x1, y0, y1 = grid.extent
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    return ax


# --- the decision boundary across training snapshots (chapter 5) -------------------------


def _snapshot_slices(grids: Grid, epochs: Sequence[float]) -> tuple[np.ndarray, list[float]]:
    """Check a stacked Grid of classes (S, ny, nx) against its S epochs."""
    values = _to_numpy(grids.values)
    epochs = [float(e) for e in epochs]
    if values.ndim != 3:
        raise ValueError(f"grids must hold (S, ny, nx) class labels, got shape {values.shape}")
    if len(epochs) != values.shape[0]:
        raise ValueError(f"got {len(epochs)} epochs for {values.shape[0]} snapshot grids")
    return values, epochs


def _epoch_colors(epochs: Sequence[float], cmap: str) -> tuple[mpl.cm.ScalarMappable, list]:
    """A colour per epoch from a sequential colormap spanning the first to the last epoch."""
    norm = mpl.colors.Normalize(vmin=min(epochs), vmax=max(epochs))
    mappable = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
    return mappable, [mappable.get_cmap()(norm(e)) for e in epochs]


def plot_boundary_evolution(
    grids: Grid,
    epochs: Sequence[float],
    ax: Axes | None = None,
    cmap: str = "viridis",
    colorbar: bool = True,
    linewidths: float = 1.0,
) -> Axes:
    """Overlay the class boundaries of every snapshot, coloured by epoch on a colorbar.

    `grids.values` is (S, ny, nx) class labels, one slice per snapshot, as
    `nnbook.grids.snapshot_grids(..., output="class")` returns them.
    """
    values, epochs = _snapshot_slices(grids, epochs)
    ax = new_axes(ax)
    mappable, colors = _epoch_colors(epochs, cmap)
    for classes, color in zip(values, colors, strict=True):
        plot_class_boundaries(
            Grid(grids.x, grids.y, classes), ax=ax, colors=[color], linewidths=linewidths
        )
    if colorbar:
        ax.figure.colorbar(mappable, ax=ax, label="epoch")
    ax.set_xlabel(r"$x_1$")
    ax.set_ylabel(r"$x_2$")
    return ax


def plot_boundary_stages(
    grids: Grid,
    epochs: Sequence[float],
    rows: int = 4,
    cols: int = 5,
    axes: np.ndarray | None = None,
    background: Callable[[Axes], object] | None = None,
    cmap: str = "viridis",
    linewidths: float = 1.0,
) -> np.ndarray:
    """Split the snapshots into `rows` x `cols` consecutive stages, one panel each.

    Each panel overlays its stage's boundaries, coloured by epoch on the same scale as
    `plot_boundary_evolution`, and is titled with its epochs. `background(ax)` (e.g.
    drawing the centerlines) is called on every panel first. Returns the (rows, cols)
    array of Axes.
    """
    values, epochs = _snapshot_slices(grids, epochs)
    for name, n in [("rows", rows), ("cols", cols)]:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{name} must be a positive int, got {n!r}")
    if rows * cols > len(epochs):
        raise ValueError(
            f"{rows} x {cols} stages need at least {rows * cols} snapshots, got {len(epochs)}"
        )
    if axes is None:
        _, axes = plt.subplots(rows, cols, sharex=True, sharey=True, figsize=(12, 7.5))
    axes = np.asarray(axes).reshape(rows, cols)
    _, colors = _epoch_colors(epochs, cmap)
    stages = np.array_split(np.arange(len(epochs)), rows * cols)
    for ax, stage in zip(axes.flat, stages, strict=True):
        if background is not None:
            background(ax)
        for s in stage:
            plot_class_boundaries(
                Grid(grids.x, grids.y, values[s]), ax=ax, colors=[colors[s]], linewidths=linewidths
            )
        first, last = epochs[stage[0]], epochs[stage[-1]]
        ax.set_title(f"epochs {first:g}–{last:g}" if last != first else f"epoch {first:g}")
        ax.set_xlabel(r"$x_1$" if ax in axes[-1] else "")
        ax.set_ylabel(r"$x_2$" if ax in axes[:, 0] else "")
    return axes
