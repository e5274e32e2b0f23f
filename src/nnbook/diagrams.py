"""A fully connected network drawn as a diagram: layers of circles joined by their weights.

`draw_network([2, 4, 1])` draws the inputs, the hidden units and the output as columns of
circles, every circle of one layer joined to every circle of the next (one line per
weight), with each layer's name and size written under its column. A layer wider than
`max_drawn` shows its first and last circles with a vertical ellipsis between them. The
text is at least `nnbook.style.MIN_FONT_PT`, so the diagram stays readable on a phone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.transforms import blended_transform_factory

from nnbook.plotting import new_axes
from nnbook.style import FIGSIZE, MIN_FONT_PT, PALETTE

__all__ = ["draw_network", "layer_labels"]


def _check_sizes(sizes: Sequence[int]) -> list[int]:
    """`sizes` as a list of at least two positive ints; else a ValueError naming the problem."""
    if isinstance(sizes, str | bytes) or not isinstance(sizes, Sequence):
        raise ValueError(f"sizes must be a sequence of layer sizes, got {sizes!r}")
    if len(sizes) < 2:
        raise ValueError(
            f"a network needs at least 2 layers (inputs and outputs), got sizes={list(sizes)}"
        )
    for i, size in enumerate(sizes):
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise ValueError(f"layer sizes must be positive ints, got sizes[{i}] = {size!r}")
    return [int(size) for size in sizes]


def layer_labels(n_layers: int) -> list[str]:
    """The default names of `n_layers` layers: input, hidden (numbered if several), output."""
    if n_layers < 2:
        raise ValueError(f"a network needs at least 2 layers, got {n_layers}")
    hidden = n_layers - 2
    middle = ["hidden"] if hidden == 1 else [f"hidden {i}" for i in range(1, hidden + 1)]
    return ["input", *middle, "output"]


def _drawn_rows(size: int, max_drawn: int) -> tuple[list[float], float | None]:
    """Vertical positions of the circles drawn for a layer, and of its ellipsis (or None)."""
    if size <= max_drawn:
        return [(size - 1) / 2 - i for i in range(size)], None  # the first circle on top
    head = (max_drawn - 1) // 2
    tail = max_drawn - 1 - head
    rows = list(range(head)) + [head + 1 + i for i in range(tail)]  # a gap at row `head`
    centre = (max_drawn - 1) / 2
    return [centre - row for row in rows], centre - head


def draw_network(
    sizes: Sequence[int],
    ax: Axes | None = None,
    labels: Sequence[str] | None = None,
    max_drawn: int = 8,
    color: str = PALETTE["model"],
    fontsize: float = MIN_FONT_PT,
) -> Axes:
    """Draw a fully connected network with layer sizes `sizes` (inputs first) into `ax`.

    Each layer is a column of circles; lines join every circle to every circle of the next
    layer. Under each column: its label (`labels`, default from `layer_labels`) and its
    size. Returns the Axes, drawn without axis lines or ticks.
    """
    sizes = _check_sizes(sizes)
    labels = layer_labels(len(sizes)) if labels is None else [str(label) for label in labels]
    if len(labels) != len(sizes):
        raise ValueError(f"got {len(labels)} labels for {len(sizes)} layers")
    if isinstance(max_drawn, bool) or not isinstance(max_drawn, int) or max_drawn < 3:
        raise ValueError(f"max_drawn must be an int of at least 3, got {max_drawn!r}")
    if not fontsize >= MIN_FONT_PT:
        raise ValueError(f"fontsize must be at least MIN_FONT_PT = {MIN_FONT_PT}, got {fontsize}")
    ax = new_axes(ax, figsize=FIGSIZE)
    layers = [_drawn_rows(size, max_drawn) for size in sizes]
    for k in range(len(sizes) - 1):  # one line per weight, under the circles
        for y0 in layers[k][0]:
            for y1 in layers[k + 1][0]:
                ax.plot([k, k + 1], [y0, y1], color="0.6", linewidth=0.8, zorder=1)
    slots = max(max(rows) - min(rows) for rows, _ in layers) + 1
    height_pt = ax.get_window_extent().height * 72 / ax.figure.dpi
    diameter = min(26.0, 0.6 * height_pt / (slots + 0.4))  # in points, whatever the aspect
    below = blended_transform_factory(ax.transData, ax.transAxes)
    for k, ((rows, ellipsis), size, label) in enumerate(zip(layers, sizes, labels, strict=True)):
        ax.scatter(
            [k] * len(rows),
            rows,
            s=diameter**2,
            marker="o",
            facecolor="white",
            edgecolor=color,
            linewidth=2,
            zorder=2,
        )
        if ellipsis is not None:
            ax.text(k, ellipsis, "⋮", ha="center", va="center", fontsize=fontsize)
        ax.text(
            k,
            -0.02,
            f"{label}\n({size})",
            transform=below,
            ha="center",
            va="top",
            fontsize=fontsize,
        )
    ax.set_xlim(-0.5, len(sizes) - 0.5)
    ax.set_ylim(-(slots - 1) / 2 - 0.7, (slots - 1) / 2 + 0.7)
    ax.axis("off")
    return ax
