"""Tests for nnbook.plotting: helpers draw into the given Axes and return it."""

import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from nnbook.data import ThreeClassProblem
from nnbook.grids import Grid
from nnbook.plotting import (
    new_axes,
    plot_binary_regions,
    plot_centerlines,
    plot_class_boundaries,
    plot_grid_image,
    plot_matmul,
    scatter_classes,
)
from nnbook.style import (
    CLASS_COLORS,
    CSS_PX_PER_INCH,
    DPI,
    FIGSIZE,
    MIN_FONT_PT,
    figure_png,
    use_book_style,
)


def test_new_axes_reuses_or_creates():
    """new_axes returns the Axes it is given, or a fresh one."""
    _, ax = plt.subplots()
    assert new_axes(ax) is ax
    assert new_axes() is not ax


def test_scatter_classes_one_collection_per_class():
    """Each class gets its own colour and label."""
    _, ax = plt.subplots()
    X = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    y = torch.tensor([0, 2, 2, 1])
    out = scatter_classes(X, y, ax=ax)
    assert out is ax
    labels = [c.get_label() for c in ax.collections]
    assert labels == ["class 0", "class 1", "class 2"]
    np.testing.assert_allclose(
        ax.collections[2].get_facecolor()[0][:3], plt.matplotlib.colors.to_rgb(CLASS_COLORS[2])
    )


def test_scatter_classes_shape_errors():
    """Points that are not (N, 2) are refused."""
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        scatter_classes(np.zeros((3, 3)), np.zeros(3))


def test_grid_image_is_not_transposed():
    """The pixel at row i, column j of the image is values[i, j], with y upwards."""
    x, y = torch.linspace(0, 1, 3), torch.linspace(0, 2, 5)
    values = torch.arange(15.0).reshape(5, 3) / 15
    ax = plot_grid_image(Grid(x, y, values))
    image = ax.images[0]
    assert image.origin == "lower"
    np.testing.assert_array_equal(image.get_array(), values.numpy())
    assert image.get_extent() == [0.0, 1.0, 0.0, 2.0]


def test_plot_matmul_draws_one_line_per_device():
    """One line per (device, threads) pair, on a log2 size axis."""
    frame = pd.DataFrame(
        {
            "size": [64, 128, 64, 128],
            "device": ["cpu"] * 4,
            "threads": [1, 1, 2, 2],
            "gflops": [1.0, 2.0, 2.0, 4.0],
        }
    )
    ax = plot_matmul(frame)
    assert len(ax.lines) == 2 and ax.get_xscale() == "log"


def test_book_style_sets_column_sized_figures_and_fonts():
    """The book style fixes figure size and DPI, and no axis font is below MIN_FONT_PT."""
    use_book_style()
    assert tuple(plt.rcParams["figure.figsize"]) == FIGSIZE
    assert plt.rcParams["figure.dpi"] == DPI >= 144
    for key in ["font.size", "xtick.labelsize", "ytick.labelsize", "legend.fontsize"]:
        assert plt.rcParams[key] >= MIN_FONT_PT >= 12, key


def test_figure_png_is_rgb_with_its_display_width():
    """figure_png writes an RGB PNG at DPI and the CSS width that shows its fonts at 16 px."""
    use_book_style()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    data, metadata = figure_png(fig)
    plt.close(fig)
    image = Image.open(io.BytesIO(data))
    assert image.mode == "RGB"
    assert metadata["width"] == round(image.width * CSS_PX_PER_INCH / DPI)


def test_plot_centerlines_draws_the_lower_line_only_between_its_crossings():
    """The lower line starts at x1 = 6 (x2 = 0) and stops where it meets the upper line."""
    problem = ThreeClassProblem()
    _, ax = plt.subplots()
    assert plot_centerlines(problem, ax=ax, label="centerlines") is ax
    upper, lower = ax.get_lines()
    x, y = lower.get_xdata(), lower.get_ydata()
    drawn = ~np.isnan(y)
    assert x[drawn].min() == pytest.approx(6.0, abs=0.05)
    assert x[drawn].max() == pytest.approx(8.97, abs=0.05)
    assert np.isfinite(upper.get_ydata()).all()
    assert ax.get_xlim() == (0.0, 16.0) and ax.get_ylim() == (0.0, 9.0)
    assert [h.get_label() for h in ax.get_legend_handles_labels()[0]] == ["centerlines"]


def test_plot_class_boundaries_follows_the_class_change():
    """The boundary of a grid split at x = 0.3 is a vertical line at x = 0.3."""
    x = torch.linspace(0, 1, 51)
    y = torch.linspace(0, 2, 21)
    values = (x[None, :] > 0.3).long().expand(21, 51)
    _, ax = plt.subplots()
    assert plot_class_boundaries(Grid(x, y, values), ax=ax) is ax
    vertices = np.concatenate(
        [path.vertices for c in ax.collections for path in c.get_paths() if len(path.vertices)]
    )
    assert np.allclose(vertices[:, 0], 0.31, atol=0.011)
    with pytest.raises(ValueError, match="class labels"):
        plot_class_boundaries(Grid(x, y, torch.zeros(21, 51, 3)))


def test_plot_binary_regions_draws_image_and_points_within_the_grid():
    """One image, one scatter per class, axes limited to the grid; non-probabilities refused."""
    x, y = torch.linspace(-0.5, 1.5, 4), torch.linspace(-0.5, 1.5, 6)
    proba = torch.linspace(0, 1, 24).reshape(6, 4)
    X = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    _, ax = plt.subplots()
    assert plot_binary_regions(Grid(x, y, proba), X, labels, ax=ax) is ax
    assert len(ax.images) == 1
    np.testing.assert_array_equal(ax.images[0].get_array(), proba.numpy())
    assert len(ax.collections) == 2
    assert ax.get_xlim() == (-0.5, 1.5) and ax.get_ylim() == (-0.5, 1.5)
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        plot_binary_regions(Grid(x, y, proba * 3 - 1), X, labels)


def test_class_cmap_has_one_book_colour_per_class():
    """class_cmap(n) maps class k to the k-th book colour."""
    from nnbook.style import class_cmap

    cmap = class_cmap(3)
    assert cmap.N == 3
    for k in range(3):
        np.testing.assert_allclose(cmap(k)[:3], plt.matplotlib.colors.to_rgb(CLASS_COLORS[k]))


# --- bad inputs ---------------------------------------------------------------------------------


def test_plot_class_boundaries_refuses_a_probability_grid():
    """Probabilities are not class labels: thousands of contours would be drawn."""
    x, y = torch.linspace(0, 1, 5), torch.linspace(0, 1, 4)
    probs = Grid(x, y, torch.rand(4, 5))
    with pytest.raises(ValueError, match="needs integer class labels"):
        plot_class_boundaries(probs)


def test_scatter_classes_gives_distinct_colours_up_to_its_limit():
    """Every class gets its own colour; more classes than colours are refused."""
    from nnbook.style import MAX_CLASSES

    _, ax = plt.subplots()
    n = MAX_CLASSES
    X = torch.rand(n, 2)
    scatter_classes(X, torch.arange(n), ax=ax)
    colours = {tuple(c.get_facecolor()[0]) for c in ax.collections}
    assert len(colours) == n
    with pytest.raises(ValueError, match=f"at most {n} classes"):
        scatter_classes(torch.rand(n + 1, 2), torch.arange(n + 1))
