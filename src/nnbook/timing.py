"""Timing that is correct on any device: warm-up, synchronisation, medians; the matmul sweep.

On an accelerator a call returns when its work is queued, not when it is done, so a
clock read right after it measures the launch. Every function here waits for the device
(`nnbook.devices.synchronize`) before it reads the clock, warms up first, and reports
medians over many runs, because single timings on a shared machine are noisy.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import pandas as pd
import torch
from torch.utils import benchmark

from nnbook._checks import positive_int
from nnbook.devices import resolve_device, synchronize

__all__ = [
    "alternate",
    "cuda_event_seconds",
    "matmul_sweep",
    "naive_seconds",
    "num_threads",
    "time_callable",
    "timed",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Timing:
    """Seconds per call: median and interquartile range over `runs` measured blocks."""

    median: float
    iqr: float
    runs: int
    threads: int


@contextmanager
def num_threads(n: int | None) -> Iterator[None]:
    """Temporarily run PyTorch's CPU kernels on `n` threads (None: leave as is)."""
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(positive_int("threads", n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def alternate(contenders: Mapping[str, Callable[[], T]], repeats: int) -> dict[str, list[T]]:
    """Call each contender `repeats` times, rotating the order so none is always first.

    Measured side by side this way, a burst of other work on the machine hits every
    contender alike; each gets the list of its results, in order.
    """
    positive_int("repeats", repeats)
    names = list(contenders)
    results: dict[str, list[T]] = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            results[name].append(contenders[name]())
    return results


def timed(fn: Callable[[], T]) -> Callable[[], tuple[float, T]]:
    """`fn` made to return (wall-clock seconds, its value)."""

    def run() -> tuple[float, T]:
        start = time.perf_counter()
        value = fn()
        return time.perf_counter() - start, value

    return run


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


def cuda_event_seconds(fn: Callable[[], object], repeats: int = 10, warmup: int = 1) -> float:
    """Median seconds of `fn()` measured with CUDA events, on the GPU's own timeline.

    An event recorded on the current stream is stamped when the GPU reaches it, so the
    time between two events is the queued work's, not the launch's. The events are read
    only after `torch.cuda.synchronize()`, once the end event has happened.
    """
    positive_int("repeats", repeats)
    positive_int("warmup", warmup, minimum=0)
    if not torch.cuda.is_available():
        raise RuntimeError(
            "cuda_event_seconds needs a CUDA device, and torch.cuda.is_available() is False "
            "here; use time_callable, which works on any device"
        )
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()  # wait until the GPU has reached `end`
        times.append(start.elapsed_time(end) / 1000)  # elapsed_time is in milliseconds
    return statistics.median(times)


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
        positive_int("matrix size", n)
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for device in devices:
        dev = resolve_device(device)
        for t in threads if dev.type == "cpu" else (None,):
            with num_threads(t):
                for n in sizes:
                    a = torch.randn(n, n, generator=gen).to(dev)
                    timing = time_callable(
                        partial(torch.matmul, a, a), dev, min_run_time=min_run_time
                    )
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
