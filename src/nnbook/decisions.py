"""Acting on probabilities: cost-sensitive Bayes decisions, confusion matrices, prior shift.

As in `nnbook.calibration`, `target` is either labels (N,) of a sample, each point
weighing 1/n, or the exact posterior (N, C) on a problem's midpoint grid, which makes
every result an exact expectation. Costs are a matrix `costs[true, decided]`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from nnbook._checks import positive_int, tensor
from nnbook.calibration import _mean, _probabilities, target_probabilities

__all__ = [
    "bayes_decisions",
    "class_priors",
    "confusion",
    "cost_matrix",
    "expected_cost",
    "shift_priors",
    "shift_weights",
]


def cost_matrix(
    n_classes: int, costs: Mapping[tuple[int, int], float] | None = None
) -> torch.Tensor:
    """0 for a right decision, 1 for a wrong one, except `costs[(true, decided)]`; (C, C)."""
    positive_int("n_classes", n_classes, minimum=2)
    matrix = 1 - torch.eye(n_classes, dtype=torch.float64)
    for (true, decided), cost in (costs or {}).items():
        if not (0 <= true < n_classes and 0 <= decided < n_classes):
            raise ValueError(f"classes must be 0 to {n_classes - 1}, got ({true}, {decided})")
        if not cost >= 0:
            raise ValueError(f"costs must be non-negative, got {cost!r} for ({true}, {decided})")
        matrix[true, decided] = cost
    return matrix


def _costs(costs: object, n_classes: int) -> torch.Tensor:
    costs = tensor("costs", costs)
    if costs.shape != (n_classes, n_classes):
        raise ValueError(
            f"costs must have shape ({n_classes}, {n_classes}), got {tuple(costs.shape)}"
        )
    return costs.double()


def bayes_decisions(q: torch.Tensor, costs: torch.Tensor) -> torch.Tensor:
    """The decision of least expected cost under probabilities q: argmin_j sum_k q_k C[k, j]."""
    q = _probabilities("q", q)
    risk = q @ _costs(costs, q.shape[1])  # (N, C): expected cost of each decision
    return risk.argmin(dim=1)


def _decided(target: torch.Tensor, decisions: object) -> torch.Tensor:
    decisions = tensor("decisions", decisions)
    if decisions.shape != target.shape[:1] or decisions.is_floating_point():
        raise ValueError(
            f"decisions must be classes of shape ({len(target)},), got {tuple(decisions.shape)}"
        )
    if decisions.min() < 0 or decisions.max() >= target.shape[1]:
        raise ValueError(f"decisions must be classes 0 to {target.shape[1] - 1}")
    return decisions.long()


def expected_cost(
    target: torch.Tensor,
    decisions: torch.Tensor,
    costs: torch.Tensor,
    weights: torch.Tensor | None = None,
) -> float:
    """The mean cost of `decisions`: on a sample, or exact when `target` is the posterior."""
    n_classes = tensor("costs", costs).shape[0]
    t = target_probabilities(target, n_classes)
    risk = t @ _costs(costs, n_classes)  # (N, C)
    return _mean(risk.gather(1, _decided(t, decisions)[:, None]).squeeze(1), weights).item()


def confusion(
    target: torch.Tensor,
    decisions: torch.Tensor,
    n_classes: int,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """P(true class k, decided j) as a (C, C) matrix of joint probabilities summing to 1."""
    t = target_probabilities(target, n_classes)
    decided = torch.nn.functional.one_hot(_decided(t, decisions), n_classes).double()
    return _mean(t[:, :, None] * decided[:, None, :], weights)


def class_priors(
    target: torch.Tensor, n_classes: int, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """The class frequencies (C,): of the labels, or exact for the posterior on a grid."""
    return _mean(target_probabilities(target, n_classes), weights)


def _priors(name: str, priors: object, n_classes: int) -> torch.Tensor:
    priors = tensor(name, priors).double()
    if priors.shape != (n_classes,) or not (priors > 0).all():
        raise ValueError(f"{name} must be {n_classes} positive class frequencies")
    return priors / priors.sum()


def shift_priors(q: torch.Tensor, priors: torch.Tensor, new_priors: torch.Tensor) -> torch.Tensor:
    """The posterior after the class frequencies change from `priors` to `new_priors`.

    Under prior shift P(x | class) stays the same, so Bayes' rule multiplies each class
    probability by new_prior / prior and renormalises; (N, C) float64.
    """
    q = _probabilities("q", q)
    ratio = _priors("new_priors", new_priors, q.shape[1]) / _priors("priors", priors, q.shape[1])
    shifted = q * ratio
    return shifted / shifted.sum(dim=1, keepdim=True)


def shift_weights(
    posterior: torch.Tensor, priors: torch.Tensor, new_priors: torch.Tensor
) -> torch.Tensor:
    """How much more likely each point is after the shift: p_new(x) / p(x), shape (N,).

    p_new(x) = sum_k P(x | k) new_prior_k, so the ratio is sum_k P(k | x) new_prior_k / prior_k.
    Use it as `weights` to integrate over the shifted distribution.
    """
    p = _probabilities("posterior", posterior)
    ratio = _priors("new_priors", new_priors, p.shape[1]) / _priors("priors", priors, p.shape[1])
    return p @ ratio
