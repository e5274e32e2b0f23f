"""Tests for nnbook.training, including the seed-000 fidelity of the training loop."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nnbook.data import TensorLoader, make_xor
from nnbook.models import MLP
from nnbook.training import evaluate, logits_and_targets, snapshot, train

SEED = 2100


def seed_style_run(X, y, X_eval, y_eval, epochs, record_every):
    """The source notebook's procedure written out with DataLoader, as a reference."""
    gen = torch.Generator()
    gen.manual_seed(SEED)
    train_loader = DataLoader(TensorDataset(X, y), batch_size=50, shuffle=True, generator=gen)
    eval_loader = DataLoader(TensorDataset(X_eval, y_eval), batch_size=1000, shuffle=False)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    opt = torch.optim.SGD(model.parameters(), lr=0.005)
    sched = torch.optim.lr_scheduler.LinearLR(opt, 1.0, 0.01, total_iters=1000)
    gen.manual_seed(SEED)
    rows = []
    for epoch in range(epochs):
        model.train()
        for xb, yb in train_loader:
            logits = model(xb)
            opt.zero_grad()
            loss = loss_fn(logits, yb)
            loss.backward()
            opt.step()
        sched.step()
        if epoch % record_every == 0 or epoch == epochs - 1:
            model.eval()
            row = {"epoch": epoch}
            with torch.no_grad():
                for name, loader, n in [("train", train_loader, 2000), ("eval", eval_loader, 1000)]:
                    total, correct = 0, 0
                    for xb, yb in loader:
                        out = model(xb)
                        total += loss_fn(out, yb)
                        correct += (out.argmax(1) == yb).sum()
                    row[f"{name}_loss"] = total.item() / n
                    row[f"{name}_accuracy"] = correct.item() / n
            rows.append(row)
    return rows, model


def library_run(X, y, X_eval, y_eval, epochs, record_every, loader_cls):
    gen = torch.Generator()
    gen.manual_seed(SEED)
    if loader_cls is DataLoader:
        train_loader = DataLoader(TensorDataset(X, y), batch_size=50, shuffle=True, generator=gen)
        eval_loader = DataLoader(TensorDataset(X_eval, y_eval), batch_size=1000)
    else:
        train_loader = TensorLoader(X, y, batch_size=50, shuffle=True, generator=gen)
        eval_loader = TensorLoader(X_eval, y_eval, batch_size=1000)
    model = MLP(2, 8, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.005)
    sched = torch.optim.lr_scheduler.LinearLR(opt, 1.0, 0.01, total_iters=1000)
    gen.manual_seed(SEED)
    report = train(
        model,
        train_loader,
        loss_fn=nn.CrossEntropyLoss(reduction="sum"),
        optimizer=opt,
        epochs=epochs,
        scheduler=sched,
        eval_loaders={"train": train_loader, "eval": eval_loader},
        record_every=record_every,
        keep_snapshots=True,
        partial_schedule=True,  # a few epochs of the seed's 1000-epoch schedule
    )
    return report, model


@pytest.mark.parametrize("loader_cls", [DataLoader, TensorLoader])
def test_library_train_matches_seed_procedure(seed_data, loader_cls):
    """train() reports what the source's DataLoader loop reports, record for record."""
    X, y, X_eval, y_eval = seed_data
    state = torch.get_rng_state()  # the model's weights come next in the source's order of draws
    expected, ref_model = seed_style_run(X, y, X_eval, y_eval, epochs=12, record_every=5)
    torch.set_rng_state(state)
    report, model = library_run(X, y, X_eval, y_eval, 12, 5, loader_cls)
    assert report.epochs == [0, 5, 10, 11]
    for got, want in zip(report.records, expected, strict=True):
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    for a, b in zip(model.net.parameters(), ref_model.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_report_records_lr_of_each_epoch_and_snapshots():
    """The learning rate recorded is the one used in that epoch; snapshots are CPU copies."""
    X, y = make_xor(64, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = MLP(2, 4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LinearLR(opt, 1.0, 0.5, total_iters=4)
    report = train(
        model,
        TensorLoader(X, y, batch_size=16),
        loss_fn=nn.BCEWithLogitsLoss(),
        optimizer=opt,
        epochs=4,
        scheduler=sched,
        record_every=2,
        keep_snapshots=True,
    )
    assert report.epochs == [0, 2, 3]
    assert report.column("lr") == pytest.approx(
        [0.1, 0.1 * (1 - 0.5 * 2 / 4), 0.1 * (1 - 0.5 * 3 / 4)]
    )
    assert len(report.snapshots) == 3
    last = report.snapshots[-1]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(last[key], value)
        assert last[key].device.type == "cpu"
        assert last[key].data_ptr() != value.data_ptr()  # a copy, not a view of live weights
    assert not torch.equal(report.snapshots[0]["net.0.weight"], last["net.0.weight"])
    frame = report.to_frame()
    assert list(frame.index) == [0, 2, 3] and "train_accuracy" in frame


def test_binary_training_learns_xor():
    """A 2-4-1 tanh model with BCEWithLogitsLoss and SGD learns noisy XOR."""
    gen = torch.Generator().manual_seed(42)
    X, y = make_xor(1000, generator=gen)
    torch.manual_seed(42)
    model = MLP(2, 4, 1)
    report = train(
        model,
        TensorLoader(X, y, batch_size=32, shuffle=True, generator=gen),
        loss_fn=nn.BCEWithLogitsLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
        epochs=60,
        record_every=59,
    )
    assert report.records[-1]["train_loss"] < report.records[0]["train_loss"]
    assert report.final["train_accuracy"] > 0.95


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_evaluate_does_not_depend_on_batch_size_or_reduction(reduction):
    """evaluate() sums per-sample losses and divides by N, for any batch size and reduction."""
    gen = torch.Generator().manual_seed(3)
    X, y = torch.randn(103, 2, generator=gen), torch.randint(0, 3, (103,), generator=gen)
    torch.manual_seed(3)
    model = MLP(2, 5, 3)
    reference = nn.functional.cross_entropy(model(X), y).item()
    accuracy = (model(X).argmax(1) == y).float().mean().item()
    for batch_size in [1, 10, 103, 500]:
        m = evaluate(
            model,
            TensorLoader(X, y, batch_size=batch_size),
            nn.CrossEntropyLoss(reduction=reduction),
        )
        assert m["loss"] == pytest.approx(reference, rel=1e-5)
        assert m["accuracy"] == pytest.approx(accuracy)


def test_evaluate_restores_training_mode():
    """evaluate() runs in eval mode and hands the model back in the mode it found it in."""
    model = MLP(2, 3, 2)
    seen = []
    model.register_forward_hook(lambda mod, inp, out: seen.append(mod.training))
    X, y = torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64)
    model.train()
    evaluate(model, [(X, y)], nn.CrossEntropyLoss())
    assert seen == [False] and model.training
    model.eval()
    evaluate(model, [(X, y)], nn.CrossEntropyLoss())
    assert not model.training


def test_float_labels_for_cross_entropy_are_refused():
    """Float labels for a 3-class model are a mistake, named as such."""
    with pytest.raises(TypeError, match="integer class indices"):
        logits_and_targets(torch.zeros(4, 3), torch.zeros(4))


def test_label_shape_mismatch_is_named():
    """Labels that do not match the batch are refused with both shapes."""
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        logits_and_targets(torch.zeros(4, 3), torch.zeros(5, dtype=torch.int64))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 0}, "epochs must be a positive int"),
        ({"epochs": 3, "record_every": -2}, "record_every"),
    ],
)
def test_train_rejects_bad_counts(kwargs, match):
    """Non-positive epochs or record intervals are refused."""
    model = MLP(2, 3, 2)
    with pytest.raises(ValueError, match=match):
        train(
            model,
            [],
            loss_fn=nn.CrossEntropyLoss(),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            **kwargs,
        )


def test_snapshot_is_detached_copy():
    """snapshot() copies: changing the model afterwards leaves the snapshot as it was."""
    model = MLP(2, 3, 2)
    snap = snapshot(model)
    with torch.no_grad():
        model.net[0].weight.add_(1.0)
    assert not torch.equal(snap["net.0.weight"], model.net[0].weight)
    assert not snap["net.0.weight"].requires_grad


def test_scheduler_of_another_optimizer_is_refused():
    """A scheduler built on a different optimizer would silently do nothing; train() says so."""
    model = MLP(2, 3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    stray = torch.optim.SGD(MLP(2, 3, 2).parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LinearLR(stray, 1.0, 0.1, total_iters=3)
    with pytest.raises(ValueError, match="another optimizer"):
        train(
            model,
            [],
            loss_fn=nn.CrossEntropyLoss(),
            optimizer=optimizer,
            epochs=3,
            scheduler=scheduler,
        )


def test_evaluate_restores_mode_after_an_error():
    """A failing evaluation leaves the model in the mode it was in."""
    model = MLP(2, 3, 2).train()
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        evaluate(
            model, [(torch.zeros(4, 3), torch.zeros(4, dtype=torch.int64))], nn.CrossEntropyLoss()
        )
    assert model.training


def test_unknown_device_is_named_in_train_and_evaluate():
    """train() and evaluate() check the device string instead of failing inside torch."""
    model = MLP(2, 3, 2)
    batches = [(torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64))]
    with pytest.raises(ValueError, match="device='gpu'"):
        evaluate(model, batches, nn.CrossEntropyLoss(), device="gpu")
    with pytest.raises(ValueError, match="device='gpu'"):
        train(
            model,
            batches,
            loss_fn=nn.CrossEntropyLoss(),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=1,
            device="gpu",
        )


def test_empty_report_to_frame_is_refused():
    """An empty report cannot be tabulated; the message says so."""
    from nnbook.training import TrainReport

    with pytest.raises(ValueError, match="no records"):
        TrainReport().to_frame()


def test_schedule_of_another_length_is_refused_unless_partial():
    """A LinearLR over 1000 epochs in a 12-epoch run is refused unless declared partial."""
    model = MLP(2, 3, 2)
    batches = [(torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64))]
    for epochs, total in [(12, 1000), (12, 5)]:  # schedule too long, then too short
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.1, total_iters=total)
        kwargs = {
            "loss_fn": nn.CrossEntropyLoss(),
            "optimizer": optimizer,
            "epochs": epochs,
            "scheduler": scheduler,
        }
        with pytest.raises(
            ValueError, match=rf"total_iters={total}\) has {total} of its {total} steps left"
        ):
            train(model, batches, **kwargs)
        report = train(model, batches, partial_schedule=True, **kwargs)
        assert report.epochs[-1] == epochs - 1
