"""`python -m nnbook` (what `make bench` runs): chapter 8's comparisons, printed and saved.

Every figure is measured side by side in this one process: the training loops, the
batch sizes, the compiled training step, the decision grids, the threads and the matrix
products. It prints one line per figure, as
medians and ratios, and writes them all to `_build/bench.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from nnbook.bench import compare_grids, compare_training, loader_copy_cost, thread_effect
from nnbook.compiling import compare_compiled
from nnbook.devices import describe_arithmetic, describe_hardware
from nnbook.loops import SourceRun, source_run, source_snapshots
from nnbook.models import MLP
from nnbook.throughput import batch_size_sweep
from nnbook.timing import matmul_sweep, num_threads


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m nnbook", description=main.__doc__)
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
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=[10, 50, 250, 2000], help="batch sizes"
    )
    parser.add_argument(
        "--target", type=float, default=0.85, help="expected accuracy for the time to accuracy"
    )
    parser.add_argument(
        "--compile-backend", default="inductor", help="torch.compile backend for the step"
    )
    parser.add_argument("--out", type=Path, default=Path("_build/bench.json"))
    return parser.parse_args(argv)


def _training(args: argparse.Namespace, run: SourceRun) -> dict[str, object]:
    """The three training loops, and the thread effect; printed, and returned for the JSON."""
    train = compare_training(
        epochs=args.epochs, repeats=args.repeats, run=run, threads=args.threads
    )
    print(
        f"training, the source recipe's run of {args.epochs} epochs, "
        f"{train['train_threads']} thread(s), median of {args.repeats}:"
    )
    for clock, key in [("wall", "train_seconds"), ("cpu ", "train_cpu_seconds")]:
        print(
            f"  {clock} DataLoader {train[f'{key}_dataloader']:.3f} s, library "
            f"{train[f'{key}_library']:.3f} s, floor {train[f'{key}_floor']:.3f} s"
        )
    print(
        f"  train_speedup_vs_dataloader = {train['train_speedup_vs_dataloader']:.2f} "
        f"(cpu time: {train['train_cpu_speedup_vs_dataloader']:.2f}; "
        f"same records: {train['train_report_identical']})"
    )
    print(
        f"  train_overhead_vs_floor     = {train['train_overhead_vs_floor']:.3f} "
        f"(cpu time: {train['train_cpu_overhead_vs_floor']:.3f})"
    )
    threads = thread_effect(epochs=max(1, args.epochs // 10), repeats=3, run=run)
    print(
        f"  library, {threads['threads_epochs']} epochs: 1 thread "
        f"{threads['train_seconds_library_1_thread']:.3f} s, {threads['threads_max']} threads "
        f"{threads['train_seconds_library_all_threads']:.3f} s"
    )
    copy = loader_copy_cost(run=run)
    print(
        f"  a pass of TensorLoader (copies the data once) / bare slicing (views): "
        f"loader_copy_overhead = {copy['loader_copy_overhead']:.2f} "
        f"(one pass of {len(run.X)} points: {copy['loader_seconds_copy'] * 1e6:.0f} µs)"
    )
    return {**train, **threads, **copy}


def _batch_sizes(args: argparse.Namespace, run: SourceRun) -> dict[str, object]:
    """Throughput and time to accuracy per batch size (three seeds); printed, and returned."""
    with num_threads(args.threads):
        sweep = batch_size_sweep(run.X, run.y, args.batch_sizes, [0, 1, 2], target=args.target)
    medians = sweep.groupby("batch_size").median()
    print(f"batch sizes, Adam until {args.target:.0%} expected accuracy, median of 3 seeds:")
    for batch_size, row in medians.iterrows():
        print(
            f"  batch {batch_size:5d}: {row['samples_per_second']:,.0f} samples/s, "
            f"{row['epochs']:.0f} epochs, {row['train_seconds']:.3f} s to the target"
        )
    return {"batch_sizes": sweep.to_dict("records")}


def _compiled(args: argparse.Namespace, run: SourceRun) -> dict[str, object]:
    """The training step eager and compiled, side by side; printed, and returned for the JSON."""
    model = MLP(2, 8, 3)
    model.load_state_dict(run.init_state)
    X, y = run.X[: run.batch_size], run.y[: run.batch_size]
    with num_threads(args.threads):
        result = compare_compiled(model, X, y, backend=args.compile_backend)
    note = f" ({result.fallback_reason})" if result.fallback_reason else ""
    print(f"torch.compile, backend {result.backend}{note}:")
    print(
        f"  first call {result.first_call_seconds:.2f} s; per step eager "
        f"{result.eager_seconds_per_step * 1e6:.0f} µs, compiled "
        f"{result.compiled_seconds_per_step * 1e6:.0f} µs"
    )
    print(f"  compile_speedup             = {result.speedup:.2f}")
    return {
        "compile_backend": result.backend,
        "compile_first_call_seconds": result.first_call_seconds,
        "compile_seconds_per_step_eager": result.eager_seconds_per_step,
        "compile_seconds_per_step_compiled": result.compiled_seconds_per_step,
        "compile_speedup": result.speedup,
    }


def _grids(args: argparse.Namespace, run: SourceRun) -> dict[str, object]:
    """The class grids of every snapshot, four ways; printed, and returned for the JSON."""
    grids = compare_grids(
        repeats=max(1, args.repeats // 2),
        steps=args.grid_steps,
        snapshots=source_snapshots(run, epochs=args.grid_epochs),
        threads=args.grid_threads,
    )
    n_snap, steps, used = grids["grid_snapshots"], grids["grid_steps"], grids["grid_threads"]
    print(f"decision grids, {n_snap} snapshots of {steps} x {steps} points, {used} thread(s):")
    print(
        f"  pivot {grids['grid_seconds_pivot']:.3f} s, library "
        f"{grids['grid_seconds_library']:.3f} s, floor {grids['grid_seconds_floor']:.3f} s "
        f"(vmap over snapshots: {grids['grid_seconds_vmap']:.3f} s)"
    )
    print(f"  grid_overhead_vs_floor      = {grids['grid_overhead_vs_floor']:.2f} (target <= 1.5)")
    print(
        f"  grid_speedup_vs_pivot       = {grids['grid_speedup_vs_pivot']:.1f} "
        f"(points that differ, all near-ties: {grids['grid_points_differing']})"
    )
    return grids


def _matmul(args: argparse.Namespace) -> list[dict[str, object]]:
    """The matrix-product sweep on one and on all threads; printed, and returned for the JSON."""
    sweep = matmul_sweep(args.matmul_sizes, threads=sorted({1, torch.get_num_threads()}))
    rows = [
        {k: row[k] for k in ("size", "device", "seconds_median", "gflops", "threads")}
        for row in sweep.to_dict("records")
    ]
    for row in rows:
        print(
            f"  matmul n={row['size']:5d} {row['device']} threads={row['threads']}: "
            f"{row['gflops']:.1f} GFLOP/s"
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Measure everything `make bench` reports, print one line per figure, write the JSON."""
    args = _parse(argv)
    run = source_run()
    results: dict[str, object] = {
        "hardware": describe_hardware("cpu"),
        "arithmetic": describe_arithmetic(),
        **_training(args, run),
        **_batch_sizes(args, run),
        **_compiled(args, run),
        **_grids(args, run),
        "matmul": _matmul(args),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
