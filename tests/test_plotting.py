"""Tests for nnbook.plotting: helpers draw into the given Axes and return it."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from nnbook.analysis import Grid
from nnbook.plotting import (
    CLASS_COLORS,
    new_axes,
    plot_grid_image,
    plot_matmul,
    scatter_classes,
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


def test_book_style_sets_fixed_figure_size():
    """The book style fixes figure size and DPI so every PNG has the same shape."""
    use_book_style()
    assert tuple(plt.rcParams["figure.figsize"]) == (8.0, 4.5)
    assert plt.rcParams["figure.dpi"] == 100
