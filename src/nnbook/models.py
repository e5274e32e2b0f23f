"""The book's one model family, the MLP classifier; K of them stacked; the rule from logits.

`BatchedMLP` holds K MLPs of one shape as stacked weights, for `nnbook.batched`, which
trains them as one computation.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

__all__ = [
    "MLP",
    "BatchedMLP",
    "from_logits",
]

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


def _check_members(models: Sequence[MLP]) -> list[MLP]:
    """The models as a list, refused unless they are MLPs of one architecture family."""
    models = list(models)
    if not models:
        raise ValueError("BatchedMLP needs at least one model, got none")
    for i, m in enumerate(models):
        if not isinstance(m, MLP):
            raise TypeError(f"models[{i}] must be an nnbook MLP, got {type(m).__name__}")
    first = models[0]
    shape = (first.in_features, first.out_features, len(first.hidden), first.activation)
    for i, m in enumerate(models):
        if (m.in_features, m.out_features, len(m.hidden), m.activation) != shape:
            raise ValueError(
                "all models must share in_features, out_features, the number of hidden "
                f"layers and the activation: models[0] is {first.extra_repr()} "
                f"({first.activation}), models[{i}] is {m.extra_repr()} ({m.activation})"
            )
    return models


def _stacked_layers(
    models: Sequence[MLP], sizes: Sequence[int], ref: torch.Tensor
) -> tuple[nn.ParameterList, nn.ParameterList]:
    """Every layer of the K models as one (K, out, in) weight and one (K, out) bias, zero-padded."""
    weights, biases = nn.ParameterList(), nn.ParameterList()
    for layer in range(len(sizes) - 1):
        W = torch.zeros(
            len(models), sizes[layer + 1], sizes[layer], dtype=ref.dtype, device=ref.device
        )
        b = torch.zeros(len(models), sizes[layer + 1], dtype=ref.dtype, device=ref.device)
        for k, m in enumerate(models):
            linear = cast(nn.Linear, m.net[2 * layer])
            out_k, in_k = linear.weight.shape
            W[k, :out_k, :in_k] = linear.weight.detach()
            b[k, :out_k] = linear.bias.detach()
        weights.append(nn.Parameter(W))
        biases.append(nn.Parameter(b))
    return weights, biases


class BatchedMLP(nn.Module):
    """K `MLP` classifiers evaluated and trained together.

    Build it from models (`BatchedMLP(models)`) or from seeds
    (`BatchedMLP.from_seeds(2, 8, 3, seeds=[0, 1, 2])`). Layer `l` is stored as
    `weights[l]` of shape (K, out, in) and `biases[l]` of shape (K, out); hidden
    layers are as wide as the widest member. `member(k)` returns member k as a plain `MLP`.
    """

    def __init__(self, models: Sequence[MLP], seeds: Sequence[int] | None = None):
        super().__init__()
        models = _check_members(models)
        first = models[0]
        if seeds is not None and len(seeds) != len(models):
            raise ValueError(f"got {len(seeds)} seeds for {len(models)} models")
        self.in_features = first.in_features
        self.out_features = first.out_features
        self.activation = first.activation
        self.hidden_sizes: tuple[tuple[int, ...], ...] = tuple(m.hidden for m in models)
        self.seeds: tuple[int, ...] | None = None if seeds is None else tuple(seeds)
        widths = [max(h[i] for h in self.hidden_sizes) for i in range(len(first.hidden))]
        sizes = [self.in_features, *widths, self.out_features]
        K = len(models)
        ref = next(first.parameters())
        self.act = ACTIVATIONS[self.activation]()
        self.weights, self.biases = _stacked_layers(models, sizes, ref)
        # (K, 1, width) masks that silence the padding units. They are only applied when some
        # member is padded and the activation is nonzero at 0; otherwise the zero weights do it.
        padded = any(h != tuple(widths) for h in self.hidden_sizes)
        self.masked = padded and self.act(torch.zeros(1)).item() != 0
        for layer, width in enumerate(widths):
            mask = torch.zeros(K, 1, width, dtype=ref.dtype, device=ref.device)
            for k, h in enumerate(self.hidden_sizes):
                mask[k, 0, : h[layer]] = 1
            self.register_buffer(f"mask{layer}", mask)

    @classmethod
    def from_seeds(
        cls,
        in_features: int,
        hidden: int | Sequence[int],
        out_features: int,
        seeds: Sequence[int],
        activation: str = "tanh",
    ) -> BatchedMLP:
        """Member k is the `MLP` built right after `torch.manual_seed(seeds[k])`.

        The global random state is restored afterwards, so building the batch has no
        side effect on later draws.
        """
        seeds = list(seeds)
        if not seeds:
            raise ValueError("seeds must name at least one seed, got an empty sequence")
        models = []
        with torch.random.fork_rng(devices=[]):
            for seed in seeds:
                if not isinstance(seed, int) or isinstance(seed, bool):
                    raise TypeError(f"seeds must be ints, got {seed!r}")
                torch.manual_seed(seed)
                models.append(MLP(in_features, hidden, out_features, activation))
        return cls(models, seeds=seeds)

    def __len__(self) -> int:
        return self.weights[0].shape[0]

    @property
    def n_members(self) -> int:
        return len(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (K, N, out) for inputs (K, N, in), one set per member, or (N, in) shared."""
        K = len(self)
        if x.ndim == 2 and x.shape[1] == self.in_features:
            x = x.expand(K, -1, -1)  # every member sees the same points
        elif x.ndim != 3 or x.shape[0] != K or x.shape[2] != self.in_features:
            raise ValueError(
                f"BatchedMLP expects input of shape (N, {self.in_features}) or "
                f"({K}, N, {self.in_features}), got {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise TypeError(f"BatchedMLP expects floating-point input, got {x.dtype}")
        h = x
        last = len(self.weights) - 1
        for layer, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b.unsqueeze(1), h, W.transpose(1, 2))  # (K, N, out)
            if layer < last:
                h = self.act(h)
                if self.masked:
                    h = h * getattr(self, f"mask{layer}")
        return h

    def member(self, k: int) -> MLP:
        """Member `k` as a plain `MLP` (a copy, on the batch's device)."""
        if not isinstance(k, int) or isinstance(k, bool):
            raise TypeError(f"k must be an int, got {type(k).__name__}")
        if not -len(self) <= k < len(self):
            raise IndexError(f"member {k} is out of range for {len(self)} members")
        k = k % len(self)
        with torch.random.fork_rng(devices=[]):  # MLP() draws an initialisation we overwrite
            model = MLP(self.in_features, self.hidden_sizes[k], self.out_features, self.activation)
        ref = self.weights[0]
        model = model.to(device=ref.device, dtype=ref.dtype)
        with torch.no_grad():
            for layer, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
                linear = cast(nn.Linear, model.net[2 * layer])
                out_k, in_k = linear.weight.shape
                linear.weight.copy_(W[k, :out_k, :in_k])
                linear.bias.copy_(b[k, :out_k])
        return model

    def extra_repr(self) -> str:
        widths = sorted({"-".join(map(str, h)) for h in self.hidden_sizes})
        return (
            f"members={len(self)}, in={self.in_features}, hidden={widths}, "
            f"out={self.out_features}, activation={self.activation!r}"
        )
