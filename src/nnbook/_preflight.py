"""Checks that a run's parts fit together, made before they can produce a wrong number.

A learner's mistake in wiring a run (labels that do not fit the model's outputs, a loss
made for another kind of output, a loader that runs dry after one epoch, an optimizer
built for another model, a schedule of the wrong length, data of another dtype) would
often train on silently and print plausible numbers. `train`, `evaluate`, `train_batched`
and `evaluate_batched` call these checks first, and each error names the problem and
the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import torch
from torch import nn
from torch.optim import lr_scheduler

from nnbook._checks import positive_int
from nnbook._losses import unreduced
from nnbook.models import BatchedMLP

__all__ = [
    "check_batch",
    "check_batched_data",
    "check_batched_run",
    "check_loader",
    "check_loss",
    "check_optimizer",
    "check_scheduler",
    "check_targets",
]

_CLASS_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss, nn.MultiMarginLoss)
_BINARY_LOSSES = (nn.BCEWithLogitsLoss, nn.BCELoss, nn.SoftMarginLoss)


def check_loader(name: str, loader: object) -> None:
    """Refuse what cannot be iterated again, such as a generator or an iterator.

    Training iterates its loader once per epoch; an iterator is exhausted after the first,
    and every later epoch would silently do nothing.
    """
    if not isinstance(loader, Iterable):
        raise TypeError(
            f"{name} must be an iterable of (X, y) batches, got {type(loader).__name__}"
        )
    if isinstance(loader, Iterator):  # calling iter() could draw from a loader's generator
        raise TypeError(
            f"{name} is a one-shot iterator ({type(loader).__name__}): it would be used up "
            "after one pass. Pass something that can be iterated again, such as a DataLoader, "
            "a TensorLoader or a list of batches"
        )


def check_loss(loss_fn: nn.Module) -> None:
    """Refuse a loss that training cannot use: not a torch loss, or one without a reduction."""
    unreduced(loss_fn)  # a torch loss module whose reduction is known
    if getattr(loss_fn, "reduction", None) == "none":
        raise ValueError(
            "loss_fn has reduction='none', which gives no single loss to train on; "
            "use 'mean' (the default) or 'sum'"
        )


def check_targets(where: str, target: torch.Tensor, n_outputs: int, loss_fn: object) -> None:
    """Refuse labels and a loss that do not fit a model with `n_outputs` logits.

    One logit is a binary classifier: its loss takes probabilities of class 1 (such as
    `BCEWithLogitsLoss`) and its labels are 0 and 1. Several logits are classes: the loss
    takes class indices (such as `CrossEntropyLoss`), and the labels are integers in
    [0, n_outputs), apart from the loss's `ignore_index`.
    """
    loss_name = type(loss_fn).__name__
    if n_outputs == 1:
        if isinstance(loss_fn, _CLASS_LOSSES):
            raise ValueError(
                f"{where}: {loss_name} over a single logit is the loss of a one-class problem "
                "(always 0); for a binary model use nn.BCEWithLogitsLoss(), or give the model "
                "2 outputs"
            )
        bad = target[(target != 0) & (target != 1)]
        if bad.numel():
            raise ValueError(
                f"{where}: a one-logit (binary) model takes labels 0 and 1, got "
                f"{sorted(set(bad.unique().tolist()))[:5]}"
            )
        return
    if isinstance(loss_fn, _BINARY_LOSSES):
        raise ValueError(
            f"{where}: {loss_name} is a loss for one logit (binary), but the model has "
            f"{n_outputs} outputs; use nn.CrossEntropyLoss() for {n_outputs} classes"
        )
    if target.is_floating_point() or target.dtype == torch.bool:
        raise TypeError(
            f"{where}: labels for a {n_outputs}-class model must be integer class indices "
            f"(torch.long), got dtype {target.dtype}; convert them with y.long()"
        )
    ignore = getattr(loss_fn, "ignore_index", None)
    used = target if ignore is None else target[target != ignore]
    if used.numel() and (used.min() < 0 or used.max() >= n_outputs):
        raise ValueError(
            f"{where}: labels must be class indices in [0, {n_outputs}) for a model with "
            f"{n_outputs} outputs, got values from {used.min().item()} to {used.max().item()}"
        )


def check_batch(where: str, X: torch.Tensor, param: torch.Tensor) -> None:
    """Refuse inputs that are not a finite tensor of the model's dtype.

    One rule everywhere: the library converts nothing. Data of another floating dtype
    than the model's parameters is refused with the conversion to make.
    """
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"{where}: inputs must be a torch.Tensor, got {type(X).__name__}")
    if not X.is_floating_point():
        raise TypeError(
            f"{where}: inputs must be floating point like the model's {param.dtype} parameters, "
            f"got {X.dtype}; convert them with X.float()"
        )
    if X.dtype != param.dtype:
        fix = "X.float()" if param.dtype == torch.float32 else f"X.to({param.dtype})"
        raise TypeError(
            f"{where}: inputs are {X.dtype} but the model's parameters are {param.dtype}; "
            f"convert the data ({fix}) or the model (model.to({X.dtype}))"
        )
    if not torch.isfinite(X).all():
        bad = (~torch.isfinite(X)).nonzero()[0].tolist()
        raise ValueError(f"{where}: inputs hold NaN or infinite values (first at index {bad})")


def dataset_tensors(loader: object) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The whole (X, y) behind a loader, when it can be had without iterating the loader.

    A `TensorLoader` or a `DataLoader` over a `TensorDataset` of two tensors hold their
    data; iterating them instead would draw from their shuffling generator.
    """
    tensors = getattr(loader, "tensors", None)  # TensorLoader
    if tensors is None:
        tensors = getattr(getattr(loader, "dataset", None), "tensors", None)  # TensorDataset
    if isinstance(tensors, tuple) and len(tensors) == 2:
        return tensors[0], tensors[1]
    return None


@torch.no_grad()
def check_data(where: str, model: nn.Module, loader: object, loss_fn: nn.Module) -> bool:
    """Check all of a loader's data against the model and loss, if it can be had up front.

    Returns True when the data was checked; False for a loader whose data can only be
    seen by iterating it (then each batch must be checked before it is used).
    """
    data = dataset_tensors(loader)
    if data is None and isinstance(loader, list | tuple):
        if not loader:
            return False
        data = torch.cat([b[0] for b in loader]), torch.cat([b[1] for b in loader])
    if data is None:
        return False
    X, y = data
    param = next(model.parameters())
    check_batch(where, X, param)
    was_training = model.training
    try:
        n_outputs = model.eval()(X[:1].to(param.device)).shape[1]
    finally:
        model.train(was_training)
    check_targets(where, y, n_outputs, loss_fn)
    return True


def check_optimizer(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Refuse an optimizer that does not hold every trainable parameter of `model`."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    missing = [n for n, p in trainable if id(p) not in held]
    if trainable and len(missing) == len(trainable):
        raise ValueError(
            "the optimizer holds none of the model's parameters, so the weights would never "
            "change; build it from this model's parameters, after the model "
            "(optimizer = torch.optim.SGD(model.parameters(), lr=...))"
        )
    if missing:
        raise ValueError(
            f"the optimizer does not hold the model's parameters {missing}; they would never "
            "change. Build it from model.parameters()"
        )


def _schedule_lengths(scheduler: lr_scheduler.LRScheduler) -> list[tuple[str, int, int]]:
    """(what, length, steps taken) of every fixed-length part of a schedule."""
    name = type(scheduler).__name__
    if isinstance(scheduler, lr_scheduler.SequentialLR):
        last = scheduler._schedulers[-1]
        tail = _schedule_lengths(last)
        milestone = scheduler._milestones[-1]
        return [
            (f"{name} (last milestone + {w})", milestone + n, scheduler.last_epoch)
            for w, n, _ in tail
        ]
    if isinstance(scheduler, lr_scheduler.ChainedScheduler):
        return [part for s in scheduler._schedulers for part in _schedule_lengths(s)]
    for attr in ("total_iters", "T_max", "total_steps"):
        length = getattr(scheduler, attr, None)
        if isinstance(length, int):
            return [(f"{name}'s {attr}={length}", length, scheduler.last_epoch)]
    return []


def check_scheduler(
    scheduler: lr_scheduler.LRScheduler | None,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    partial_schedule: bool = False,
) -> None:
    """Refuse a scheduler that cannot be what the caller meant for a run of `epochs`.

    It must drive `optimizer` (otherwise its learning rates never reach the parameters),
    and a schedule of fixed length (LinearLR's or PolynomialLR's `total_iters`,
    CosineAnnealingLR's `T_max`, OneCycleLR's total steps, the last milestone plus the
    last part of SequentialLR, each part of ChainedScheduler) must have exactly `epochs`
    steps left, unless `partial_schedule` says that stopping early, or running on past
    its end, is intended. The scheduler steps once per epoch.
    """
    if scheduler is None:
        return
    if getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise ValueError(
            "scheduler is attached to another optimizer than the one being trained; "
            "its learning rates would never reach the parameters"
        )
    if partial_schedule:
        return
    for what, length, taken in _schedule_lengths(scheduler):
        if length - taken != epochs:
            raise ValueError(
                f"the schedule ({what}) has {length - taken} of its {length} steps left, but "
                f"the run has epochs={epochs} (one step per epoch); make them equal, or pass "
                "partial_schedule=True to run only part of the schedule (or past its end) "
                "on purpose"
            )


# --- many networks trained as one (nnbook.batched) -------------------------------------------

# Optimizers whose update of each entry depends only on that entry (see the module docstring).
ELEMENTWISE_OPTIMIZERS: tuple[type[torch.optim.Optimizer], ...] = (
    torch.optim.SGD,
    torch.optim.Adam,
    torch.optim.AdamW,
)


def check_batched_data(
    model: BatchedMLP, X: torch.Tensor, y: torch.Tensor, name: str, loss_fn: nn.Module
) -> tuple[torch.Tensor, torch.Tensor]:
    """Accept shared data X (N, in), y (N,) or one set per member X (K, N, in), y (K, N)."""
    for label, t in [(f"{name} X", X), (f"{name} y", y)]:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{label} must be a torch.Tensor, got {type(t).__name__}")
    K, d = len(model), model.in_features
    shared = X.ndim == 2 and X.shape[1] == d and y.shape == X.shape[:1]
    per_member = X.ndim == 3 and X.shape[0] == K and X.shape[2] == d and y.shape == X.shape[:2]
    if not (shared or per_member):
        raise ValueError(
            f"{name} data must be X (N, {d}) with y (N,), or one set per member, X ({K}, N, "
            f"{d}) with y ({K}, N); got X {tuple(X.shape)} and y {tuple(y.shape)}"
        )
    if X.shape[-2] == 0:
        raise ValueError(f"{name} data has no samples")
    check_batch(f"{name} X", X, model.weights[0])
    check_targets(f"{name} y", y, model.out_features, loss_fn)
    return X, y


def _check_batched_optimizer(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    if not isinstance(optimizer, ELEMENTWISE_OPTIMIZERS):
        names = ", ".join(cls.__name__ for cls in ELEMENTWISE_OPTIMIZERS)
        raise TypeError(
            f"optimizer must update each entry on its own ({names}) so that members stay "
            f"independent, got {type(optimizer).__name__}"
        )
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if in_optimizer != {id(p) for p in model.parameters()}:
        raise ValueError(
            "optimizer must hold exactly the BatchedMLP's parameters, e.g. "
            "torch.optim.Adam(model.parameters(), lr=...)"
        )


def check_batched_run(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    epochs: int,
    batch_size: int,
    record_every: int,
    generators: Sequence[torch.Generator],
    eval_sets: Mapping[str, tuple[torch.Tensor, torch.Tensor]] | None,
    on_record: Callable[[int, BatchedMLP], None] | None,
    partial_schedule: bool,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """Refuse what `train_batched` cannot train; the data on the model's device, by set name."""
    if not isinstance(model, BatchedMLP):
        raise TypeError(f"model must be a BatchedMLP, got {type(model).__name__}")
    check_loss(loss_fn)
    check_scheduler(scheduler, optimizer, epochs, partial_schedule)
    for name, value in [
        ("epochs", epochs),
        ("batch_size", batch_size),
        ("record_every", record_every),
    ]:
        positive_int(name, value)
    if len(generators) != len(model):
        raise ValueError(
            f"need one generator per member: {len(model)} members, got {len(generators)}"
        )
    for i, g in enumerate(generators):
        if not isinstance(g, torch.Generator):
            raise TypeError(f"generators[{i}] must be a torch.Generator, got {type(g).__name__}")
    _check_batched_optimizer(model, optimizer)
    if on_record is not None and not callable(on_record):
        raise TypeError(f"on_record must be callable or None, got {type(on_record).__name__}")
    X, y = check_batched_data(model, X, y, "training", loss_fn)
    eval_sets = dict(eval_sets or {})
    if "train" in eval_sets:
        raise ValueError("'train' is reserved for the training set; rename that evaluation set")
    for name, (X_e, y_e) in eval_sets.items():
        check_batched_data(model, X_e, y_e, f"evaluation set {name!r}", loss_fn)
    device = model.weights[0].device
    sets = {"train": (X, y), **eval_sets}
    sets = {name: (X_s.to(device), y_s.to(device)) for name, (X_s, y_s) in sets.items()}
    return *sets["train"], sets
