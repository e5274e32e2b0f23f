"""Train many small MLPs at once: one batched computation with an extra model dimension.

Training the seeds of one configuration one after another pays Python and kernel-launch
overhead for every tiny model. `BatchedMLP` stacks the weights of K models along a
leading "member" dimension (weight `(K, out, in)`, bias `(K, out)`), so one `baddbmm`
per layer computes all K forward passes, and `train_batched` trains them together.

Why a batched run equals K separate runs (to float rounding):

- the members' parameters are disjoint slices of the stacked tensors, and the loss
  that is back-propagated is the sum of the members' losses, so the gradient of each
  slice is the gradient of its own member's loss and nothing else;
- SGD (with momentum, Nesterov, weight decay) and Adam/AdamW update every parameter
  entry from that entry's own gradient and state (and a step count that all members
  share), so one optimizer over the stacked tensors makes exactly each member's update.
  Optimizers that look at whole tensors (gradient-norm clipping, LARS/LAMB, L-BFGS)
  would mix the members, so `train_batched` refuses them;
- each member draws its batches from its own `torch.Generator` with the same draws
  as `TensorLoader` (and hence `DataLoader(shuffle=True, generator=g)`).

Members may have different hidden widths (with the same number of hidden layers):
narrower members are padded with units whose incoming and outgoing weights and bias
start at zero. Such a unit's pre-activation is exactly 0; with tanh, ReLU or GELU its
output is exactly 0 too (for an activation with act(0) != 0, such as the sigmoid, it is
multiplied by a fixed zero mask). So it adds exact zeros to the next layer, its weights
receive zero gradients, and SGD and Adam never move them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from nnbook._losses import sample_weights, unreduced
from nnbook._preflight import check_batched_data, check_batched_run
from nnbook.data import TensorLoader
from nnbook.models import MLP, BatchedMLP, from_logits
from nnbook.training import NonFiniteLossError, eval_mode, logits_and_targets, train_mode

__all__ = ["evaluate_batched", "expected_accuracies", "train_batched"]


# --- losses and evaluation ------------------------------------------------------------------


def _member_mean(
    loss_fn: nn.Module, per_sample: nn.Module, logits: torch.Tensor, y: torch.Tensor, mean: bool
) -> torch.Tensor:
    """Each member's loss (K,) over its samples: as `loss_fn` reduces them, or their mean."""
    losses = _member_losses(per_sample, logits, y)  # (K, N)
    if not mean and loss_fn.reduction == "sum":
        return losses.sum(dim=1)
    weights = sample_weights(loss_fn, y)  # (K, N): class weights, 0 where ignored
    return losses.sum(dim=1) / (y.shape[1] if weights is None else weights.sum(dim=1))


def _member_losses(unreduced: nn.Module, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample losses (K, N) for logits (K, N, C) and labels (K, N)."""
    K, N, C = logits.shape
    flat_logits, flat_y = logits_and_targets(logits.reshape(K * N, C), y.reshape(K * N))
    return unreduced(flat_logits, flat_y).reshape(K, N)


@torch.no_grad()
def evaluate_batched(
    model: BatchedMLP, X: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss per sample and accuracy of every member: two tensors of shape (K,).

    `X`, `y` are shared (N, in), (N,) or per member (K, N, in), (K, N). Runs in eval
    mode and restores the previous mode; the loss is summed and divided by N whatever
    the reduction of `loss_fn`, as `nnbook.training.evaluate` does.
    """
    per_sample = unreduced(loss_fn)
    X, y = check_batched_data(model, X, y, "evaluation", loss_fn)
    device = model.weights[0].device
    X, y = X.to(device), y.to(device)
    with eval_mode(model):
        logits = model(X)  # (K, N, C)
    y = y.expand(len(model), -1)
    ignore = getattr(loss_fn, "ignore_index", None)
    kept = torch.ones_like(y, dtype=torch.bool) if ignore is None else y != ignore
    right = (from_logits(logits, "class") == y) & kept  # (K, N)
    mean = _member_mean(loss_fn, per_sample, logits, y, mean=True)
    return mean, right.sum(dim=1).double() / kept.sum(dim=1)


@torch.no_grad()
def expected_accuracies(model: BatchedMLP, problem, steps: int = 200) -> list[float]:
    """Each member's exact accuracy over `problem`'s data distribution, not over a sample.

    `problem` is a `ThreeClassProblem` (anything with `expected_accuracy(predict, steps)`);
    member k's predicted classes are scored with the true class probabilities on a
    `steps` x `steps` midpoint grid, one member at a time to bound the memory used.
    """
    if not isinstance(model, BatchedMLP):
        raise TypeError(f"model must be a BatchedMLP, got {type(model).__name__}")
    n_classes = getattr(problem, "n_classes", model.out_features)
    if model.out_features != n_classes:
        raise ValueError(
            f"the members have {model.out_features} logits but the problem has {n_classes} classes"
        )
    ref = model.weights[0]
    accuracies = []
    for k in range(len(model)):
        member = model.member(k).eval()

        def predict(X: torch.Tensor, member: MLP = member) -> torch.Tensor:
            logits = member(X.to(dtype=ref.dtype).to(ref.device))
            return from_logits(logits, "class").cpu()

        accuracies.append(problem.expected_accuracy(predict, steps=steps))
    return accuracies


# --- training ---------------------------------------------------------------------------------


def _shuffled_orders(index_loaders: Sequence[TensorLoader]) -> torch.Tensor:
    """One pass of every member's shuffled index loader: (K, N) sample orders."""
    # Each loader yields the whole permutation as a single batch; list() runs the pass to
    # its end, so each generator makes exactly the draws of one TensorLoader/DataLoader pass.
    orders = []
    for loader in index_loaders:
        [(order,)] = list(loader)
        orders.append(order)
    return torch.stack(orders)


def _hidden_label(hidden: tuple[int, ...]) -> int | str:
    """The width of a single hidden layer as an int, several as a string like '8-4'."""
    return hidden[0] if len(hidden) == 1 else "-".join(map(str, hidden))


def _shuffled_epoch(
    X: torch.Tensor, y: torch.Tensor, orders: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every member's training set in its own shuffled order: (K, n, in) and (K, n)."""
    orders = orders.to(X.device)  # (K, n)
    if X.ndim == 2:  # shared data
        return X[orders], y[orders]
    members = torch.arange(len(orders), device=X.device).unsqueeze(1)  # (K, 1)
    return X[members, orders], y[members, orders]


def _record(
    model: BatchedMLP,
    sets: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    loss_fn: nn.Module,
    epoch: int,
    lr: float,
) -> list[dict[str, object]]:
    """One row per member: its seed and width, the epoch, the rate and every set's metrics."""
    metrics = {}
    for name, data in sets.items():
        loss_k, acc_k = evaluate_batched(model, *data, loss_fn)
        metrics[f"{name}_loss"], metrics[f"{name}_accuracy"] = loss_k.tolist(), acc_k.tolist()
    rows = []
    for k in range(len(model)):
        row: dict[str, object] = {"member": k}
        if model.seeds is not None:
            row["seed"] = model.seeds[k]
        row |= {"hidden": _hidden_label(model.hidden_sizes[k]), "epoch": epoch, "lr": lr}
        row |= {key: values[k] for key, values in metrics.items()}
        rows.append(row)
    return rows


def _train_epoch(
    model: BatchedMLP,
    X_epoch: torch.Tensor,
    y_epoch: torch.Tensor,
    batch_size: int,
    loss_fn: nn.Module,
    per_sample: nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
) -> None:
    """One pass over every member's shuffled (K, N, in) data, `batch_size` points a step."""
    losses = []
    for start in range(0, X_epoch.shape[1], batch_size):
        xb = X_epoch[:, start : start + batch_size]  # (K, B, in)
        yb = y_epoch[:, start : start + batch_size]  # (K, B)
        per_member = _member_mean(loss_fn, per_sample, model(xb), yb, mean=False)  # (K,)
        loss = per_member.sum()  # members' parameters are disjoint: gradients stay apart
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(per_member.detach())
    finite = torch.isfinite(torch.stack(losses))  # (batches, K)
    if not finite.all():
        batch, member = (~finite).nonzero()[0].tolist()
        raise FloatingPointError(
            f"member {member}'s loss became {losses[batch][member].item()} at epoch {epoch}, "
            f"batch {batch}; the learning rate may be too high, or the data hold extreme values"
        )


def train_batched(
    model: BatchedMLP,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    batch_size: int,
    generators: Sequence[torch.Generator],
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    eval_sets: Mapping[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    record_every: int = 1,
    progress: bool = False,
    on_record: Callable[[int, BatchedMLP], None] | None = None,
    partial_schedule: bool = False,
) -> pd.DataFrame:
    """Train every member of `model` on its own shuffled batches; return per-member records.

    Member k does what `nnbook.training.train` does for one model with
    `TensorLoader(X, y, batch_size=batch_size, shuffle=True, generator=generators[k])`
    and `eval_loaders={"train": that loader, **eval_sets}`: the same batches, the same
    updates, and the same draws from its generator (evaluating the training set runs
    one more shuffled pass, as iterating the loader does). `X`, `y` are shared
    (N, in), (N,) or one training set per member (K, N, in), (K, N); so are the
    evaluation sets. The data is moved to the model's device once.

    Returns a DataFrame with one row per member and recorded epoch: `member`, `seed`
    (when the model was built from seeds), `hidden`, `epoch`, `lr`, then `train_loss`,
    `train_accuracy` and `<name>_loss`, `<name>_accuracy` for each evaluation set.
    `on_record(epoch, model)`, if given, is called after each record, for example to
    keep a copy of the weights (`model.member(k).state_dict()`) where `train` would keep
    a snapshot. `partial_schedule` is as in `train`. A loss that turns NaN or infinite
    stops the run with a `NonFiniteLossError` naming the epoch, batch and member; its
    `report` is a DataFrame of the records made so far.
    """
    generators = list(generators)
    X, y, sets = check_batched_run(
        model,
        X,
        y,
        loss_fn,
        optimizer,
        scheduler,
        epochs,
        batch_size,
        record_every,
        generators,
        eval_sets,
        on_record,
        partial_schedule,
    )
    per_sample = unreduced(loss_fn)
    n = X.shape[-2]
    index_loaders = [
        TensorLoader(torch.arange(n), batch_size=n, shuffle=True, generator=g) for g in generators
    ]
    rows: list[dict[str, object]] = []
    with train_mode(model):  # the model's mode is restored at the end, also after an error
        for epoch in tqdm(range(epochs), disable=not progress, desc="epochs"):
            lr = optimizer.param_groups[0]["lr"]
            model.train()
            X_epoch, y_epoch = _shuffled_epoch(X, y, _shuffled_orders(index_loaders))
            try:
                _train_epoch(
                    model, X_epoch, y_epoch, batch_size, loss_fn, per_sample, optimizer, epoch
                )
            except FloatingPointError as err:
                raise NonFiniteLossError(str(err), pd.DataFrame.from_records(rows)) from None
            if scheduler is not None:
                scheduler.step()
            if epoch % record_every == 0 or epoch == epochs - 1:
                _shuffled_orders(index_loaders)  # the draws of iterating the training loader
                rows += _record(model, sets, loss_fn, epoch, lr)
                if on_record is not None:
                    on_record(epoch, model)
    return pd.DataFrame.from_records(rows)
