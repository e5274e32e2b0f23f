"""The source recipe's training run written three ways, for timing: the loops of chapter 8.

`train_dataloader` feeds the run with PyTorch's `DataLoader`, `train_library` with the
library's `TensorLoader`, and `train_floor` does only the arithmetic, over batches cut
before the clock starts. All three start from the same `SourceRun` (the recipe's data and
initial weights) and record the same metrics; `nnbook.bench` times them side by side.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, TensorDataset

from nnbook.data import TensorLoader, ThreeClassProblem
from nnbook.recipe import Recipe
from nnbook.training import snapshot, train

__all__ = [
    "SourceRun",
    "source_run",
    "source_snapshots",
    "train_dataloader",
    "train_floor",
    "train_library",
]


@dataclass(frozen=True)
class SourceRun:
    """The source notebook's set-up (`nnbook.recipe`): its data and the initial weights."""

    X: torch.Tensor
    y: torch.Tensor
    X_eval: torch.Tensor
    y_eval: torch.Tensor
    init_state: dict[str, torch.Tensor]
    recipe: Recipe = field(default_factory=Recipe)
    record_every: int = 20

    @property
    def batch_size(self) -> int:
        return self.recipe.batch_size


@dataclass(frozen=True)
class LoopRun:
    """One timed training run: wall-clock and CPU seconds, its records and weight snapshots.

    `cpu` is the CPU time of the calling thread (`time.thread_time`): with one intra-op
    thread and no loader workers all the work happens there, and unlike wall time it
    does not count the moments when other processes have the core.
    """

    wall: float
    cpu: float
    records: list[dict]
    snapshots: list[dict] = field(default_factory=list)


@contextmanager
def _clock():
    """Yield a dict that receives `wall` and `cpu` seconds of the block when it ends."""
    times: dict[str, float] = {}
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        yield times
    finally:
        times["cpu"] = time.thread_time() - cpu
        times["wall"] = time.perf_counter() - wall


def source_run(recipe: Recipe | None = None) -> SourceRun:
    """Draw the recipe's data and initial weights (global seed 2100, the source's order)."""
    recipe = recipe or Recipe()
    data, model = recipe.start(ThreeClassProblem())
    return SourceRun(data.X, data.y, data.X_eval, data.y_eval, snapshot(model), recipe)


def _model_and_optimizer(run: SourceRun):
    model = run.recipe.model()
    model.load_state_dict(run.init_state)
    optimizer, scheduler = run.recipe.optimizer(model.parameters())
    return model, optimizer, scheduler


def _train_with(run: SourceRun, epochs: int, make_loaders) -> LoopRun:
    model, optimizer, scheduler = _model_and_optimizer(run)
    gen = torch.Generator()
    train_loader, eval_loader = make_loaders(gen)
    gen.manual_seed(run.recipe.seed)
    with _clock() as seconds:
        report = train(
            model,
            train_loader,
            loss_fn=run.recipe.loss_fn(),
            optimizer=optimizer,
            epochs=epochs,
            scheduler=scheduler,
            eval_loaders={"train": train_loader, "eval": eval_loader},
            record_every=run.record_every,
            keep_snapshots=True,
            partial_schedule=epochs != run.recipe.epochs,  # a shorter run stops part-way
        )
    return LoopRun(seconds["wall"], seconds["cpu"], report.records, report.snapshots)


def train_dataloader(run: SourceRun, epochs: int) -> LoopRun:
    """Seconds and records of the recipe's run fed by `DataLoader` (indexing, collation)."""

    def loaders(gen):
        return (
            DataLoader(
                TensorDataset(run.X, run.y), batch_size=run.batch_size, shuffle=True, generator=gen
            ),
            DataLoader(TensorDataset(run.X_eval, run.y_eval), batch_size=len(run.X_eval)),
        )

    return _train_with(run, epochs, loaders)


def train_library(run: SourceRun, epochs: int) -> LoopRun:
    """Seconds and records of the same run fed by the library's `TensorLoader`."""

    def loaders(gen):
        return (
            TensorLoader(run.X, run.y, batch_size=run.batch_size, shuffle=True, generator=gen),
            TensorLoader(run.X_eval, run.y_eval, batch_size=len(run.X_eval)),
        )

    return _train_with(run, epochs, loaders)


def _pre_sliced_epochs(run: SourceRun, epochs: int) -> list[tuple[list, list | None]]:
    """Every batch the library run will see, cut in advance: (training, evaluation) per epoch.

    The batches come from a `TensorLoader` seeded as in the library run and iterated in
    the same pattern (one pass per epoch, one more at each recorded epoch for the
    evaluation on the training set), so the floor computes on exactly the same batches.
    """
    gen = torch.Generator().manual_seed(run.recipe.seed)
    loader = TensorLoader(run.X, run.y, batch_size=run.batch_size, shuffle=True, generator=gen)
    epochs_batches = []
    for epoch in range(epochs):
        batches = list(loader)
        recorded = epoch % run.record_every == 0 or epoch == epochs - 1
        epochs_batches.append((batches, list(loader) if recorded else None))
    return epochs_batches


def train_floor(run: SourceRun, epochs: int) -> LoopRun:
    """Seconds of the bare minimum: the same steps and evaluations over pre-sliced batches.

    The batches of every epoch are cut before the clock starts (the very batches of the
    library run). The loop does only forward, loss, backward and step on the bare
    layers (no input checks, no device moves), steps the scheduler, and at the same
    epochs runs the same evaluation passes (the training set in its batches, the
    evaluation set in one batch) and records the same metrics.
    """
    model, optimizer, scheduler = _model_and_optimizer(run)
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    epochs_batches = _pre_sliced_epochs(run, epochs)
    eval_batches = [(run.X_eval, run.y_eval)]
    net = model.net  # skip the wrapper's input checks: the floor does nothing but arithmetic
    records = []
    with _clock() as seconds:
        for epoch, (batches, train_eval_batches) in enumerate(epochs_batches):
            lr = optimizer.param_groups[0]["lr"]
            for xb, yb in batches:
                loss = loss_fn(net(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            scheduler.step()
            if train_eval_batches is not None:
                record = {"epoch": epoch, "lr": lr}
                with torch.no_grad():
                    for name, loader in [("train", train_eval_batches), ("eval", eval_batches)]:
                        total = torch.zeros(())
                        correct = torch.zeros((), dtype=torch.int64)
                        for X, y in loader:
                            logits = net(X)
                            total += loss_fn(logits, y)
                            correct += (logits.argmax(1) == y).sum()
                        n = sum(len(y) for _, y in loader)
                        record[f"{name}_loss"] = total.item() / n
                        record[f"{name}_accuracy"] = correct.item() / n
                records.append(record)
    return LoopRun(seconds["wall"], seconds["cpu"], records)


def source_snapshots(run: SourceRun | None = None, epochs: int = 1000) -> list[dict]:
    """The weight snapshots of the recipe's full run (one per record: 51 for 1000 epochs)."""
    return train_library(run or source_run(), epochs).snapshots
