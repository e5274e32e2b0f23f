"""Tests for the chapter-5 tools: batched snapshot grids, cross-sections, abrupt changes, plots."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from nnbook.data import TensorLoader, ThreeClassProblem
from nnbook.grids import Grid, model_grid, snapshot_grids, stack_snapshots
from nnbook.models import MLP
from nnbook.plotting import (
    plot_boundary_evolution,
    plot_boundary_stages,
)
from nnbook.sections import cross_section, largest_drops, posterior_section, section_boundaries
from nnbook.training import train

LIMITS = ((0.0, 16.0), (0.0, 9.0))


@pytest.fixture(scope="module")
def trained():
    """A short seed-style run that keeps 13 snapshots of a 2-8-3 model on the seed data."""
    torch.manual_seed(2100)
    X, y = ThreeClassProblem().make_dataset(2000)
    model = MLP(2, 8, 3)
    gen = torch.Generator().manual_seed(2100)
    loader = TensorLoader(X, y, batch_size=50, shuffle=True, generator=gen)
    report = train(
        model,
        loader,
        loss_fn=nn.CrossEntropyLoss(reduction="sum"),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.005),
        epochs=61,
        record_every=5,
        keep_snapshots=True,
    )
    return model, report


def test_snapshot_grids_equal_per_snapshot_model_grid(trained):
    """Batched classes equal model_grid on each loaded snapshot, exactly, on a 600 x 600 grid."""
    model, report = trained
    batched = snapshot_grids(model, report.snapshots, *LIMITS, steps=600, output="class")
    assert batched.values.shape == (len(report.snapshots), 600, 600)
    reference = MLP(2, 8, 3)
    for i, snap in enumerate(report.snapshots):
        reference.load_state_dict(snap)
        single = model_grid(reference, *LIMITS, steps=600, output="class")
        assert torch.equal(batched.values[i], single.values), f"snapshot {i} differs"
    torch.testing.assert_close(batched.x, single.x, rtol=0, atol=0)
    torch.testing.assert_close(batched.y, single.y, rtol=0, atol=0)


def test_snapshot_grids_probabilities_and_chunks(trained):
    """Probabilities match model_grid on a non-square grid, whatever the chunk size."""
    model, report = trained
    snaps = report.snapshots[::4]
    one = snapshot_grids(model, snaps, *LIMITS, steps=(31, 17), output="proba", chunk_size=1)
    many = snapshot_grids(model, snaps, *LIMITS, steps=(31, 17), output="proba", chunk_size=8)
    assert one.values.shape == (len(snaps), 17, 31, 3)
    torch.testing.assert_close(one.values, many.values, rtol=0, atol=0)
    reference = MLP(2, 8, 3)
    reference.load_state_dict(snaps[-1])
    single = model_grid(reference, *LIMITS, steps=(31, 17), output="proba")
    torch.testing.assert_close(many.values[-1], single.values)


def test_snapshot_grids_leave_the_model_alone(trained):
    """The model's own weights and training mode are untouched by a batched evaluation."""
    model, report = trained
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    snapshot_grids(model, report.snapshots[:2], *LIMITS, steps=10)
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_stack_snapshots_shapes_and_errors():
    """Stacking adds a leading snapshot dimension; mismatched keys and bad options are refused."""
    snaps = [MLP(2, 8, 3).state_dict() for _ in range(3)]
    stacked = stack_snapshots(snaps)
    assert stacked["net.0.weight"].shape == (3, 8, 2)
    assert torch.equal(stacked["net.2.bias"][1], snaps[1]["net.2.bias"])
    with pytest.raises(ValueError, match="snapshot 1 has keys"):
        stack_snapshots([snaps[0], MLP(2, [4, 4], 3).state_dict()])
    with pytest.raises(ValueError, match="at least one"):
        stack_snapshots([])
    with pytest.raises(ValueError, match="chunk_size"):
        snapshot_grids(MLP(2, 8, 3), snaps, *LIMITS, steps=5, chunk_size=0)


def test_cross_section_of_posterior_matches_posterior_section(problem):
    """cross_section of a probability function gives posterior_section's frame (float32 points)."""
    ours = cross_section(problem.posterior, 8.0, problem.ylim, steps=301)
    theirs = posterior_section(problem, 8.0, steps=301)
    assert list(ours.columns) == ["x2", "class", "prob"] and len(ours) == 3 * 301
    np.testing.assert_allclose(ours["x2"], theirs["x2"], atol=1e-6)
    np.testing.assert_allclose(ours["prob"], theirs["prob"], atol=1e-6)
    assert (ours["class"].to_numpy() == theirs["class"].to_numpy()).all()


def test_cross_section_of_model_is_softmax_of_logits():
    """For a model, each row's probability is the softmax of its logits at (x1, x2)."""
    torch.manual_seed(0)
    model = MLP(2, 8, 3)
    section = cross_section(model, 8.0, (0.0, 9.0), steps=10)
    wide = section.pivot(index="x2", columns="class", values="prob")
    point = torch.tensor([[8.0, 9.0]])
    expected = torch.softmax(model(point), dim=1)[0].double()
    torch.testing.assert_close(torch.tensor(wide.iloc[-1].to_numpy()), expected.detach())
    np.testing.assert_allclose(wide.sum(axis=1), 1.0, rtol=1e-6)
    with pytest.raises(TypeError, match=r"nn\.Module or a callable"):
        cross_section(42, 8.0, (0.0, 9.0))


def test_section_boundaries_keeps_only_decision_changes():
    """Known crossings are found; a crossing of two classes that are not on top is dropped."""
    x2 = np.linspace(0.0, 9.0, 91)
    # class 0 wins below 3, class 1 between 3 and 6, class 2 above 6; p0 = p2 at 4.5 (under p1)
    p0 = np.clip(1 - x2 / 6, 0, None)
    p2 = np.clip((x2 - 3) / 6, 0, None)
    p1 = np.where(x2 < 4.5, 0.5 + 0.5 * (x2 - 3) / 3, 0.75 - 0.5 * (x2 - 4.5) / 3)
    wide = pd.DataFrame({"x2": x2, 0: p0, 1: p1, 2: p2})
    section = wide.melt(id_vars="x2", var_name="class", value_name="prob")
    found = section_boundaries(section)
    assert found[["class_a", "class_b"]].to_numpy().tolist() == [[0, 1], [1, 2]]
    np.testing.assert_allclose(found["x2"], [x2[p0 > p1].max() + 0.05, 6.0], atol=0.11)


def test_section_boundaries_of_posterior_lie_near_centerlines(problem):
    """At x1 = 8 the Bayes boundary points lie within 0.5 of the two centerlines."""
    found = section_boundaries(posterior_section(problem, 8.0, steps=901))
    assert found[["class_a", "class_b"]].to_numpy().tolist() == [[0, 1], [1, 2]]
    x1 = torch.tensor(8.0)
    np.testing.assert_allclose(
        found["x2"], [problem.lower(x1).item(), problem.upper(x1).item()], atol=0.5
    )
    with pytest.raises(ValueError, match="missing"):
        section_boundaries(section=pd.DataFrame({"x2": [0.0], "probability": [1.0]}))


def test_largest_drops_orders_and_filters():
    """Drops are ranked largest first; `start` skips changes that end before it."""
    loss = pd.Series([1.0, 0.5, 0.45, 0.6, 0.3, 0.29], index=[0, 20, 40, 60, 80, 100])
    drops = largest_drops(loss, k=2)
    assert drops["epoch"].tolist() == [20, 80]
    assert drops["epoch_before"].tolist() == [0, 60]
    np.testing.assert_allclose(drops["drop"], [0.5, 0.3])
    assert largest_drops(loss, k=1, start=40)["epoch"].tolist() == [80]
    with pytest.raises(TypeError, match="pandas Series"):
        largest_drops([1.0, 0.5])
    with pytest.raises(ValueError, match="k must be"):
        largest_drops(loss, k=0)


def _stripes(n: int) -> Grid:
    """n class grids whose single boundary (class 0 | class 1) moves right with the index."""
    x, y = torch.linspace(0, 16, 33), torch.linspace(0, 9, 19)
    values = torch.stack([(x > 2 + i).long().expand(len(y), -1) for i in range(n)])
    return Grid(x, y, values)


def test_boundary_evolution_colours_follow_epochs():
    """One contour per snapshot, first and last in the colormap's end colours, a colorbar added."""
    grids = _stripes(5)
    ax = plot_boundary_evolution(grids, [0, 10, 20, 30, 40], cmap="viridis")
    lines = ax.collections
    cmap = plt.get_cmap("viridis")
    np.testing.assert_allclose(lines[0].get_edgecolor()[0], cmap(0.0))
    np.testing.assert_allclose(lines[-1].get_edgecolor()[0], cmap(1.0))
    assert len(ax.figure.axes) == 2 and ax.figure.axes[1].get_ylabel() == "epoch"
    with pytest.raises(ValueError, match="3 epochs for 5"):
        plot_boundary_evolution(grids, [0, 1, 2])


def test_boundary_stages_split_snapshots_in_order():
    """A 2 x 3 stage grid of 12 snapshots shows two consecutive epochs per panel."""
    grids = _stripes(12)
    axes = plot_boundary_stages(grids, list(range(0, 120, 10)), rows=2, cols=3)
    assert axes.shape == (2, 3)
    assert [ax.get_title() for ax in axes.flat][:2] == ["epochs 0–10", "epochs 20–30"]
    assert axes[1, 0].get_xlabel() and not axes[0, 1].get_ylabel()
    with pytest.raises(ValueError, match="need at least 20 snapshots"):
        plot_boundary_stages(grids, list(range(12)))
