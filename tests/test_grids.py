"""Tests for nnbook.grids: orientation, agreement with pointwise evaluation, bad input."""

import pytest
import torch

from nnbook.data import ThreeClassProblem
from nnbook.grids import grid_points, model_grid, posterior_grid, rule_grid
from nnbook.models import MLP


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


def test_rule_grid_orientation_and_shape():
    """rule_grid puts the class of (x[j], y[i]) at values[i, j], checked with x1 > 2 * x2."""
    grid = rule_grid(lambda X: (X[:, 0] > 2 * X[:, 1]).long(), (0.0, 16.0), (0.0, 9.0), (33, 19))
    assert grid.values.shape == (19, 33) and grid.values.dtype == torch.int64
    expected = (grid.x[None, :] > 2 * grid.y[:, None]).long()
    assert torch.equal(grid.values, expected)


def test_rule_grid_refuses_a_rule_with_the_wrong_output():
    """A rule that returns one value per grid row rather than per point is refused."""
    with pytest.raises(ValueError, match="one class per point"):
        rule_grid(lambda X: X[:10, 0].long(), (0.0, 1.0), (0.0, 1.0), 5)
    with pytest.raises(TypeError, match="callable"):
        rule_grid("bayes", (0.0, 1.0), (0.0, 1.0), 5)


def test_posterior_grid_matches_pointwise_posterior():
    """posterior_grid holds problem.posterior of (x[j], y[i]) at [i, j], rows summing to one."""
    problem = ThreeClassProblem()
    grid = posterior_grid(problem, (41, 23))
    assert grid.values.shape == (23, 41, 3)
    torch.testing.assert_close(grid.values.sum(-1), torch.ones(23, 41, dtype=torch.float64))
    i, j = 7, 30
    point = torch.tensor([[grid.x[j].item(), grid.y[i].item()]], dtype=torch.float64)
    torch.testing.assert_close(grid.values[i, j], problem.posterior(point)[0])


def test_mlp_class_grids_equal_per_snapshot_model_grid():
    """mlp_class_grids equals model_grid(output="class") of each snapshot, across chunk edges."""
    from nnbook.grids import mlp_class_grids
    from nnbook.models import MLP
    from nnbook.training import snapshot

    torch.manual_seed(3)
    for hidden, activation, out in [(8, "tanh", 3), ((5, 4), "relu", 4), (4, "sigmoid", 1)]:
        model = MLP(2, hidden, out, activation=activation)
        snaps = [snapshot(MLP(2, hidden, out, activation=activation)) for _ in range(3)]
        grid = mlp_class_grids(
            model, snaps, (-2.0, 3.0), (-1.0, 2.0), steps=(23, 17), chunk_size=50
        )
        assert grid.values.shape == (3, 17, 23) and grid.values.dtype == torch.int64
        for snap, values in zip(snaps, grid.values, strict=True):
            model.load_state_dict(snap)
            ref = model_grid(model, (-2.0, 3.0), (-1.0, 2.0), steps=(23, 17), output="class")
            torch.testing.assert_close(values, ref.values)
            torch.testing.assert_close(grid.x, ref.x)


def test_first_argmax_keeps_the_first_maximum_like_argmax():
    """On ties the comparison-based argmax picks the first maximum, as torch.argmax does."""
    from nnbook.grids import _first_argmax

    logits = torch.tensor([[[1.0, 2.0, 2.0, 0.0], [1.0, 2.0, 0.0, 5.0], [0.0, 2.0, 2.0, 5.0]]])
    expected = logits.argmax(dim=1)
    assert expected.tolist() == [[0, 0, 0, 1]]
    torch.testing.assert_close(_first_argmax(logits).long(), expected)


def test_mlp_class_grids_rejects_other_models_and_bad_chunks():
    """Models without an MLP-style net and non-positive chunk sizes get clear errors."""
    from torch import nn

    from nnbook.grids import mlp_class_grids
    from nnbook.models import MLP
    from nnbook.training import snapshot

    snaps = [snapshot(MLP(2, 4, 3))]
    with pytest.raises(TypeError, match="MLP"):
        mlp_class_grids(nn.Linear(2, 3), snaps, (0.0, 1.0), (0.0, 1.0), steps=5)
    with pytest.raises(ValueError, match="chunk_size"):
        mlp_class_grids(MLP(2, 4, 3), snaps, (0.0, 1.0), (0.0, 1.0), steps=5, chunk_size=0)
    odd = MLP(2, 4, 3)
    odd.net[1] = nn.Softmax(dim=1)
    with pytest.raises(TypeError, match="Softmax"):
        mlp_class_grids(odd, snaps, (0.0, 1.0), (0.0, 1.0), steps=5)


def test_grid_steps_must_be_an_int_or_a_pair():
    """A steps tuple of the wrong length is refused with what it got."""
    with pytest.raises(ValueError, match=r"pair \(nx, ny\)"):
        grid_points((0.0, 1.0), (0.0, 1.0), (3, 4, 5))


def test_snapshots_of_different_models_are_refused():
    """Stacking state_dicts with equal keys but other shapes names the key and shapes."""
    from nnbook.grids import stack_snapshots

    with pytest.raises(ValueError, match=r"net\.0\.weight of shape \(4, 2\)"):
        stack_snapshots([MLP(2, 8, 3).state_dict(), MLP(2, 4, 3).state_dict()])


def test_model_grid_restores_mode_after_an_error():
    """model_grid leaves the model's mode as it found it, even when the model fails."""
    model = MLP(3, 4, 2).train()  # a 3-input model cannot take 2-D grid points
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        model_grid(model, (0, 1), (0, 1), steps=3)
    assert model.training


def test_binary_model_grid_orientation_matches_pointwise_sigmoid():
    """For one logit, model_grid holds sigmoid(model(x[j], y[i])) at [i, j] on a non-square grid."""
    torch.manual_seed(0)
    model = MLP(2, 4, 1)
    grid = model_grid(model, (-0.5, 1.5), (-1.0, 2.0), steps=(7, 4))
    assert grid.values.shape == (4, 7)
    with torch.no_grad():
        for i, j in [(0, 6), (3, 0), (1, 4)]:
            point = torch.tensor([[grid.x[j].item(), grid.y[i].item()]])
            expected = torch.sigmoid(model(point))[0, 0]
            torch.testing.assert_close(grid.values[i, j], expected)


def test_near_tie_differences_counts_ties_and_refuses_real_differences():
    """Equal grids differ nowhere; a class flipped far from any tie is refused with its place."""
    from nnbook.grids import near_tie_differences, snapshot_grids
    from nnbook.training import snapshot

    torch.manual_seed(0)
    model = MLP(2, 8, 3)
    snaps = [snapshot(model)]
    limits = ((0.0, 16.0), (0.0, 9.0))
    grid = snapshot_grids(model, snaps, *limits, steps=(20, 10)).values  # (1, 10, 20)
    assert near_tie_differences(model, snaps, grid, grid.clone(), *limits) == 0
    wrong = grid.clone()
    wrong[0, 3, 4] = (grid[0, 3, 4] + 1) % 3
    with pytest.raises(ValueError, match=r"snapshot 0, grid point \(3, 4\)"):
        near_tie_differences(model, snaps, grid, wrong, *limits)
    with pytest.raises(ValueError, match="one shape"):
        near_tie_differences(model, snaps, grid, grid[0], *limits)


# --- bad inputs and the one points dtype ------------------------------------------------------


@pytest.mark.parametrize(
    ("xlim", "message"),
    [
        ((0.0, float("inf")), "xlim must be finite"),
        ((float("nan"), 1.0), "xlim must be finite"),
        ((1.0, 1.0), "xlim must have positive extent"),
    ],
)
def test_model_grid_refuses_non_finite_or_empty_limits(xlim, message):
    from nnbook.grids import model_grid
    from nnbook.models import MLP

    with pytest.raises(ValueError, match=message):
        model_grid(MLP(2, 4, 3), xlim, (0.0, 1.0), steps=5)


def test_model_grid_gives_sigmoid_probabilities_for_one_logit():
    """One logit: P(class 1) by the sigmoid, not the softmax of a single logit (always 1)."""
    from nnbook.grids import model_grid
    from nnbook.models import MLP

    torch.manual_seed(0)
    model = MLP(2, 4, 1)
    grid = model_grid(model, (0.0, 1.0), (0.0, 1.0), steps=6, output="proba")
    logits = model_grid(model, (0.0, 1.0), (0.0, 1.0), steps=6, output="logits").values
    torch.testing.assert_close(grid.values, torch.sigmoid(logits[..., 0]))
    assert not torch.all(grid.values == 1)


def test_grid_helpers_hand_float32_points_to_a_float64_model():
    """One points dtype (float32); a float64 model gets them exactly, in its own dtype."""
    from nnbook.grids import grid_points, model_grid
    from nnbook.models import MLP

    torch.manual_seed(1)
    model = MLP(2, 4, 3)
    as_float = model_grid(model, (0.0, 2.0), (0.0, 1.0), steps=7, output="logits").values
    as_double = model_grid(model.double(), (0.0, 2.0), (0.0, 1.0), steps=7, output="logits").values
    assert grid_points((0.0, 2.0), (0.0, 1.0), 7)[2].dtype == torch.float32
    assert as_double.dtype == torch.float64
    torch.testing.assert_close(as_double.float(), as_float, rtol=1e-5, atol=1e-6)
