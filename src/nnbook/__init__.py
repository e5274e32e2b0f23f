"""nnbook: the small library behind the book "Classification neural networks with PyTorch"."""

from nnbook.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from nnbook.data import TensorLoader, ThreeClassProblem, XORDataset, make_xor
from nnbook.devices import describe_hardware, get_device, resolve_device, set_seed
from nnbook.models import MLP
from nnbook.training import TrainReport, evaluate, train

__version__ = "0.1.0"

__all__ = [
    "MLP",
    "CheckpointError",
    "TensorLoader",
    "ThreeClassProblem",
    "TrainReport",
    "XORDataset",
    "describe_hardware",
    "evaluate",
    "get_device",
    "load_checkpoint",
    "make_xor",
    "resolve_device",
    "save_checkpoint",
    "set_seed",
    "train",
]
