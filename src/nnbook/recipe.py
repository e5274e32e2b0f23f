"""The source notebook's recipe for the three-class problem, as functions every user shares.

The recipe: with the global generator seeded 2100, draw 2000 training points and their
labels, then 1000 evaluation points and theirs, and only then the initial weights of a
2-8-3 tanh network; train it for 1000 epochs with plain SGD at 0.005 on the cross-entropy
summed over batches of 50, the learning rate falling linearly to 1 % of itself, with the
batches shuffled by a generator of its own, also seeded 2100.

Float32 training with this recipe is chaotic: a change in the last bit of one weight
ends in a different network after a few epochs, and the kernels of another CPU or GPU
change those bits. So one run's final numbers are one draw from a spread. `study` trains
the recipe from many seeds at once (`nnbook.batched`), and `study_summary` gives the
medians and ranges on which claims about the recipe's outcome can rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from nnbook.batched import expected_accuracies, train_batched
from nnbook.data import TensorLoader, ThreeClassProblem
from nnbook.models import MLP, BatchedMLP
from nnbook.training import TrainReport, train

__all__ = ["Recipe", "SourceData", "study", "study_summary"]

# The statistics `study` reports for each run, in the order `study_summary` shows them.
STUDY_METRICS = [
    "train_loss",
    "eval_loss",
    "train_accuracy",
    "eval_accuracy",
    "expected_accuracy",
    "regret",
]


@dataclass(frozen=True)
class SourceData:
    """The source notebook's training and evaluation sets, drawn in its order."""

    X: torch.Tensor  # (n_train, 2) float32
    y: torch.Tensor  # (n_train,) int64
    X_eval: torch.Tensor  # (n_eval, 2)
    y_eval: torch.Tensor  # (n_eval,)


@dataclass(frozen=True)
class Recipe:
    """The source notebook's hyperparameters; `Recipe()` is the recipe as published."""

    seed: int = 2100
    n_train: int = 2000
    n_eval: int = 1000
    hidden: int = 8
    lr: float = 0.005
    end_factor: float = 0.01
    epochs: int = 1000
    batch_size: int = 50

    def start(self, problem: ThreeClassProblem) -> tuple[SourceData, MLP]:
        """Seed the global generator, then draw the data and the initial model in that order."""
        torch.manual_seed(self.seed)
        X, y = problem.make_dataset(self.n_train)
        X_eval, y_eval = problem.make_dataset(self.n_eval)
        return SourceData(X, y, X_eval, y_eval), self.model()

    def model(self) -> MLP:
        """A fresh 2-`hidden`-3 tanh network, initialised from the global generator."""
        return MLP(2, self.hidden, 3)

    def loss_fn(self) -> nn.Module:
        """Cross-entropy summed over the batch, as the source notebook has it."""
        return nn.CrossEntropyLoss(reduction="sum")

    def optimizer(
        self, params, epochs: int | None = None
    ) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.LinearLR]:
        """Plain SGD at `lr`, and its linear decay to `end_factor` over `epochs` epochs."""
        optimizer = torch.optim.SGD(params, lr=self.lr)
        total = self.epochs if epochs is None else epochs
        scheduler = torch.optim.lr_scheduler.LinearLR(
            optimizer, start_factor=1.0, end_factor=self.end_factor, total_iters=total
        )
        return optimizer, scheduler

    def loaders(self, data: SourceData) -> tuple[TensorLoader, TensorLoader]:
        """The shuffled training loader (its own generator, seeded) and the evaluation loader."""
        gen = torch.Generator().manual_seed(self.seed)
        train_loader = TensorLoader(
            data.X, data.y, batch_size=self.batch_size, shuffle=True, generator=gen
        )
        return train_loader, TensorLoader(data.X_eval, data.y_eval, batch_size=self.n_eval)

    def run(
        self,
        model: nn.Module,
        data: SourceData,
        *,
        epochs: int | None = None,
        record_every: int = 20,
        keep_snapshots: bool = True,
        device: torch.device | str | None = None,
    ) -> TrainReport:
        """Train `model` on `data` with the recipe; the report has a record every 20 epochs.

        `epochs` stops the run early, after that many epochs of the full schedule.
        """
        train_loader, eval_loader = self.loaders(data)
        optimizer, scheduler = self.optimizer(model.parameters())
        return train(
            model,
            train_loader,
            loss_fn=self.loss_fn(),
            optimizer=optimizer,
            epochs=self.epochs if epochs is None else epochs,
            partial_schedule=epochs is not None,
            scheduler=scheduler,
            eval_loaders={"train": train_loader, "eval": eval_loader},
            record_every=record_every,
            keep_snapshots=keep_snapshots,
            device=device,
        )


def study(
    recipe: Recipe,
    problem: ThreeClassProblem,
    data: SourceData,
    seeds: list[int],
    device: torch.device | str | None = None,
) -> pd.DataFrame:
    """Train the recipe once per seed, all runs as one batched computation; one row per run.

    Run `s` starts from `MLP` weights drawn right after `torch.manual_seed(s)` and shuffles
    with a generator seeded `s`; the data are the same for every run. The columns are
    `seed` and `STUDY_METRICS`: final losses and accuracies on both sets, the expected
    accuracy over the problem's whole distribution, and the regret (Bayes accuracy minus
    expected accuracy).
    """
    if not seeds:
        raise ValueError("study needs at least one seed, got none")
    batch = BatchedMLP.from_seeds(2, recipe.hidden, 3, seeds)
    if device is not None:
        batch = batch.to(device)
    optimizer, scheduler = recipe.optimizer(batch.parameters())
    frame = train_batched(
        batch,
        data.X,
        data.y,
        loss_fn=recipe.loss_fn(),
        optimizer=optimizer,
        scheduler=scheduler,
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        generators=[torch.Generator().manual_seed(s) for s in seeds],
        eval_sets={"eval": (data.X_eval, data.y_eval)},
        record_every=recipe.epochs,
    )
    final = frame[frame["epoch"] == recipe.epochs - 1].reset_index(drop=True)
    final["expected_accuracy"] = expected_accuracies(batch, problem)
    final["regret"] = problem.bayes_accuracy() - final["expected_accuracy"]
    return final[["seed", *STUDY_METRICS]]


def study_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Minimum, quartiles, median and maximum of every statistic over the runs of `study`."""
    stats = runs[STUDY_METRICS].quantile([0.0, 0.25, 0.5, 0.75, 1.0]).T
    stats.columns = ["min", "25 %", "median", "75 %", "max"]
    return stats
