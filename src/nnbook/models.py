"""The one model family of the book: a multilayer perceptron classifier."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "MLP", "OUTPUTS", "from_logits"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
}


class MLP(nn.Module):
    """Fully connected classifier: input -> [Linear, activation] per hidden layer -> Linear.

    `MLP(2, 4, 1)` is the 2-4-1 XOR model (one logit), `MLP(2, 8, 3)` the 2-8-3
    three-class model (three logits). `hidden` may be a sequence for several hidden
    layers. The layers live in `self.net`, an `nn.Sequential`, so every parameter is
    registered; they are created in order, so a seeded construction draws the same
    initial weights as the same layers written out by hand.
    """

    def __init__(
        self,
        in_features: int,
        hidden: int | Sequence[int],
        out_features: int,
        activation: str = "tanh",
    ):
        super().__init__()
        widths = list(hidden) if isinstance(hidden, Sequence) else [hidden]
        for name, value in [("in_features", in_features), ("out_features", out_features)] + [
            ("hidden", w) for w in widths
        ]:
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, got {value!r}")
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation={activation!r} is unknown; expected one of {sorted(ACTIVATIONS)}"
            )
        self.in_features = in_features
        self.out_features = out_features
        self.hidden = tuple(widths)
        self.activation = activation
        layers: list[nn.Module] = []
        sizes = [in_features, *widths]
        for fan_in, fan_out in itertools.pairwise(sizes):
            layers += [nn.Linear(fan_in, fan_out), ACTIVATIONS[activation]()]
        layers.append(nn.Linear(sizes[-1], out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, out_features) for inputs of shape (N, in_features)."""
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"MLP expects input of shape (N, {self.in_features}), got {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise TypeError(f"MLP expects floating-point input, got {x.dtype}")
        return self.net(x)

    def extra_repr(self) -> str:
        return f"sizes={'-'.join(map(str, (self.in_features, *self.hidden, self.out_features)))}"


# What a classifier's logits (..., C) can be turned into: see `from_logits`.
OUTPUTS = ("class", "proba", "logits")


def from_logits(logits: torch.Tensor, output: str = "class") -> torch.Tensor:
    """The book's one rule from logits (..., C) to classes or probabilities.

    One logit (C = 1) is a binary classifier: class 1 where the logit is positive, and
    P(class 1) = sigmoid(logit), both of shape (...). Several logits: the class is the
    argmax (the first, on a tie) and the probabilities are the softmax, shape (..., C).
    `output="logits"` returns the logits unchanged.
    """
    if output == "logits":
        return logits
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    if logits.shape[-1] == 1:
        binary = logits[..., 0]
        return torch.sigmoid(binary) if output == "proba" else (binary > 0).long()
    return torch.softmax(logits, dim=-1) if output == "proba" else logits.argmax(dim=-1)
