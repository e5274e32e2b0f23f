"""The comparisons of chapter 7 and `make bench`: the same work done ways that differ in speed.

Training the source notebook's recipe with a `DataLoader`, with the library's
`TensorLoader`, and as a bare loop over pre-sliced batches (the floor); decision grids for
every snapshot, the source notebook's pivot-table way against the library's batched ways.
Each comparison alternates its contenders in one process and reports medians and ratios.
`python -m nnbook` runs them all (see `nnbook.__main__`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from nnbook._checks import positive_int
from nnbook.data import TensorLoader, ThreeClassProblem
from nnbook.grids import mlp_class_grids, near_tie_differences, snapshot_grids
from nnbook.models import MLP
from nnbook.recipe import Recipe
from nnbook.timing import num_threads
from nnbook.training import snapshot, train

__all__ = [
    "LoopRun",
    "SourceRun",
    "compare_grids",
    "compare_training",
    "pivot_class_grid",
    "source_run",
    "source_snapshots",
    "thread_effect",
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


def _records_close(a: list[dict], b: list[dict], rel: float = 1e-5) -> bool:
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        if ra.keys() != rb.keys():
            return False
        for key in ra:
            if abs(ra[key] - rb[key]) > rel * max(abs(ra[key]), abs(rb[key]), 1e-6):
                return False
    return True


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        positive_int(name, value)


def compare_training(
    epochs: int = 60, repeats: int = 5, run: SourceRun | None = None, threads: int | None = 1
) -> dict:
    """Time the three training loops alternately `repeats` times; medians, ratios and identity.

    All three loops run with the same `threads` (default 1: for such tiny models extra
    intra-op threads only add synchronisation, and on a busy machine waiting; None keeps
    torch's setting). The order of the three rotates from repeat to repeat so that none
    is always first. The reports count as identical when the DataLoader, library and
    floor runs record the same metrics (to float tolerance). Wall-clock medians give the
    `train_*` figures; CPU-time medians (`train_cpu_*`) are reported beside them as a
    check that other processes on the machine cannot disturb.
    """
    _check_counts(epochs=epochs, repeats=repeats)
    run = run or source_run()
    loops = {
        "dataloader": lambda: train_dataloader(run, epochs),
        "library": lambda: train_library(run, epochs),
        "floor": lambda: train_floor(run, epochs),
    }
    names = list(loops)
    runs: dict[str, list[LoopRun]] = {name: [] for name in names}
    with num_threads(threads):
        used = torch.get_num_threads()
        for r in range(repeats):
            for name in names[r % 3 :] + names[: r % 3]:
                runs[name].append(loops[name]())
    identical = all(
        _records_close(a.records, b.records) and _records_close(b.records, c.records)
        for a, b, c in zip(runs["dataloader"], runs["library"], runs["floor"], strict=True)
    )
    wall = {k: statistics.median(x.wall for x in v) for k, v in runs.items()}
    cpu = {k: statistics.median(x.cpu for x in v) for k, v in runs.items()}
    return {
        "epochs": epochs,
        "repeats": repeats,
        "train_threads": used,
        "train_seconds_dataloader": wall["dataloader"],
        "train_seconds_library": wall["library"],
        "train_seconds_floor": wall["floor"],
        "train_speedup_vs_dataloader": wall["dataloader"] / wall["library"],
        "train_overhead_vs_floor": wall["library"] / wall["floor"],
        "train_report_identical": identical,
        "train_cpu_seconds_dataloader": cpu["dataloader"],
        "train_cpu_seconds_library": cpu["library"],
        "train_cpu_seconds_floor": cpu["floor"],
        "train_cpu_speedup_vs_dataloader": cpu["dataloader"] / cpu["library"],
        "train_cpu_overhead_vs_floor": cpu["library"] / cpu["floor"],
    }


# --- decision grids: the source's pivot-table way ----------------------------------------


def pivot_class_grid(model: torch.nn.Module, state_dicts, xlim, ylim, steps: int = 600):
    """Class grids for each state_dict the source's way: cartesian product, then a pivot table.

    For every state_dict, as the source does it: load the weights, build the points
    with `torch.cartesian_prod`, run the model (with autograd on, as in the source),
    take `torch.max` over the logits, stack points and classes into one array, make a
    DataFrame, pivot it into a grid and read off the sorted unique x and y. Returns a
    list of (ny, nx) int64 arrays, one per state_dict (the baseline that the library's
    batched grids are measured against).
    """
    grids = []
    for state in state_dicts:
        model.load_state_dict(state)
        x1 = torch.linspace(xlim[0], xlim[1], steps)
        x2 = torch.linspace(ylim[0], ylim[1], steps)
        points = torch.cartesian_prod(x1, x2)
        _, classes = torch.max(model(points), dim=1)
        table = torch.hstack((points, classes.unsqueeze(-1))).detach().numpy()
        frame = pd.DataFrame(table, columns=["x", "y", "z"])
        z = frame.pivot_table(index="x", columns="y", values="z").T.values
        np.sort(frame.x.unique()), np.sort(frame.y.unique())  # the grid's axes, as the source
        grids.append(np.rint(z).astype(np.int64))
    return grids


def source_snapshots(run: SourceRun | None = None, epochs: int = 1000) -> list[dict]:
    """The weight snapshots of the recipe's full run (one per record: 51 for 1000 epochs)."""
    return train_library(run or source_run(), epochs).snapshots


def compare_grids(
    repeats: int = 3,
    steps: int = 600,
    snapshots: Sequence[dict] | None = None,
    threads: int | None = 1,
    vmap: bool = True,
) -> dict[str, object]:
    """Time class grids for every snapshot: the pivot-table way against `mlp_class_grids`.

    Alternates the two (and, with `vmap`, `snapshot_grids` as a third) `repeats` times
    with the same `threads`; reports medians, and how many grid points differ between the
    methods. Different kernels may round a near-tie of two logits either way, so a few
    points may differ; `near_tie_differences` raises if any difference is not such a tie.
    """
    _check_counts(repeats=repeats, steps=steps)
    problem = ThreeClassProblem()
    snapshots = list(snapshots) if snapshots is not None else source_snapshots()
    model = MLP(2, 8, 3)
    limits = (problem.xlim, problem.ylim)
    times: dict[str, list[float]] = {"pivot": [], "library": [], "vmap": []}
    with num_threads(threads):
        used = torch.get_num_threads()
        for _ in range(repeats):
            start = time.perf_counter()
            pivot = pivot_class_grid(model, snapshots, *limits, steps)
            times["pivot"].append(time.perf_counter() - start)
            start = time.perf_counter()
            ours = mlp_class_grids(model, snapshots, *limits, steps).values
            times["library"].append(time.perf_counter() - start)
            if vmap:
                start = time.perf_counter()
                vmapped = snapshot_grids(model, snapshots, *limits, steps).values
                times["vmap"].append(time.perf_counter() - start)
    pivot_values = torch.from_numpy(np.stack(pivot))
    differ = near_tie_differences(model, snapshots, pivot_values, ours, *limits)
    if vmap:
        differ += near_tie_differences(model, snapshots, vmapped, ours, *limits)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    result: dict[str, object] = {
        "grid_snapshots": len(snapshots),
        "grid_steps": steps,
        "grid_threads": used,
        "grid_seconds_pivot": med["pivot"],
        "grid_seconds_library": med["library"],
        "grid_speedup_vs_pivot": med["pivot"] / med["library"],
        "grid_points_differing": differ,
    }
    if vmap:
        result["grid_seconds_vmap"] = med["vmap"]
    return result


def thread_effect(
    epochs: int = 10, repeats: int = 3, run: SourceRun | None = None
) -> dict[str, float | int]:
    """Seconds of the library's seed run on one thread and on all of torch's threads, alternated."""
    _check_counts(epochs=epochs, repeats=repeats)
    run = run or source_run()
    counts = sorted({1, torch.get_num_threads()})
    times: dict[int, list[float]] = {t: [] for t in counts}
    for _ in range(repeats):
        for t in counts:
            with num_threads(t):
                times[t].append(train_library(run, epochs).wall)
    return {
        "threads_epochs": epochs,
        "threads_max": counts[-1],
        "train_seconds_library_1_thread": statistics.median(times[1]),
        "train_seconds_library_all_threads": statistics.median(times[counts[-1]]),
    }
