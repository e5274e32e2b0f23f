"""Tests for nnbook.kernelpaths: the recipe's first epochs once per ATen kernel path."""

import pytest
import torch

from nnbook import kernelpaths


def test_candidate_paths_start_with_the_portable_one():
    """`default` (ATen's portable kernels) is always a candidate, and comes first."""
    paths = kernelpaths.candidate_paths()
    assert paths[0] == "default"
    assert len(paths) == len(set(paths))


@pytest.mark.slow
def test_compare_runs_one_process_per_path():
    """Each path trains every optimizer's network in its own process; weights come back."""
    frame = kernelpaths.compare(epochs=1, paths=["default"])
    assert frame["optimizer"].tolist() == list(kernelpaths.OPTIMIZERS)
    assert set(frame["capability"]) == {"DEFAULT"}
    n_params = 8 * 2 + 8 + 3 * 8 + 3
    assert all(w.shape == (n_params,) and w.dtype == torch.float32 for w in frame["weights"])
    assert all(torch.isfinite(w).all() for w in frame["weights"])


def test_compare_needs_a_path():
    """An empty list of paths is refused with a message."""
    with pytest.raises(ValueError, match="at least one"):
        kernelpaths.compare(paths=[])


def test_compare_reports_a_failed_run(monkeypatch):
    """A process that fails is reported with its path and its error output."""
    monkeypatch.setattr(kernelpaths.sys, "executable", "false")
    with pytest.raises(RuntimeError, match="ATEN_CPU_CAPABILITY=default failed"):
        kernelpaths.compare(epochs=1, paths=["default"])


def test_candidate_paths_ignore_this_process_override(monkeypatch):
    """The paths to try are the machine's, not this process's ATEN_CPU_CAPABILITY."""
    before = kernelpaths.candidate_paths()
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    assert kernelpaths.candidate_paths() == before
