"""Tests for nnbook._checks: each check returns what it accepts and names what it refuses."""

import pytest
import torch

from nnbook._checks import finite, finite_tensor, interval, one_of, positive_int, tensor


def test_checks_return_what_they_accept():
    """A value that passes is handed back unchanged, so a check reads as an assignment."""
    assert positive_int("n", 3) == 3
    assert positive_int("steps", 2, minimum=2) == 2
    assert one_of("output", "class", ("class", "proba")) == "class"
    t = torch.zeros(2)
    assert tensor("X", t) is t
    assert interval("xlim", (0.0, 16.0)) == (0.0, 16.0)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: positive_int("n", 0), ValueError, "n must be a positive int, got 0"),
        (lambda: positive_int("n", -3), ValueError, "n must be a positive int, got -3"),
        (lambda: positive_int("n", 2.0), TypeError, "n must be an int, got float"),
        (lambda: positive_int("n", True), TypeError, "n must be an int, got bool"),
        (lambda: positive_int("n", "4"), TypeError, "n must be an int, got str"),
        (lambda: positive_int("steps", 1, minimum=2), ValueError, "an int of at least 2"),
        (lambda: one_of("output", "prob", ("class",)), ValueError, "output must be one of"),
        (lambda: tensor("X", [1.0, 2.0]), TypeError, "X must be a torch.Tensor, got list"),
        (lambda: interval("xlim", (1.0, 1.0)), ValueError, "xlim must have positive extent"),
        (lambda: interval("ylim", (2.0,)), ValueError, r"ylim must be a pair \(low, high\)"),
        (lambda: interval("xlim", (0.0, float("inf"))), ValueError, "xlim must be finite"),
        (lambda: interval("xlim", (float("nan"), 1.0)), ValueError, "xlim must be finite"),
        (lambda: interval("xlim", ("0", 1.0)), TypeError, "xlim must be a real number"),
        (lambda: finite("x1", True), TypeError, "x1 must be a real number, got bool"),
        (lambda: finite("x1", torch.zeros(2)), TypeError, "x1 must be a real number"),
        (
            lambda: finite_tensor("X", torch.tensor([[1.0, float("nan")]])),
            ValueError,
            r"X holds NaN or infinite values \(first at index \[0, 1\]\)",
        ),
    ],
)
def test_checks_name_the_problem(call, error, message):
    """Each refusal has the right type and a message that names the argument and the fault."""
    with pytest.raises(error, match=message):
        call()
