"""A training step with its forward pass and loss under `torch.compile`, timed against eager.

`compare_compiled` builds two copies of a model from the same weights, one computing its loss
eagerly and one through `torch.compile`, times the compiled copy's first call (tracing and
code generation happen there), checks that both copies take the same steps to float32
rounding, and then times both alternately. The default backend, inductor, generates C++ for
the CPU; on a machine without a working C++ compiler it cannot, and the comparison falls
back to the "aot_eager" backend (the same graph capture, run by PyTorch's own kernels) and
says so in its result.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from nnbook._checks import positive_int
from nnbook.timing import alternate

__all__ = ["CompileComparison", "compare_compiled", "lacks_compiler"]


@dataclass(frozen=True)
class CompileComparison:
    """Seconds of the compiled step's first call, medians per step, and what ran."""

    backend: str
    fallback_reason: str | None
    first_call_seconds: float
    eager_seconds_per_step: float
    compiled_seconds_per_step: float
    max_weight_gap: float

    @property
    def speedup(self) -> float:
        """How many times as fast as eager the compiled step ran (below 1: slower)."""
        return self.eager_seconds_per_step / self.compiled_seconds_per_step


def lacks_compiler(error: BaseException) -> bool:
    """Whether a compile error, or one it wraps, is inductor's "no working C++ compiler"."""
    from torch._inductor.exc import InvalidCxxCompiler

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, InvalidCxxCompiler) or "InvalidCxxCompiler" in str(seen):
            return True
        seen = getattr(seen, "inner_exception", None) or seen.__cause__
    return False


def _stepper(model: nn.Module, loss_of: Callable, lr: float) -> Callable[..., torch.Tensor]:
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)

    def step(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_of(X, y)
        loss.backward()
        optimizer.step()
        return loss

    return step


def _compiled_step(model, loss_fn, lr, backend, X, y):
    """The compiled step, its backend, why it fell back (or None), and its first call's seconds.

    The first call compiles with one compile thread (no pool of worker processes) and without
    inductor's FX graph cache, so that it traces and generates code every time. The cache's
    key leaves out ATEN_CPU_CAPABILITY (torch 2.13): code generated for AVX-512 and cached
    would be reused, and fail to compile, under ATEN_CPU_CAPABILITY=default.
    """
    import torch._dynamo
    import torch._inductor.config as inductor_config

    reason = None
    for attempt in [backend, "aot_eager"]:
        torch._dynamo.reset()  # forget earlier compilations: this first call pays in full
        trial = copy.deepcopy(model)
        loss_of = torch.compile(lambda X, y, m=trial: loss_fn(m(X), y), backend=attempt)
        step = _stepper(trial, loss_of, lr)
        start = time.perf_counter()
        try:
            with inductor_config.patch(compile_threads=1, fx_graph_cache=False):
                step(X, y)
        except torch._dynamo.exc.BackendCompilerFailed as error:
            if attempt == "aot_eager" or not lacks_compiler(error):
                raise
            reason = f"the {backend} backend found no working C++ compiler"
            continue
        return trial, step, attempt, reason, time.perf_counter() - start
    raise AssertionError("unreachable")  # pragma: no cover


def compare_compiled(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float = 0.1,
    backend: str = "inductor",
    steps: int = 200,
    repeats: int = 5,
) -> CompileComparison:
    """Time `steps` SGD steps on the batch (X, y), eager and compiled, alternately `repeats` times.

    Neither copy touches `model`. After the compiled copy's first call, the eager copy takes
    the same step from the same weights: `max_weight_gap` is the largest difference between
    their weights then (float32 rounding: a compiler may fuse and reorder the arithmetic).
    Medians are in seconds per step.
    """
    positive_int("steps", steps)
    positive_int("repeats", repeats)
    loss_fn = nn.CrossEntropyLoss()
    compiled, compiled_step, used, reason, first = _compiled_step(model, loss_fn, lr, backend, X, y)
    eager = copy.deepcopy(model)
    eager_step = _stepper(eager, lambda X, y: loss_fn(eager(X), y), lr)
    eager_step(X, y)
    with torch.no_grad():
        gap = max(
            float((a - b).abs().max())
            for a, b in zip(eager.parameters(), compiled.parameters(), strict=True)
        )

    def per_step(step: Callable[..., torch.Tensor]) -> Callable[[], float]:
        def run() -> float:
            start = time.perf_counter()
            for _ in range(steps):
                step(X, y)
            return (time.perf_counter() - start) / steps

        return run

    times = alternate({"eager": per_step(eager_step), "compiled": per_step(compiled_step)}, repeats)
    return CompileComparison(
        used,
        reason,
        first,
        statistics.median(times["eager"]),
        statistics.median(times["compiled"]),
        gap,
    )
