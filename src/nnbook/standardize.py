"""Input standardisation: per-feature mean and standard deviation from the training set.

`Standardizer.fit(X_train)` measures each feature's mean and standard deviation on the
training points only; calling it maps any points (training, evaluation, new) to
`(X - mean) / std` with those same statistics. A network trained on standardised inputs is
an ordinary network on raw inputs with a rescaled first layer: `fold_into` computes that
network, so every tool that takes raw points (grids, expected accuracy) applies unchanged.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from nnbook._checks import finite_tensor, tensor
from nnbook.models import MLP, BatchedMLP

__all__ = ["Standardizer"]


@dataclass(frozen=True)
class Standardizer:
    """The map x -> (x - mean) / std, with `mean` and `std` of shape (features,)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __post_init__(self):
        tensor("mean", self.mean)
        tensor("std", self.std)
        if self.mean.ndim != 1 or self.mean.shape != self.std.shape:
            raise ValueError(
                "mean and std must be vectors of one length (one entry per feature), got "
                f"shapes {tuple(self.mean.shape)} and {tuple(self.std.shape)}"
            )
        finite_tensor("mean", self.mean)
        finite_tensor("std", self.std)
        if not (self.std > 0).all():
            raise ValueError(
                f"std must be positive for every feature, got {self.std.tolist()}: a constant "
                "feature carries no information and cannot be standardised"
            )

    @classmethod
    def fit(cls, X: torch.Tensor) -> Standardizer:
        """The statistics of the training points X (N, features), N >= 2."""
        X = finite_tensor("X", tensor("X", X))
        if X.ndim != 2 or X.shape[0] < 2 or not X.is_floating_point():
            raise ValueError(
                "X must be floating-point points of shape (N, features) with N >= 2, got "
                f"{X.dtype} of shape {tuple(X.shape)}"
            )
        return cls(X.mean(dim=0), X.std(dim=0))

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """(X - mean) / std for points (..., features)."""
        X = tensor("X", X)
        if X.shape[-1:] != self.mean.shape:
            raise ValueError(
                f"X must have {len(self.mean)} features in its last dimension, "
                f"got shape {tuple(X.shape)}"
            )
        return (X - self.mean.to(X)) / self.std.to(X)

    def fold_into(self, model: MLP | BatchedMLP) -> MLP | BatchedMLP:
        """A copy of `model` for raw points that computes what `model` does on standardised ones.

        The first layer W x + b on standardised inputs is (W / std) x + (b - (W / std) mean)
        on raw inputs; the other layers are unchanged. Equal to float rounding.
        """
        if not isinstance(model, MLP | BatchedMLP):
            raise TypeError(f"model must be an MLP or a BatchedMLP, got {type(model).__name__}")
        folded = copy.deepcopy(model)
        if isinstance(folded, BatchedMLP):
            W, b = folded.weights[0], folded.biases[0]  # (K, out, in), (K, out)
        else:
            first = cast(nn.Linear, folded.net[0])
            W, b = first.weight, first.bias  # (out, in), (out,)
        if W.shape[-1] != len(self.mean):
            raise ValueError(
                f"the model takes {W.shape[-1]} features, the standardizer has {len(self.mean)}"
            )
        with torch.no_grad():
            scaled = W / self.std.to(W)  # (..., out, in)
            b -= scaled @ self.mean.to(W)  # (..., out)
            W.copy_(scaled)
        return folded
