"""How the batch size sets training speed: samples per second, and the time to an accuracy.

`time_to_accuracy` trains a 2-H-3 `MLP` with Adam on the three-class problem in batches of a
given size, and after every epoch measures the expected accuracy (over the generating
process, `ThreeClassProblem.expected_accuracy`) until it reaches a target. Only the training
passes are timed, not the evaluations. `batch_size_sweep` does that for several batch sizes
and seeds, alternating them so that a burst of other work on the machine hits all alike.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pandas as pd
import torch
from torch import nn

from nnbook._checks import positive_int
from nnbook.data import TensorLoader, ThreeClassProblem
from nnbook.models import MLP
from nnbook.training import _train_epoch

__all__ = ["BatchSizeRun", "batch_size_sweep", "time_to_accuracy"]


@dataclass(frozen=True)
class BatchSizeRun:
    """One run of `time_to_accuracy`; `epochs` is None if the target was not reached."""

    batch_size: int
    seed: int
    epochs: int | None
    train_seconds: float
    samples_per_second: float
    accuracy: float


def _accuracy(problem: ThreeClassProblem, model: nn.Module, steps: int) -> float:
    with torch.no_grad():
        return problem.expected_accuracy(lambda X: model(X.float()).argmax(dim=1), steps=steps)


def time_to_accuracy(
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    seed: int,
    target: float,
    max_epochs: int = 300,
    lr: float = 0.01,
    hidden: int = 8,
    eval_steps: int = 100,
    problem: ThreeClassProblem | None = None,
) -> BatchSizeRun:
    """Train with Adam in batches of `batch_size` until the expected accuracy reaches `target`.

    The initial weights and the shuffles come from `seed` (the global generator is left as
    it was). Stops after `max_epochs` epochs if the target is not reached.
    """
    positive_int("batch_size", batch_size)
    positive_int("max_epochs", max_epochs)
    if not 0 < target < 1:
        raise ValueError(f"target must be an accuracy between 0 and 1, got {target}")
    problem = problem or ThreeClassProblem()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MLP(2, hidden, 3)
    loader = TensorLoader(
        X, y, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    seconds, reached, accuracy = 0.0, None, 0.0
    for epoch in range(1, max_epochs + 1):
        start = time.perf_counter()
        _train_epoch(model, loader, loss_fn, optimizer, device=X.device, check=False)
        seconds += time.perf_counter() - start
        accuracy = _accuracy(problem, model, eval_steps)
        if accuracy >= target:
            reached = epoch
            break
    epochs = reached or max_epochs
    return BatchSizeRun(batch_size, seed, reached, seconds, epochs * len(X) / seconds, accuracy)


def batch_size_sweep(
    X: torch.Tensor,
    y: torch.Tensor,
    batch_sizes: Sequence[int],
    seeds: Sequence[int],
    **kwargs,
) -> pd.DataFrame:
    """`time_to_accuracy` for every batch size and seed, batch sizes alternating; one row each."""
    if not batch_sizes or not seeds:
        raise ValueError("batch_size_sweep needs at least one batch size and one seed")
    rows = [
        asdict(time_to_accuracy(X, y, batch_size=b, seed=s, **kwargs))
        for s in seeds
        for b in batch_sizes
    ]
    return pd.DataFrame(rows)
