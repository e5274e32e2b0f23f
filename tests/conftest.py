"""Shared fixtures: the seed-000 data drawn in the source's order, and a headless plot backend."""

from __future__ import annotations

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from nnbook.data import ThreeClassProblem

SEED = 2100


@pytest.fixture
def problem() -> ThreeClassProblem:
    return ThreeClassProblem()


@pytest.fixture
def seed_data(problem):
    """Training and evaluation data of seed 000, drawn from the global generator after seeding."""
    torch.manual_seed(SEED)
    X, y = problem.make_dataset(2000)
    X_eval, y_eval = problem.make_dataset(1000)
    return X, y, X_eval, y_eval


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
