"""Tests for nnbook.devices."""

import pytest
import torch

from nnbook.devices import (
    describe_arithmetic,
    describe_hardware,
    get_device,
    resolve_device,
    set_seed,
)


def test_get_device_prefers_accelerators():
    """get_device returns cuda when present, else mps, else cpu."""
    dev = get_device()
    if torch.cuda.is_available():
        assert dev.type == "cuda"
    elif torch.backends.mps.is_available():
        assert dev.type == "mps"
    else:
        assert dev == torch.device("cpu")


def test_resolve_device_accepts_strings_and_devices():
    """'cpu' and torch.device('cpu') both resolve to the CPU; None means get_device()."""
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device(None) == get_device()


@pytest.mark.parametrize("bad", ["gpu", "tpu", "cuda:x"])
def test_resolve_device_rejects_unknown(bad):
    """An unknown device string names the argument and the known types."""
    with pytest.raises(ValueError, match="device="):
        resolve_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_resolve_device_rejects_missing_cuda():
    """Asking for CUDA where there is none says so."""
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


def test_set_seed_repeats_draws():
    """The same seed gives the same draws; another seed gives others."""
    set_seed(7)
    a = torch.rand(5)
    set_seed(7)
    b = torch.rand(5)
    set_seed(8)
    c = torch.rand(5)
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)


def test_set_seed_deterministic_flag_round_trip():
    """deterministic=True turns on deterministic algorithms; False turns them off again."""
    set_seed(0, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled()
    set_seed(0, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.parametrize(("bad", "exc"), [(-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_set_seed_rejects_bad_seeds(bad, exc):
    """A negative or non-integer seed is refused with a message naming it."""
    with pytest.raises(exc, match="seed"):
        set_seed(bad)


def test_describe_hardware_names_the_device():
    """The description names torch's version, the device and the thread count."""
    info = describe_hardware("cpu")
    assert info["torch"] == torch.__version__
    assert info["device"] == "cpu"
    assert info["torch_threads"] == torch.get_num_threads()
    assert isinstance(info["device_name"], str) and info["device_name"]


def test_model_device_follows_parameters_or_checks_the_argument():
    """model_device is where the parameters are, or the (validated) device asked for."""
    from nnbook.devices import model_device
    from nnbook.models import MLP

    model = MLP(2, 3, 2)
    assert model_device(model) == torch.device("cpu")
    assert model_device(torch.nn.Tanh()) == torch.device("cpu")  # no parameters
    with pytest.raises(ValueError, match="device='gpu'"):
        model_device(model, "gpu")


def test_synchronize_is_a_no_op_on_cpu_and_checks_its_argument():
    """synchronize('cpu') returns at once; an unknown device is refused."""
    from nnbook.devices import synchronize

    assert synchronize("cpu") is None
    with pytest.raises(ValueError, match="device="):
        synchronize("tpu")


def test_describe_arithmetic_names_what_decides_the_last_bits():
    """The fingerprint has the CPU, ATen's kernel path, the BLAS, threads and torch version."""
    info = describe_arithmetic()
    assert set(info) == {"cpu", "aten_capability", "blas", "threads", "torch"}
    assert info["aten_capability"] == torch.backends.cpu.get_cpu_capability()
    assert info["threads"] == torch.get_num_threads()
    assert info["torch"] == torch.__version__
    assert isinstance(info["cpu"], str) and info["cpu"]


@pytest.mark.parametrize("setting", [True, False])
def test_set_seed_leaves_determinism_alone_unless_asked(setting):
    """The default keeps the caller's choice of deterministic algorithms."""
    from nnbook.devices import set_seed

    before = torch.are_deterministic_algorithms_enabled()
    try:
        torch.use_deterministic_algorithms(setting)
        set_seed(0)
        assert torch.are_deterministic_algorithms_enabled() is setting
    finally:
        torch.use_deterministic_algorithms(before)


def test_set_seed_refuses_a_bad_deterministic():
    from nnbook.devices import set_seed

    with pytest.raises(TypeError, match="deterministic must be True, False or None"):
        set_seed(0, deterministic="yes")
