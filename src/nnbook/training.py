"""Training and evaluation loops that return what they measured."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from nnbook.devices import model_device
from nnbook.models import from_logits

__all__ = [
    "TrainReport",
    "check_scheduler",
    "eval_mode",
    "evaluate",
    "logits_and_targets",
    "snapshot",
    "train",
]

Batches = Iterable[tuple[torch.Tensor, ...]]


@dataclass
class TrainReport:
    """What `train` measured: one record per reported epoch, and optional weight snapshots.

    Each record holds `epoch` (0-based, counted after that epoch's updates), `lr`
    (the learning rate used during that epoch) and `<name>_loss`, `<name>_accuracy`
    for every evaluated loader. `snapshots[i]` (when kept) is a CPU copy of the
    model's `state_dict` at `records[i]`.
    """

    records: list[dict[str, float]] = field(default_factory=list)
    snapshots: list[dict[str, torch.Tensor]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def epochs(self) -> list[int]:
        return [int(r["epoch"]) for r in self.records]

    @property
    def final(self) -> dict[str, float]:
        if not self.records:
            raise ValueError("the report has no records")
        return self.records[-1]

    def column(self, key: str) -> list[float]:
        """Values of one metric over the records, e.g. `report.column("eval_loss")`."""
        if self.records and key not in self.records[0]:
            raise KeyError(f"no metric {key!r} in the report; it has {sorted(self.records[0])}")
        return [r[key] for r in self.records]

    def to_frame(self) -> pd.DataFrame:
        """The records as a DataFrame indexed by epoch."""
        if not self.records:
            raise ValueError("the report has no records to tabulate")
        return pd.DataFrame.from_records(self.records).set_index("epoch")


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block with `model` in eval mode, then restore its mode, even after an error."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of `model.state_dict()`, safe from later training steps."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def logits_and_targets(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Shape a batch for its loss: a single logit column is binary, several are classes.

    Binary: logits (N, 1) -> (N,), labels -> float (for `BCEWithLogitsLoss`).
    Multi-class: logits (N, C) stay, labels must be integer class indices (N,).
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, C), got {tuple(logits.shape)}")
    if y.shape != logits.shape[:1]:
        raise ValueError(
            f"labels must have shape ({logits.shape[0]},) to match logits "
            f"{tuple(logits.shape)}, got {tuple(y.shape)}"
        )
    if logits.shape[1] == 1:
        return logits.squeeze(1), y.to(logits.dtype)
    if y.is_floating_point() or y.dtype == torch.bool:
        raise TypeError(
            f"labels for a {logits.shape[1]}-class model must be integer class indices, "
            f"got dtype {y.dtype}"
        )
    return logits, y


def _summed_loss(loss_fn: nn.Module, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    loss = loss_fn(logits, y)
    reduction = getattr(loss_fn, "reduction", "mean")
    if reduction == "mean":
        return loss * y.shape[0]
    if reduction == "none":
        return loss.sum()
    return loss


def check_scheduler(
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    partial_schedule: bool = False,
) -> None:
    """Refuse a scheduler that cannot be what the caller meant for a run of `epochs`.

    It must drive `optimizer` (otherwise its learning rates never reach the parameters),
    and a schedule of fixed length (`total_iters`, as in LinearLR) must have exactly
    `epochs` steps left, unless `partial_schedule` says that stopping early, or running
    on at the final rate, is intended.
    """
    if scheduler is None:
        return
    if getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise ValueError(
            "scheduler is attached to another optimizer than the one being trained; "
            "its learning rates would never reach the parameters"
        )
    total = getattr(scheduler, "total_iters", None)
    if total is None or partial_schedule:
        return
    left = total - scheduler.last_epoch
    if left != epochs:
        raise ValueError(
            f"the scheduler has {left} of its total_iters={total} steps left, but the run "
            f"has epochs={epochs}; make them equal, or pass partial_schedule=True to run "
            f"only part of the schedule (or past its end) on purpose"
        )


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Batches,
    loss_fn: nn.Module,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Mean loss per sample and accuracy of `model` over every batch of `loader`.

    Runs in eval mode without gradients and restores the model's previous mode.
    The loss is summed over samples and divided by their count, whatever the
    `reduction` of `loss_fn`, so the result does not depend on the batch size.
    """
    device = model_device(model, device)
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    n = 0
    with eval_mode(model):
        for X, y in loader:
            X, y = X.to(device), y.to(device)
            outputs = model(X)  # (N, C)
            logits, target = logits_and_targets(outputs, y)
            total_loss += _summed_loss(loss_fn, logits, target)
            correct += (from_logits(outputs, "class") == y).sum()
            n += y.shape[0]
    if n == 0:
        raise ValueError("the loader yielded no samples to evaluate")
    return {"loss": total_loss.item() / n, "accuracy": correct.item() / n}


def train(
    model: nn.Module,
    train_loader: Batches,
    *,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    eval_loaders: Mapping[str, Batches] | None = None,
    record_every: int = 1,
    keep_snapshots: bool = False,
    device: torch.device | str | None = None,
    progress: bool = False,
    partial_schedule: bool = False,
) -> TrainReport:
    """Train `model` for `epochs` passes over `train_loader` and report on the way.

    After every epoch the scheduler (if any) steps once. At epochs 0, `record_every`,
    2 * `record_every`, ... and at the last epoch, every loader in `eval_loaders`
    (default: `{"train": train_loader}`) is evaluated in that order, and the metrics,
    the learning rate of the epoch and, with `keep_snapshots`, a CPU copy of the
    weights are recorded. Batches are moved to `device` (default: the model's).
    A schedule with a fixed length (`total_iters`) must end with the run; pass
    `partial_schedule=True` to run only part of it on purpose.
    """
    for name, value in [("epochs", epochs), ("record_every", record_every)]:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    check_scheduler(scheduler, optimizer, epochs, partial_schedule)
    device = model_device(model, device)
    if eval_loaders is None:
        eval_loaders = {"train": train_loader}
    report = TrainReport()
    for epoch in tqdm(range(epochs), disable=not progress, desc="epochs"):
        lr = optimizer.param_groups[0]["lr"]
        model.train()
        for X, y in train_loader:
            X, y = X.to(device), y.to(device)
            logits, target = logits_and_targets(model(X), y)  # forward
            loss = loss_fn(logits, target)  # loss
            optimizer.zero_grad()  # clear the previous batch's gradients
            loss.backward()  # gradients
            optimizer.step()  # update
        if scheduler is not None:
            scheduler.step()
        if epoch % record_every == 0 or epoch == epochs - 1:
            record: dict[str, float] = {"epoch": epoch, "lr": lr}
            for name, loader in eval_loaders.items():
                metrics = evaluate(model, loader, loss_fn, device)
                record[f"{name}_loss"] = metrics["loss"]
                record[f"{name}_accuracy"] = metrics["accuracy"]
            report.records.append(record)
            if keep_snapshots:
                report.snapshots.append(snapshot(model))
    return report
