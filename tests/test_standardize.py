"""Input standardisation, and its folding into a network's first layer."""

from __future__ import annotations

import pytest
import torch

from nnbook.models import MLP, BatchedMLP
from nnbook.standardize import Standardizer


def points(n: int = 100, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 2, generator=generator) * torch.tensor([16.0, 9.0])


def test_fit_gives_mean_zero_std_one_on_the_training_points():
    """Standardised training points have mean 0 and standard deviation 1 per feature."""
    X = points()
    Z = Standardizer.fit(X)(X)
    torch.testing.assert_close(Z.mean(dim=0), torch.zeros(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(Z.std(dim=0), torch.ones(2))


def test_other_points_use_the_training_statistics():
    """New points are mapped with the training set's statistics, not their own."""
    scaler = Standardizer.fit(points())
    new = points(50, seed=1)
    torch.testing.assert_close(scaler(new), (new - scaler.mean) / scaler.std)
    assert scaler(new.expand(3, -1, -1)).shape == (3, 50, 2)


def test_folded_mlp_on_raw_points_equals_mlp_on_standardised_points():
    """The folded network on raw points gives the logits of the original on standardised ones."""
    X = points()
    scaler = Standardizer.fit(X)
    torch.manual_seed(0)
    model = MLP(2, 8, 3)
    folded = scaler.fold_into(model)
    torch.testing.assert_close(folded(X), model(scaler(X)))
    assert folded is not model and torch.equal(model.net[2].weight, folded.net[2].weight)


def test_folded_batched_mlp_keeps_padding_and_matches_its_members():
    """A padded BatchedMLP folds member by member, padding units staying exactly zero."""
    X = points()
    scaler = Standardizer.fit(X)
    torch.manual_seed(0)
    batch = BatchedMLP([MLP(2, 2, 3), MLP(2, 8, 3)], seeds=[0, 1])
    folded = scaler.fold_into(batch)
    torch.testing.assert_close(folded(X), batch(scaler(X)))
    assert (folded.weights[0][0, 2:] == 0).all() and (folded.biases[0][0, 2:] == 0).all()
    assert folded.seeds == (0, 1)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: Standardizer.fit(torch.ones(10, 2)), ValueError, "std must be positive"),
        (lambda: Standardizer.fit(torch.zeros(1, 2)), ValueError, "N >= 2"),
        (lambda: Standardizer.fit(torch.zeros(5, 2, dtype=torch.long)), ValueError, "floating"),
        (lambda: Standardizer.fit([[1.0, 2.0], [3.0, 4.0]]), TypeError, "torch.Tensor"),
        (
            lambda: Standardizer.fit(torch.tensor([[1.0, float("nan")], [2.0, 3.0]])),
            ValueError,
            "NaN or infinite",
        ),
        (lambda: Standardizer(torch.zeros(2), torch.ones(3)), ValueError, "one length"),
        (lambda: Standardizer.fit(points())(torch.zeros(4, 3)), ValueError, "2 features"),
        (lambda: Standardizer.fit(points()).fold_into(torch.nn.Linear(2, 3)), TypeError, "MLP"),
        (lambda: Standardizer.fit(points()).fold_into(MLP(3, 4, 3)), ValueError, "3 features"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(call, error, message):
    """Constant features, too few or non-float points, and mismatched shapes are refused."""
    with pytest.raises(error, match=message):
        call()
