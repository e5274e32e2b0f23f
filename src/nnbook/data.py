"""Datasets of the book: continuous XOR and the three-class problem, and a fast batch loader."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from nnbook._checks import finite, finite_tensor, positive_int

__all__ = [
    "TensorLoader",
    "ThreeClassProblem",
    "XORDataset",
    "make_xor",
    "wrong_side_fractions",
]


def _check_points(X: torch.Tensor, name: str = "X") -> torch.Tensor:
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(X).__name__}")
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {tuple(X.shape)}")
    if not X.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {X.dtype}")
    return finite_tensor(name, X)  # a NaN point would otherwise land in class 0


# --- continuous XOR -----------------------------------------------------------------------


def make_xor(
    n: int, std: float = 0.1, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw `n` noisy XOR points: corners of the unit square, label 1 where exactly one is 1.

    Returns `X` of shape (n, 2), float32, and `y` of shape (n,), int64.
    """
    positive_int("n", n)
    if not std >= 0:
        raise ValueError(f"std must be non-negative, got {std}")
    corners = torch.randint(0, 2, (n, 2), generator=generator).to(torch.float32)  # (n, 2)
    y = (corners.sum(dim=1) == 1).to(torch.int64)  # (n,)
    X = corners + std * torch.randn(n, 2, generator=generator)
    return X, y


class XORDataset(Dataset):
    """Continuous XOR as a map-style `Dataset`: `len(ds)` points, `ds[i]` is `(x, y)`."""

    def __init__(self, n: int, std: float = 0.1, generator: torch.Generator | None = None):
        self.X, self.y = make_xor(n, std=std, generator=generator)

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.X[index], self.y[index]


# --- the three-class problem --------------------------------------------------------------


def normal_cdf(z: torch.Tensor, std: float = 1.0) -> torch.Tensor:
    """Normal CDF with mean 0 and standard deviation `std`, computed as torch.distributions does."""
    if not finite("std", std) > 0:
        raise ValueError(f"std must be positive, got {std}")
    return 0.5 * (1 + torch.erf(z * (1.0 / std) / math.sqrt(2)))


@dataclass(frozen=True)
class ThreeClassProblem:
    """Three overlapping classes on a rectangle, split by two noisy boundaries.

    A point `(x1, x2)` belongs to class 2 with probability `Phi(x2 - upper(x1))`;
    otherwise to class 1 with probability `Phi(x2 - lower(x1))`, else class 0,
    where `Phi` is the normal CDF with standard deviation `boundary_std`.
    The defaults are the problem of the source notebook (domain 16 x 9).
    """

    x1_min: float = 0.0
    x1_max: float = 16.0
    x2_min: float = 0.0
    x2_max: float = 9.0
    boundary_std: float = 1.0
    n_classes: int = 3

    def __post_init__(self):
        if self.n_classes != 3:
            raise ValueError(
                f"ThreeClassProblem has exactly 3 classes (two boundaries), got n_classes="
                f"{self.n_classes!r}"
            )
        for name in ("x1_min", "x1_max", "x2_min", "x2_max", "boundary_std"):
            finite(name, getattr(self, name))
        if not (self.x1_max > self.x1_min and self.x2_max > self.x2_min):
            raise ValueError(
                f"the domain must have positive extent, got x1 in [{self.x1_min}, {self.x1_max}] "
                f"and x2 in [{self.x2_min}, {self.x2_max}]"
            )
        if not self.boundary_std > 0:
            raise ValueError(f"boundary_std must be positive, got {self.boundary_std}")

    @property
    def xlim(self) -> tuple[float, float]:
        return (self.x1_min, self.x1_max)

    @property
    def ylim(self) -> tuple[float, float]:
        return (self.x2_min, self.x2_max)

    @staticmethod
    def upper(x1: torch.Tensor) -> torch.Tensor:
        """The wavy centerline between class 2 (above) and classes 0 and 1 (below)."""
        return -0.4 * torch.cos(0.55 * x1) * x1 + 0.25 * x1 + 4.5

    @staticmethod
    def lower(x1: torch.Tensor) -> torch.Tensor:
        """The straight centerline between class 1 (above) and class 0 (below)."""
        return 2 * x1 - 12

    def sample_points(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw `n` points uniformly on the domain; shape (n, 2), float32."""
        positive_int("n", n)
        scale = torch.tensor([self.x1_max - self.x1_min, self.x2_max - self.x2_min])
        offset = torch.tensor([self.x1_min, self.x2_min])
        return torch.rand(n, 2, generator=generator) * scale + offset

    def class_probabilities(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two stage probabilities: P(class 2 | x) and P(class 1 | x, not class 2)."""
        _check_points(X)
        x1, x2 = X[:, 0], X[:, 1]
        p_upper = normal_cdf(x2 - self.upper(x1), self.boundary_std)
        p_lower = normal_cdf(x2 - self.lower(x1), self.boundary_std)
        return p_upper, p_lower

    def sample_labels(
        self, X: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Draw a label for every point in two stages; shape (N,), int64.

        Stage one draws class 2 against the upper boundary; stage two draws
        class 1 against the lower one, used only where stage one said "not 2".
        Both stages draw N uniforms, in this order, whatever the outcome.
        """
        p_upper, p_lower = self.class_probabilities(X)
        n = X.shape[0]
        is_2 = torch.rand(n, generator=generator, device=X.device) < p_upper
        is_1 = torch.rand(n, generator=generator, device=X.device) < p_lower
        return torch.where(is_2, 2, torch.where(is_1, 1, 0)).to(torch.int64)

    def make_dataset(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw `n` points, then their labels: `X` (n, 2) float32 and `y` (n,) int64."""
        X = self.sample_points(n, generator)
        return X, self.sample_labels(X, generator)

    def posterior(self, X: torch.Tensor) -> torch.Tensor:
        """The exact P(class | x) of the generating process; shape (N, 3), rows sum to one."""
        p_upper, p_lower = self.class_probabilities(X)
        not_2 = 1 - p_upper
        return torch.stack([not_2 * (1 - p_lower), not_2 * p_lower, p_upper], dim=1)

    def bayes_predict(self, X: torch.Tensor) -> torch.Tensor:
        """The Bayes-optimal class: the argmax of the posterior; shape (N,)."""
        return self.posterior(X).argmax(dim=1)

    def midpoint_grid(self, steps: int) -> torch.Tensor:
        """Centres of a `steps` x `steps` grid of cells on the domain; (steps**2, 2), float64."""
        positive_int("steps", steps)
        x1 = self.x1_min + (torch.arange(steps, dtype=torch.float64) + 0.5) * (
            (self.x1_max - self.x1_min) / steps
        )
        x2 = self.x2_min + (torch.arange(steps, dtype=torch.float64) + 0.5) * (
            (self.x2_max - self.x2_min) / steps
        )
        xx, yy = torch.meshgrid(x1, x2, indexing="xy")
        return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)

    def expected_accuracy(self, predict, steps: int = 1000) -> float:
        """Accuracy of the rule `predict(X) -> classes` over the generating process.

        The exact expectation over uniform inputs and random labels,
        E_x[P(predict(x) | x)], by the midpoint rule on a `steps` x `steps` grid.
        """
        X = self.midpoint_grid(steps)
        post = self.posterior(X)  # (steps**2, 3)
        chosen = post.gather(1, predict(X).long().unsqueeze(1))
        return chosen.mean().item()

    def integrate(self, f, steps: int = 1000) -> torch.Tensor:
        """E_x[f(X, posterior(X))] over uniform inputs, by the midpoint rule; float64.

        `f(X, post)` maps the (steps**2, 2) grid centres and their (steps**2, 3) posterior
        to per-point values (steps**2, ...); the result is their mean over the grid (...).
        """
        X = self.midpoint_grid(steps)
        values = torch.as_tensor(f(X, self.posterior(X)), dtype=torch.float64)
        if values.ndim == 0 or values.shape[0] != X.shape[0]:
            raise ValueError(
                f"f must return one value per grid point, shape ({X.shape[0]}, ...), "
                f"got {tuple(values.shape)}"
            )
        return values.mean(dim=0)

    def bayes_accuracy(self, steps: int = 1000) -> float:
        """The best accuracy any classifier can reach: E_x[max_k P(k | x)] (midpoint rule)."""
        X = self.midpoint_grid(steps)
        return self.posterior(X).max(dim=1).values.mean().item()

    def centerline_predict(self, X: torch.Tensor) -> torch.Tensor:
        """The class given by the side of the centerlines a point lies on; shape (N,)."""
        _check_points(X)
        x1, x2 = X[:, 0], X[:, 1]
        above_upper = x2 > self.upper(x1)
        above_lower = x2 > self.lower(x1)
        return torch.where(above_upper, 2, torch.where(above_lower, 1, 0)).to(torch.int64)

    def wrong_side(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Boolean mask of points whose label disagrees with the side of a centerline they are on.

        A label other than 2 above the upper line, a 2 below it, a 1 below the lower
        line, or a 0 above it (the source notebook's four conditions).
        """
        _check_points(X)
        if y.shape != X.shape[:1]:
            raise ValueError(f"y must have shape ({X.shape[0]},), got {tuple(y.shape)}")
        x1, x2 = X[:, 0], X[:, 1]
        up, low = self.upper(x1), self.lower(x1)
        return (
            ((x2 > up) & (y != 2))
            | ((x2 < up) & (y == 2))
            | ((x2 < low) & (y == 1))
            | ((x2 > low) & (y == 0))
        )


# --- a batch loader without per-item collation ------------------------------------------


class TensorLoader:
    """Batches of `tensors` sliced directly, the same batches `DataLoader` yields.

    For tensor data, `TensorLoader(X, y, batch_size=b, shuffle=True, generator=g)`
    yields exactly what `DataLoader(TensorDataset(X, y), batch_size=b, shuffle=True,
    generator=g)` yields, and consumes the same random numbers in the same order:
    one int64 for the (unused) worker base seed each time an iterator is created,
    one permutation at the first batch, and the sampler's second, empty-sliced
    permutation when the pass is exhausted. Without `generator`, those draws come
    from the global generator, as in `DataLoader`. Like `DataLoader`'s collated batches,
    the batches are copies: changing one in place (`xb -= mean`) leaves the data as it was.
    Each pass copies the data once (the shuffle's gather, or a clone) and slices the copy.
    """

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int = 1,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ):
        if not tensors:
            raise ValueError("TensorLoader needs at least one tensor")
        for i, t in enumerate(tensors):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"tensor {i} must be a torch.Tensor, got {type(t).__name__}")
        n = tensors[0].shape[0] if tensors[0].ndim else 0
        for i, t in enumerate(tensors):
            if t.ndim == 0 or t.shape[0] != n:
                raise ValueError(
                    f"all tensors must share their first dimension: tensor 0 has {n} rows, "
                    f"tensor {i} has shape {tuple(t.shape)}"
                )
        if n == 0:
            raise ValueError("TensorLoader needs at least one sample, got 0 rows")
        self.tensors = tensors
        self.batch_size = positive_int("batch_size", batch_size)
        if drop_last and n < batch_size:
            raise ValueError(
                f"with drop_last=True and batch_size={batch_size} > {n} samples, every pass "
                "would yield no batch; lower batch_size or set drop_last=False"
            )
        self.shuffle = shuffle
        self.generator = generator
        self.drop_last = drop_last

    @property
    def n_samples(self) -> int:
        return self.tensors[0].shape[0]

    def __len__(self) -> int:
        if self.drop_last:
            return self.n_samples // self.batch_size
        return math.ceil(self.n_samples / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        # DataLoader draws its base seed when the iterator is created, not lazily.
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)
        return self._batches()

    def _permutation(self) -> tuple[torch.Tensor, torch.Generator]:
        if self.generator is None:
            # RandomSampler without a generator seeds a fresh one from the global generator.
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
            gen = torch.Generator().manual_seed(seed)
        else:
            gen = self.generator
        return torch.randperm(self.n_samples, generator=gen), gen

    def _batches(self) -> Iterator[tuple[torch.Tensor, ...]]:
        n, b = self.n_samples, self.batch_size
        if self.shuffle:
            order, gen = self._permutation()
            order = order.to(self.tensors[0].device)
            data = tuple(t[order] for t in self.tensors)  # one gather per pass
        else:
            data = tuple(t.clone() for t in self.tensors)  # batches never alias the data
        stop = n - n % b if self.drop_last else n
        for start in range(0, stop, b):
            if start + b > stop and self.drop_last:
                break
            yield tuple(t[start : start + b] for t in data)
        if self.shuffle:
            # RandomSampler's trailing randperm(n)[: n % n], drawn when the pass ends.
            torch.randperm(n, generator=gen)


def wrong_side_fractions(
    problem: ThreeClassProblem,
    n: int,
    repeats: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Wrong-side share in each of `repeats` fresh samples of `n` points; shape (repeats,).

    Each sample is drawn as `problem.make_dataset(n)` draws it; the share is the
    fraction of its points that `problem.wrong_side` flags.
    """
    positive_int("n", n)
    positive_int("repeats", repeats)
    X, y = problem.make_dataset(n * repeats, generator)  # all samples in one draw
    wrong = problem.wrong_side(X, y).reshape(repeats, n)
    return wrong.to(torch.float64).mean(dim=1)
