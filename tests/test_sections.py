"""Tests for nnbook.sections: roots, cross-sections and the exact posterior along a line."""

import pytest
import torch

from nnbook.data import ThreeClassProblem
from nnbook.sections import cross_section, find_roots, posterior_section


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


def test_posterior_section_long_format():
    """posterior_section gives steps rows per class; at x2 = upper(x1), P(class 2) is one half."""
    problem = ThreeClassProblem()
    x1 = 8.0
    frame = posterior_section(problem, x1, steps=101)
    assert list(frame.columns) == ["x2", "class", "prob"] and len(frame) == 303
    wide = frame.pivot(index="x2", columns="class", values="prob")
    torch.testing.assert_close(torch.tensor(wide.sum(axis=1).to_numpy()), torch.ones(101).double())
    middle = problem.upper(torch.tensor(x1)).item()
    p2 = posterior_section(problem, x1, steps=2).query("`class` == 2")
    assert p2["prob"].iloc[0] < 0.5 < p2["prob"].iloc[1]
    at_line = problem.posterior(torch.tensor([[x1, middle]], dtype=torch.float64))[0, 2]
    assert at_line.item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="x1 must lie"):
        posterior_section(problem, 20.0)


# --- bad inputs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda m, p: cross_section(m, float("nan"), (0.0, 9.0)), ValueError, "x1 must be finite"),
        (
            lambda m, p: cross_section(m, 3.0, (0.0, float("inf"))),
            ValueError,
            "ylim must be finite",
        ),
        (lambda m, p: cross_section(m, "3", (0.0, 9.0)), TypeError, "x1 must be a real number"),
        (lambda m, p: posterior_section(p, float("nan")), ValueError, "x1 must be finite"),
        (lambda m, p: posterior_section(p, 20.0), ValueError, r"x1 must lie in \(0.0, 16.0\)"),
        (
            lambda m, p: find_roots(torch.arange(3.0), torch.tensor([1.0, float("nan"), -1.0])),
            ValueError,
            "find_roots: y holds NaN or infinite values",
        ),
    ],
)
def test_section_helpers_refuse_non_finite_inputs(call, error, message):
    from nnbook.data import ThreeClassProblem
    from nnbook.models import MLP

    with pytest.raises(error, match=message):
        call(MLP(2, 4, 3), ThreeClassProblem())


def test_cross_section_of_a_one_logit_model_uses_the_sigmoid():
    from nnbook.models import MLP

    torch.manual_seed(0)
    model = MLP(2, 4, 1)
    section = cross_section(model, 1.0, (0.0, 1.0), steps=5)
    p1 = section[section["class"] == 1]["prob"].to_numpy()
    x2 = torch.linspace(0.0, 1.0, 5)
    with torch.no_grad():
        want = torch.sigmoid(model(torch.stack([torch.full_like(x2, 1.0), x2], 1))[:, 0])
    assert p1 == pytest.approx(want.double().numpy(), rel=1e-6)
