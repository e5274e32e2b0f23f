"""Chapter 8's comparisons, timed side by side in one process: what `make bench` reports.

Training: the three loops of `nnbook.loops` (DataLoader, the library's TensorLoader, the
bare floor). Decision grids for every weight snapshot: the source notebook's pivot-table
way, the library's batched ways, and the bare floor of the same arithmetic. Threads: one
against all. Each comparison alternates its contenders and reports medians and ratios;
`python -m nnbook` runs them all (see `nnbook.__main__`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from nnbook._checks import positive_int
from nnbook.data import TensorLoader, ThreeClassProblem
from nnbook.grids import (
    grid_points,
    mlp_class_grids,
    near_tie_differences,
    snapshot_grids,
    stack_snapshots,
)
from nnbook.loops import (
    SourceRun,
    source_run,
    source_snapshots,
    train_dataloader,
    train_floor,
    train_library,
)
from nnbook.models import MLP
from nnbook.timing import alternate, num_threads, timed

__all__ = [
    "compare_grids",
    "compare_training",
    "loader_copy_cost",
    "pivot_class_grid",
    "thread_effect",
]


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
    with num_threads(threads):
        used = torch.get_num_threads()
        runs = alternate(loops, repeats)
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


def floor_inputs(
    snapshots: Sequence[Mapping[str, torch.Tensor]],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    steps: int,
) -> tuple[torch.Tensor, ...]:
    """What `grid_floor` takes, built before any clock starts: stacked weights and the points.

    For S snapshots of a 2-H-C `MLP` (keys `net.0.*` and `net.2.*`): the first layers as one
    (S * H, 2) matrix and (S * H, 1) bias, the second as (S, C, H) and (S, C, 1), and the
    grid's points as columns, (2, ny * nx), in `grid_points`' order.
    """
    stacked = stack_snapshots(snapshots)
    w1, b1 = stacked["net.0.weight"], stacked["net.0.bias"]
    _, _, points = grid_points(xlim, ylim, steps)
    return (
        w1.reshape(-1, w1.shape[2]),
        b1.reshape(-1, 1),
        stacked["net.2.weight"],
        stacked["net.2.bias"].unsqueeze(2),
        points.T.contiguous(),
    )


@torch.no_grad()
def grid_floor(w1, b1, w2, b2, columns) -> torch.Tensor:
    """The bare arithmetic of S tanh-network class grids: (S, N) classes of N points.

    One stacked matrix product for every snapshot's hidden layer, tanh, one batched product
    for the logits, argmax: nothing else (no checks, no chunks, no copies to a grid).
    """
    hidden = torch.addmm(b1, w1, columns).tanh_().view(w2.shape[0], w2.shape[2], -1)
    return torch.baddbmm(b2, w2, hidden).argmax(dim=1)


def compare_grids(
    repeats: int = 3,
    steps: int = 600,
    snapshots: Sequence[dict] | None = None,
    threads: int | None = 1,
    vmap: bool = True,
) -> dict[str, object]:
    """Time class grids for every snapshot: pivot table, `mlp_class_grids`, and the floor.

    Alternates the source's pivot-table way, the library's `mlp_class_grids`, the bare
    `grid_floor` (and, with `vmap`, `snapshot_grids`) `repeats` times with the same
    `threads`; reports medians, ratios, and how many grid points differ from the library's.
    Different kernels may round a near-tie of two logits either way, so a few points may
    differ; `near_tie_differences` raises if any difference is not such a tie.
    """
    _check_counts(repeats=repeats, steps=steps)
    snapshots = list(snapshots) if snapshots is not None else source_snapshots()
    problem, model = ThreeClassProblem(), MLP(2, 8, 3)
    limits = (problem.xlim, problem.ylim)
    floor_args = floor_inputs(snapshots, *limits, steps)
    shape = (len(snapshots), steps, steps)
    contenders: dict[str, Callable[[], torch.Tensor]] = {
        "pivot": lambda: torch.from_numpy(
            np.stack(pivot_class_grid(model, snapshots, *limits, steps))
        ),
        "library": lambda: mlp_class_grids(model, snapshots, *limits, steps).values,
        "floor": lambda: grid_floor(*floor_args).reshape(shape),
    }
    if vmap:
        contenders["vmap"] = lambda: snapshot_grids(model, snapshots, *limits, steps).values
    with num_threads(threads):
        used = torch.get_num_threads()
        runs = alternate({name: timed(f) for name, f in contenders.items()}, repeats)
    med = {name: statistics.median(s for s, _ in v) for name, v in runs.items()}
    ours = runs["library"][-1][1]
    differ = sum(
        near_tie_differences(model, snapshots, v[-1][1], ours, *limits)
        for name, v in runs.items()
        if name != "library"
    )
    return {
        "grid_snapshots": len(snapshots),
        "grid_steps": steps,
        "grid_threads": used,
        **{f"grid_seconds_{name}": seconds for name, seconds in med.items()},
        "grid_speedup_vs_pivot": med["pivot"] / med["library"],
        "grid_overhead_vs_floor": med["library"] / med["floor"],
        "grid_points_differing": differ,
    }


def loader_copy_cost(repeats: int = 200, run: SourceRun | None = None) -> dict[str, float]:
    """What `TensorLoader`'s copy costs: an unshuffled pass against bare slicing, alternated.

    The loader copies the data once per pass so that no batch aliases it; bare slicing
    yields views of the data. Both cut the recipe's training set into the same batches.
    """
    _check_counts(repeats=repeats)
    run = run or source_run()
    loader = TensorLoader(run.X, run.y, batch_size=run.batch_size)
    b, n = run.batch_size, len(run.X)

    def views() -> list:
        return [(run.X[i : i + b], run.y[i : i + b]) for i in range(0, n, b)]

    runs = alternate({"copy": timed(lambda: list(loader)), "views": timed(views)}, repeats)
    med = {name: statistics.median(s for s, _ in v) for name, v in runs.items()}
    return {
        "loader_seconds_copy": med["copy"],
        "loader_seconds_views": med["views"],
        "loader_copy_overhead": med["copy"] / med["views"],
    }


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
