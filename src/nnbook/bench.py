"""Timing that is correct on any device, and the measurements behind `make bench`.

`python -m nnbook.bench` (what `make bench` runs) measures, side by side in one
process: the seed-000 training run with a `DataLoader`, with the library's
`TensorLoader`, and as a bare loop over pre-sliced batches (the floor); decision
grids for every snapshot, the source's pivot-table way and the library's batched
way; and matrix products. It prints one line per figure and writes
`_build/bench.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from torch.utils import benchmark

from nnbook.devices import describe_hardware, resolve_device, synchronize

__all__ = [
    "LoopRun",
    "SeedRun",
    "Timing",
    "compare_grids",
    "compare_training",
    "matmul_sweep",
    "naive_seconds",
    "num_threads",
    "pivot_class_grid",
    "seed_run",
    "seed_snapshots",
    "thread_effect",
    "time_callable",
    "train_dataloader",
    "train_floor",
    "train_library",
]


@dataclass(frozen=True)
class Timing:
    """Seconds per call: median and interquartile range over `runs` measured blocks."""

    median: float
    iqr: float
    runs: int
    threads: int


@contextmanager
def num_threads(n: int | None):
    """Temporarily run PyTorch's CPU kernels on `n` threads (None: leave as is)."""
    old = torch.get_num_threads()
    if n is not None:
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise ValueError(f"threads must be a positive int, got {n!r}")
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def naive_seconds(fn: Callable[[], object]) -> float:
    """Wall time of one call, with no warm-up and no synchronisation: the wrong way on a GPU.

    An accelerator returns from a launch before the work is done, so this measures
    the launch; the first call also pays one-off start-up costs.
    """
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_callable(
    fn: Callable[[], object],
    device: str | torch.device = "cpu",
    min_run_time: float = 0.2,
    warmup: int = 2,
) -> Timing:
    """Time `fn()` on `device` the right way.

    Warm-up calls first (kernel selection, caches, lazy initialisation), then
    `torch.utils.benchmark.Timer` with PyTorch's current thread count (the Timer
    would otherwise use one thread), synchronising the device after every call
    so that queued accelerator work is counted.
    """
    if not min_run_time > 0:
        raise ValueError(f"min_run_time must be positive, got {min_run_time}")
    dev = resolve_device(device)

    def call_and_wait():
        fn()
        synchronize(dev)

    for _ in range(warmup):
        call_and_wait()
    threads = torch.get_num_threads()
    timer = benchmark.Timer(
        stmt="call_and_wait()", globals={"call_and_wait": call_and_wait}, num_threads=threads
    )
    m = timer.blocked_autorange(min_run_time=min_run_time)
    return Timing(median=m.median, iqr=m.iqr, runs=len(m.times), threads=threads)


def matmul_sweep(
    sizes: Sequence[int],
    devices: Iterable[str | torch.device] = ("cpu",),
    threads: Sequence[int | None] = (None,),
    min_run_time: float = 0.2,
    seed: int = 0,
) -> pd.DataFrame:
    """Time an n x n float32 matrix product for every size, device and CPU thread count.

    Returns one row per measurement: size, device, threads, seconds_median,
    seconds_iqr and gflops (2 n^3 floating-point operations / median seconds).
    """
    for n in sizes:
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"matrix sizes must be positive ints, got {n!r}")
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for device in devices:
        dev = resolve_device(device)
        for t in threads if dev.type == "cpu" else (None,):
            with num_threads(t):
                for n in sizes:
                    a = torch.randn(n, n, generator=gen).to(dev)
                    timing = time_callable(lambda a=a: a @ a, dev, min_run_time=min_run_time)
                    rows.append(
                        {
                            "size": n,
                            "device": dev.type,
                            "threads": timing.threads,
                            "seconds_median": timing.median,
                            "seconds_iqr": timing.iqr,
                            "gflops": 2 * n**3 / timing.median / 1e9,
                        }
                    )
    return pd.DataFrame(rows)


# --- the seed-000 training run, three ways ----------------------------------------------

SEED = 2100


@dataclass(frozen=True)
class SeedRun:
    """The seed-000 set-up: data drawn in the source's order and the model's initial weights."""

    X: torch.Tensor
    y: torch.Tensor
    X_eval: torch.Tensor
    y_eval: torch.Tensor
    init_state: dict[str, torch.Tensor]
    batch_size: int = 50
    record_every: int = 20


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


def seed_run() -> SeedRun:
    """Draw the seed-000 data and initial weights (global seed 2100, the source's order)."""
    from nnbook.data import ThreeClassProblem
    from nnbook.models import MLP
    from nnbook.training import snapshot

    problem = ThreeClassProblem()
    torch.manual_seed(SEED)
    X, y = problem.make_dataset(2000)
    X_eval, y_eval = problem.make_dataset(1000)
    return SeedRun(X, y, X_eval, y_eval, snapshot(MLP(2, 8, 3)))


def _seed_model_and_optimizer(run: SeedRun):
    from nnbook.models import MLP

    model = MLP(2, 8, 3)
    model.load_state_dict(run.init_state)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.005)
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.01, total_iters=1000)
    return model, optimizer, scheduler


def _train_with(run: SeedRun, epochs: int, make_loaders) -> LoopRun:
    from nnbook.training import train

    model, optimizer, scheduler = _seed_model_and_optimizer(run)
    gen = torch.Generator()
    train_loader, eval_loader = make_loaders(gen)
    gen.manual_seed(SEED)
    with _clock() as seconds:
        report = train(
            model,
            train_loader,
            loss_fn=torch.nn.CrossEntropyLoss(reduction="sum"),
            optimizer=optimizer,
            epochs=epochs,
            scheduler=scheduler,
            eval_loaders={"train": train_loader, "eval": eval_loader},
            record_every=run.record_every,
            keep_snapshots=True,
            partial_schedule=epochs != 1000,  # a shorter run stops part-way through the decay
        )
    return LoopRun(seconds["wall"], seconds["cpu"], report.records, report.snapshots)


def train_dataloader(run: SeedRun, epochs: int) -> LoopRun:
    """Seconds and records of the seed's run fed by `DataLoader` (per-item indexing + collation)."""
    from torch.utils.data import DataLoader, TensorDataset

    def loaders(gen):
        return (
            DataLoader(
                TensorDataset(run.X, run.y), batch_size=run.batch_size, shuffle=True, generator=gen
            ),
            DataLoader(TensorDataset(run.X_eval, run.y_eval), batch_size=len(run.X_eval)),
        )

    return _train_with(run, epochs, loaders)


def train_library(run: SeedRun, epochs: int) -> LoopRun:
    """Seconds and records of the same run fed by the library's `TensorLoader`."""
    from nnbook.data import TensorLoader

    def loaders(gen):
        return (
            TensorLoader(run.X, run.y, batch_size=run.batch_size, shuffle=True, generator=gen),
            TensorLoader(run.X_eval, run.y_eval, batch_size=len(run.X_eval)),
        )

    return _train_with(run, epochs, loaders)


def _pre_sliced_epochs(run: SeedRun, epochs: int) -> list[tuple[list, list | None]]:
    """Every batch the library run will see, cut in advance: (training, evaluation) per epoch.

    The batches come from a `TensorLoader` seeded as in the library run and iterated in
    the same pattern (one pass per epoch, one more at each recorded epoch for the
    evaluation on the training set), so the floor computes on exactly the same batches.
    """
    from nnbook.data import TensorLoader

    gen = torch.Generator().manual_seed(SEED)
    loader = TensorLoader(run.X, run.y, batch_size=run.batch_size, shuffle=True, generator=gen)
    epochs_batches = []
    for epoch in range(epochs):
        batches = list(loader)
        recorded = epoch % run.record_every == 0 or epoch == epochs - 1
        epochs_batches.append((batches, list(loader) if recorded else None))
    return epochs_batches


def train_floor(run: SeedRun, epochs: int) -> LoopRun:
    """Seconds of the bare minimum: the same steps and evaluations over pre-sliced batches.

    The batches of every epoch are cut before the clock starts (the very batches of the
    library run). The loop does only forward, loss, backward and step on the bare
    layers (no input checks, no device moves), steps the scheduler, and at the same
    epochs runs the same evaluation passes (the training set in its batches, the
    evaluation set in one batch) and records the same metrics.
    """
    model, optimizer, scheduler = _seed_model_and_optimizer(run)
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
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def compare_training(
    epochs: int = 60, repeats: int = 5, run: SeedRun | None = None, threads: int | None = 1
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
    run = run or seed_run()
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
    import numpy as np

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


def seed_snapshots(run: SeedRun | None = None, epochs: int = 1000) -> list[dict]:
    """The weight snapshots of the seed's full run (one per record: 51 for 1000 epochs)."""
    return train_library(run or seed_run(), epochs).snapshots


def compare_grids(
    repeats: int = 3,
    steps: int = 600,
    snapshots: Sequence[dict] | None = None,
    threads: int | None = 1,
    vmap: bool = True,
) -> dict[str, object]:
    """Time class grids for every snapshot: the pivot-table way against `mlp_class_grids`.

    Alternates the two (and, with `vmap`, `snapshot_grids` as a third) `repeats` times
    with the same `threads`; reports medians and whether every grid is identical.
    """
    _check_counts(repeats=repeats, steps=steps)
    import numpy as np

    from nnbook.analysis import mlp_class_grids, snapshot_grids
    from nnbook.data import ThreeClassProblem
    from nnbook.models import MLP

    problem = ThreeClassProblem()
    snapshots = list(snapshots) if snapshots is not None else seed_snapshots()
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
    identical = bool(np.array_equal(np.stack(pivot), ours.numpy()))
    if vmap:
        identical = identical and torch.equal(vmapped, ours)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    result = {
        "grid_snapshots": len(snapshots),
        "grid_steps": steps,
        "grid_threads": used,
        "grid_seconds_pivot": med["pivot"],
        "grid_seconds_library": med["library"],
        "grid_speedup_vs_pivot": med["pivot"] / med["library"],
        "grid_identical": identical,
    }
    if vmap:
        result["grid_seconds_vmap"] = med["vmap"]
    return result


# --- make bench ---------------------------------------------------------------------------


def notebook_seconds(paths: Sequence[str]) -> dict[str, float]:
    """Execute the notebooks (without writing them) in a child process; seconds per notebook."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "seconds.json"
        script = Path(__file__).resolve().parents[2] / "tests" / "execute_notebooks.py"
        cmd = [sys.executable, str(script), "--no-write", "--json", str(out)]
        subprocess.run([*cmd, *paths], check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def thread_effect(
    epochs: int = 10, repeats: int = 3, run: SeedRun | None = None
) -> dict[str, float | int]:
    """Seconds of the library's seed run on one thread and on all of torch's threads, alternated."""
    _check_counts(epochs=epochs, repeats=repeats)
    run = run or seed_run()
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


def main(argv: Sequence[str] | None = None) -> int:
    """Measure everything `make bench` reports, print one line per figure, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m nnbook.bench", description=main.__doc__)
    parser.add_argument("--epochs", type=int, default=100, help="epochs per training run")
    parser.add_argument("--repeats", type=int, default=7, help="alternating repeats per figure")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the comparisons")
    parser.add_argument(
        "--grid-threads",
        type=int,
        default=None,
        help="torch threads for the grid comparison (default: all; large array work uses them)",
    )
    parser.add_argument("--grid-steps", type=int, default=600, help="grid points per axis")
    parser.add_argument(
        "--grid-epochs", type=int, default=1000, help="epochs of the run whose snapshots are drawn"
    )
    parser.add_argument(
        "--matmul-sizes", type=int, nargs="+", default=[64, 256, 1024, 2048], help="matrix sizes"
    )
    parser.add_argument("--out", type=Path, default=Path("_build/bench.json"))
    parser.add_argument("--skip-notebooks", action="store_true", help="do not time the notebooks")
    parser.add_argument(
        "--notebooks", nargs="+", default=None, help="notebooks to time (default: notebooks/*)"
    )
    args = parser.parse_args(argv)

    results: dict[str, object] = {"hardware": describe_hardware("cpu")}
    run = seed_run()
    train = compare_training(
        epochs=args.epochs, repeats=args.repeats, run=run, threads=args.threads
    )
    results.update(train)
    print(
        f"training, seed-000 run of {args.epochs} epochs, {train['train_threads']} thread(s), "
        f"median of {args.repeats}:"
    )
    for clock, key in [("wall", "train_seconds"), ("cpu ", "train_cpu_seconds")]:
        print(
            f"  {clock} DataLoader {train[f'{key}_dataloader']:.3f} s, library "
            f"{train[f'{key}_library']:.3f} s, floor {train[f'{key}_floor']:.3f} s"
        )
    print(
        f"  train_speedup_vs_dataloader = {train['train_speedup_vs_dataloader']:.2f} "
        f"(cpu time: {train['train_cpu_speedup_vs_dataloader']:.2f}; "
        f"identical reports: {train['train_report_identical']})"
    )
    print(
        f"  train_overhead_vs_floor     = {train['train_overhead_vs_floor']:.3f} "
        f"(cpu time: {train['train_cpu_overhead_vs_floor']:.3f})"
    )
    threads = thread_effect(epochs=max(1, args.epochs // 10), repeats=3, run=run)
    results.update(threads)
    print(
        f"  library, {threads['threads_epochs']} epochs: 1 thread "
        f"{threads['train_seconds_library_1_thread']:.3f} s, {threads['threads_max']} threads "
        f"{threads['train_seconds_library_all_threads']:.3f} s"
    )

    snapshots = seed_snapshots(run, epochs=args.grid_epochs)
    grids = compare_grids(
        repeats=max(1, args.repeats // 2),
        steps=args.grid_steps,
        snapshots=snapshots,
        threads=args.grid_threads,
    )
    results.update(grids)
    n_snap, steps, used = grids["grid_snapshots"], grids["grid_steps"], grids["grid_threads"]
    print(f"decision grids, {n_snap} snapshots of {steps} x {steps} points, {used} thread(s):")
    t_pivot, t_lib = grids["grid_seconds_pivot"], grids["grid_seconds_library"]
    print(
        f"  pivot {t_pivot:.3f} s, library {t_lib:.3f} s "
        f"(vmap over snapshots: {grids['grid_seconds_vmap']:.3f} s)"
    )
    print(
        f"  grid_speedup_vs_pivot       = {grids['grid_speedup_vs_pivot']:.1f} "
        f"(identical: {grids['grid_identical']})"
    )

    sweep = matmul_sweep(args.matmul_sizes, threads=sorted({1, torch.get_num_threads()}))
    results["matmul"] = [
        {k: row[k] for k in ("size", "device", "seconds_median", "gflops", "threads")}
        for row in sweep.to_dict("records")
    ]
    for row in results["matmul"]:
        print(
            f"  matmul n={row['size']:5d} {row['device']} threads={row['threads']}: "
            f"{row['gflops']:.1f} GFLOP/s"
        )

    if not args.skip_notebooks:
        paths = args.notebooks or sorted(str(p) for p in Path("notebooks").glob("*.ipynb"))
        results["notebook_seconds"] = notebook_seconds(paths)
        total = sum(results["notebook_seconds"].values())
        for name, sec in results["notebook_seconds"].items():
            print(f"  notebook {name}: {sec:.1f} s")
        print(f"  notebooks in total: {total:.1f} s")
        results["notebook_seconds_total"] = total
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
