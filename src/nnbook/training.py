"""Training and evaluation loops that return what they measured."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from nnbook._checks import positive_int
from nnbook._losses import LossTotal, unreduced
from nnbook._preflight import (
    check_batch,
    check_data,
    check_loader,
    check_loss,
    check_optimizer,
    check_scheduler,
    check_targets,
)
from nnbook.devices import model_device
from nnbook.models import from_logits

__all__ = [
    "NonFiniteLossError",
    "TrainReport",
    "evaluate",
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


@contextmanager
def train_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block, then restore the model's mode (train or eval), even after an error."""
    was_training = model.training
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


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite during training; `report` holds the records so far.

    A `TrainReport` from `train`, a DataFrame of per-member rows from `train_batched`.
    """

    def __init__(self, message: str, report: TrainReport | pd.DataFrame):
        super().__init__(message)
        self.report = report


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Batches,
    loss_fn: nn.Module,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Loss and accuracy of `model` over every batch of `loader`, as if in one batch.

    The loss is what `loss_fn` with reduction 'mean' gives on the whole set at once (a
    weighted mean with class weights, ignored targets skipped), for any batch size; the
    accuracy counts the targets that are not ignored. Runs in eval mode without gradients
    and restores the model's previous mode, also after an error.
    """
    check_loader("loader", loader)
    unreduced(loss_fn)
    return _evaluate(model, loader, loss_fn, model_device(model, device), check=True)


def _evaluate(model, loader, loss_fn, device, check: bool) -> dict[str, float]:
    """`evaluate`; `check=False` skips the batch checks (for loaders checked already)."""
    param = next(model.parameters())
    total = LossTotal(loss_fn)
    ignore = getattr(loss_fn, "ignore_index", None)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    with eval_mode(model):
        for i, (X, y) in enumerate(loader):
            X, y = X.to(device), y.to(device)
            if check:
                check_batch(f"evaluate, batch {i}", X, param)
            outputs = model(X)  # (N, C)
            logits, target = logits_and_targets(outputs, y)
            if check:
                check_targets(f"evaluate, batch {i}", y, outputs.shape[1], loss_fn)
            total.add(logits, target)
            right = from_logits(outputs, "class") == y
            correct += (right if ignore is None else right & (y != ignore)).sum()
    if total.count == 0:
        raise ValueError("the loader yielded no samples to evaluate (or all targets are ignored)")
    return {"loss": total.mean, "accuracy": correct.item() / total.count}


def _check_run(
    model, train_loader, loss_fn, optimizer, scheduler, epochs, record_every, eval_loaders, partial
) -> bool:
    """Every check `train` makes before its first step (see `nnbook._preflight`).

    Returns whether the training data still has to be checked batch by batch in the
    first epoch (a loader whose data cannot be had whole without iterating it).
    """
    positive_int("epochs", epochs)
    positive_int("record_every", record_every)
    check_loader("train_loader", train_loader)
    for name, loader in (eval_loaders or {}).items():
        check_loader(f"eval_loaders[{name!r}]", loader)
    check_loss(loss_fn)
    check_optimizer(model, optimizer)
    check_scheduler(scheduler, optimizer, epochs, partial)
    return not check_data("train_loader", model, train_loader, loss_fn)


def _train_epoch(model, train_loader, loss_fn, optimizer, device, check: bool) -> torch.Tensor:
    """One pass of forward, loss, backward and update; the loss of every batch.

    With `check`, each batch is checked before its step.
    """
    losses = []
    for i, (X, y) in enumerate(train_loader):
        X, y = X.to(device), y.to(device)
        if check:
            check_batch(f"train_loader, batch {i}", X, next(model.parameters()))
        outputs = model(X)  # forward
        logits, target = logits_and_targets(outputs, y)
        if check:
            check_targets(f"train_loader, batch {i}", y, outputs.shape[1], loss_fn)
        loss = loss_fn(logits, target)  # loss
        optimizer.zero_grad()  # clear the previous batch's gradients
        loss.backward()  # gradients
        optimizer.step()  # update
        losses.append(loss.detach())
    if not losses:
        raise ValueError("train_loader yielded no batch in this epoch")
    return torch.stack(losses)


def _check_finite(losses: torch.Tensor, epoch: int, report: TrainReport) -> None:
    """Stop the run if a batch's loss became NaN or infinite, keeping the records so far."""
    finite = torch.isfinite(losses)
    if not finite.all():
        batch = int((~finite).nonzero()[0, 0])
        raise NonFiniteLossError(
            f"epoch {epoch}: the loss became {losses[batch].item()} at batch {batch}; "
            "the learning rate may be too high, or the data hold extreme values",
            report,
        )


def _record(model, eval_loaders, loss_fn, device, epoch: int, lr: float) -> dict[str, float]:
    """The epoch, its learning rate, and the loss and accuracy on every evaluation loader."""
    record: dict[str, float] = {"epoch": epoch, "lr": lr}
    for name, loader in eval_loaders.items():
        metrics = _evaluate(model, loader, loss_fn, device, check=epoch == 0)
        record[f"{name}_loss"] = metrics["loss"]
        record[f"{name}_accuracy"] = metrics["accuracy"]
    return record


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
    report: TrainReport | None = None,
) -> TrainReport:
    """Train `model` for `epochs` passes over `train_loader` and report on the way.

    After every epoch the scheduler (if any) steps once. At epochs 0, `record_every`,
    2 * `record_every`, ... and at the last epoch, every loader in `eval_loaders`
    (default: `{"train": train_loader}`) is evaluated in that order, and the metrics,
    the learning rate of the epoch and, with `keep_snapshots`, a CPU copy of the
    weights are recorded. Batches are moved to `device` (default: the model's).
    A schedule with a fixed length must end with the run; pass `partial_schedule=True`
    to run only part of it on purpose. The parts of the run are checked before the
    first step (`nnbook._preflight`), and each batch of the first epoch before its step.

    Records are appended to `report` (a new `TrainReport` if None), so a caller who
    passes one keeps what was recorded when the run stops early (an error, or
    KeyboardInterrupt). A loss that turns NaN or infinite stops the run with a
    `NonFiniteLossError` naming the epoch and batch; its `report` holds the records.
    The model is left in the mode (train or eval) it had, also after an error.
    """
    check_batches = _check_run(
        model,
        train_loader,
        loss_fn,
        optimizer,
        scheduler,
        epochs,
        record_every,
        eval_loaders,
        partial_schedule,
    )
    device = model_device(model, device)
    eval_loaders = {"train": train_loader} if eval_loaders is None else eval_loaders
    report = TrainReport() if report is None else report
    with train_mode(model):  # the model's mode is restored at the end, also after an error
        for epoch in tqdm(range(epochs), disable=not progress, desc="epochs"):
            lr = optimizer.param_groups[0]["lr"]
            model.train()
            check = check_batches and epoch == 0
            losses = _train_epoch(model, train_loader, loss_fn, optimizer, device, check)
            _check_finite(losses, epoch, report)
            if scheduler is not None:
                scheduler.step()
            if epoch % record_every == 0 or epoch == epochs - 1:
                report.records.append(_record(model, eval_loaders, loss_fn, device, epoch, lr))
                if keep_snapshots:
                    report.snapshots.append(snapshot(model))
    return report
