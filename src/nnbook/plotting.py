"""The book's look: one palette and style, and helpers that draw what was computed elsewhere.

Every helper takes `ax=None`, creates a figure only when none is given, returns the
Axes, never calls `plt.show()` and never runs a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap

from nnbook.analysis import Grid

__all__ = [
    "CLASS_COLORS",
    "CLASS_MARKERS",
    "FIGSIZE",
    "PALETTE",
    "new_axes",
    "plot_grid_image",
    "plot_matmul",
    "scatter_classes",
    "use_book_style",
]

# ColorBrewer Set2 for classes (colour-blind safe), a blue/orange pair for train/eval.
CLASS_COLORS: tuple[str, ...] = ("#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3")
CLASS_MARKERS: tuple[str, ...] = ("o", "X", "s", "D")
PALETTE: dict[str, str] = {
    "train": "#2c7bb6",
    "eval": "#d7191c",
    "bayes": "#1a9641",
    "centerline": "#4d4d4d",
    "model": "#2c7bb6",
    "accent": "#fdae61",
}
FIGSIZE: tuple[float, float] = (8.0, 4.5)  # 16:9
DPI = 100


def use_book_style() -> None:
    """Apply the book's matplotlib style (PNG output, fixed size and DPI, light grid)."""
    mpl.rcParams.update(
        {
            "figure.figsize": FIGSIZE,
            "figure.dpi": DPI,
            "savefig.dpi": DPI,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.titlesize": 12,
            "axes.labelsize": 11,
            "legend.frameon": False,
            "image.cmap": "RdBu_r",
            "axes.prop_cycle": mpl.cycler(color=[PALETTE["train"], PALETTE["eval"], *CLASS_COLORS]),
        }
    )


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


def class_cmap(n_classes: int) -> ListedColormap:
    """A colormap with one book colour per class."""
    return ListedColormap(CLASS_COLORS[:n_classes])


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
    style = {"s": 18, "edgecolor": "#333333", "linewidth": 0.4, "alpha": 0.9} | kwargs
    for c in np.unique(y):
        name = labels[int(c)] if labels is not None else f"class {int(c)}"
        mask = y == c
        ax.scatter(
            X[mask, 0],
            X[mask, 1],
            color=CLASS_COLORS[int(c) % len(CLASS_COLORS)],
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
    style = {"cmap": "RdBu_r", "vmin": 0.0, "vmax": 1.0, "alpha": 0.6, "aspect": "auto"} | kwargs
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
