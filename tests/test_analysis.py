"""Tests for nnbook.analysis."""

import pytest
import torch

from nnbook.analysis import find_roots, grid_points, model_grid
from nnbook.models import MLP


def test_find_roots_linear_interpolation():
    """Crossings of a sampled sine fall near multiples of pi, in order; exact zeros count once."""
    x = torch.linspace(0.5, 10, 400, dtype=torch.float64)
    roots = find_roots(x, torch.sin(x))
    torch.testing.assert_close(
        roots, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) * torch.pi, atol=1e-3, rtol=0
    )
    assert find_roots(torch.tensor([0.0, 1.0, 2.0]), torch.tensor([-1.0, 0.0, 1.0])).tolist() == [
        1.0
    ]
    assert find_roots(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0])).numel() == 0


def test_find_roots_rejects_mismatched_input():
    """x and y of different lengths are refused with both shapes."""
    with pytest.raises(ValueError, match="equal length"):
        find_roots(torch.zeros(3), torch.zeros(4))


def test_grid_orientation_with_asymmetric_function():
    """values[i, j] belongs to (x[j], y[i]): checked with f = x + 10 y on a non-square grid."""
    x, y, points = grid_points((0.0, 1.0), (0.0, 2.0), (3, 5))
    assert x.shape == (3,) and y.shape == (5,) and points.shape == (15, 2)
    values = (points[:, 0] + 10 * points[:, 1]).reshape(len(y), len(x))
    for i in range(len(y)):
        for j in range(len(x)):
            assert values[i, j].item() == pytest.approx(x[j].item() + 10 * y[i].item())


def test_model_grid_matches_pointwise_predictions():
    """model_grid's probabilities and classes equal the model run on each point."""
    torch.manual_seed(0)
    model = MLP(2, 5, 3)
    grid = model_grid(model, (0, 16), (0, 9), steps=(7, 4), output="proba")
    assert grid.values.shape == (4, 7, 3)
    point = torch.tensor([[grid.x[5].item(), grid.y[2].item()]])
    torch.testing.assert_close(grid.values[2, 5], torch.softmax(model(point), 1)[0])
    classes = model_grid(model, (0, 16), (0, 9), steps=(7, 4), output="class")
    assert torch.equal(classes.values, grid.values.argmax(-1))
    binary = model_grid(MLP(2, 4, 1), (-0.5, 1.5), (-0.5, 1.5), steps=5)
    assert binary.values.shape == (5, 5) and 0 <= binary.values.min() <= binary.values.max() <= 1


def test_grid_with_zero_extent_is_refused():
    """A grid whose limits have no extent raises a message naming the limit."""
    with pytest.raises(ValueError, match="xlim must have positive extent"):
        grid_points((1.0, 1.0), (0.0, 1.0), 10)
    with pytest.raises(ValueError, match="output must be"):
        model_grid(MLP(2, 2, 2), (0, 1), (0, 1), output="probs")
