"""nnbook: the small library behind the book "Classification neural networks with PyTorch"."""

from nnbook.calibration import calibration_error, fit_temperature, loss_decomposition
from nnbook.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from nnbook.data import TensorLoader, ThreeClassProblem, XORDataset, make_xor
from nnbook.decisions import bayes_decisions, shift_priors
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
    "bayes_decisions",
    "calibration_error",
    "describe_hardware",
    "evaluate",
    "fit_temperature",
    "get_device",
    "load_checkpoint",
    "loss_decomposition",
    "make_xor",
    "resolve_device",
    "save_checkpoint",
    "set_seed",
    "shift_priors",
    "train",
]
