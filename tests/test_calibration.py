"""Tests for nnbook.calibration and ThreeClassProblem.integrate: exact against sampled."""

import math

import numpy as np
import pytest
import torch
from sklearn.calibration import calibration_curve
from sklearn.metrics import log_loss

from nnbook.calibration import (
    calibration_error,
    confidence,
    correct_probability,
    entropy,
    expected_nll,
    fit_temperature,
    kl_divergence,
    loss_decomposition,
    reliability,
    scale_temperature,
    target_probabilities,
)


def sharpened(post: torch.Tensor, temperature: float) -> torch.Tensor:
    """A deliberately miscalibrated predictor: the posterior with its log tempered."""
    return torch.softmax(post.clamp_min(1e-300).log() / temperature, dim=1)


def sample(problem, n, seed):
    X, y = problem.make_dataset(n, generator=torch.Generator().manual_seed(seed))
    return X.double(), y


def test_integrate_is_expected_accuracy(problem):
    """integrate generalises expected_accuracy: the same midpoint-rule number."""
    value = problem.integrate(lambda X, post: post.gather(1, post.argmax(1, keepdim=True)), 200)
    assert value.shape == (1,)
    assert value.item() == pytest.approx(problem.expected_accuracy(problem.bayes_predict, 200))


def test_integrate_vector_valued_gives_class_priors(problem):
    """The mean posterior is a probability vector (the exact class frequencies)."""
    priors = problem.integrate(lambda X, post: post, 300)
    assert priors.shape == (3,) and priors.dtype == torch.float64
    assert priors.sum().item() == pytest.approx(1.0)


def test_integrate_rejects_wrong_shapes(problem):
    """f must return one value per grid point."""
    with pytest.raises(ValueError, match="one value per grid point"):
        problem.integrate(lambda X, post: post.sum(), 10)
    with pytest.raises(TypeError):
        problem.integrate(lambda X, post: post, 0.5)


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_exact_nll_agrees_with_sampling(problem, temperature):
    """The exact expected NLL lies within 4 standard errors of a 200,000-point sample's."""
    grid = problem.midpoint_grid(400)
    exact = expected_nll(sharpened(problem.posterior(grid), temperature), problem.posterior(grid))
    X, y = sample(problem, 200_000, 1)
    per_point = -sharpened(problem.posterior(X), temperature).log().gather(1, y[:, None])
    se = per_point.std().item() / math.sqrt(len(y))
    assert abs(per_point.mean().item() - exact) < 4 * se


def test_floor_is_conditional_entropy_and_agrees_with_sampling(problem):
    """The Bayes NLL is the conditional entropy, about 0.21 nats, and a sample agrees."""
    floor = problem.integrate(lambda X, post: entropy(post), 400).item()
    assert 0.20 < floor < 0.22
    X, y = sample(problem, 200_000, 2)
    per_point = -problem.posterior(X).clamp_min(1e-300).log().gather(1, y[:, None]).squeeze(1)
    assert abs(per_point.mean().item() - floor) < 4 * per_point.std().item() / math.sqrt(len(y))


def test_exact_accuracy_in_bins_agrees_with_sampling(problem):
    """Exact reliability: each bin's accuracy and weight agree with a big sample's."""
    grid = problem.midpoint_grid(400)
    exact = reliability(sharpened(problem.posterior(grid), 0.6), problem.posterior(grid), bins=5)
    X, y = sample(problem, 200_000, 3)
    sampled = reliability(sharpened(problem.posterior(X), 0.6), y, bins=5)
    assert list(exact["low"]) == list(sampled["low"])
    n = sampled["weight"] * len(y)
    se = np.sqrt(exact["accuracy"] * (1 - exact["accuracy"]) / n)
    assert (np.abs(sampled["accuracy"] - exact["accuracy"]) < 4 * se + 1e-3).all()
    assert np.allclose(sampled["weight"], exact["weight"], atol=4e-3)


def test_calibrated_posterior_has_zero_exact_ece_but_not_from_samples(problem):
    """The posterior is perfectly calibrated exactly; a small sample's binned ECE is not zero."""
    grid = problem.midpoint_grid(300)
    post = problem.posterior(grid)
    assert calibration_error(post, post, bins=10) < 1e-12
    X, y = sample(problem, 500, 4)
    assert calibration_error(problem.posterior(X), y, bins=10) > 0.005


def test_reliability_matches_sklearn_calibration_curve():
    """Sample reliability: the same bin means as scikit-learn's top-label calibration curve."""
    gen = torch.Generator().manual_seed(0)
    q = torch.softmax(3 * torch.randn(2000, 3, generator=gen, dtype=torch.float64), dim=1)
    y = torch.randint(0, 3, (2000,), generator=gen)
    table = reliability(q, y, bins=10)
    conf, pred = confidence(q)
    prob_true, prob_pred = calibration_curve((pred == y).numpy(), conf.numpy(), n_bins=10)
    np.testing.assert_allclose(table["accuracy"], prob_true)
    np.testing.assert_allclose(table["confidence"], prob_pred)
    assert table["weight"].sum() == pytest.approx(1.0)


def test_nll_matches_sklearn_and_torch():
    """On labels, expected_nll is scikit-learn's log_loss and PyTorch's cross-entropy."""
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(500, 3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (500,), generator=gen)
    ours = expected_nll(torch.softmax(logits, 1), y)
    assert ours == pytest.approx(
        log_loss(y.numpy(), torch.softmax(logits, 1).numpy(), labels=[0, 1, 2])
    )
    assert ours == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item())


def test_kl_is_nll_minus_entropy():
    """E[KL(p || q)] is the expected NLL of q minus the entropy floor, and KL(p || p) = 0."""
    gen = torch.Generator().manual_seed(2)
    p = torch.softmax(torch.randn(100, 3, generator=gen, dtype=torch.float64), 1)
    q = torch.softmax(torch.randn(100, 3, generator=gen, dtype=torch.float64), 1)
    assert kl_divergence(p, q).mean().item() == pytest.approx(
        expected_nll(q, p) - entropy(p).mean().item()
    )
    assert kl_divergence(p, p).abs().max().item() < 1e-12
    assert (kl_divergence(p, q) >= 0).all()


def test_fit_temperature_recovers_a_known_temperature(problem):
    """Logits of the posterior divided by 0.6 need T = 1 / 0.6 to give the posterior back."""
    grid = problem.midpoint_grid(200)
    post = problem.posterior(grid)
    logits = post.clamp_min(1e-300).log() / 0.6
    assert fit_temperature(logits, post) == pytest.approx(1 / 0.6, rel=1e-4)
    X, y = sample(problem, 20_000, 5)
    assert fit_temperature(problem.posterior(X).clamp_min(1e-300).log() / 0.6, y) == pytest.approx(
        1 / 0.6, rel=0.05
    )


def test_loss_decomposition_adds_up(problem):
    """total = floor + calibration + refinement; a tempered posterior is pure calibration."""
    grid = problem.midpoint_grid(200)
    post = problem.posterior(grid)
    parts = loss_decomposition(post.clamp_min(1e-300).log() / 0.6, post)
    assert parts["total"] == pytest.approx(
        parts["floor"] + parts["calibration"] + parts["refinement"]
    )
    assert parts["calibration"] > 0.01
    assert abs(parts["refinement"]) < 1e-6
    assert parts["temperature"] == pytest.approx(1 / 0.6, rel=1e-4)


def test_scale_temperature_and_correct_probability():
    """T = 1 is the softmax; the correct probability is the target at the argmax."""
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]])
    torch.testing.assert_close(scale_temperature(logits, 1.0), torch.softmax(logits.double(), 1))
    post = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], dtype=torch.float64)
    torch.testing.assert_close(
        correct_probability(scale_temperature(logits, 2.0), post), torch.tensor([0.5, 0.1]).double()
    )
    assert correct_probability(scale_temperature(logits, 1.0), torch.tensor([0, 2])).tolist() == [
        1,
        0,
    ]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: entropy([[0.5, 0.5]]), TypeError, "must be a torch.Tensor"),
        (lambda: entropy(torch.ones(3)), ValueError, "shape"),
        (lambda: entropy(torch.tensor([[0.7, 0.7]])), ValueError, "sum to 1"),
        (lambda: entropy(torch.tensor([[1, 0]])), TypeError, "floating point"),
        (lambda: target_probabilities(torch.tensor([0, 3]), 3), ValueError, "classes 0 to 2"),
        (lambda: target_probabilities(torch.tensor([0]), 1), ValueError, "at least 2"),
        (lambda: expected_nll(torch.full((2, 3), 1 / 3), torch.tensor([0])), ValueError, "rows"),
        (
            lambda: reliability(torch.full((2, 3), 1 / 3), torch.tensor([0, 1]), bins=0),
            ValueError,
            "positive",
        ),
        (
            lambda: expected_nll(
                torch.full((2, 3), 1 / 3), torch.tensor([0, 1]), torch.tensor([-1.0, 1.0])
            ),
            ValueError,
            "non-negative",
        ),
        (lambda: scale_temperature(torch.zeros(2, 3), 0.0), ValueError, "positive number"),
        (lambda: scale_temperature(torch.zeros(3), 1.0), ValueError, "shape"),
        (lambda: scale_temperature(torch.full((1, 3), -math.inf), 1.0), ValueError, "finite"),
        (
            lambda: fit_temperature(torch.zeros(2, 3), torch.tensor([0, 1]), bounds=(2, 1)),
            ValueError,
            "bounds",
        ),
    ],
)
def test_bad_input_is_refused(call, error, message):
    """Wrong types, shapes, probabilities, labels and parameters give clear errors."""
    with pytest.raises(error, match=message):
        call()
