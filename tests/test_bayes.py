"""The Bayes answer of the three-class problem, checked against independent computations."""

import math

import pytest
import torch
from scipy import integrate, optimize
from scipy.stats import norm

from nnbook.data import ThreeClassProblem

# The generating process written out again from its definition, with math.erf and floats,
# so that these references share no code with nnbook.data.


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _upper(x1: float) -> float:
    return -0.4 * math.cos(0.55 * x1) * x1 + 0.25 * x1 + 4.5


def _lower(x1: float) -> float:
    return 2.0 * x1 - 12.0


def _posterior(x1: float, x2: float) -> tuple[float, float, float]:
    a, b = _phi(x2 - _upper(x1)), _phi(x2 - _lower(x1))
    return ((1 - a) * (1 - b), (1 - a) * b, a)


def _integrate_over_domain(integrand) -> float:
    """Mean of integrand(x1, x2) over 16 x 9 by nested adaptive quadrature."""

    def inner(x1: float) -> float:
        breaks = sorted(v for v in (_upper(x1), _lower(x1)) if 0.0 < v < 9.0)
        value, _ = integrate.quad(
            lambda x2: integrand(x1, x2), 0.0, 9.0, points=breaks or None, epsabs=1e-11, limit=200
        )
        return value

    # where the lower line enters the domain, meets the upper line, and leaves at the top
    value, _ = integrate.quad(inner, 0.0, 16.0, points=[6.0, 8.97, 10.5], epsabs=1e-9, limit=200)
    return value / (16.0 * 9.0)


def test_bayes_accuracy_against_nested_quadrature(problem):
    """The midpoint-rule Bayes accuracy equals scipy's adaptive quadrature of max_k P(k | x)."""
    reference = _integrate_over_domain(lambda x1, x2: max(_posterior(x1, x2)))
    assert problem.bayes_accuracy(600) == pytest.approx(reference, abs=1e-6)


def test_centerline_accuracy_against_nested_quadrature(problem):
    """The centerline rule's expected accuracy equals quadrature split at its discontinuities."""

    def chosen(x1: float, x2: float) -> float:
        k = 2 if x2 > _upper(x1) else (1 if x2 > _lower(x1) else 0)
        return _posterior(x1, x2)[k]

    reference = _integrate_over_domain(chosen)
    accuracy = problem.expected_accuracy(problem.centerline_predict, 600)
    assert accuracy == pytest.approx(reference, abs=1e-6)


def test_posterior_matches_the_written_out_formulas(problem):
    """posterior() gives the three product formulas of the two-stage draw."""
    X = problem.sample_points(50, torch.Generator().manual_seed(3)).double()
    expected = torch.tensor([_posterior(*map(float, x)) for x in X], dtype=torch.float64)
    torch.testing.assert_close(problem.posterior(X), expected)


def test_midpoint_rule_converges(problem):
    """Doubling the resolution shrinks the distance to a fine reference."""
    reference = problem.bayes_accuracy(1200)
    errors = [abs(problem.bayes_accuracy(s) - reference) for s in (50, 150, 600)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-7


def test_bayes_beats_every_other_rule(problem):
    """No rule has a higher expected accuracy than the Bayes rule."""
    bayes = problem.bayes_accuracy(300)
    rules = [
        problem.centerline_predict,
        lambda X: torch.full((X.shape[0],), 2),
        lambda X: (X[:, 0] > 8).long() * 2,
    ]
    for rule in rules:
        assert problem.expected_accuracy(rule, 300) <= bayes
    assert problem.expected_accuracy(problem.bayes_predict, 300) == pytest.approx(bayes)


def test_wrong_side_is_the_centerline_rule_error(problem, seed_data):
    """A point is on the wrong side exactly when the centerline rule misclassifies it."""
    X, y, _, _ = seed_data
    assert torch.equal(problem.wrong_side(X, y), problem.centerline_predict(X) != y)


def test_bayes_splits_0_and_1_at_the_lower_line(problem):
    """Below the class-2 region, the Bayes rule says 1 above the lower line and 0 below it."""
    X = problem.midpoint_grid(200)
    pred = problem.bayes_predict(X)
    not_2 = pred != 2
    above_lower = X[:, 1] > problem.lower(X[:, 0])
    assert torch.equal(pred[not_2] == 1, above_lower[not_2])


def test_on_the_lower_line_class_2_wins_above_one_third(problem):
    """Where P(1 | x, not 2) = 1/2, the Bayes rule picks class 2 exactly when P(2 | x) > 1/3."""
    x1 = torch.linspace(6.0, 10.0, 2001, dtype=torch.float64)
    X = torch.stack([x1, problem.lower(x1)], dim=1)
    p2 = problem.posterior(X)[:, 2]
    far_from_tie = (p2 - 1 / 3).abs() > 1e-9
    assert torch.equal((problem.bayes_predict(X) == 2)[far_from_tie], (p2 > 1 / 3)[far_from_tie])


def test_class_1_never_wins_just_left_of_the_crossing(problem):
    """At x1 = 8.9, where the centerlines are about 0.28 apart, no x2 is class 1."""
    x2 = torch.linspace(0.0, 9.0, 9001, dtype=torch.float64)
    X = torch.stack([torch.full_like(x2, 8.9), x2], dim=1)
    assert not (problem.bayes_predict(X) == 1).any()
    assert (problem.centerline_predict(X) == 1).any()


@pytest.mark.parametrize(("narrow", "wide"), [(0.25, 0.5), (0.5, 1.0), (1.0, 2.0)])
def test_wider_boundaries_lower_the_bayes_accuracy(narrow, wide):
    """More overlap between classes means a lower Bayes accuracy."""
    sharp = ThreeClassProblem(boundary_std=narrow).bayes_accuracy(300)
    blurred = ThreeClassProblem(boundary_std=wide).bayes_accuracy(300)
    assert sharp > blurred


def test_triple_point_where_all_posteriors_are_one_third(problem):
    """On the lower line where u - l = -Phi^-1(1/3), the posteriors tie; class 1 ends there."""
    gap = -norm.ppf(1 / 3)
    x1_star = optimize.brentq(lambda t: _upper(t) - _lower(t) - gap, 6.0, 8.97, xtol=1e-13)
    point = torch.tensor([[x1_star, _lower(x1_star)]], dtype=torch.float64)
    torch.testing.assert_close(problem.posterior(point), torch.full((1, 3), 1 / 3).double())
    x2 = torch.linspace(0.0, 9.0, 90_001, dtype=torch.float64)

    def has_class_1(x1: float) -> bool:
        X = torch.stack([torch.full_like(x2, x1), x2], dim=1)
        return bool((problem.bayes_predict(X) == 1).any())

    assert has_class_1(x1_star - 0.01) and not has_class_1(x1_star + 0.01)


def test_gap_between_bayes_and_centerline_rules_grows_like_variance():
    """Doubling boundary_std quadruples the accuracy the Bayes rule gains over the centerlines."""
    ratios = []
    for std in (0.25, 0.5, 1.0, 2.0):
        p = ThreeClassProblem(boundary_std=std)
        gain = p.bayes_accuracy(800) - p.expected_accuracy(p.centerline_predict, 800)
        ratios.append(gain / std**2)
    assert max(ratios) / min(ratios) < 1.1


def test_lowest_expected_cross_entropy_against_nested_quadrature(problem):
    """The mean posterior entropy (the best expected loss, chapter 4) matches quadrature."""

    def entropy(x1: float, x2: float) -> float:
        return -sum(p * math.log(p) for p in _posterior(x1, x2) if p > 0)

    reference = _integrate_over_domain(entropy)
    posterior = problem.posterior(problem.midpoint_grid(1000))
    midpoint = -torch.special.xlogy(posterior, posterior).sum(dim=1).mean().item()
    assert midpoint == pytest.approx(reference, abs=1e-6)
    assert 0.2 < reference < 0.22  # the value chapter 4 quotes, about 0.2107
