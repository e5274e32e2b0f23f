"""Where a training step's time goes: a `torch.profiler` trace, summed by phase and operator.

`profile_steps` runs a few plain SGD steps under the profiler, each phase of a step (data,
forward, backward, optimizer) inside a `record_function` of that name. `phase_table` then
sums the trace per phase, and `top_operators` lists the operators with the most self CPU
time, each with the phase it ran in.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import pandas as pd
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function

from nnbook._checks import positive_int

__all__ = ["PHASES", "labelled_step", "phase_of", "phase_table", "profile_steps", "top_operators"]

PHASES = ("data", "forward", "backward", "optimizer")
# What the profiler's C++ side (Kineto) writes to the process's stderr when it starts and
# stops, whatever KINETO_LOG_LEVEL says: progress notes, not warnings.
_KINETO_NOTES = ("USDT:", "STAGE:")


@contextmanager
def _without_kineto_notes() -> Iterator[None]:
    """Hold back the profiler's progress notes from file descriptor 2; pass anything else on."""
    with tempfile.TemporaryFile(mode="w+b") as capture:
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode(errors="replace")
            other = [line for line in text.splitlines() if not line.startswith(_KINETO_NOTES)]
            if other:
                print("\n".join(other), file=sys.stderr)


def labelled_step(model, loss_fn, optimizer, batches) -> None:
    """One training step, each of its phases labelled for the profiler."""
    with record_function("data"):
        X, y = next(batches)
    with record_function("forward"):
        loss = loss_fn(model(X), y)
    with record_function("backward"):
        loss.backward()
    with record_function("optimizer"):
        optimizer.step()
        optimizer.zero_grad()


def profile_steps(
    model: nn.Module,
    batches: Callable[[], Iterable],
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    steps: int = 20,
    warmup: int = 5,
) -> profile:
    """Profile `steps` training steps on the CPU after `warmup` unprofiled ones.

    `batches()` returns a fresh iterable of (X, y) batches (a loader, or a generator), at
    least `warmup + steps` long. Returns the finished profiler, for `phase_table` and
    `top_operators`.
    """
    positive_int("steps", steps)
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    source = iter(batches())
    for _ in range(warmup):  # first calls allocate and pick kernels: not the steady state
        labelled_step(model, loss_fn, optimizer, source)
    with _without_kineto_notes(), profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            labelled_step(model, loss_fn, optimizer, source)
    return prof


def phase_of(event) -> str | None:
    """The phase (one of PHASES) whose `record_function` encloses a profiler event, if any."""
    parent = event.cpu_parent
    while parent is not None:
        if parent.name in PHASES:
            return parent.name
        parent = parent.cpu_parent
    return None


def phase_table(prof: profile, steps: int) -> pd.DataFrame:
    """CPU microseconds per step spent in each phase, and its share of the four together."""
    positive_int("steps", steps)
    totals = dict.fromkeys(PHASES, 0.0)
    for event in prof.events():
        if event.name in PHASES and phase_of(event) is None:
            totals[event.name] += event.cpu_time_total
    frame = pd.DataFrame(
        {"phase": list(totals), "µs per step": [t / steps for t in totals.values()]}
    )
    frame["share"] = frame["µs per step"] / frame["µs per step"].sum()
    return frame


def top_operators(prof: profile, steps: int, n: int = 8) -> pd.DataFrame:
    """The `n` operators with the most self CPU time per step, with the phase they ran in."""
    positive_int("steps", steps)
    positive_int("n", n)
    rows: dict[tuple[str, str], list[float]] = {}
    for event in prof.events():
        phase = phase_of(event)
        if phase is None:
            continue
        calls_and_time = rows.setdefault((phase, event.name), [0, 0.0])
        calls_and_time[0] += 1
        calls_and_time[1] += event.self_cpu_time_total
    frame = pd.DataFrame(
        [
            {
                "phase": phase,
                "operator": name,
                "calls per step": calls / steps,
                "self µs per step": t / steps,
            }
            for (phase, name), (calls, t) in rows.items()
        ]
    )
    return frame.sort_values("self µs per step", ascending=False).head(n).reset_index(drop=True)
