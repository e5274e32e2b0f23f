"""Tests for nnbook.timing: timing set-up, and the claims chapter 1 makes about timing."""

import pytest
import torch
from torch.utils import benchmark

from nnbook.timing import (
    cuda_event_seconds,
    matmul_sweep,
    naive_seconds,
    num_threads,
    time_callable,
)


def test_benchmark_timer_defaults_to_one_thread():
    """torch.utils.benchmark.Timer runs on one thread unless told otherwise (the pitfall)."""
    timer = benchmark.Timer("pass")
    assert timer._task_spec.num_threads == 1


def test_time_callable_uses_all_threads_and_counts_calls():
    """time_callable times with torch's current thread count and calls fn after warm-up."""
    calls = []
    timing = time_callable(lambda: calls.append(1), "cpu", min_run_time=0.01, warmup=3)
    assert timing.threads == torch.get_num_threads()
    assert len(calls) > 3 and timing.median > 0 and timing.iqr >= 0


def test_time_callable_measures_sleeping_work():
    """A call that sleeps 20 ms is timed at about 20 ms."""
    import time

    timing = time_callable(lambda: time.sleep(0.02), "cpu", min_run_time=0.1, warmup=1)
    assert 0.019 < timing.median < 0.05


def test_num_threads_restores():
    """num_threads sets the thread count inside the block and restores it after."""
    before = torch.get_num_threads()
    with num_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be a positive int"), num_threads(0):
        pass


def test_matmul_sweep_reports_gflops():
    """One row per size; GFLOP/s is 2 n^3 / seconds."""
    frame = matmul_sweep([16, 32], min_run_time=0.01)
    assert list(frame["size"]) == [16, 32]
    assert set(frame.columns) >= {
        "size",
        "device",
        "threads",
        "seconds_median",
        "seconds_iqr",
        "gflops",
    }
    row = frame.iloc[1]
    assert row["gflops"] == pytest.approx(2 * 32**3 / row["seconds_median"] / 1e9)


def test_matmul_sweep_rejects_bad_sizes_and_devices():
    """Non-positive sizes and unknown devices are refused."""
    with pytest.raises(ValueError, match="matrix size must be a positive int"):
        matmul_sweep([0])
    with pytest.raises(ValueError, match="device="):
        matmul_sweep([8], devices=["gpu"])


def test_naive_seconds_is_positive():
    """naive_seconds returns the wall time of one call."""
    assert naive_seconds(lambda: sum(range(1000))) > 0


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_time_callable_rejects_non_positive_run_time(bad):
    """A min_run_time that is not positive is refused, naming the argument."""
    with pytest.raises(ValueError, match="min_run_time must be positive"):
        time_callable(lambda: None, "cpu", min_run_time=bad)


@pytest.mark.parametrize(
    ("bad", "error"), [(-2, ValueError), (1.5, TypeError), ("2", TypeError), (True, TypeError)]
)
def test_num_threads_rejects_non_positive_or_non_int(bad, error):
    """A thread count that is not a positive int is refused and the setting is left alone."""
    before = torch.get_num_threads()
    with pytest.raises(error, match="threads must be"), num_threads(bad):
        pass
    assert torch.get_num_threads() == before


def test_time_callable_refuses_an_unknown_device():
    """An unknown device string is refused before anything is timed."""
    calls = []
    with pytest.raises(ValueError, match="device="):
        time_callable(lambda: calls.append(1), "gpu", min_run_time=0.01)
    assert calls == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_cuda_event_seconds_refuses_without_cuda():
    """Without a CUDA device, cuda_event_seconds says so and points to time_callable."""
    calls = []
    with pytest.raises(RuntimeError, match=r"needs a CUDA device.*time_callable"):
        cuda_event_seconds(lambda: calls.append(1))
    assert calls == []


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"repeats": 0}, ValueError, "repeats must be a positive int"),
        ({"repeats": 2.0}, TypeError, "repeats must be an int"),
        ({"warmup": -1}, ValueError, "warmup must be an int of at least 0"),
    ],
)
def test_cuda_event_seconds_rejects_bad_counts(kwargs, error, match):
    """Counts that are not positive ints (warm-up: not negative) are refused on any machine."""
    with pytest.raises(error, match=match):
        cuda_event_seconds(lambda: None, **kwargs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA events need a CUDA device")
def test_cuda_event_seconds_times_the_work_not_the_launch():
    """On a GPU a launch returns long before the work is done; the events time the work."""
    a = torch.randn(4000, 4000, device="cuda")
    seconds = cuda_event_seconds(lambda: a @ a, repeats=5)
    torch.cuda.synchronize()
    launch = naive_seconds(lambda: a @ a)
    torch.cuda.synchronize()
    assert seconds > 0
    assert seconds > 5 * launch, (seconds, launch)


def test_alternate_rotates_the_order_and_keeps_each_result():
    """Each contender runs `repeats` times; the first to run rotates from repeat to repeat."""
    from nnbook.timing import alternate, timed

    calls: list[str] = []
    contenders = {name: (lambda name=name: calls.append(name) or name) for name in "abc"}
    results = alternate(contenders, repeats=3)
    assert results == {"a": ["a"] * 3, "b": ["b"] * 3, "c": ["c"] * 3}
    assert calls == list("abc" + "bca" + "cab")
    seconds, value = timed(lambda: 42)()
    assert value == 42 and seconds >= 0
    with pytest.raises(ValueError, match="repeats"):
        alternate(contenders, repeats=0)
