"""Tests for nnbook._losses: evaluate equals the loss over the whole set at once, any batch size."""

import pytest
import torch
from torch import nn

from nnbook._losses import LossTotal, unreduced
from nnbook.batched import evaluate_batched
from nnbook.data import TensorLoader
from nnbook.models import MLP, BatchedMLP
from nnbook.training import evaluate

LOSSES = {
    "plain": lambda: nn.CrossEntropyLoss(),
    "sum": lambda: nn.CrossEntropyLoss(reduction="sum"),
    "class weights": lambda: nn.CrossEntropyLoss(weight=torch.tensor([1.0, 5.0, 0.5])),
    "ignore_index": lambda: nn.CrossEntropyLoss(ignore_index=1),
    "label smoothing": lambda: nn.CrossEntropyLoss(label_smoothing=0.2),
    "all three": lambda: nn.CrossEntropyLoss(
        weight=torch.tensor([2.0, 1.0, 3.0]), ignore_index=0, label_smoothing=0.1
    ),
}


def whole_set_mean(loss_fn, logits, y):
    """The loss over the whole set at once, with reduction 'mean'."""
    mean = nn.CrossEntropyLoss(
        weight=loss_fn.weight,
        ignore_index=loss_fn.ignore_index,
        label_smoothing=loss_fn.label_smoothing,
    )
    return mean(logits, y).item()


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("batch_size", [1, 7, 23, 64])
def test_evaluate_is_the_whole_set_loss_for_any_batch_size(name, batch_size):
    torch.manual_seed(0)
    model = MLP(2, 5, 3).double()
    X = torch.randn(64, 2, dtype=torch.float64)
    y = torch.randint(0, 3, (64,))
    loss_fn = LOSSES[name]().double()
    got = evaluate(model, TensorLoader(X, y, batch_size=batch_size), loss_fn)
    with torch.no_grad():
        logits = model(X)
    assert got["loss"] == pytest.approx(whole_set_mean(loss_fn, logits, y), rel=1e-12)
    kept = y != loss_fn.ignore_index
    accuracy = (logits.argmax(1) == y)[kept].double().mean().item()
    assert got["accuracy"] == pytest.approx(accuracy, rel=1e-12)


@pytest.mark.parametrize("name", list(LOSSES))
def test_evaluate_batched_agrees_with_evaluate(name):
    torch.manual_seed(1)
    batched = BatchedMLP.from_seeds(2, 5, 3, [3, 4]).double()
    X = torch.randn(40, 2, dtype=torch.float64)
    y = torch.randint(0, 3, (40,))
    loss_fn = LOSSES[name]().double()
    losses, accuracies = evaluate_batched(batched, X, y, loss_fn)
    for k in range(2):
        one = evaluate(batched.member(k), TensorLoader(X, y, batch_size=9), loss_fn)
        assert losses[k].item() == pytest.approx(one["loss"], rel=1e-10)
        assert accuracies[k].item() == pytest.approx(one["accuracy"], rel=1e-12)


def test_binary_loss_with_pos_weight_is_exact():
    torch.manual_seed(2)
    model = MLP(2, 4, 1).double()
    X = torch.randn(30, 2, dtype=torch.float64)
    y = torch.randint(0, 2, (30,))
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([3.0], dtype=torch.float64))
    got = evaluate(model, TensorLoader(X, y, batch_size=4), loss_fn)
    with torch.no_grad():
        want = loss_fn(model(X).squeeze(1), y.double()).item()
    assert got["loss"] == pytest.approx(want, rel=1e-12)


def test_all_ignored_targets_are_refused():
    model = MLP(2, 4, 3)
    X, y = torch.randn(6, 2), torch.full((6,), -100)
    with pytest.raises(ValueError, match="all targets are ignored"):
        evaluate(model, TensorLoader(X, y, batch_size=3), nn.CrossEntropyLoss())


@pytest.mark.parametrize("bad", [lambda a, b: (a - b).sum(), nn.Linear(2, 2), "cross_entropy"])
def test_unreduced_refuses_what_is_not_a_torch_loss(bad):
    with pytest.raises(TypeError, match="must be a torch loss module with a `reduction`"):
        unreduced(bad)


def test_loss_total_without_samples_has_no_mean():
    with pytest.raises(ValueError, match="no sample with a nonzero weight"):
        _ = LossTotal(nn.CrossEntropyLoss()).mean
