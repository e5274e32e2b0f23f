"""Tests for nnbook.units: hidden-unit lines, pre-activations, saturation and their drawing."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.patches import Polygon
from matplotlib.text import Annotation
from torch import nn

from nnbook.models import MLP
from nnbook.units import (
    box_halfplane,
    clip_line,
    draw_unit_lines,
    pre_activations,
    saturated_fraction,
    saturation,
    saturation_grid,
    unit_lines,
)


def hand_model(w, b, activation="tanh"):
    """An MLP(2, H, 1) whose first layer holds the given weights (H, 2) and biases (H,)."""
    w = torch.tensor(w, dtype=torch.float32)
    model = MLP(2, w.shape[0], 1, activation=activation)
    with torch.no_grad():
        model.net[0].weight.copy_(w)
        model.net[0].bias.copy_(torch.tensor(b, dtype=torch.float32))
    return model


def area(poly):
    """The area of a polygon from its vertices (shoelace formula)."""
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


# --- unit_lines and pre_activations --------------------------------------------------------


def test_unit_lines_are_the_first_layer_in_float64():
    """unit_lines returns the first layer's weights and biases as float64 CPU copies."""
    model = MLP(2, 4, 1)
    w, b = unit_lines(model)
    assert w.dtype == b.dtype == torch.float64
    assert w.shape == (4, 2) and b.shape == (4,)
    torch.testing.assert_close(w, model.net[0].weight.detach().double())
    torch.testing.assert_close(b, model.net[0].bias.detach().double())
    w[0, 0] = 123.0
    assert model.net[0].weight[0, 0].item() != 123.0, "unit_lines must return a copy"


def test_unit_lines_of_any_module_and_without_bias():
    """Any module whose first Linear has 2 inputs works; a missing bias reads as zeros."""
    model = nn.Sequential(nn.Linear(2, 3, bias=False), nn.ReLU(), nn.Linear(3, 1))
    w, b = unit_lines(model)
    assert w.shape == (3, 2)
    torch.testing.assert_close(b, torch.zeros(3, dtype=torch.float64))


@pytest.mark.parametrize(
    ("model", "error", "match"),
    [
        (MLP(3, 4, 1), ValueError, "in_features=3"),
        (nn.Sequential(nn.Tanh()), ValueError, "no nn.Linear"),
        ("not a model", TypeError, "torch.nn.Module"),
    ],
)
def test_unit_lines_refuses_other_shapes(model, error, match):
    """A model without a 2-input first Linear is refused with a message naming the problem."""
    with pytest.raises(error, match=match):
        unit_lines(model)


def test_pre_activations_by_hand():
    """z = w . x + b for hand-made weights, and the model's own first layer agrees."""
    model = hand_model([[1.0, 0.0], [0.0, 2.0], [1.0, -1.0]], [0.0, -1.0, 0.5])
    X = torch.tensor([[1.0, 1.0], [2.0, -3.0]])
    z = pre_activations(model, X)
    expected = torch.tensor([[1.0, 1.0, 0.5], [2.0, -7.0, 5.5]], dtype=torch.float64)
    torch.testing.assert_close(z, expected)
    torch.testing.assert_close(z.float(), model.net[0](X).detach())


@pytest.mark.parametrize(
    ("X", "error", "match"),
    [
        (torch.zeros(3, 3), ValueError, r"shape \(N, 2\)"),
        (torch.zeros(3, 2, dtype=torch.int64), TypeError, "floating point"),
        ([[0.0, 0.0]], TypeError, "torch.Tensor"),
    ],
)
def test_pre_activations_refuses_bad_points(X, error, match):
    """Points that are not an (N, 2) floating tensor are refused."""
    with pytest.raises(error, match=match):
        pre_activations(MLP(2, 2, 1), X)


# --- saturation ----------------------------------------------------------------------------

EDGE = math.atanh(0.9)  # |tanh(z)| > 0.9 exactly where |z| > EDGE (about 1.47)


def test_tanh_saturation_is_abs_tanh_above_threshold():
    """A tanh unit is saturated where |tanh(z)| > threshold, on both sides of its line."""
    model = hand_model([[1.0, 0.0]], [0.0])  # z = x1
    x1 = torch.tensor([-3.0, -EDGE + 0.01, 0.0, 1.0, EDGE + 0.01, 3.0])
    X = torch.stack([x1, torch.zeros_like(x1)], dim=1)
    mask = saturation(model, X, threshold=0.9)
    assert mask.shape == (6, 1) and mask.dtype == torch.bool
    assert mask[:, 0].tolist() == [True, False, False, False, True, True]
    assert mask[:, 0].tolist() == (torch.tanh(x1).abs() > 0.9).tolist()


def test_sigmoid_saturation_uses_its_own_scale():
    """A sigmoid unit is saturated where sigmoid(z) is within (1 - t) / 2 of 0 or 1."""
    model = hand_model([[1.0, 0.0]], [0.0], activation="sigmoid")
    x1 = torch.linspace(-6, 6, 121)
    X = torch.stack([x1, torch.zeros_like(x1)], dim=1)
    s = torch.sigmoid(x1.double())
    expected = (s < 0.05) | (s > 0.95)
    assert saturation(model, X, threshold=0.9)[:, 0].tolist() == expected.tolist()


def test_relu_saturation_is_dead_units():
    """A ReLU unit counts as saturated (dead) exactly where z < 0, whatever the threshold."""
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        model[0].bias.zero_()
    X = torch.tensor([[-1.0, 1.0], [0.5, -0.5], [0.0, 0.0]])
    expected = [[True, True], [False, False], [False, False]]
    assert saturation(model, X).tolist() == expected
    assert saturation(model, X, threshold=0.5).tolist() == expected


def test_saturated_fraction_per_unit():
    """The fraction of points at which each unit is saturated."""
    model = hand_model([[1.0, 0.0], [0.0, 0.0]], [0.0, 5.0])  # unit 1 is tanh(5) everywhere
    x1 = torch.tensor([-3.0, -1.0, 1.0, 3.0])
    X = torch.stack([x1, torch.zeros_like(x1)], dim=1)
    fraction = saturated_fraction(model, X, threshold=0.9)
    torch.testing.assert_close(fraction, torch.tensor([0.5, 1.0], dtype=torch.float64))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"threshold": 1.0}, ValueError, "strictly between 0 and 1"),
        ({"threshold": 0.0}, ValueError, "strictly between 0 and 1"),
        ({"threshold": float("nan")}, ValueError, "finite"),
        ({"activation": "gelu"}, ValueError, "activation"),
    ],
)
def test_saturation_refuses_bad_arguments(kwargs, error, match):
    """Thresholds outside (0, 1) and activations without a definition are refused."""
    with pytest.raises(error, match=match):
        saturation(MLP(2, 2, 1), torch.zeros(1, 2), **kwargs)


def test_saturation_needs_a_known_activation():
    """An MLP with GELU units, or a model with no activation after its first layer, is refused."""
    with pytest.raises(ValueError, match="activation"):
        saturation(MLP(2, 2, 1, activation="gelu"), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="pass activation="):
        saturation(nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2))
    mask = saturation(nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2), activation="tanh")
    assert mask.shape == (1, 2)


def test_saturated_fraction_of_no_points_is_refused():
    """An empty set of points has no fraction."""
    with pytest.raises(ValueError, match="no points"):
        saturated_fraction(MLP(2, 2, 1), torch.zeros(0, 2))


# --- geometry ------------------------------------------------------------------------------

BOX = ((0.0, 2.0), (0.0, 2.0))


@pytest.mark.parametrize(
    ("w", "b", "ends"),
    [
        ((1.0, 1.0), -1.0, {(0.0, 1.0), (1.0, 0.0)}),  # a diagonal across a corner
        ((1.0, 0.0), -0.5, {(0.5, 0.0), (0.5, 2.0)}),  # vertical: w2 = 0
        ((0.0, 2.0), -3.0, {(0.0, 1.5), (2.0, 1.5)}),  # horizontal: w1 = 0
        ((1.0, -1.0), 0.0, {(0.0, 0.0), (2.0, 2.0)}),  # through two corners
    ],
)
def test_clip_line_end_points(w, b, ends):
    """The segment of w . x + b = 0 inside the box, including lines parallel to an axis."""
    segment = clip_line(w, b, *BOX)
    assert segment is not None
    assert {tuple(round(v, 12) for v in p) for p in segment} == ends


@pytest.mark.parametrize(
    ("w", "b"),
    [((1.0, 0.0), 1.0), ((0.0, 1.0), -5.0), ((1.0, 1.0), 0.0), ((0.0, 0.0), 1.0)],
)
def test_clip_line_missing_the_box(w, b):
    """A line beside the box, one touching only a corner, or no line at all (w = 0): None."""
    assert clip_line(w, b, *BOX) is None


def test_box_halfplane_areas():
    """The clipped half-planes have the areas geometry says, and the two sides fill the box."""
    right = box_halfplane((1.0, 0.0), -1.0, *BOX)  # x1 > 1
    assert right is not None and area(right) == pytest.approx(2.0)
    assert (right[:, 0] >= 1 - 1e-12).all()
    corner = box_halfplane((1.0, 1.0), -3.0, *BOX)  # x1 + x2 > 3: a triangle of area 1/2
    assert corner is not None and area(corner) == pytest.approx(0.5)
    rest = box_halfplane((1.0, 1.0), -3.0, *BOX, above=False)
    assert area(rest) == pytest.approx(4.0 - 0.5)
    shifted = box_halfplane((1.0, 0.0), 0.0, *BOX, level=1.5)  # x1 > 1.5
    assert area(shifted) == pytest.approx(1.0)
    assert box_halfplane((1.0, 0.0), -5.0, *BOX) is None, "x1 > 5 misses the box"
    assert area(box_halfplane((1.0, 0.0), 5.0, *BOX)) == pytest.approx(4.0), "x1 > -5: all"


def test_clip_line_refuses_a_bad_box():
    """A box with no extent is refused by name."""
    with pytest.raises(ValueError, match="xlim"):
        clip_line((1.0, 0.0), 0.0, (1.0, 1.0), (0.0, 1.0))


# --- drawing -------------------------------------------------------------------------------


def arrows(ax):
    return [t for t in ax.texts if isinstance(t, Annotation)]


def labels(ax):
    return [t for t in ax.texts if not isinstance(t, Annotation)]


def test_draw_unit_lines_one_line_arrow_and_label_per_unit():
    """Every unit that crosses the box gets a line, an arrow to its positive side and a label."""
    model = hand_model([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]], [-1.0, -0.5, -1.0, 9.0])
    _, ax = plt.subplots()
    out = draw_unit_lines(model, ax=ax, xlim=BOX[0], ylim=BOX[1])
    assert out is ax
    assert len(ax.lines) == 3, "unit 3 (x1 = -9) misses the box and draws no line"
    assert [t.get_text() for t in labels(ax)] == ["0", "1", "2"]
    w, b = unit_lines(model)
    for j, arrow in enumerate(arrows(ax)):
        tip, tail = np.array(arrow.xy), np.array(arrow.xyann)
        assert float(w[j] @ torch.tensor(tail)) + float(b[j]) == pytest.approx(0, abs=1e-9)
        assert float(w[j] @ torch.tensor(tip)) + float(b[j]) > 0, f"unit {j} points the wrong way"
    for j, text in enumerate(labels(ax)):
        assert (
            float(w[j] @ torch.tensor(text.get_position(), dtype=torch.float64)) + float(b[j]) > 0
        ), "label side"
    assert ax.get_xlim() == BOX[0] and ax.get_ylim() == BOX[1]


def test_draw_unit_lines_options():
    """units, labels and colours pick and name the units; arrows can be left out."""
    model = hand_model([[1.0, 0.0], [0.0, 1.0]], [-1.0, -1.0])
    ax = draw_unit_lines(
        model, xlim=BOX[0], ylim=BOX[1], units=[1], labels=["h2"], colors=["red"], arrows=False
    )
    assert len(ax.lines) == 1 and not arrows(ax)
    assert [t.get_text() for t in labels(ax)] == ["h2"]
    assert ax.lines[0].get_color() == "red"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1.0, 1.0])


def test_draw_unit_lines_shades_saturated_regions():
    """With a threshold, each unit's saturated half-planes inside the box are shaded."""
    # unit 0: z = 4 (x1 - 1), saturated beyond |x1 - 1| > EDGE / 4 on both sides;
    # unit 1: z = x2 - 1, saturated nowhere in the box (|z| <= 1 < EDGE).
    model = hand_model([[4.0, 0.0], [0.0, 1.0]], [-4.0, -1.0])
    ax = draw_unit_lines(model, xlim=BOX[0], ylim=BOX[1], threshold=0.9)
    patches = [p for p in ax.patches if isinstance(p, Polygon)]
    assert len(patches) == 2, "two half-planes for unit 0, none for unit 1"
    total = sum(area(p.get_xy()) for p in patches)
    assert total == pytest.approx(2 * 2 * (1 - EDGE / 4))
    relu = nn.Sequential(nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 1))
    with torch.no_grad():
        relu[0].weight.copy_(torch.tensor([[1.0, 0.0]]))
        relu[0].bias.fill_(-1.0)
    ax = draw_unit_lines(relu, xlim=BOX[0], ylim=BOX[1], threshold=0.9)
    (dead,) = ax.patches
    assert area(dead.get_xy()) == pytest.approx(2.0), "a ReLU unit is dead where x1 < 1"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"units": [5]}, IndexError, "out of range"),
        ({"labels": ["a"]}, ValueError, "labels"),
        ({"colors": ["red"]}, ValueError, "colors"),
        ({"label_at": 1.5}, ValueError, "label_at"),
        ({"xlim": (1.0, 0.0)}, ValueError, "xlim"),
    ],
)
def test_draw_unit_lines_refuses_bad_arguments(kwargs, error, match):
    """Bad unit indices, label or colour counts, positions and boxes are refused by name."""
    with pytest.raises(error, match=match):
        draw_unit_lines(MLP(2, 2, 1), **({"xlim": (0.0, 1.0), "ylim": (0.0, 1.0)} | kwargs))


def test_draw_unit_lines_label_at_per_unit():
    """label_at places the labels: spread by default, one fraction for all, or one per unit."""
    model = hand_model([[1.0, 0.0], [1.0, 0.0]], [-1.0, -1.0])  # two copies of x1 = 1
    ax = draw_unit_lines(model, xlim=BOX[0], ylim=BOX[1], label_at=[0.2, 0.8], arrows=False)
    heights = [t.get_position()[1] for t in labels(ax)]
    assert heights == pytest.approx([0.4, 1.6]), "the labels sit where label_at says"
    ax = draw_unit_lines(model, xlim=BOX[0], ylim=BOX[1], label_at=0.5, arrows=False)
    heights = [t.get_position()[1] for t in labels(ax)]
    assert heights[0] == heights[1] == pytest.approx(1.0), "one fraction: both at the middle"
    with pytest.raises(ValueError, match="label_at"):
        draw_unit_lines(model, xlim=BOX[0], ylim=BOX[1], label_at=[0.5])


def test_saturation_grid_counts_saturated_units():
    """saturation_grid counts the saturated units per grid point, rows following y."""
    # unit 0: z = 4 (x1 - 1), saturated where |x1 - 1| > EDGE / 4; unit 1: z = 4 (x2 - 1).
    model = hand_model([[4.0, 0.0], [0.0, 4.0]], [-4.0, -4.0])
    grid = saturation_grid(model, BOX[0], BOX[1], steps=(5, 3), threshold=0.9)
    assert grid.values.shape == (3, 5) and grid.values.dtype == torch.int64
    torch.testing.assert_close(grid.x, torch.linspace(0, 2, 5))
    expected_0 = (torch.linspace(0, 2, 5) - 1).abs() > EDGE / 4
    expected_1 = (torch.linspace(0, 2, 3) - 1).abs() > EDGE / 4
    expected = expected_1[:, None].long() + expected_0[None, :].long()
    assert grid.values.tolist() == expected.tolist()


def test_draw_unit_lines_keeps_labels_apart_by_default():
    """By default, the labels of lines through one point are at least 12 % of the box apart."""
    angles = torch.linspace(0, math.pi, 6)[:-1]  # five lines through the centre (1, 1)
    w = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    model = hand_model(w.tolist(), (-(w @ torch.ones(2))).tolist())
    ax = draw_unit_lines(model, xlim=BOX[0], ylim=BOX[1])
    spots = np.array([t.get_position() for t in labels(ax)]) / 2.0  # box-relative
    gaps = [np.linalg.norm(p - q) for i, p in enumerate(spots) for q in spots[i + 1 :]]
    assert len(spots) == 5 and min(gaps) >= 0.12, f"labels too close: {min(gaps):.3f}"
