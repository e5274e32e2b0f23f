"""What the hidden units of a one-hidden-layer MLP compute on a 2-D input plane.

Hidden unit j of the first layer computes the pre-activation z_j = w_j . x + b_j, a plane
over the input plane, and passes it through the activation. Where z_j = 0 is a straight
line, the unit's line: on its positive side (z_j > 0) the unit's output is above its
middle value, on the other side below. The output layer only combines these unit outputs,
so the lines are the building blocks of every boundary the network draws.

A unit is *saturated* where its activation is flat, so that moving the input barely moves
its output and its gradient nearly vanishes:

- tanh: |tanh(z)| > threshold, that is |z| > atanh(threshold); its slope there is below
  1 - threshold**2 (0.19 for the default 0.9);
- sigmoid: |2 sigmoid(z) - 1| > threshold, the same test on sigmoid's own scale, that is
  |z| > 2 atanh(threshold);
- ReLU: z < 0, where the unit is *dead* (output and slope exactly 0); the threshold does
  not apply.

Every unit's saturated region is one or two half-planes bounded by lines parallel to its
line, which is how `draw_unit_lines` shades them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.patches import Polygon
from torch import nn

from nnbook._checks import finite, interval, one_of, tensor
from nnbook.grids import Grid, grid_points
from nnbook.plotting import new_axes

__all__ = [
    "SATURATING",
    "box_halfplane",
    "clip_line",
    "draw_unit_lines",
    "pre_activations",
    "saturated_fraction",
    "saturation",
    "saturation_grid",
    "unit_lines",
]

# The activations whose saturation this module defines, and their modules.
SATURATING: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "relu": nn.ReLU}


def _first_linear(model: nn.Module) -> tuple[nn.Linear, list[nn.Module]]:
    """The first `nn.Linear` of `model` (with 2 inputs) and the modules that come after it."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    modules = list(model.modules())
    for i, module in enumerate(modules):
        if isinstance(module, nn.Linear):
            if module.in_features != 2:
                raise ValueError(
                    "hidden-unit lines need a first layer with 2 inputs (a point of the plane); "
                    f"the first nn.Linear of this model has in_features={module.in_features}"
                )
            return module, modules[i + 1 :]
    raise ValueError(f"model has no nn.Linear layer, so it has no hidden units: {model}")


def unit_lines(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The first layer's weights `w` (H, 2) and biases `b` (H,), float64 on the CPU.

    Unit j's line is `w[j] @ x + b[j] = 0`, and `w[j]` points to its positive side.
    A first layer without a bias gives zero biases.
    """
    linear, _ = _first_linear(model)
    w = linear.weight.detach().to("cpu", torch.float64).clone()  # (H, 2)
    if linear.bias is None:
        return w, torch.zeros(w.shape[0], dtype=torch.float64)
    return w, linear.bias.detach().to("cpu", torch.float64).clone()  # (H,)


def pre_activations(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """The pre-activations z = X @ w.T + b (N, H) of the first layer, in float64 on the CPU.

    Computed from `unit_lines` in float64, so they do not depend on the model's device or
    float32 kernels; they agree with the model's own first layer to its rounding.
    """
    X = tensor("X", X)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (N, 2), got {tuple(X.shape)}")
    if not X.is_floating_point():
        raise TypeError(f"X must be floating point, got {X.dtype}")
    w, b = unit_lines(model)
    return X.detach().to("cpu", torch.float64) @ w.T + b  # (N, H)


def _activation_of(model: nn.Module, activation: str | None) -> str:
    """The hidden activation's name: given, the MLP's own, or the module after the first layer."""
    if activation is not None:
        return one_of("activation", activation, SATURATING)
    _, after = _first_linear(model)
    own = getattr(model, "activation", None)
    if isinstance(own, str):
        return one_of("the model's activation", own, SATURATING)
    for module in after:
        if isinstance(module, nn.Linear):
            break
        for name, kind in SATURATING.items():
            if isinstance(module, kind):
                return name
    raise ValueError(
        "cannot tell the hidden activation of this model (no tanh, sigmoid or ReLU module "
        "follows its first nn.Linear); pass activation='tanh', 'sigmoid' or 'relu'"
    )


def _saturation_levels(activation: str, threshold: float) -> tuple[float, float]:
    """(low, high): a unit with this activation is saturated where z < low or z > high."""
    threshold = finite("threshold", threshold)
    if activation == "relu":
        return 0.0, math.inf  # dead below 0; the threshold does not apply
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must lie strictly between 0 and 1, got {threshold}")
    edge = math.atanh(threshold) * (2.0 if activation == "sigmoid" else 1.0)
    return -edge, edge


def saturation(
    model: nn.Module, X: torch.Tensor, threshold: float = 0.9, activation: str | None = None
) -> torch.Tensor:
    """Which unit is saturated at which point: a boolean tensor (N, H).

    The definitions per activation are in the module's docstring; `activation` defaults to
    the model's own (an `MLP`'s `activation`, or the module after the first `nn.Linear`).
    """
    low, high = _saturation_levels(_activation_of(model, activation), threshold)
    z = pre_activations(model, X)  # (N, H)
    return (z < low) | (z > high)


def saturated_fraction(
    model: nn.Module, X: torch.Tensor, threshold: float = 0.9, activation: str | None = None
) -> torch.Tensor:
    """The fraction of the points of `X` at which each unit is saturated, shape (H,), float64."""
    mask = saturation(model, X, threshold=threshold, activation=activation)
    if mask.shape[0] == 0:
        raise ValueError("X holds no points, so no fraction can be computed")
    return mask.double().mean(dim=0)


def saturation_grid(
    model: nn.Module,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    steps: int | tuple[int, int] = 200,
    threshold: float = 0.9,
    activation: str | None = None,
) -> Grid:
    """How many units are saturated at each point of a grid: a `Grid` of int64 counts (ny, nx)."""
    x, y, points = grid_points(xlim, ylim, steps)  # points (ny * nx, 2), rows follow y
    mask = saturation(model, points, threshold=threshold, activation=activation)  # (ny * nx, H)
    return Grid(x, y, mask.sum(dim=1).reshape(len(y), len(x)))


# --- geometry: a line or a half-plane inside the box -------------------------------------


def _box(xlim: tuple[float, float], ylim: tuple[float, float]) -> np.ndarray:
    (x0, x1), (y0, y1) = interval("xlim", xlim), interval("ylim", ylim)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)  # counter-clockwise


def box_halfplane(
    w: Sequence[float] | torch.Tensor | np.ndarray,
    b: float,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    level: float = 0.0,
    above: bool = True,
) -> np.ndarray | None:
    """The part of the box where w . x + b > level (`above`) or < level, as polygon vertices.

    Returns the vertices (k, 2) in order, or None when the part is empty (or has no area).
    The box is clipped by the half-plane one edge at a time (Sutherland-Hodgman).
    """
    w1, w2 = (float(v) for v in w)
    sign = 1.0 if above else -1.0

    def inside(p: np.ndarray) -> float:  # >= 0 inside the half-plane
        return sign * (w1 * p[0] + w2 * p[1] + float(b) - level)

    corners = _box(xlim, ylim)
    kept: list[np.ndarray] = []
    for p, q in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        fp, fq = inside(p), inside(q)
        if fp >= 0:
            kept.append(p)
        if (fp >= 0) != (fq >= 0):  # the edge crosses the half-plane's border
            kept.append(p + fp / (fp - fq) * (q - p))
    if len(kept) < 3:
        return None
    poly = np.array(kept)
    area = 0.5 * abs(
        np.dot(poly[:, 0], np.roll(poly[:, 1], -1)) - np.dot(poly[:, 1], np.roll(poly[:, 0], -1))
    )
    return poly if area > 0 else None


def clip_line(
    w: Sequence[float] | torch.Tensor | np.ndarray,
    b: float,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The segment of the line w . x + b = 0 inside the box, as two end points, or None.

    None when the line misses the box, only touches a corner, or does not exist (w = 0).
    Lines parallel to an axis (w1 = 0 or w2 = 0) are segments like any other.
    """
    w1, w2 = (float(v) for v in w)
    (x0, x1), (y0, y1) = interval("xlim", xlim), interval("ylim", ylim)
    ends: list[tuple[float, float]] = []
    if w2 != 0:  # crossings with the left and right edges
        ends += [(x, -(w1 * x + b) / w2) for x in (x0, x1)]
    if w1 != 0:  # crossings with the bottom and top edges
        ends += [(-(w2 * y + b) / w1, y) for y in (y0, y1)]
    tol = 1e-12 * max(x1 - x0, y1 - y0)
    ends = [(x, y) for x, y in ends if x0 - tol <= x <= x1 + tol and y0 - tol <= y <= y1 + tol]
    if len(ends) < 2:
        return None
    direction = np.array([-w2, w1])  # along the line
    ends.sort(key=lambda p: float(np.dot(direction, p)))
    first, last = ends[0], ends[-1]
    if math.dist(first, last) <= tol:
        return None
    return first, last


# --- drawing ---------------------------------------------------------------------------------


def _unit_colors(n: int) -> list:
    """One colour per unit: Dark2 for up to 8 units, tab20 beyond."""
    cmap = mpl.colormaps["Dark2" if n <= 8 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _marks(
    w: np.ndarray, b: float, box: tuple[tuple[float, float], tuple[float, float]], at: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Where a unit's arrow starts, the arrow itself, and where its label goes (None: no line)."""
    segment = clip_line(w, b, *box)
    if segment is None:
        return None
    (xa, ya), (xb, yb) = segment
    (x0, x1), (y0, y1) = box
    # The normal w drawn so that it looks perpendicular when the box is shown about square.
    span = np.array([x1 - x0, y1 - y0])
    normal = w * span  # the normal in box-relative coordinates
    step = 0.08 * span * normal / np.linalg.norm(normal)  # data units; w . step > 0
    start = np.array([xa + at * (xb - xa), ya + at * (yb - ya)])
    spot = np.clip(start + 1.8 * step, [x0, y0] + 0.04 * span, [x1, y1] - 0.04 * span)
    return start, step, spot


def _spread_labels(
    w: torch.Tensor,
    b: torch.Tensor,
    units: list[int],
    box: tuple[tuple[float, float], tuple[float, float]],
) -> list[float]:
    """A place along each unit's segment that keeps its label away from the labels before it.

    Tries the middle first, then points nearer the ends; takes the first at least 12 % of
    the box away (in box-relative units) from every label placed so far, else the farthest.
    """
    span = np.array([box[0][1] - box[0][0], box[1][1] - box[1][0]])
    placed: list[np.ndarray] = []
    places = []
    for j in units:
        best, best_gap = 0.5, -1.0
        for at in (0.5, 0.35, 0.65, 0.2, 0.8, 0.1, 0.9):
            marks = _marks(w[j].numpy(), float(b[j]), box, at)
            if marks is None:
                break
            gap = min((float(np.linalg.norm((marks[2] - p) / span)) for p in placed), default=1.0)
            if gap > best_gap:
                best, best_gap = at, gap
            if gap >= 0.12:
                break
        places.append(best)
        marks = _marks(w[j].numpy(), float(b[j]), box, best)
        if marks is not None:
            placed.append(marks[2])
    return places


def _draw_unit(
    ax: Axes,
    w: np.ndarray,
    b: float,
    box: tuple[tuple[float, float], tuple[float, float]],
    color: Any,
    label: str,
    arrow: bool,
    label_at: float,
    style: dict[str, Any],
) -> None:
    """One unit's line, the arrow to its positive side and its label (nothing if it misses)."""
    segment = clip_line(w, b, *box)
    marks = _marks(w, b, box, label_at)
    if segment is None or marks is None:
        return
    (xa, ya), (xb, yb) = segment
    ax.plot([xa, xb], [ya, yb], color=color, **style)
    start, step, spot = marks
    if arrow:
        ax.annotate(
            "",
            xy=tuple(start + step),
            xytext=tuple(start),
            arrowprops={"arrowstyle": "-|>", "color": color, "linewidth": 1.5},
        )
    ax.text(
        float(spot[0]),
        float(spot[1]),
        label,
        color=color,
        ha="center",
        va="center",
        fontweight="bold",
        bbox={
            "boxstyle": "round,pad=0.15",
            "facecolor": "white",
            "edgecolor": color,
            "alpha": 0.85,
        },
    )


def _shade_saturation(
    ax: Axes,
    w: torch.Tensor,
    b: float,
    box: tuple[tuple[float, float], tuple[float, float]],
    levels: tuple[float, float],
    color: Any,
    alpha: float,
) -> None:
    """Shade where one unit is saturated: z > high and z < low, each a half-plane of the box."""
    low, high = levels
    for level, above in ((high, True), (low, False)):
        if not math.isfinite(level):
            continue  # a ReLU unit has no upper saturated side
        poly = box_halfplane(w, b, *box, level=level, above=above)
        if poly is not None:
            ax.add_patch(Polygon(poly, closed=True, facecolor=color, alpha=alpha, linewidth=0))


def draw_unit_lines(
    model: nn.Module,
    ax: Axes | None = None,
    *,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    units: Sequence[int] | None = None,
    labels: Sequence[str] | None = None,
    colors: Sequence[Any] | None = None,
    threshold: float | None = None,
    activation: str | None = None,
    arrows: bool = True,
    label_at: float | Sequence[float] | None = None,
    shade_alpha: float = 0.15,
    **kwargs: Any,
) -> Axes:
    """Draw each hidden unit's line w . x + b = 0 inside the box `xlim` x `ylim`.

    Each unit gets its own colour, a label (its index by default) on its positive side, and
    an arrow from the point `label_at` of the way along its segment towards that side: one
    fraction for all units, one per unit drawn, or by default a place for each that keeps
    its label away from the labels of the units before it.
    With a `threshold`, each unit's saturated region (see `saturation`) is shaded in its
    colour. A line that misses the box is not drawn (its shading still is). `units` picks
    which units to draw; `kwargs` go to the lines (`linewidth`, `linestyle`, ...). The axes
    are limited to the box.
    """
    w_all, b_all = unit_lines(model)
    box = (interval("xlim", xlim), interval("ylim", ylim))
    chosen = list(range(w_all.shape[0])) if units is None else [int(j) for j in units]
    for j in chosen:
        if not 0 <= j < w_all.shape[0]:
            raise IndexError(f"unit {j} is out of range for {w_all.shape[0]} hidden units")
    if labels is not None and len(labels) != len(chosen):
        raise ValueError(f"got {len(labels)} labels for {len(chosen)} units")
    if colors is not None and len(colors) != len(chosen):
        raise ValueError(f"got {len(colors)} colors for {len(chosen)} units")
    if label_at is None:  # labels kept apart, also for lines that cross at one point
        places = _spread_labels(w_all, b_all, chosen, box)
    elif isinstance(label_at, int | float):
        places = [label_at] * len(chosen)
    else:
        places = list(label_at)
    if len(places) != len(chosen) or not all(0 <= p <= 1 for p in places):
        raise ValueError(
            "label_at must be a fraction of the segment between 0 and 1, or one per unit "
            f"drawn ({len(chosen)}), got {label_at}"
        )
    # A unit keeps its default colour whichever units are drawn.
    default = _unit_colors(w_all.shape[0])
    color_of = dict(
        zip(chosen, colors if colors is not None else [default[j] for j in chosen], strict=True)
    )
    ax = new_axes(ax)
    if threshold is not None:
        levels = _saturation_levels(_activation_of(model, activation), threshold)
        for j in chosen:
            _shade_saturation(ax, w_all[j], float(b_all[j]), box, levels, color_of[j], shade_alpha)
    style = {"linewidth": 2.0} | kwargs
    for k, j in enumerate(chosen):
        label = labels[k] if labels is not None else str(j)
        _draw_unit(
            ax, w_all[j].numpy(), float(b_all[j]), box, color_of[j], label, arrows, places[k], style
        )
    ax.set_xlim(box[0])
    ax.set_ylim(box[1])
    ax.set_xlabel(r"$x_1$")
    ax.set_ylabel(r"$x_2$")
    return ax
