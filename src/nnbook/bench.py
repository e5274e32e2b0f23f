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
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch.utils import benchmark

from nnbook.devices import describe_hardware, resolve_device, synchronize

__all__ = [
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
        if not isinstance(n, int) or n <= 0:
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


def _train_with(run: SeedRun, epochs: int, make_loaders) -> tuple[float, list[dict]]:
    from nnbook.training import train

    model, optimizer, scheduler = _seed_model_and_optimizer(run)
    gen = torch.Generator()
    train_loader, eval_loader = make_loaders(gen)
    gen.manual_seed(SEED)
    start = time.perf_counter()
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
    )
    return time.perf_counter() - start, report.records


def train_dataloader(run: SeedRun, epochs: int) -> tuple[float, list[dict]]:
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


def train_library(run: SeedRun, epochs: int) -> tuple[float, list[dict]]:
    """Seconds and records of the same run fed by the library's `TensorLoader`."""
    from nnbook.data import TensorLoader

    def loaders(gen):
        return (
            TensorLoader(run.X, run.y, batch_size=run.batch_size, shuffle=True, generator=gen),
            TensorLoader(run.X_eval, run.y_eval, batch_size=len(run.X_eval)),
        )

    return _train_with(run, epochs, loaders)


def train_floor(run: SeedRun, epochs: int) -> float:
    """Seconds of the bare minimum: the same steps and evaluations over pre-sliced batches.

    The batches of every epoch are cut before the clock starts; the loop does only
    forward, loss, backward and step, and the evaluations on whole tensors.
    """
    model, optimizer, scheduler = _seed_model_and_optimizer(run)
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    gen = torch.Generator().manual_seed(SEED)
    n, b = len(run.X), run.batch_size
    epochs_batches = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        X, y = run.X[order], run.y[order]
        epochs_batches.append([(X[i : i + b], y[i : i + b]) for i in range(0, n, b)])
    net = model.net  # skip the wrapper's input checks: the floor does nothing but arithmetic
    start = time.perf_counter()
    for epoch, batches in enumerate(epochs_batches):
        for xb, yb in batches:
            loss = loss_fn(net(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
        if epoch % run.record_every == 0 or epoch == epochs - 1:
            with torch.no_grad():
                for X, y in [(run.X, run.y), (run.X_eval, run.y_eval)]:
                    logits = net(X)
                    (loss_fn(logits, y) / len(y)).item()
                    (logits.argmax(1) == y).float().mean().item()
    return time.perf_counter() - start


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


def compare_training(epochs: int = 60, repeats: int = 5, run: SeedRun | None = None) -> dict:
    """Time the three training loops alternately `repeats` times; medians, ratios and identity."""
    run = run or seed_run()
    times: dict[str, list[float]] = {"dataloader": [], "library": [], "floor": []}
    identical = True
    for _ in range(repeats):
        t_dl, rec_dl = train_dataloader(run, epochs)
        t_lib, rec_lib = train_library(run, epochs)
        times["dataloader"].append(t_dl)
        times["library"].append(t_lib)
        times["floor"].append(train_floor(run, epochs))
        identical = identical and _records_close(rec_dl, rec_lib)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "epochs": epochs,
        "repeats": repeats,
        "train_seconds_dataloader": med["dataloader"],
        "train_seconds_library": med["library"],
        "train_seconds_floor": med["floor"],
        "train_speedup_vs_dataloader": med["dataloader"] / med["library"],
        "train_overhead_vs_floor": med["library"] / med["floor"],
        "train_report_identical": identical,
    }


# --- decision grids: the source's pivot-table way ----------------------------------------


def pivot_class_grid(model: torch.nn.Module, state_dicts, xlim, ylim, steps: int = 600):
    """Class grids for each state_dict the source's way: cartesian product, then a pivot table.

    Returns a list of (ny, nx) int64 arrays, one per state_dict (the baseline that the
    library's batched grids are measured against).
    """
    import numpy as np

    grids = []
    for state in state_dicts:
        model.load_state_dict(state)
        x1 = torch.linspace(xlim[0], xlim[1], steps)
        x2 = torch.linspace(ylim[0], ylim[1], steps)
        points = torch.cartesian_prod(x1, x2)
        with torch.no_grad():
            classes = model(points).argmax(dim=1)
        table = torch.hstack((points, classes.unsqueeze(-1))).numpy()
        frame = pd.DataFrame(table, columns=["x", "y", "z"])
        z = frame.pivot_table(index="x", columns="y", values="z").T.values
        grids.append(np.rint(z).astype(np.int64))
    return grids


def seed_snapshots(run: SeedRun | None = None, epochs: int = 1000) -> list[dict]:
    """The weight snapshots of the seed's full run (one per record: 51 for 1000 epochs)."""
    from nnbook.data import TensorLoader
    from nnbook.training import train

    run = run or seed_run()
    model, optimizer, scheduler = _seed_model_and_optimizer(run)
    gen = torch.Generator().manual_seed(SEED)
    loader = TensorLoader(run.X, run.y, batch_size=run.batch_size, shuffle=True, generator=gen)
    report = train(
        model,
        loader,
        loss_fn=torch.nn.CrossEntropyLoss(reduction="sum"),
        optimizer=optimizer,
        epochs=epochs,
        scheduler=scheduler,
        record_every=run.record_every,
        keep_snapshots=True,
    )
    return report.snapshots


def compare_grids(
    repeats: int = 3, steps: int = 600, snapshots: Sequence[dict] | None = None
) -> dict[str, object]:
    """Time class grids for every snapshot: pivot-table baseline against `snapshot_grids`."""
    import numpy as np

    from nnbook.analysis import snapshot_grids
    from nnbook.data import ThreeClassProblem
    from nnbook.models import MLP

    problem = ThreeClassProblem()
    snapshots = list(snapshots) if snapshots is not None else seed_snapshots()
    model = MLP(2, 8, 3)
    pivot_times, library_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        pivot = pivot_class_grid(model, snapshots, problem.xlim, problem.ylim, steps)
        pivot_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        ours = snapshot_grids(model, snapshots, problem.xlim, problem.ylim, steps).values
        library_times.append(time.perf_counter() - start)
    identical = bool(np.array_equal(np.stack(pivot), ours.numpy()))
    t_pivot, t_lib = statistics.median(pivot_times), statistics.median(library_times)
    return {
        "grid_snapshots": len(snapshots),
        "grid_steps": steps,
        "grid_seconds_pivot": t_pivot,
        "grid_seconds_library": t_lib,
        "grid_speedup_vs_pivot": t_pivot / t_lib,
        "grid_identical": identical,
    }


# --- make bench ---------------------------------------------------------------------------


def notebook_seconds(paths: Sequence[str]) -> dict[str, float]:
    """Execute the notebooks (without writing them) in a child process; seconds per notebook."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "seconds.json"
        cmd = [sys.executable, "tests/execute_notebooks.py", "--no-write", "--json", str(out)]
        subprocess.run([*cmd, *paths], check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def main(argv: Sequence[str] | None = None) -> int:
    """Measure everything `make bench` reports, print one line per figure, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m nnbook.bench", description=main.__doc__)
    parser.add_argument("--epochs", type=int, default=100, help="epochs per training run")
    parser.add_argument("--repeats", type=int, default=5, help="alternating repeats per figure")
    parser.add_argument("--out", type=Path, default=Path("_build/bench.json"))
    parser.add_argument("--skip-notebooks", action="store_true", help="do not time the notebooks")
    args = parser.parse_args(argv)

    results: dict[str, object] = {"hardware": describe_hardware("cpu")}
    train = compare_training(epochs=args.epochs, repeats=args.repeats)
    results.update(train)
    print(f"training, seed-000 run of {args.epochs} epochs, median of {args.repeats}:")
    print(
        f"  DataLoader {train['train_seconds_dataloader']:.3f} s, library "
        f"{train['train_seconds_library']:.3f} s, floor {train['train_seconds_floor']:.3f} s"
    )
    print(
        f"  train_speedup_vs_dataloader = {train['train_speedup_vs_dataloader']:.2f} "
        f"(identical reports: {train['train_report_identical']})"
    )
    print(f"  train_overhead_vs_floor     = {train['train_overhead_vs_floor']:.3f}")

    grids = compare_grids(repeats=args.repeats)
    results.update(grids)
    n_snap, steps = grids["grid_snapshots"], grids["grid_steps"]
    print(f"decision grids, {n_snap} snapshots of {steps} x {steps} points:")
    t_pivot, t_lib = grids["grid_seconds_pivot"], grids["grid_seconds_library"]
    print(f"  pivot {t_pivot:.3f} s, library {t_lib:.3f} s")
    print(
        f"  grid_speedup_vs_pivot       = {grids['grid_speedup_vs_pivot']:.1f} "
        f"(identical: {grids['grid_identical']})"
    )

    sweep = matmul_sweep([256, 512, 1024, 2048], threads=sorted({1, torch.get_num_threads()}))
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
        paths = sorted(str(p) for p in Path("notebooks").glob("*.ipynb"))
        results["notebook_seconds"] = notebook_seconds(paths)
        total = sum(results["notebook_seconds"].values())
        for name, sec in results["notebook_seconds"].items():
            print(f"  notebook {name}: {sec:.1f} s")
        print(f"  notebooks in total: {total:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
