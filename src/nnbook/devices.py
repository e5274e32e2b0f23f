"""Choosing a device, seeding, and describing the hardware a run happened on."""

from __future__ import annotations

import os
import platform
import random
import re

import numpy as np
import torch

__all__ = [
    "describe_arithmetic",
    "describe_hardware",
    "get_device",
    "resolve_device",
    "set_seed",
    "synchronize",
]

_KNOWN_TYPES = ("cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def get_device() -> torch.device:
    """Return the best available device: cuda, then mps, then cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Turn `device` (None, a string or a torch.device) into a usable torch.device.

    None means `get_device()`. An unknown device type, or an accelerator that
    this machine does not have, raises a ValueError that says so.
    """
    if device is None:
        return get_device()
    if not isinstance(device, str | torch.device):
        raise TypeError(f"device must be a str, torch.device or None, got {type(device).__name__}")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(
            f"device={device!r} is not a device PyTorch knows; expected one of {_KNOWN_TYPES}"
        ) from err
    if dev.type not in _KNOWN_TYPES:
        raise ValueError(f"device={device!r} has type {dev.type!r}; expected one of {_KNOWN_TYPES}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was asked for, but CUDA is not available here")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} asks for GPU {dev.index}, but only "
                f"{torch.cuda.device_count()} CUDA device(s) are present"
            )
    if dev.type == "mps" and not _mps_available():
        raise ValueError(f"device={device!r} was asked for, but MPS is not available here")
    return dev


def model_device(model: torch.nn.Module, device: str | torch.device | None = None) -> torch.device:
    """The device to run `model` on: where its parameters are, which `device` (if given) must be.

    A model on one device cannot compute on data moved to another, so a `device` other
    than the parameters' is refused with the move to make.
    """
    param = next(model.parameters(), None)
    here = param.device if param is not None else torch.device("cpu")
    if device is None:
        return here
    wanted = resolve_device(device)
    if param is not None and not _same_device(wanted, here):
        raise ValueError(
            f"the model's parameters are on {here}, but device={str(device)!r} was asked for; "
            f"move the model first (model.to({str(wanted)!r})) or leave device unset"
        )
    return wanted


def _same_device(a: torch.device, b: torch.device) -> bool:
    """Whether `a` and `b` name one device (`cuda` and `cuda:0` do, when 0 is current)."""

    def index(device: torch.device) -> int | None:  # a bare "cuda" means the current device, 0
        return device.index if device.index is not None or device.type == "cpu" else 0

    return a.type == b.type and index(a) == index(b)


def synchronize(device: str | torch.device) -> None:
    """Wait until all queued work on `device` has finished (a no-op on the CPU)."""
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


def set_seed(seed: int, deterministic: bool | None = None) -> None:
    """Seed Python, NumPy and PyTorch (CPU and every GPU).

    With `deterministic=True`, also ask PyTorch for deterministic algorithms
    (cuDNN included), which can be slower and raises on operations that have none;
    `False` switches them off. The default, None, leaves those settings as they are.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if deterministic is not None and not isinstance(deterministic, bool):
        raise TypeError(f"deterministic must be True, False or None, got {deterministic!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 -- readers' code may use the legacy global RNG
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic is None:
        return
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(deterministic)
    if deterministic:
        # cuBLAS needs this workspace setting for deterministic matmuls on CUDA >= 10.2
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def describe_hardware(device: str | torch.device | None = None) -> dict[str, object]:
    """Return a short description of the machine and of `device` (default: `get_device()`)."""
    dev = resolve_device(device)
    info: dict[str, object] = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(dev),
        "cuda_available": torch.cuda.is_available(),
        "mps_available": _mps_available(),
    }
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        info.update(
            device_name=props.name,
            device_count=torch.cuda.device_count(),
            device_memory_gib=round(props.total_memory / 2**30, 1),
            multiprocessors=props.multi_processor_count,
            cuda_version=torch.version.cuda,
        )
    elif dev.type == "mps":
        info.update(device_name="Apple MPS")
    else:
        info.update(device_name=platform.processor() or platform.machine())
    return info


def _cpu_model() -> str:
    """The processor's marketing name where the OS tells it, else its architecture."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas() -> str:
    """The BLAS library this PyTorch build multiplies matrices with, as its build reports it."""
    config = torch.__config__.show()
    mkl = re.search(r"Math Kernel Library Version ([\w.\-]+)", config)
    if mkl:
        return f"MKL {mkl.group(1)}"
    info = re.search(r"BLAS_INFO=(\w+)", config)
    return info.group(1) if info else "unknown"


def describe_arithmetic() -> dict[str, object]:
    """The fingerprint of the CPU arithmetic a run used: what decides float32's last bits.

    The CPU model and vendor select MKL's kernels, ATen's capability (set by the CPU, or
    lowered with the environment variable `ATEN_CPU_CAPABILITY`) selects its vectorised
    kernels, and the thread count can change how reductions are split.
    """
    return {
        "cpu": _cpu_model(),
        "aten_capability": torch.backends.cpu.get_cpu_capability(),
        "blas": _blas(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
