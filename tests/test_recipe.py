"""Tests for nnbook.recipe: the source notebook's set-up, one run, and the many-seed study."""

from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nnbook.models import MLP
from nnbook.recipe import STUDY_METRICS, Recipe, SourceData, study, study_summary

# float32 results computed by different code paths (batched vs separate) agree to rounding.
FLOAT32 = {"rtol": 1.3e-6, "atol": 1e-5}


def test_start_draws_data_then_model_in_the_source_order(problem, seed_data):
    """Data as the source draws it (train, then eval), and then the initial weights."""
    data, model = Recipe().start(problem)
    for ours, theirs in zip((data.X, data.y, data.X_eval, data.y_eval), seed_data, strict=True):
        assert torch.equal(ours, theirs)
    torch.manual_seed(2100)
    problem.make_dataset(2000)
    problem.make_dataset(1000)
    reference = MLP(2, 8, 3)
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(a, b)


def source_as_written(problem, epochs: int) -> nn.Module:
    """The source notebook's loop, written out by hand with torch's own DataLoader.

    Seed, draw the data and the model, seed the shuffling generator, then per epoch: one
    shuffled pass of SGD steps on the summed cross-entropy, the scheduler's step, and an
    evaluation pass through the same shuffled loader (which draws from its generator).
    """
    torch.manual_seed(2100)
    X, y = problem.make_dataset(2000)
    problem.make_dataset(1000)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
    gen = torch.Generator().manual_seed(2100)
    loader = DataLoader(TensorDataset(X, y), batch_size=50, shuffle=True, generator=gen)
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.005)
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.01, total_iters=1000)
    for _ in range(epochs):
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
        with torch.no_grad():
            for xb, _ in loader:  # the evaluation pass of every recorded epoch
                model(xb)
    return model


def test_recipe_run_matches_the_source_as_written(problem):
    """Three epochs of Recipe.run (record every epoch) equal the hand-written source loop."""
    data, model = Recipe().start(problem)
    report = Recipe().run(model, data, epochs=3, record_every=1)
    assert report.epochs == [0, 1, 2]
    assert [r["lr"] for r in report.records] == pytest.approx([0.005, 0.00499505, 0.0049901])
    reference = source_as_written(problem, epochs=3)
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a, b, **FLOAT32)


def test_study_runs_equal_separate_recipe_runs(problem):
    """Each row of the study is the recipe run from its seed (init and shuffling)."""
    recipe = replace(Recipe(), epochs=3)
    data, _ = recipe.start(problem)
    runs = study(recipe, problem, data, [5, 6])
    assert list(runs.columns) == ["seed", *STUDY_METRICS]
    assert runs["seed"].tolist() == [5, 6]
    bayes = problem.bayes_accuracy()
    torch.testing.assert_close(
        torch.tensor(runs["regret"].to_numpy()),
        torch.tensor((bayes - runs["expected_accuracy"]).to_numpy()),
    )
    for row in runs.itertuples():
        torch.manual_seed(row.seed)
        model = MLP(2, 8, 3)
        shuffled = replace(recipe, seed=row.seed)  # the shuffling generator's seed
        report = shuffled.run(model, data, record_every=3)
        assert row.train_loss == pytest.approx(report.final["train_loss"], rel=1e-5)
        assert row.eval_accuracy == pytest.approx(report.final["eval_accuracy"], abs=2e-3)


def test_study_summary_gives_quantiles(problem):
    """The summary has one row per statistic: minimum, quartiles, median, maximum."""
    recipe = replace(Recipe(), epochs=2)
    data, _ = recipe.start(problem)
    runs = study(recipe, problem, data, [0, 1, 2])
    summary = study_summary(runs)
    assert list(summary.index) == STUDY_METRICS
    assert list(summary.columns) == ["min", "25 %", "median", "75 %", "max"]
    assert summary.loc["train_loss", "median"] == runs["train_loss"].median()
    assert summary.loc["regret", "min"] == runs["regret"].min()


def test_study_needs_seeds(problem):
    """An empty list of seeds is refused with a message."""
    data = SourceData(*[torch.zeros(1)] * 4)
    with pytest.raises(ValueError, match="at least one seed"):
        study(Recipe(), problem, data, [])
