"""Losses summed over batches so that a dataset's loss does not depend on the batch size.

A torch loss with `reduction="mean"` divides each batch's sum by that batch's weight: the
number of its samples, fewer when some targets equal `ignore_index`, or the sum of the
class weights of its targets. The mean of per-batch means is then not the mean over the
set. `LossTotal` keeps the two sums apart (the unreduced losses and their weights) and
divides once at the end, which gives exactly what the loss computes on the whole set at
once, for any batch size.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["LossTotal", "unreduced"]

_REDUCTIONS = ("mean", "sum", "none")


def unreduced(loss_fn: nn.Module) -> nn.Module:
    """A copy of the torch loss `loss_fn` that returns one loss per sample (or element).

    Raises a TypeError for a callable that is not a torch loss module with a `reduction`
    attribute, since the library cannot then know how the loss adds up over a set.
    """
    reduction = getattr(loss_fn, "reduction", None)
    if not isinstance(loss_fn, nn.Module) or reduction not in _REDUCTIONS:
        raise TypeError(
            "loss_fn must be a torch loss module with a `reduction` ('mean' or 'sum'), such "
            f"as nn.CrossEntropyLoss(); got {type(loss_fn).__name__}"
            + (f" with reduction {reduction!r}" if reduction is not None else "")
        )
    copied = copy.copy(loss_fn)
    setattr(copied, "reduction", "none")  # noqa: B010 -- not every nn.Module declares it
    return copied


def sample_weights(loss_fn: nn.Module, target: torch.Tensor) -> torch.Tensor | None:
    """What each target counts in `loss_fn`'s mean (0 if ignored, else its class weight).

    None when every target counts once (no class weights, nothing ignored): the mean then
    divides by the number of losses.
    """
    if target.is_floating_point() or target.dtype == torch.bool:
        return None  # binary targets: every element counts once
    ignore = getattr(loss_fn, "ignore_index", None)
    class_weight = getattr(loss_fn, "weight", None)
    if not isinstance(loss_fn, nn.CrossEntropyLoss | nn.NLLLoss):
        return None
    kept = target != ignore if ignore is not None else None
    if class_weight is None:
        return kept
    index = target if kept is None else target.where(kept, 0)
    weight = class_weight.to(target.device)[index]
    return weight if kept is None else weight.where(kept, 0.0)


@dataclass
class LossTotal:
    """Running sums of a loss over batches: `add(...)` per batch, `mean` at the end."""

    loss_fn: nn.Module

    def __post_init__(self) -> None:
        self._per_sample = unreduced(self.loss_fn)
        self.total = torch.zeros(())
        self.weight = torch.zeros(())
        self.count = 0  # samples that count (not ignored)

    def add(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch: its unreduced losses and the weights its mean would divide by."""
        losses = self._per_sample(logits, target)
        weights = sample_weights(self.loss_fn, target)
        self.total = self.total.to(losses.device) + losses.sum()
        if weights is None:
            self.weight = self.weight.to(losses.device) + losses.numel()
            self.count += len(target)
        else:
            self.weight = self.weight.to(losses.device) + weights.sum()
            self.count += int((weights != 0).sum())

    @property
    def mean(self) -> float:
        """The loss over every sample added, as `loss_fn` with reduction 'mean' computes it."""
        if self.weight.item() == 0:
            raise ValueError("no sample with a nonzero weight was added (all targets ignored?)")
        return (self.total / self.weight).item()
