"""Tests for nnbook.data: the seed's numbers, the posterior, XOR, and TensorLoader."""

import itertools
import math

import pytest
import torch
from scipy.stats import norm
from torch.utils.data import DataLoader, TensorDataset

from nnbook.data import (
    TensorLoader,
    ThreeClassProblem,
    XORDataset,
    make_xor,
    normal_cdf,
    wrong_side_fractions,
)
from nnbook.sections import find_roots


def test_seed_class_counts_and_wrong_side(problem, seed_data):
    """Seed 2100 gives the source's 185 wrong-side training points (9.25 %)."""
    X, y, X_eval, _y_eval = seed_data
    assert X.shape == (2000, 2) and y.shape == (2000,) and y.dtype == torch.int64
    assert X_eval.shape == (1000, 2)
    assert torch.bincount(y).tolist() == [690, 639, 671]
    wrong = problem.wrong_side(X, y)
    assert int(wrong.sum()) == 185
    assert wrong.float().mean().item() == pytest.approx(0.0925)


def test_boundary_crossings_of_the_source(problem):
    """The lower line crosses x2 = 0 at 6.00 and meets the upper line at 8.97 (200-point grid)."""
    x = torch.linspace(problem.x1_min, problem.x1_max, 200)
    assert round(find_roots(x, problem.lower(x))[0].item(), 2) == 6.00
    assert round(find_roots(x, problem.lower(x) - problem.upper(x))[0].item(), 2) == 8.97


def test_normal_cdf_matches_scipy():
    """normal_cdf equals the standard normal CDF."""
    z = torch.linspace(-5, 5, 101, dtype=torch.float64)
    torch.testing.assert_close(normal_cdf(z), torch.from_numpy(norm.cdf(z.numpy())))
    torch.testing.assert_close(
        normal_cdf(z, std=2.0), torch.from_numpy(norm.cdf(z.numpy(), scale=2))
    )


def test_labels_follow_the_two_stage_probabilities(problem):
    """Empirical label frequencies at a fixed point approach the posterior."""
    point = torch.tensor([[8.0, 4.0]]).repeat(200_000, 1)
    y = problem.sample_labels(point, torch.Generator().manual_seed(1))
    freq = torch.bincount(y, minlength=3).double() / len(y)
    torch.testing.assert_close(freq, problem.posterior(point[:1].double())[0], atol=4e-3, rtol=0)


def test_posterior_rows_sum_to_one_and_bayes_is_argmax(problem):
    """The posterior is a distribution per point and the Bayes rule takes its argmax."""
    X = problem.sample_points(500, torch.Generator().manual_seed(0))
    post = problem.posterior(X)
    torch.testing.assert_close(post.sum(1), torch.ones(500))
    assert torch.equal(problem.bayes_predict(X), post.argmax(1))


def test_bayes_accuracy_against_monte_carlo(problem):
    """Midpoint-rule Bayes accuracy agrees with an independent quasi-random estimate."""
    sobol = torch.quasirandom.SobolEngine(2, scramble=True, seed=0)
    u = sobol.draw(2**18, dtype=torch.float64)
    X = u * torch.tensor([16.0, 9.0], dtype=torch.float64)
    mc = problem.posterior(X).max(1).values.mean().item()
    assert problem.bayes_accuracy(400) == pytest.approx(mc, abs=5e-4)
    assert problem.expected_accuracy(problem.centerline_predict, 400) <= problem.bayes_accuracy(400)


def test_bad_domain_is_refused():
    """A domain with no extent is refused, naming both ranges."""
    with pytest.raises(ValueError, match="positive extent"):
        ThreeClassProblem(x1_min=3, x1_max=3)


def test_wrong_point_shape_is_named(problem):
    """Points of shape (N, 3) are refused with the shape in the message."""
    with pytest.raises(ValueError, match=r"\(N, 2\), got \(4, 3\)"):
        problem.posterior(torch.zeros(4, 3))


@pytest.mark.parametrize("n", [0, -5])
def test_non_positive_sample_count(problem, n):
    """Drawing zero or fewer samples is an error that names n."""
    with pytest.raises(ValueError, match="n must be a positive int"):
        problem.make_dataset(n)


def test_xor_labels_and_noise():
    """XOR labels are 1 exactly when one corner coordinate is 1; noise has the asked std."""
    X, y = make_xor(20_000, std=0.1, generator=torch.Generator().manual_seed(0))
    corners = X.round()
    assert torch.equal(y, (corners.sum(1) == 1).long())
    assert (X - corners).std().item() == pytest.approx(0.1, rel=0.03)
    ds = XORDataset(10)
    assert len(ds) == 10 and ds[3][0].shape == (2,) and ds[3][1].dtype == torch.int64


def _assert_same_batches(a, b):
    for (xa, ya), (xb, yb) in itertools.zip_longest(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


@pytest.mark.parametrize(
    ("n", "batch_size", "shuffle", "drop_last", "with_generator"),
    [
        (100, 10, True, False, True),
        (103, 10, True, False, True),
        (103, 10, True, True, True),
        (103, 10, False, False, True),
        (103, 10, False, True, False),
        (57, 64, True, False, False),
    ],
)
def test_tensor_loader_equals_dataloader(n, batch_size, shuffle, drop_last, with_generator):
    """TensorLoader yields DataLoader's batches and leaves its generators in the same state."""
    X, y = torch.randn(n, 2), torch.arange(n)
    torch.manual_seed(5)
    g1 = torch.Generator().manual_seed(11) if with_generator else None
    ref = DataLoader(
        TensorDataset(X, y),
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        generator=g1,
    )
    expected = [list(ref) for _ in range(3)]
    after_ref = (torch.get_rng_state(), g1.get_state() if g1 else None)
    torch.manual_seed(5)
    g2 = torch.Generator().manual_seed(11) if with_generator else None
    ours = TensorLoader(
        X, y, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, generator=g2
    )
    for epoch in range(3):
        _assert_same_batches(list(ours), expected[epoch])
    assert len(ours) == len(ref)
    assert torch.equal(torch.get_rng_state(), after_ref[0])
    if g2 is not None:
        assert torch.equal(g2.get_state(), after_ref[1])


def test_tensor_loader_errors():
    """Mismatched lengths, empty data and bad batch sizes are refused with the numbers."""
    with pytest.raises(ValueError, match="share their first dimension"):
        TensorLoader(torch.zeros(5, 2), torch.zeros(4))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        TensorLoader(torch.zeros(5, 2), batch_size=0)
    with pytest.raises(ValueError, match="at least one sample"):
        TensorLoader(torch.zeros(0, 2))
    assert len(TensorLoader(torch.zeros(10, 2), batch_size=3)) == math.ceil(10 / 3)


def test_tensor_loader_refuses_a_list_as_first_argument():
    """A list where a tensor belongs is a TypeError naming its position (not AttributeError)."""
    with pytest.raises(TypeError, match=r"tensor 0 must be a torch\.Tensor, got list"):
        TensorLoader([1.0, 2.0], batch_size=1)


def test_wrong_side_fractions_reproduce_make_dataset():
    """One repeat is the wrong-side share of make_dataset drawn with the same generator."""
    problem = ThreeClassProblem()
    shares = wrong_side_fractions(problem, 500, 1, torch.Generator().manual_seed(5))
    X, y = problem.make_dataset(500, torch.Generator().manual_seed(5))
    assert shares.shape == (1,)
    assert shares.item() == problem.wrong_side(X, y).double().mean().item()


def test_wrong_side_fractions_average_to_the_centerline_error():
    """Over many samples the mean share approaches 1 - expected centerline accuracy."""
    problem = ThreeClassProblem()
    shares = wrong_side_fractions(problem, 2000, 300, torch.Generator().manual_seed(0))
    error = 1 - problem.expected_accuracy(problem.centerline_predict, 400)
    assert shares.mean().item() == pytest.approx(error, abs=2e-3)
    with pytest.raises(ValueError, match="repeats must be a positive int"):
        wrong_side_fractions(problem, 10, 0)


# --- bad inputs: the problem's parameters and points (issue: no silent wrong results) -------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n_classes": 4}, ValueError, "exactly 3 classes"),
        ({"n_classes": 2}, ValueError, "exactly 3 classes"),
        ({"x1_max": float("inf")}, ValueError, "x1_max must be finite"),
        ({"x2_min": float("nan")}, ValueError, "x2_min must be finite"),
        ({"boundary_std": float("inf")}, ValueError, "boundary_std must be finite"),
        ({"boundary_std": 0.0}, ValueError, "boundary_std must be positive"),
        ({"x1_min": "0"}, TypeError, "x1_min must be a real number"),
    ],
)
def test_problem_refuses_parameters_it_does_not_honour(kwargs, error, message):
    from nnbook.data import ThreeClassProblem

    with pytest.raises(error, match=message):
        ThreeClassProblem(**kwargs)


@pytest.mark.parametrize(
    "method", ["posterior", "bayes_predict", "centerline_predict", "class_probabilities"]
)
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_point_is_refused_not_classified(method, bad):
    """A NaN point must not come out as class 0: every method of the problem refuses it."""
    from nnbook.data import ThreeClassProblem

    X = torch.tensor([[1.0, 2.0], [3.0, bad]])
    with pytest.raises(
        ValueError, match=r"X holds NaN or infinite values \(first at index \[1, 1\]\)"
    ):
        getattr(ThreeClassProblem(), method)(X)


@pytest.mark.parametrize(
    ("std", "error", "message"),
    [
        (0.0, ValueError, "std must be positive, got 0.0"),
        (-1.0, ValueError, "std must be positive"),
        (float("nan"), ValueError, "std must be finite"),
        ("1", TypeError, "std must be a real number"),
    ],
)
def test_normal_cdf_refuses_a_bad_std(std, error, message):
    from nnbook.data import normal_cdf

    with pytest.raises(error, match=message):
        normal_cdf(torch.zeros(3), std)
