"""Tests for nnbook.batched: a batched run equals separate runs of nnbook.training.train."""

import pandas as pd
import pytest
import torch
from torch import nn

from nnbook.batched import evaluate_batched, expected_accuracies, train_batched
from nnbook.data import TensorLoader, make_xor
from nnbook.models import MLP, BatchedMLP
from nnbook.timing import num_threads
from nnbook.training import evaluate, train

SEEDS = [3, 14, 15]
SHUFFLE_SEEDS = [92, 65, 35]
# torch.testing's default tolerances for float32, for float32 results kept in float64.
FLOAT32 = {"rtol": 1.3e-6, "atol": 1e-5}
METRICS = ["lr", "train_loss", "train_accuracy", "eval_loss", "eval_accuracy"]


@pytest.fixture(autouse=True)
def _one_thread():
    """These tensors are tiny: one CPU thread is as fast, and immune to a busy machine."""
    with num_threads(1):
        yield


@pytest.fixture
def data(seed_data):
    """A slice of the seed-000 data: small tensors keep these tests fast on a busy machine."""
    X, y, X_eval, y_eval = seed_data
    return X[:600], y[:600], X_eval[:300], y_eval[:300]


OPTIMIZERS = {
    "sgd": lambda params: torch.optim.SGD(params, lr=0.005),
    "sgd-momentum": lambda params: torch.optim.SGD(params, lr=0.002, momentum=0.9, nesterov=True),
    "adam": lambda params: torch.optim.Adam(params, lr=0.01),
    "adamw": lambda params: torch.optim.AdamW(params, lr=0.01, weight_decay=0.1),
}


def separate_run(
    X, y, X_eval, y_eval, seed, shuffle_seed, hidden, make_optimizer, epochs, activation="tanh"
):
    """One member's run the ordinary way: MLP after manual_seed, TensorLoader, train()."""
    torch.manual_seed(seed)
    model = MLP(2, hidden, 3, activation=activation)
    gen = torch.Generator().manual_seed(shuffle_seed)
    train_loader = TensorLoader(X, y, batch_size=50, shuffle=True, generator=gen)
    eval_loader = TensorLoader(X_eval, y_eval, batch_size=100)
    optimizer = make_optimizer(model.parameters())
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.5, total_iters=epochs)
    report = train(
        model,
        train_loader,
        loss_fn=nn.CrossEntropyLoss(reduction="sum"),
        optimizer=optimizer,
        scheduler=scheduler,
        epochs=epochs,
        eval_loaders={"train": train_loader, "eval": eval_loader},
        record_every=2,
    )
    return model, report.to_frame().reset_index()


def batched_run(model, X, y, X_eval, y_eval, make_optimizer, epochs):
    optimizer = make_optimizer(model.parameters())
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.5, total_iters=epochs)
    return train_batched(
        model,
        X,
        y,
        loss_fn=nn.CrossEntropyLoss(reduction="sum"),
        optimizer=optimizer,
        scheduler=scheduler,
        epochs=epochs,
        batch_size=50,
        generators=[torch.Generator().manual_seed(s) for s in SHUFFLE_SEEDS],
        eval_sets={"eval": (X_eval, y_eval)},
        record_every=2,
    )


def assert_member_matches(batched, frame, k, ref_model, ref_frame):
    """Member k's final weights and every recorded metric equal the separate run's."""
    for a, b in zip(batched.member(k).parameters(), ref_model.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    rows = frame[frame["member"] == k].reset_index(drop=True)
    assert rows["epoch"].tolist() == ref_frame["epoch"].tolist() == [0, 2, 4]
    # The metrics are float32 losses stored as float64: compare at float32's tolerance, since
    # baddbmm (batched) and addmm (separate) may sum in different orders on some CPUs.
    torch.testing.assert_close(
        torch.tensor(rows[METRICS].to_numpy()),
        torch.tensor(ref_frame[METRICS].to_numpy()),
        **FLOAT32,
    )


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_batched_run_equals_separate_runs(data, name):
    """Three seeds x five epochs trained together equal three runs of train()."""
    X, y, X_eval, y_eval = data
    make_optimizer = OPTIMIZERS[name]
    model = BatchedMLP.from_seeds(2, 8, 3, SEEDS)
    frame = batched_run(model, X, y, X_eval, y_eval, make_optimizer, epochs=5)
    assert list(frame.columns) == ["member", "seed", "hidden", "epoch", *METRICS]
    assert frame["seed"].tolist() == [s for _ in range(3) for s in SEEDS]
    for k, (seed, shuffle_seed) in enumerate(zip(SEEDS, SHUFFLE_SEEDS, strict=True)):
        ref_model, ref_frame = separate_run(
            X, y, X_eval, y_eval, seed, shuffle_seed, 8, make_optimizer, epochs=5
        )
        assert_member_matches(model, frame, k, ref_model, ref_frame)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_members_of_different_widths_equal_separate_runs(data, activation):
    """Padded members (widths 1, 3, 8) train exactly as their own unpadded models."""
    X, y, X_eval, y_eval = data
    widths = [1, 3, 8]
    models = []
    for seed, width in zip(SEEDS, widths, strict=True):
        torch.manual_seed(seed)
        models.append(MLP(2, width, 3, activation=activation))
    batched = BatchedMLP(models, seeds=SEEDS)
    # tanh(0) = 0 silences the zero-weight padding by itself; sigmoid(0) = 0.5 needs the mask
    assert batched.masked == (activation == "sigmoid")
    assert batched.weights[0].shape == (3, 8, 2)
    frame = batched_run(batched, X, y, X_eval, y_eval, OPTIMIZERS["adam"], epochs=5)
    assert frame["hidden"].tolist()[:3] == widths
    for k, (seed, shuffle_seed, width) in enumerate(zip(SEEDS, SHUFFLE_SEEDS, widths, strict=True)):
        ref_model, ref_frame = separate_run(
            X, y, X_eval, y_eval, seed, shuffle_seed, width, OPTIMIZERS["adam"], 5, activation
        )
        assert_member_matches(batched, frame, k, ref_model, ref_frame)
    # the padding never moved: rows and columns beyond a member's width are still zero
    assert batched.weights[0][0, 1:].abs().sum() == 0
    assert batched.weights[1][0, :, 1:].abs().sum() == 0


def test_per_member_training_sets_equal_separate_runs(data):
    """With X of shape (K, N, 2), member k trains on its own set, as a separate run would."""
    X, y, X_eval, y_eval = data
    parts = [slice(0, 200), slice(200, 400), slice(400, 600)]
    X_k = torch.stack([X[p] for p in parts])  # (3, 200, 2)
    y_k = torch.stack([y[p] for p in parts])
    model = BatchedMLP.from_seeds(2, 8, 3, SEEDS)
    frame = batched_run(model, X_k, y_k, X_eval, y_eval, OPTIMIZERS["sgd-momentum"], epochs=5)
    for k, (p, seed, shuffle_seed) in enumerate(zip(parts, SEEDS, SHUFFLE_SEEDS, strict=True)):
        ref_model, ref_frame = separate_run(
            X[p], y[p], X_eval, y_eval, seed, shuffle_seed, 8, OPTIMIZERS["sgd-momentum"], 5
        )
        assert_member_matches(model, frame, k, ref_model, ref_frame)


def test_from_seeds_builds_the_seeded_mlp_and_restores_global_state():
    """Member k is MLP(...) built after manual_seed(seeds[k]); the global RNG is untouched."""
    torch.manual_seed(0)
    before = torch.get_rng_state()
    batched = BatchedMLP.from_seeds(2, [5, 4], 3, [7, 8], activation="relu")
    assert torch.equal(torch.get_rng_state(), before)
    assert len(batched) == batched.n_members == 2 and not batched.masked
    for k, seed in enumerate([7, 8]):
        torch.manual_seed(seed)
        ref = MLP(2, [5, 4], 3, activation="relu")
        member = batched.member(k)
        assert isinstance(member, MLP) and member.hidden == (5, 4)
        assert member.activation == "relu"
        for (name, a), (_, b) in zip(
            member.state_dict().items(), ref.state_dict().items(), strict=True
        ):
            torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_forward_equals_each_member_for_shared_and_per_member_inputs():
    """Logits (K, N, C) of the batch are each member's own logits."""
    models = []
    for seed, width in [(0, 2), (1, 6), (2, 4)]:
        torch.manual_seed(seed)
        models.append(MLP(2, width, 3, activation="sigmoid"))  # sigmoid(0) != 0: masks matter
    batched = BatchedMLP(models)
    assert batched.masked
    X = torch.randn(10, 2, generator=torch.Generator().manual_seed(1))
    shared = batched(X)
    per_member = batched(torch.stack([X, 2 * X, -X]))
    assert shared.shape == (3, 10, 3)
    for k, model in enumerate(models):
        torch.testing.assert_close(shared[k], model(X))
        torch.testing.assert_close(per_member[k], model([X, 2 * X, -X][k]))
        torch.testing.assert_close(batched.member(k)(X), model(X))


def test_member_is_a_copy_and_accepts_negative_index():
    """Changing the extracted MLP leaves the batch alone; member(-1) is the last member."""
    batched = BatchedMLP.from_seeds(2, 4, 3, [0, 1])
    member = batched.member(-1)
    with torch.no_grad():
        member.net[0].weight.zero_()
    assert batched.weights[0][1].abs().sum() > 0
    torch.testing.assert_close(batched.member(1).net[2].bias, batched.biases[1][1])


def test_evaluate_batched_equals_evaluate_for_binary_and_mean_loss():
    """Per-member loss and accuracy equal evaluate() of each member (one logit, mean loss)."""
    X, y = make_xor(200, generator=torch.Generator().manual_seed(0))
    batched = BatchedMLP.from_seeds(2, 4, 1, [0, 1, 2])
    loss_fn = nn.BCEWithLogitsLoss()
    losses, accuracies = evaluate_batched(batched, X, y, loss_fn)
    for k in range(3):
        ref = evaluate(batched.member(k), TensorLoader(X, y, batch_size=64), loss_fn)
        assert losses[k].item() == pytest.approx(ref["loss"], rel=1e-6)
        assert accuracies[k].item() == ref["accuracy"]


def test_mean_reduction_trains_each_member_on_its_own_mean():
    """With reduction='mean', each member's gradient is that of its own batch mean."""
    X, y = make_xor(100, generator=torch.Generator().manual_seed(0))
    batched = BatchedMLP.from_seeds(2, 4, 1, [0, 1])
    frame = train_batched(
        batched,
        X,
        y,
        loss_fn=nn.BCEWithLogitsLoss(),
        optimizer=torch.optim.SGD(batched.parameters(), lr=0.5),
        epochs=3,
        batch_size=25,
        generators=[torch.Generator().manual_seed(s) for s in (5, 6)],
    )
    assert isinstance(frame, pd.DataFrame) and "seed" in frame and "eval_loss" not in frame
    for k, (seed, shuffle_seed) in enumerate([(0, 5), (1, 6)]):
        torch.manual_seed(seed)
        model = MLP(2, 4, 1)
        gen = torch.Generator().manual_seed(shuffle_seed)
        loader = TensorLoader(X, y, batch_size=25, shuffle=True, generator=gen)
        report = train(
            model,
            loader,
            loss_fn=nn.BCEWithLogitsLoss(),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
            epochs=3,
        )
        for a, b in zip(batched.member(k).parameters(), model.parameters(), strict=True):
            torch.testing.assert_close(a, b)
        got = frame[frame["member"] == k]["train_loss"].tolist()
        torch.testing.assert_close(torch.tensor(got), torch.tensor(report.column("train_loss")))


# --- errors -----------------------------------------------------------------------------------


def small_setup():
    X, y = make_xor(20, generator=torch.Generator().manual_seed(0))
    model = BatchedMLP.from_seeds(2, 3, 2, [0, 1])
    kwargs = dict(
        loss_fn=nn.CrossEntropyLoss(reduction="sum"),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=1,
        batch_size=5,
        generators=[torch.Generator(), torch.Generator()],
    )
    return model, X, y, kwargs


def test_constructor_errors_name_the_problem():
    """Empty, non-MLP or mismatched models, and bad seeds, are refused with clear messages."""
    with pytest.raises(ValueError, match="at least one model"):
        BatchedMLP([])
    with pytest.raises(TypeError, match=r"models\[1\] must be an nnbook MLP, got Linear"):
        BatchedMLP([MLP(2, 3, 2), nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="must share in_features"):
        BatchedMLP([MLP(2, 3, 2), MLP(2, 3, 3)])
    with pytest.raises(ValueError, match="must share"):
        BatchedMLP([MLP(2, 3, 2), MLP(2, [3, 3], 2)])
    with pytest.raises(ValueError, match="got 1 seeds for 2 models"):
        BatchedMLP([MLP(2, 3, 2), MLP(2, 3, 2)], seeds=[0])
    with pytest.raises(ValueError, match="at least one seed"):
        BatchedMLP.from_seeds(2, 3, 2, [])
    with pytest.raises(TypeError, match=r"seeds must be ints, got 1\.5"):
        BatchedMLP.from_seeds(2, 3, 2, [1.5])


def test_forward_and_member_errors():
    """Wrong input shapes, integer inputs and out-of-range members are refused."""
    model = BatchedMLP.from_seeds(2, 3, 2, [0, 1])
    with pytest.raises(ValueError, match=r"\(N, 2\) or \(2, N, 2\), got \(5, 3\)"):
        model(torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"got \(3, 5, 2\)"):
        model(torch.zeros(3, 5, 2))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.zeros(5, 2, dtype=torch.int64))
    with pytest.raises(IndexError, match="member 2 is out of range for 2 members"):
        model.member(2)
    with pytest.raises(TypeError, match="k must be an int"):
        model.member(0.0)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"epochs": 0}, ValueError, "epochs must be a positive int, got 0"),
        ({"batch_size": 2.0}, TypeError, "batch_size must be an int, got float"),
        ({"generators": [torch.Generator()]}, ValueError, "2 members, got 1"),
        ({"generators": [torch.Generator(), 3]}, TypeError, r"generators\[1\] must be"),
        ({"loss_fn": nn.CrossEntropyLoss(reduction="none")}, ValueError, "reduction='none'"),
        ({"eval_sets": {"train": None}}, ValueError, "'train' is reserved"),
        ({"eval_sets": {"test": (torch.zeros(4, 3), torch.zeros(4))}}, ValueError, "'test'"),
    ],
)
def test_train_batched_argument_errors(change, error, message):
    """Each bad argument gets an error that names it and says what was expected."""
    model, X, y, kwargs = small_setup()
    with pytest.raises(error, match=message):
        train_batched(model, X, y, **(kwargs | change))


def test_train_batched_refuses_mixing_optimizers_and_bad_data():
    """Optimizers that look at whole tensors, foreign parameters and misshapen data fail."""
    model, X, y, kwargs = small_setup()
    params = list(model.parameters())
    for optimizer, error, message in [
        (torch.optim.LBFGS(params), TypeError, "got LBFGS"),
        (torch.optim.SGD(params[:2], lr=0.1), ValueError, "exactly the BatchedMLP's parameters"),
    ]:
        with pytest.raises(error, match=message):
            train_batched(model, X, y, **(kwargs | {"optimizer": optimizer}))
    with pytest.raises(
        ValueError, match=r"X \(N, 2\) with y \(N,\).*got X \(20, 2\) and y \(19,\)"
    ):
        train_batched(model, X, y[:19], **kwargs)
    with pytest.raises(TypeError, match="training X: inputs must be floating point"):
        train_batched(model, X.long(), y, **kwargs)
    with pytest.raises(TypeError, match="model must be a BatchedMLP, got MLP"):
        train_batched(MLP(2, 3, 2), X, y, **kwargs)


def test_expected_accuracies_score_each_member_against_the_true_posterior(problem):
    """Each value is problem.expected_accuracy of that member's argmax, below the Bayes ceiling."""
    batched = BatchedMLP.from_seeds(2, 4, 3, [0, 1])
    with torch.no_grad():  # member 1 predicts class 1 everywhere
        batched.weights[1][1].zero_()
        batched.biases[1][1] = torch.tensor([0.0, 5.0, 0.0])
    got = expected_accuracies(batched, problem, steps=50)
    member = batched.member(0)
    want = problem.expected_accuracy(lambda X: member(X.float()).argmax(dim=1), steps=50)
    assert got[0] == pytest.approx(want, abs=1e-12)
    class_1 = problem.expected_accuracy(lambda X: torch.ones(len(X), dtype=torch.long), steps=50)
    assert got[1] == pytest.approx(class_1, abs=1e-12)
    assert max(got) <= problem.bayes_accuracy(steps=50)
    with pytest.raises(ValueError, match="2 logits but the problem has 3 classes"):
        expected_accuracies(BatchedMLP.from_seeds(2, 4, 2, [0]), problem)
    with pytest.raises(TypeError, match="model must be a BatchedMLP"):
        expected_accuracies(MLP(2, 4, 3), problem)


def test_on_record_sees_each_members_weights_where_train_keeps_snapshots(data):
    """on_record(epoch, model) runs at every recorded epoch with the weights train() snapshots."""
    X, y, X_eval, y_eval = data
    model = BatchedMLP.from_seeds(2, 8, 3, SEEDS)
    seen = []

    def keep(epoch, batch):
        assert batch is model
        seen.append(
            (epoch, {k: v.detach().clone() for k, v in batch.member(0).state_dict().items()})
        )

    optimizer = OPTIMIZERS["sgd"](model.parameters())
    train_batched(
        model,
        X,
        y,
        loss_fn=nn.CrossEntropyLoss(reduction="sum"),
        optimizer=optimizer,
        epochs=5,
        batch_size=50,
        generators=[torch.Generator().manual_seed(s) for s in SHUFFLE_SEEDS],
        eval_sets={"eval": (X_eval, y_eval)},
        record_every=2,
        on_record=keep,
    )
    torch.manual_seed(SEEDS[0])
    ref = MLP(2, 8, 3)
    gen = torch.Generator().manual_seed(SHUFFLE_SEEDS[0])
    loader = TensorLoader(X, y, batch_size=50, shuffle=True, generator=gen)
    report = train(
        ref,
        loader,
        loss_fn=nn.CrossEntropyLoss(reduction="sum"),
        optimizer=OPTIMIZERS["sgd"](ref.parameters()),
        epochs=5,
        eval_loaders={"train": loader, "eval": TensorLoader(X_eval, y_eval, batch_size=100)},
        record_every=2,
        keep_snapshots=True,
    )
    assert [epoch for epoch, _ in seen] == report.epochs == [0, 2, 4]
    for (_, weights), snap in zip(seen, report.snapshots, strict=True):
        torch.testing.assert_close(weights, snap)


def test_on_record_must_be_callable():
    """A non-callable on_record is refused before any training, naming its type."""
    model, X, y, kwargs = small_setup()
    before = model.weights[0].detach().clone()
    with pytest.raises(TypeError, match="on_record must be callable or None, got int"):
        train_batched(model, X, y, **kwargs, on_record=3)
    assert torch.equal(model.weights[0], before)
