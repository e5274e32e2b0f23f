"""Tests for nnbook.throughput: samples per second and time to an accuracy by batch size."""

import pytest
import torch

from nnbook.data import ThreeClassProblem
from nnbook.throughput import batch_size_sweep, time_to_accuracy


@pytest.fixture(scope="module")
def data():
    return ThreeClassProblem().make_dataset(400, generator=torch.Generator().manual_seed(0))


def test_an_easy_target_is_reached_and_timed(data):
    """A target below the class share of the largest class is reached in the first epochs."""
    run = time_to_accuracy(*data, batch_size=400, seed=0, target=0.3, max_epochs=50)
    assert run.epochs is not None and run.epochs <= 50
    assert run.accuracy >= 0.3
    assert run.train_seconds > 0
    assert run.samples_per_second == pytest.approx(run.epochs * 400 / run.train_seconds)


def test_an_unreachable_target_stops_at_max_epochs(data):
    """Above the Bayes accuracy no network gets: the run stops with epochs None."""
    run = time_to_accuracy(*data, batch_size=400, seed=0, target=0.99, max_epochs=3)
    assert run.epochs is None
    assert run.samples_per_second == pytest.approx(3 * 400 / run.train_seconds)


def test_the_global_generator_is_left_alone(data):
    """The run draws its weights from its own seed, not from the global generator."""
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    time_to_accuracy(*data, batch_size=200, seed=1, target=0.99, max_epochs=1)
    assert torch.equal(torch.rand(1), expected)


def test_same_seed_same_epochs(data):
    """Two runs from one seed take the same steps (same kernels, same order)."""
    a = time_to_accuracy(*data, batch_size=100, seed=3, target=0.6, max_epochs=30)
    b = time_to_accuracy(*data, batch_size=100, seed=3, target=0.6, max_epochs=30)
    assert (a.epochs, a.accuracy) == (b.epochs, b.accuracy)


def test_sweep_has_one_row_per_batch_size_and_seed(data):
    """The sweep's frame holds every combination once."""
    frame = batch_size_sweep(*data, [100, 400], [0, 1], target=0.99, max_epochs=1)
    assert len(frame) == 4
    assert set(zip(frame["batch_size"], frame["seed"], strict=True)) == {
        (100, 0),
        (400, 0),
        (100, 1),
        (400, 1),
    }


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"target": 1.5}, "target must be an accuracy"),
    ],
)
def test_bad_arguments_are_refused(data, kwargs, match):
    """A batch size or epoch count below one, or a target outside (0, 1), is refused."""
    options = {"batch_size": 100, "seed": 0, "target": 0.5, **kwargs}
    with pytest.raises(ValueError, match=match):
        time_to_accuracy(*data, **options)


def test_an_empty_sweep_is_refused(data):
    """A sweep without batch sizes or seeds is refused."""
    with pytest.raises(ValueError, match="at least one batch size"):
        batch_size_sweep(*data, [], [0], target=0.5)
