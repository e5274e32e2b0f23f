"""How far a classifier's probabilities are from the truth, and temperature scaling to fix them.

Every metric works the same way on a labelled sample and on the exact distribution:

- on a sample of n points, `target` is the labels, shape (n,), and each point weighs 1/n;
- on a `ThreeClassProblem`, the points are the centres of its midpoint grid and `target`
  is the exact posterior there, shape (N, C): the result is then the midpoint-rule
  integral over the domain, an expectation with neither sampling noise nor labels.

`q` is always the model's probabilities (N, C). Compute them in float64 from the logits,
`torch.softmax(logits.double(), dim=1)`, so that a very confident model's small
probabilities do not underflow to 0 (whose logarithm is minus infinity).
`weights` (N,), where given, reweights the points (a shifted input distribution).
"""

from __future__ import annotations

import math

import pandas as pd
import torch

from nnbook._checks import positive_int, tensor

__all__ = [
    "calibration_error",
    "confidence",
    "correct_probability",
    "entropy",
    "expected_nll",
    "fit_temperature",
    "kl_divergence",
    "loss_decomposition",
    "reliability",
    "scale_temperature",
    "target_probabilities",
]

# Probabilities are clamped to this before a logarithm: float64's smallest normal number.
TINY = torch.finfo(torch.float64).tiny


def _probabilities(name: str, p: object) -> torch.Tensor:
    """`p` as float64 if it is (N, C) floating point, non-negative, with rows summing to 1."""
    p = tensor(name, p)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ValueError(f"{name} must have shape (N, C) with N >= 1, C >= 2, got {tuple(p.shape)}")
    if not p.is_floating_point():
        raise TypeError(f"{name} must be floating point probabilities, got {p.dtype}")
    p = p.double()
    if (p < 0).any() or not torch.allclose(
        p.sum(dim=1), torch.ones(len(p), dtype=p.dtype), atol=1e-4
    ):
        raise ValueError(f"{name} must be probabilities: non-negative rows that sum to 1")
    return p


def target_probabilities(target: object, n_classes: int) -> torch.Tensor:
    """Labels (N,) as one-hot rows, or posterior rows (N, C) checked; (N, C) float64."""
    target = tensor("target", target)
    positive_int("n_classes", n_classes, minimum=2)
    if target.ndim == 1 and not target.is_floating_point():
        if len(target) == 0 or target.min() < 0 or target.max() >= n_classes:
            raise ValueError(f"labels must be a non-empty set of classes 0 to {n_classes - 1}")
        return torch.nn.functional.one_hot(target.long(), n_classes).double()
    target = _probabilities("target", target)
    if target.shape[1] != n_classes:
        raise ValueError(f"target has {target.shape[1]} classes, expected {n_classes}")
    return target


def _pair(q: object, target: object) -> tuple[torch.Tensor, torch.Tensor]:
    q = _probabilities("q", q)
    t = target_probabilities(target, q.shape[1])
    if len(t) != len(q):
        raise ValueError(f"q has {len(q)} rows but target has {len(t)}")
    return q, t


def _mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """The mean over points (dim 0), or the weighted mean with non-negative `weights` (N,)."""
    if weights is None:
        return values.mean(dim=0)
    w = tensor("weights", weights).double()
    if w.shape != values.shape[:1] or (w < 0).any() or not w.sum() > 0:
        raise ValueError(f"weights must be non-negative, not all 0, shape ({len(values)},)")
    w = w / w.sum()
    return (w.reshape(-1, *[1] * (values.ndim - 1)) * values).sum(dim=0)


def entropy(p: torch.Tensor) -> torch.Tensor:
    """The entropy of every row of probabilities, in nats; shape (N,)."""
    p = _probabilities("p", p)
    return -torch.special.xlogy(p, p).sum(dim=1)


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) of every row, in nats: the extra loss of predicting q where p is true; (N,)."""
    q, p = _pair(q, p)
    return (torch.special.xlogy(p, p) - torch.special.xlogy(p, q.clamp_min(TINY))).sum(dim=1)


def expected_nll(
    q: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None
) -> float:
    """The mean cross-entropy -sum_k t_k log q_k: of the sample, or exact for a posterior target."""
    q, t = _pair(q, target)
    return _mean(-torch.special.xlogy(t, q.clamp_min(TINY)).sum(dim=1), weights).item()


def confidence(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The top probability (N,) and the predicted class (N,) of every row."""
    values, classes = _probabilities("q", q).max(dim=1)
    return values, classes


def correct_probability(q: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """P(the predicted class is right) at each point: 0 or 1 for labels, exact for a posterior."""
    q, t = _pair(q, target)
    return t.gather(1, q.argmax(dim=1, keepdim=True)).squeeze(1)


def _binned(
    q: torch.Tensor, target: torch.Tensor, bins: int, weights: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per confidence bin: its weight (bins,), and its mean confidence and accuracy (bins, 2)."""
    positive_int("bins", bins)
    conf, _ = confidence(q)
    correct = correct_probability(q, target)
    w = torch.ones_like(conf) if weights is None else tensor("weights", weights).double()
    _mean(conf, w)  # only to check the weights
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    index = torch.searchsorted(edges[1:-1], conf, right=False)  # (N,) bin of each point
    mass = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, w)
    sums = torch.zeros(bins, 2, dtype=torch.float64).index_add_(
        0, index, w[:, None] * torch.stack([conf, correct], dim=1)
    )
    return mass / mass.sum(), sums / mass.clamp_min(TINY)[:, None], edges


def reliability(
    q: torch.Tensor, target: torch.Tensor, bins: int = 10, weights: torch.Tensor | None = None
) -> pd.DataFrame:
    """The reliability table: per confidence bin, its weight, mean confidence and accuracy.

    Bins split [0, 1] into `bins` equal parts, a value on an edge going to the lower bin
    (as in `sklearn.calibration.calibration_curve`); empty bins are left out.
    """
    weight, means, edges = _binned(q, target, bins, weights)
    keep = weight > 0
    return pd.DataFrame(
        {
            "low": edges[:-1][keep].numpy(),
            "high": edges[1:][keep].numpy(),
            "weight": weight[keep].numpy(),
            "confidence": means[keep, 0].numpy(),
            "accuracy": means[keep, 1].numpy(),
        }
    )


def calibration_error(
    q: torch.Tensor, target: torch.Tensor, bins: int = 10, weights: torch.Tensor | None = None
) -> float:
    """The expected calibration error: the weighted mean |accuracy - confidence| over bins."""
    weight, means, _ = _binned(q, target, bins, weights)
    return (weight * (means[:, 1] - means[:, 0]).abs()).sum().item()


def _logits(logits: object) -> torch.Tensor:
    """`logits` as float64 if they are a floating-point (N, C) tensor; else a clear error."""
    logits = tensor("logits", logits)
    if logits.ndim != 2 or not logits.is_floating_point():
        raise ValueError(
            f"logits must be floating point of shape (N, C), got {tuple(logits.shape)}"
        )
    if not torch.isfinite(logits).all():
        raise ValueError("logits must be finite (clamp probabilities before taking their log)")
    return logits.double()


def scale_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / T) in float64; T > 1 softens the probabilities, T < 1 sharpens them."""
    if not (
        isinstance(temperature, int | float) and math.isfinite(temperature) and temperature > 0
    ):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    return torch.softmax(_logits(logits) / temperature, dim=1)


def fit_temperature(
    logits: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor | None = None,
    bounds: tuple[float, float] = (0.05, 20.0),
) -> float:
    """The temperature T that minimises the mean NLL of softmax(logits / T) against `target`.

    Fit on validation labels, or on the exact posterior for the best T there is. The
    search is over log T within `bounds` (a one-dimensional, bounded minimisation).
    """
    z = torch.log_softmax(_logits(logits), dim=1)  # the logits up to a shift, in float64
    t = target_probabilities(target, z.shape[1])
    if len(t) != len(z):
        raise ValueError(f"logits have {len(z)} rows but target has {len(t)}")
    _mean(z[:, 0], weights)  # only to check the weights
    low, high = bounds
    if not 0 < low < high:
        raise ValueError(f"bounds must satisfy 0 < low < high, got {bounds!r}")

    from scipy.optimize import minimize_scalar  # here, so that `import nnbook` stays light

    def loss(log_t: float) -> float:
        log_q = torch.log_softmax(z / math.exp(log_t), dim=1)
        return _mean(-(t * log_q).sum(dim=1), weights).item()

    result = minimize_scalar(
        loss, bounds=(math.log(low), math.log(high)), method="bounded", options={"xatol": 1e-6}
    )
    return math.exp(result.x)


def loss_decomposition(logits: torch.Tensor, posterior: torch.Tensor) -> dict[str, float]:
    """Split the exact expected NLL of a model into floor, calibration and refinement.

    `logits` are the model's on the grid where `posterior` is known. With T* the best
    temperature: `floor` = E[H(p)], the loss of the posterior itself; `calibration` = the
    loss that T* removes; `refinement` = what remains above the floor, E[KL(p || q_T*)].
    They add up to `total`, the model's expected NLL.
    """
    p = _probabilities("posterior", posterior)
    best = fit_temperature(logits, p)
    floor = entropy(p).mean().item()
    total = expected_nll(scale_temperature(logits, 1.0), p)
    scaled = expected_nll(scale_temperature(logits, best), p)
    return {
        "total": total,
        "floor": floor,
        "calibration": total - scaled,
        "refinement": scaled - floor,
        "temperature": best,
    }
