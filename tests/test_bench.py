"""Tests for nnbook.bench and nnbook.loops: chapter 8's comparisons, and `python -m nnbook`."""

import pytest
import torch

# --- the make-bench comparisons (chapter 8) ------------------------------------------------


@pytest.fixture(scope="module")
def seed():
    """The recipe's data and initial weights."""
    from nnbook.loops import source_run

    return source_run()


def test_compare_training_reports_identical_records(seed):
    """Two epochs of the three loops: DataLoader and library reports agree; ratios are medians'."""
    from nnbook.bench import compare_training

    result = compare_training(epochs=2, repeats=2, run=seed)
    assert result["train_report_identical"] is True
    assert result["train_threads"] == 1
    assert result["train_speedup_vs_dataloader"] == pytest.approx(
        result["train_seconds_dataloader"] / result["train_seconds_library"]
    )
    assert result["train_overhead_vs_floor"] == pytest.approx(
        result["train_seconds_library"] / result["train_seconds_floor"]
    )


def test_dataloader_and_library_runs_match_the_seed_records(seed):
    """Both fed loops record epochs 0 and 2 of a 3-epoch run with the same metrics."""
    from nnbook.loops import train_dataloader, train_library

    dl, lib = train_dataloader(seed, 3), train_library(seed, 3)
    assert [r["epoch"] for r in lib.records] == [0, 2]
    for a, b in zip(dl.records, lib.records, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-5)
    assert dl.wall > 0 and lib.cpu > 0


def test_train_floor_does_the_same_work_as_the_library(seed):
    """The floor trains on the library run's very batches: the same records, to rounding."""
    from nnbook.loops import train_floor, train_library

    floor, lib = train_floor(seed, 3), train_library(seed, 3)
    assert [r["epoch"] for r in floor.records] == [0, 2]
    assert len(floor.records) == len(lib.records)
    for a, b in zip(floor.records, lib.records, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-6)


def test_pivot_class_grid_equals_batched_grids():
    """The source's pivot-table grids equal mlp_class_grids and snapshot_grids (small grid)."""
    import numpy as np

    from nnbook.bench import pivot_class_grid
    from nnbook.grids import mlp_class_grids, snapshot_grids
    from nnbook.models import MLP
    from nnbook.training import snapshot

    torch.manual_seed(0)
    snaps = [snapshot(MLP(2, 8, 3)) for _ in range(3)]
    limits = ((0.0, 16.0), (0.0, 9.0))
    pivot = np.stack(pivot_class_grid(MLP(2, 8, 3), snaps, *limits, steps=37))
    fast = mlp_class_grids(MLP(2, 8, 3), snaps, *limits, steps=37, chunk_size=100).values
    vmapped = snapshot_grids(MLP(2, 8, 3), snaps, *limits, steps=37).values
    assert pivot.shape == (3, 37, 37)
    assert len(np.unique(pivot)) > 1  # the grids are not trivially constant
    np.testing.assert_array_equal(pivot, fast.numpy())
    torch.testing.assert_close(fast, vmapped)


def test_compare_grids_reports_identity_and_speedup():
    """compare_grids on a small grid: identical grids, ratio of the medians."""
    from nnbook.bench import compare_grids
    from nnbook.models import MLP
    from nnbook.training import snapshot

    torch.manual_seed(1)
    snaps = [snapshot(MLP(2, 8, 3)) for _ in range(2)]
    result = compare_grids(repeats=1, steps=20, snapshots=snaps)
    assert result["grid_points_differing"] <= 2  # near-ties only, checked inside
    assert result["grid_snapshots"] == 2 and result["grid_steps"] == 20
    assert result["grid_speedup_vs_pivot"] == pytest.approx(
        result["grid_seconds_pivot"] / result["grid_seconds_library"]
    )


def test_grid_floor_equals_the_library_grids():
    """The floor's stacked arithmetic gives the classes of mlp_class_grids (near-ties aside)."""
    from nnbook.bench import floor_inputs, grid_floor
    from nnbook.grids import mlp_class_grids, near_tie_differences
    from nnbook.models import MLP
    from nnbook.training import snapshot

    torch.manual_seed(2)
    snaps = [snapshot(MLP(2, 8, 3)) for _ in range(4)]
    limits = ((0.0, 16.0), (0.0, 9.0))
    floor = grid_floor(*floor_inputs(snaps, *limits, 30)).reshape(4, 30, 30)
    ours = mlp_class_grids(MLP(2, 8, 3), snaps, *limits, steps=30).values
    assert floor.shape == ours.shape and len(floor.unique()) > 1
    assert near_tie_differences(MLP(2, 8, 3), snaps, floor, ours, *limits) <= 2


def test_compare_grids_reports_the_floor_ratio():
    """grid_overhead_vs_floor is the library's median over the floor's."""
    from nnbook.bench import compare_grids
    from nnbook.models import MLP
    from nnbook.training import snapshot

    torch.manual_seed(3)
    snaps = [snapshot(MLP(2, 8, 3)) for _ in range(2)]
    result = compare_grids(repeats=2, steps=16, snapshots=snaps, vmap=False)
    assert "grid_seconds_vmap" not in result
    assert result["grid_overhead_vs_floor"] == pytest.approx(
        result["grid_seconds_library"] / result["grid_seconds_floor"]
    )


def test_loader_copy_cost_is_a_ratio_of_medians(seed):
    """loader_copy_cost times the loader's copying pass against bare views of the same data."""
    from nnbook.bench import loader_copy_cost

    result = loader_copy_cost(repeats=3, run=seed)
    assert result["loader_copy_overhead"] == pytest.approx(
        result["loader_seconds_copy"] / result["loader_seconds_views"]
    )


def test_thread_effect_times_one_and_all_threads(seed):
    """thread_effect reports one median per thread count and restores the setting."""
    from nnbook.bench import thread_effect

    before = torch.get_num_threads()
    result = thread_effect(epochs=1, repeats=1, run=seed)
    assert torch.get_num_threads() == before
    assert result["threads_max"] == before
    assert result["train_seconds_library_1_thread"] > 0


def test_main_writes_every_required_key(tmp_path):
    """main() with tiny settings writes a JSON holding every key the issue lists."""
    import json

    from nnbook.__main__ import main

    out = tmp_path / "bench.json"
    argv = ["--epochs", "2", "--repeats", "1", "--grid-steps", "12", "--grid-epochs", "3"]
    argv += ["--matmul-sizes", "8", "--out", str(out), "--batch-sizes", "1000", "2000"]
    argv += ["--target", "0.3", "--compile-backend", "aot_eager"]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    required = {
        "train_seconds_dataloader",
        "train_seconds_library",
        "train_seconds_floor",
        "train_speedup_vs_dataloader",
        "train_overhead_vs_floor",
        "train_report_identical",
        "grid_seconds_pivot",
        "grid_seconds_library",
        "grid_speedup_vs_pivot",
        "grid_seconds_floor",
        "grid_overhead_vs_floor",
        "loader_copy_overhead",
        "grid_points_differing",
        "matmul",
        "arithmetic",
        "batch_sizes",
        "compile_speedup",
        "compile_first_call_seconds",
    }
    assert required <= result.keys()
    assert result["train_report_identical"]
    assert set(result["matmul"][0]) == {"size", "device", "seconds_median", "gflops", "threads"}


def test_dataloader_indexes_the_dataset_once_per_item():
    """DataLoader calls the dataset's __getitem__ once per point (what chapter 8 profiles)."""
    from torch.utils.data import DataLoader, TensorDataset

    calls = []

    class Counting(TensorDataset):
        def __getitem__(self, i):
            calls.append(i)
            return super().__getitem__(i)

    X, y = torch.randn(230, 2), torch.arange(230)
    loader = DataLoader(Counting(X, y), batch_size=50, shuffle=True)
    assert sum(len(xb) for xb, _ in loader) == 230
    assert sorted(calls) == list(range(230))


def test_tensor_loader_batches_are_views_of_one_gather():
    """Shuffled TensorLoader batches are slices of one gathered tensor: views, not copies."""
    from nnbook.data import TensorLoader

    X, y = torch.randn(230, 2), torch.arange(230)
    loader = TensorLoader(X, y, batch_size=50, shuffle=True, generator=torch.Generator())
    batches = list(loader)
    base = batches[0][0].untyped_storage().data_ptr()
    assert all(xb.untyped_storage().data_ptr() == base for xb, _ in batches)
    assert base != X.untyped_storage().data_ptr()  # one copy: the gather
    assert batches[1][0].data_ptr() == base + 50 * 2 * X.element_size()


def test_default_collate_stacks_the_items_of_a_batch():
    """default_collate turns (x, y) pairs into (stack of x, stack of y), as chapter 8 says."""
    from torch.utils.data import default_collate

    X, y = torch.randn(50, 2), torch.arange(50)
    pairs = [(X[i], y[i]) for i in range(50)]
    xb, yb = default_collate(pairs)
    torch.testing.assert_close(xb, torch.stack([x for x, _ in pairs]), rtol=0, atol=0)
    assert torch.equal(yb, y) and xb.shape == (50, 2)


def test_bench_counts_must_be_positive():
    """Zero repeats or epochs are refused before any timing starts."""
    from nnbook.bench import compare_grids, compare_training, thread_effect

    with pytest.raises(ValueError, match="repeats must be a positive int"):
        compare_training(epochs=1, repeats=0)
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        thread_effect(epochs=0)
    with pytest.raises(ValueError, match="repeats must be a positive int"):
        compare_grids(repeats=0, snapshots=[])
