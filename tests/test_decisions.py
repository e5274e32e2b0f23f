"""Tests for nnbook.decisions: cost-sensitive rules, confusion matrices and prior shift."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix

from nnbook.decisions import (
    bayes_decisions,
    class_priors,
    confusion,
    cost_matrix,
    expected_cost,
    shift_priors,
    shift_weights,
)


def test_cost_matrix():
    """Zero on the diagonal, one elsewhere, and the entries asked for."""
    costs = cost_matrix(3, {(0, 2): 5.0})
    assert costs.tolist() == [[0, 1, 5], [1, 0, 1], [1, 1, 0]]


def test_zero_one_costs_give_the_argmax_and_expected_cost_is_the_error(problem):
    """With 0-1 costs the Bayes decision is the argmax, its cost 1 - the Bayes accuracy."""
    grid = problem.midpoint_grid(200)
    post = problem.posterior(grid)
    decided = bayes_decisions(post, cost_matrix(3))
    assert torch.equal(decided, post.argmax(1))
    err = expected_cost(post, decided, cost_matrix(3))
    assert err == pytest.approx(1 - problem.expected_accuracy(problem.bayes_predict, 200))


def test_cost_sensitive_rule_minimises_cost_and_agrees_with_sampling(problem):
    """The cost rule beats the argmax on cost; its exact cost is within 4 SE of a sample's."""
    costs = cost_matrix(3, {(0, 2): 5.0})
    grid = problem.midpoint_grid(300)
    post = problem.posterior(grid)
    rule = expected_cost(post, bayes_decisions(post, costs), costs)
    assert rule < expected_cost(post, post.argmax(1), costs) - 0.005
    X, y = problem.make_dataset(200_000, generator=torch.Generator().manual_seed(7))
    sampled = costs[y, bayes_decisions(problem.posterior(X.double()), costs)]
    assert abs(sampled.mean().item() - rule) < 4 * sampled.std().item() / math.sqrt(len(y))


def test_confusion_exact_agrees_with_sklearn_on_samples(problem):
    """On labels, confusion is sklearn's normalised matrix; exact agrees with a big sample."""
    X, y = problem.make_dataset(100_000, generator=torch.Generator().manual_seed(8))
    pred = problem.bayes_predict(X.double())
    sampled = confusion(y, pred, 3)
    np.testing.assert_allclose(sampled.numpy(), confusion_matrix(y, pred, normalize="all"))
    grid = problem.midpoint_grid(300)
    post = problem.posterior(grid)
    exact = confusion(post, post.argmax(1), 3)
    assert exact.sum().item() == pytest.approx(1.0)
    se = (exact * (1 - exact) / len(y)).sqrt()
    assert ((sampled - exact).abs() < 4 * se + 1e-4).all()


def test_prior_shift_of_the_posterior_is_the_shifted_problem(problem):
    """Under the shifted distribution, the shifted posterior averages to the new priors."""
    grid = problem.midpoint_grid(300)
    post = problem.posterior(grid)
    priors = class_priors(post, 3)
    new = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
    weights = shift_weights(post, priors, new)
    shifted = shift_priors(post, priors, new)
    torch.testing.assert_close(class_priors(shifted, 3, weights), new)
    # Rejection sampling from the shifted distribution agrees with the weighted integral.
    _, y = problem.make_dataset(200_000, generator=torch.Generator().manual_seed(9))
    keep_prob = (new / priors)[y] / (new / priors).max()
    keep = (
        torch.rand(len(y), generator=torch.Generator().manual_seed(10), dtype=torch.float64)
        < keep_prob
    )
    freq = torch.bincount(y[keep], minlength=3).double() / keep.sum()
    assert ((freq - new).abs() < 4 * (new * (1 - new) / keep.sum()).sqrt()).all()


def test_shift_to_the_same_priors_changes_nothing():
    """Shifting to the priors one already has is the identity."""
    q = torch.tensor([[0.2, 0.3, 0.5]], dtype=torch.float64)
    priors = torch.tensor([0.3, 0.3, 0.4], dtype=torch.float64)
    torch.testing.assert_close(shift_priors(q, priors, priors), q)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: cost_matrix(1), ValueError, "at least 2"),
        (lambda: cost_matrix(3, {(0, 3): 1.0}), ValueError, "classes must be 0 to 2"),
        (lambda: cost_matrix(3, {(0, 1): -1.0}), ValueError, "non-negative"),
        (lambda: bayes_decisions(torch.full((2, 3), 1 / 3), torch.ones(2, 2)), ValueError, "shape"),
        (lambda: bayes_decisions(torch.full((2, 3), 1 / 3), [[0.0]]), TypeError, "torch.Tensor"),
        (
            lambda: expected_cost(torch.tensor([0, 1]), torch.tensor([0, 5]), cost_matrix(3)),
            ValueError,
            "classes 0 to 2",
        ),
        (
            lambda: confusion(torch.tensor([0, 1]), torch.tensor([0.0, 1.0]), 3),
            ValueError,
            "decisions",
        ),
        (
            lambda: shift_priors(
                torch.full((1, 3), 1 / 3), torch.ones(3), torch.tensor([1.0, 0.0, 1.0])
            ),
            ValueError,
            "positive",
        ),
    ],
)
def test_bad_input_is_refused(call, error, message):
    """Wrong shapes, classes, costs and priors give clear errors."""
    with pytest.raises(error, match=message):
        call()
