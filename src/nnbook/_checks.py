"""The small vocabulary of argument checks that the library's functions share.

Each check returns the value it accepted, so that a function states what it needs in one
line (`steps = positive_int("steps", steps, minimum=2)`) and goes on with its idea.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import TypeVar

import torch

T = TypeVar("T")


def positive_int(name: str, value: object, minimum: int = 1) -> int:
    """`value` if it is an int (not a bool) of at least `minimum`; else a clear error."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        wanted = "a positive int" if minimum == 1 else f"an int of at least {minimum}"
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return value


def one_of(name: str, value: T, options: Collection[T]) -> T:
    """`value` if it is one of `options`; else a ValueError that lists them."""
    if value not in options:
        raise ValueError(f"{name} must be one of {sorted(map(repr, options))}, got {value!r}")
    return value


def tensor(name: str, value: object) -> torch.Tensor:
    """`value` if it is a torch.Tensor; else a TypeError that names what it is."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def interval(name: str, value: tuple[float, float]) -> tuple[float, float]:
    """`value` if it is a pair of finite numbers (low, high) with low < high; else a clear error."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}")
    finite(name, value[0])
    finite(name, value[1])
    if not value[1] > value[0]:
        raise ValueError(f"{name} must have positive extent (low < high), got {value!r}")
    return (value[0], value[1])


def finite(name: str, value: object) -> float:
    """`value` as a float if it is a finite real number; else a clear error."""
    scalar_tensor = isinstance(value, torch.Tensor) and value.numel() == 1
    if isinstance(value, bool) or not (isinstance(value, numbers.Real) or scalar_tensor):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    number = float(value)  # type: ignore[arg-type]  # a Real or a one-element tensor
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number}")
    return number


def finite_tensor(name: str, value: torch.Tensor) -> torch.Tensor:
    """`value` if it holds no NaN or infinity; else a ValueError naming the first bad entry."""
    bad = ~torch.isfinite(value)
    if bad.any():
        raise ValueError(
            f"{name} holds NaN or infinite values (first at index {bad.nonzero()[0].tolist()})"
        )
    return value
