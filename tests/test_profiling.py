"""Tests for nnbook.profiling: a profiled training step, summed by phase and operator."""

import pytest
import torch
from torch import nn

from nnbook.data import TensorLoader
from nnbook.models import MLP
from nnbook.profiling import PHASES, phase_of, phase_table, profile_steps, top_operators


@pytest.fixture(scope="module")
def prof():
    """Five profiled steps of a 2-8-3 network on random batches of 50."""
    gen = torch.Generator().manual_seed(0)
    X, y = torch.randn(500, 2, generator=gen), torch.randint(0, 3, (500,), generator=gen)
    model = MLP(2, 8, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = lambda: TensorLoader(X, y, batch_size=50)  # noqa: E731
    return profile_steps(model, loader, nn.CrossEntropyLoss(), optimizer, steps=5, warmup=2)


def test_every_phase_is_recorded_once_per_step(prof):
    """The trace holds each phase's record_function once per profiled step."""
    names = [event.name for event in prof.events() if event.name in PHASES]
    assert sorted(names) == sorted(list(PHASES) * 5)


def test_phase_table_sums_the_phases(prof):
    """One row per phase, times per step, shares that add up to one."""
    table = phase_table(prof, 5)
    assert list(table["phase"]) == list(PHASES)
    assert (table["µs per step"] > 0).all()
    assert table["share"].sum() == pytest.approx(1.0)


def test_operators_belong_to_their_phase(prof):
    """Matrix products run in the forward pass, and the gradient's products in the backward."""
    phases = {(phase_of(e), e.name) for e in prof.events()}
    assert ("forward", "aten::addmm") in phases
    assert ("backward", "aten::mm") in phases
    assert ("optimizer", "aten::add_") in phases or ("optimizer", "aten::_foreach_add_") in phases


def test_top_operators_are_sorted_and_counted(prof):
    """The top operators come by falling self time, with calls per step."""
    top = top_operators(prof, 5, n=4)
    assert len(top) == 4
    assert top["self µs per step"].is_monotonic_decreasing
    assert set(top["phase"]) <= set(PHASES)
    addmm = top_operators(prof, 5, n=1000).set_index(["phase", "operator"])
    assert addmm.loc[("forward", "aten::addmm"), "calls per step"] == 2  # two Linear layers


def test_profiling_keeps_the_profilers_notes_off_stderr(capfd):
    """The profiler's start and stop notes do not reach stderr (a notebook would show them)."""
    model = MLP(2, 8, 3)
    batches = lambda: [(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))] * 3  # noqa: E731
    profile_steps(
        model, batches, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), 0.1), 2, 1
    )
    assert "USDT" not in capfd.readouterr().err


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: phase_table(p, 0), "steps"),
        (lambda p: top_operators(p, 5, n=0), "n"),
    ],
)
def test_bad_counts_are_refused(prof, call, match):
    """A step count or row count below one is refused with its name."""
    with pytest.raises(ValueError, match=match):
        call(prof)


def test_negative_warmup_is_refused():
    """A negative number of warm-up steps is refused before anything runs."""
    model = MLP(2, 8, 3)
    with pytest.raises(ValueError, match="warmup"):
        profile_steps(
            model, list, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), 0.1), warmup=-1
        )
