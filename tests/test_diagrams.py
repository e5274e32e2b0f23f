"""Tests for nnbook.diagrams: a network drawn as circles, one line per weight, sizes labelled."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from nnbook.diagrams import draw_network, layer_labels
from nnbook.style import MIN_FONT_PT, figure_png, use_book_style


def circles(ax):
    """The (x, y) centres of the circles drawn, one array per layer (a scatter each)."""
    return [collection.get_offsets() for collection in ax.collections]


def test_draw_network_draws_every_unit_and_every_weight():
    """2-4-1: 2, 4 and 1 circles in three columns, and 2*4 + 4*1 = 12 lines."""
    _, ax = plt.subplots()
    assert draw_network([2, 4, 1], ax=ax) is ax
    layers = circles(ax)
    assert [len(layer) for layer in layers] == [2, 4, 1]
    for k, layer in enumerate(layers):
        np.testing.assert_array_equal(np.asarray(layer)[:, 0], k)
    assert len(ax.get_lines()) == 2 * 4 + 4 * 1


def test_draw_network_labels_each_layer_with_its_size():
    """Each column's text is its label and, on the next line, its size."""
    _, ax = plt.subplots()
    draw_network([2, 4, 1], ax=ax, labels=["inputs", "hidden", "logit"])
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["inputs\n(2)", "hidden\n(4)", "logit\n(1)"]


def test_draw_network_default_labels():
    """Without labels: input, hidden (numbered when there are several), output."""
    assert layer_labels(2) == ["input", "output"]
    assert layer_labels(3) == ["input", "hidden", "output"]
    assert layer_labels(4) == ["input", "hidden 1", "hidden 2", "output"]
    _, ax = plt.subplots()
    draw_network([3, 5], ax=ax)
    assert [t.get_text() for t in ax.texts] == ["input\n(3)", "output\n(5)"]


def test_a_wide_layer_is_drawn_with_an_ellipsis():
    """A layer above max_drawn shows max_drawn - 1 circles and an ellipsis; its size is exact."""
    _, ax = plt.subplots()
    draw_network([784, 3], ax=ax, max_drawn=6)
    assert [len(layer) for layer in circles(ax)] == [5, 3]
    assert len(ax.get_lines()) == 5 * 3
    texts = [t.get_text() for t in ax.texts]
    assert "⋮" in texts and "input\n(784)" in texts


def test_draw_network_text_is_readable_on_a_phone():
    """Every text of the diagram is at least MIN_FONT_PT, and the figure renders as a PNG."""
    use_book_style()
    fig, ax = plt.subplots()
    draw_network([2, 8, 3], ax=ax)
    assert all(t.get_fontsize() >= MIN_FONT_PT for t in ax.texts)
    data, metadata = figure_png(fig)
    assert data[:4] == b"\x89PNG" and metadata["width"] > 0


def test_draw_network_creates_axes_when_none_is_given():
    """ax=None draws into a new figure."""
    ax = draw_network([2, 1])
    assert len(circles(ax)) == 2


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ([2], "at least 2 layers"),
        ([], "at least 2 layers"),
        ([2, 0, 1], r"positive ints, got sizes\[1\] = 0"),
        ([2, -3], r"sizes\[1\] = -3"),
        ([2.0, 1], r"sizes\[0\] = 2.0"),
        ([2, True], r"sizes\[1\] = True"),
        ("241", "a sequence of layer sizes"),
        (3, "a sequence of layer sizes"),
    ],
)
def test_draw_network_refuses_bad_sizes(sizes, message):
    """Sizes that are not at least two positive ints raise a ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        draw_network(sizes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": ["a", "b"]}, "2 labels for 3 layers"),
        ({"max_drawn": 2}, "max_drawn must be an int of at least 3"),
        ({"fontsize": 8}, "at least MIN_FONT_PT"),
    ],
)
def test_draw_network_refuses_bad_options(kwargs, message):
    """Labels that do not match the layers, too few circles or too small a font are refused."""
    with pytest.raises(ValueError, match=message):
        draw_network([2, 4, 1], **kwargs)


def test_layer_labels_needs_two_layers():
    """One layer is not a network."""
    with pytest.raises(ValueError, match="at least 2 layers"):
        layer_labels(1)
