"""Tests for nnbook._preflight through train, evaluate, train_batched and evaluate_batched.

Each bad input is one a learner may plausibly make. Every case checks the type of the
error and that its message names the problem, and that it comes before any step.
"""

import itertools

import pytest
import torch
from torch import nn

from nnbook._preflight import check_loader, check_optimizer, check_scheduler, check_targets
from nnbook.batched import evaluate_batched, train_batched
from nnbook.data import TensorLoader
from nnbook.models import MLP, BatchedMLP
from nnbook.training import NonFiniteLossError, TrainReport, evaluate, train


def data(n=20, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g), torch.randint(0, classes, (n,), generator=g)


def setup(out=3, loss=None):
    torch.manual_seed(0)
    model = MLP(2, 4, out)
    X, y = data(classes=max(out, 2))
    return (
        model,
        X,
        y,
        {
            "loss_fn": loss or (nn.CrossEntropyLoss() if out > 1 else nn.BCEWithLogitsLoss()),
            "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
            "epochs": 2,
        },
    )


def loader(X, y, batch_size=5):
    return TensorLoader(X, y, batch_size=batch_size)


# --- family 1: labels vs model vs loss, the same in all four entry points ------------------

LABEL_CASES = [
    # (outputs, loss, labels transform, error, message)
    (
        1,
        nn.BCEWithLogitsLoss(),
        lambda y: y * 0 - 1,
        ValueError,
        r"takes labels 0 and 1, got \[-1\]",
    ),
    (
        1,
        nn.BCEWithLogitsLoss(),
        lambda y: y * 0 + 2,
        ValueError,
        r"takes labels 0 and 1, got \[2\]",
    ),
    (1, nn.CrossEntropyLoss(), lambda y: y % 2, ValueError, "CrossEntropyLoss over a single logit"),
    (1, nn.NLLLoss(), lambda y: y % 2, ValueError, "NLLLoss over a single logit"),
    (
        3,
        nn.BCEWithLogitsLoss(),
        lambda y: y,
        ValueError,
        "BCEWithLogitsLoss is a loss for one logit",
    ),
    (3, nn.BCELoss(), lambda y: y, ValueError, "BCELoss is a loss for one logit"),
    (3, nn.CrossEntropyLoss(), lambda y: y + 1, ValueError, r"class indices in \[0, 3\).*to 3"),
    (3, nn.CrossEntropyLoss(), lambda y: y - 1, ValueError, r"class indices in \[0, 3\).*from -1"),
    (3, nn.CrossEntropyLoss(), lambda y: y.float(), TypeError, "must be integer class indices"),
    (3, nn.CrossEntropyLoss(), lambda y: y > 0, TypeError, "got dtype torch.bool"),
]


@pytest.mark.parametrize(("out", "loss", "labels", "error", "message"), LABEL_CASES)
def test_train_refuses_labels_and_losses_that_do_not_fit(out, loss, labels, error, message):
    model, X, y, kwargs = setup(out, loss)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(error, match=message):
        train(model, loader(X, labels(y)), **kwargs)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)), (
        "the check must come before the first step"
    )


@pytest.mark.parametrize(("out", "loss", "labels", "error", "message"), LABEL_CASES)
def test_evaluate_refuses_labels_and_losses_that_do_not_fit(out, loss, labels, error, message):
    model, X, y, _ = setup(out, loss)
    with pytest.raises(error, match=message):
        evaluate(model, loader(X, labels(y)), loss)


@pytest.mark.parametrize(("out", "loss", "labels", "error", "message"), LABEL_CASES)
def test_batched_refuses_labels_and_losses_that_do_not_fit(out, loss, labels, error, message):
    model = BatchedMLP.from_seeds(2, 4, out, [0, 1])
    X, y = data(classes=max(out, 2))
    with pytest.raises(error, match=message):
        evaluate_batched(model, X, labels(y), loss)
    with pytest.raises(error, match=message):
        train_batched(
            model,
            X,
            labels(y),
            loss_fn=loss,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=1,
            batch_size=5,
            generators=[torch.Generator(), torch.Generator()],
        )


def test_ignore_index_labels_are_allowed():
    """Targets equal to the loss's ignore_index are not class indices and are not refused."""
    model, X, y, _ = setup()
    y = y.clone()
    y[:3] = -100
    metrics = evaluate(model, loader(X, y), nn.CrossEntropyLoss())
    assert 0 <= metrics["accuracy"] <= 1


# --- family 2: non-finite values -----------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_inputs_are_refused_with_their_place(bad):
    model, X, y, kwargs = setup()
    X = X.clone()
    X[7, 1] = bad
    with pytest.raises(ValueError, match=r"train_loader: inputs hold NaN or infinite.*\[7, 1\]"):
        train(model, loader(X, y), **kwargs)
    batches = [(X[i : i + 5], y[i : i + 5]) for i in range(0, 20, 5)]
    with pytest.raises(ValueError, match=r"train_loader: inputs hold NaN or infinite.*\[7, 1\]"):
        train(model, batches, **kwargs)
    with pytest.raises(ValueError, match="inputs hold NaN or infinite values"):
        evaluate(model, loader(X, y), nn.CrossEntropyLoss())


def test_a_diverging_loss_names_epoch_and_batch_and_keeps_the_records():
    """A learning rate far too high: the loss overflows; the records so far survive."""
    model, X, y, kwargs = setup()
    X = X * 1e3
    kwargs["optimizer"] = torch.optim.SGD(model.parameters(), lr=1e30)
    kwargs["epochs"] = 5
    diverged = r"epoch \d+: the loss became (nan|inf|-inf) at batch \d+"
    with pytest.raises(NonFiniteLossError, match=diverged) as caught:
        train(model, loader(X, y), **kwargs)
    assert isinstance(caught.value.report, TrainReport)
    assert caught.value.report.epochs == list(range(len(caught.value.report)))


def test_a_diverging_batched_loss_names_the_member():
    model = BatchedMLP.from_seeds(2, 4, 3, [0, 1])
    X, y = data()
    with pytest.raises(NonFiniteLossError, match=r"member \d's loss became .* at epoch \d+"):
        train_batched(
            model,
            X * 1e3,
            y,
            loss_fn=nn.CrossEntropyLoss(),
            optimizer=torch.optim.SGD(model.parameters(), lr=1e30),
            epochs=5,
            batch_size=5,
            generators=[torch.Generator(), torch.Generator()],
        )


def test_records_survive_an_interrupt_in_a_report_passed_in():
    """KeyboardInterrupt during training: the caller's report holds what was recorded."""
    model, X, y, kwargs = setup()
    kwargs["epochs"] = 10
    calls = itertools.count()

    class Interrupting(TensorLoader):
        def __iter__(self):
            if next(calls) == 12:  # a few epochs in
                raise KeyboardInterrupt
            return super().__iter__()

    report = TrainReport()
    with pytest.raises(KeyboardInterrupt):
        train(model, Interrupting(X, y, batch_size=5), report=report, **kwargs)
    assert len(report) >= 3


# --- family 3: loaders -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda X, y: ((X[i : i + 5], y[i : i + 5]) for i in range(0, 20, 5)), "generator"),
        (lambda X, y: iter(loader(X, y)), "one-shot iterator"),
        (lambda X, y: iter([(X, y)]), "list_iterator"),
        (lambda X, y: map(lambda b: b, [(X, y)]), "map"),
    ],
)
def test_one_shot_loaders_are_refused(make, message):
    model, X, y, kwargs = setup()
    with pytest.raises(TypeError, match=message):
        train(model, make(X, y), **kwargs)


def test_a_loader_that_is_not_iterable_is_refused():
    with pytest.raises(TypeError, match="must be an iterable of"):
        check_loader("train_loader", 42)


def test_an_eval_loader_that_is_an_iterator_is_refused():
    model, X, y, kwargs = setup()
    with pytest.raises(TypeError, match=r"eval_loaders\['eval'\] is a one-shot iterator"):
        train(model, loader(X, y), eval_loaders={"eval": iter(loader(X, y))}, **kwargs)


def test_an_epoch_without_batches_is_refused():
    model, _, _, kwargs = setup()
    with pytest.raises(ValueError, match="train_loader yielded no batch in this epoch"):
        train(model, [], **kwargs)


def test_tensor_loader_that_would_yield_nothing_is_refused():
    X, y = data()
    with pytest.raises(ValueError, match="every pass would yield no batch"):
        TensorLoader(X, y, batch_size=50, drop_last=True)


@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_never_alias_the_data(shuffle):
    """Changing a batch in place leaves the dataset unchanged, as with DataLoader."""
    X, y = data()
    kept = X.clone()
    for xb, _ in TensorLoader(X, y, batch_size=20, shuffle=shuffle, generator=torch.Generator()):
        xb -= 100.0
    assert torch.equal(X, kept)


# --- family 4: optimizer and scheduler ------------------------------------------------------


def test_an_optimizer_of_another_model_is_refused():
    model, X, y, kwargs = setup()
    kwargs["optimizer"] = torch.optim.SGD(MLP(2, 4, 3).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="holds none of the model's parameters"):
        train(model, loader(X, y), **kwargs)


def test_an_optimizer_with_some_parameters_is_refused():
    model, X, y, kwargs = setup()
    kwargs["optimizer"] = torch.optim.SGD(list(model.parameters())[:2], lr=0.1)
    with pytest.raises(ValueError, match=r"does not hold the model's parameters \['net.2.weight'"):
        train(model, loader(X, y), **kwargs)


def test_not_an_optimizer_is_refused():
    model, *_ = setup()
    with pytest.raises(TypeError, match=r"must be a torch\.optim\.Optimizer, got list"):
        check_optimizer(model, [])


def schedulers():
    """(name, build(optimizer) -> scheduler, its length) for every fixed-length schedule."""
    sched = torch.optim.lr_scheduler
    return [
        ("LinearLR", lambda o: sched.LinearLR(o, 1.0, 0.1, total_iters=3), 3),
        ("PolynomialLR", lambda o: sched.PolynomialLR(o, total_iters=3), 3),
        ("CosineAnnealingLR", lambda o: sched.CosineAnnealingLR(o, T_max=3), 3),
        ("OneCycleLR", lambda o: sched.OneCycleLR(o, max_lr=0.1, total_steps=3), 3),
        (
            "SequentialLR",
            lambda o: sched.SequentialLR(
                o,
                [
                    sched.ConstantLR(o, 0.5, total_iters=2),
                    sched.LinearLR(o, 1.0, 0.1, total_iters=3),
                ],
                milestones=[2],
            ),
            5,
        ),
        (
            "ChainedScheduler",
            lambda o: sched.ChainedScheduler(
                [sched.LinearLR(o, 1.0, 0.1, total_iters=3), sched.CosineAnnealingLR(o, T_max=3)]
            ),
            3,
        ),
    ]


@pytest.mark.parametrize(("name", "build", "length"), schedulers(), ids=lambda v: str(v)[:20])
def test_every_fixed_length_schedule_must_fit_the_run(name, build, length):
    """A schedule shorter or longer than the run is refused; one of the run's length is not."""
    _model, _X, _y, kwargs = setup()
    scheduler = build(kwargs["optimizer"])
    with pytest.raises(
        ValueError, match=r"has \d+ of its \d+ steps left, but the run has epochs=12"
    ):
        check_scheduler(scheduler, kwargs["optimizer"], epochs=12)
    check_scheduler(scheduler, kwargs["optimizer"], epochs=length)
    check_scheduler(scheduler, kwargs["optimizer"], epochs=12, partial_schedule=True)


def test_a_scheduler_of_another_optimizer_is_refused():
    model, X, y, kwargs = setup()
    stray = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(stray, T_max=2)
    with pytest.raises(ValueError, match="attached to another optimizer"):
        train(model, loader(X, y), scheduler=scheduler, **kwargs)


# --- family 6: dtypes and devices --------------------------------------------------------------


@pytest.mark.parametrize(
    ("convert", "error", "message"),
    [
        (lambda X: X.double(), TypeError, r"inputs are torch.float64 .*X.float\(\)"),
        (lambda X: X.half(), TypeError, "inputs are torch.float16"),
        (lambda X: X.long(), TypeError, r"must be floating point .* got torch.int64"),
    ],
)
def test_data_of_another_dtype_is_refused_everywhere(convert, error, message):
    model, X, y, kwargs = setup()
    with pytest.raises(error, match=message):
        train(model, loader(convert(X), y), **kwargs)
    with pytest.raises(error, match=message):
        evaluate(model, loader(convert(X), y), nn.CrossEntropyLoss())
    batched = BatchedMLP.from_seeds(2, 4, 3, [0])
    with pytest.raises(error, match=message):
        evaluate_batched(batched, convert(X), y, nn.CrossEntropyLoss())


def test_a_device_other_than_the_models_is_refused():
    """A model on one device, computing asked for on another (meta stands in for a GPU)."""
    from nnbook.devices import model_device

    with pytest.raises(ValueError, match=r"parameters are on meta, but device='cpu'.*model.to"):
        model_device(MLP(2, 4, 3).to("meta"), "cpu")


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        (nn.CrossEntropyLoss(reduction="none"), "reduction='none'"),
        (lambda logits, y: logits.sum(), "must be a torch loss module"),
        (nn.Identity(), "must be a torch loss module"),
    ],
)
def test_losses_training_cannot_use_are_refused(loss, message):
    model, X, y, kwargs = setup()
    kwargs["loss_fn"] = loss
    with pytest.raises((TypeError, ValueError), match=message):
        train(model, loader(X, y), **kwargs)


def test_check_targets_accepts_what_fits():
    check_targets("here", torch.tensor([0, 1, 1]), 1, nn.BCEWithLogitsLoss())
    check_targets("here", torch.tensor([0.0, 1.0]), 1, nn.BCEWithLogitsLoss())
    check_targets("here", torch.tensor([0, 2, -100]), 3, nn.CrossEntropyLoss())


@pytest.mark.parametrize("was_training", [True, False])
def test_train_leaves_the_models_mode_as_it_was(was_training):
    model, X, y, kwargs = setup()
    model.train(was_training)
    train(model, loader(X, y), **kwargs)
    assert model.training is was_training
    kwargs["epochs"] = 1
    kwargs["optimizer"] = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError):
        train(model, loader(X, y + 5), **kwargs)
    assert model.training is was_training


@pytest.mark.parametrize("was_training", [True, False])
def test_train_batched_leaves_the_models_mode_as_it_was(was_training):
    model = BatchedMLP.from_seeds(2, 4, 3, [0, 1])
    model.train(was_training)
    X, y = data()
    train_batched(
        model,
        X,
        y,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=1,
        batch_size=5,
        generators=[torch.Generator(), torch.Generator()],
    )
    assert model.training is was_training
