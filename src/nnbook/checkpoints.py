"""Saving and loading model weights safely."""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import torch
from torch import nn

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint"]


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded into the model it was meant for."""


def save_checkpoint(model: nn.Module, path: str | os.PathLike) -> Path:
    """Save `model.state_dict()` to `path` atomically and return the path.

    The weights go to a temporary file in the same folder, which is then renamed
    over `path`: an interrupted save never leaves a truncated file behind.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save to {path}: folder {path.parent} does not exist")
    state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(
    model: nn.Module, path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> nn.Module:
    """Load weights saved by `save_checkpoint` into `model` and return it.

    Loads with `weights_only=True`, so a file cannot run code. A missing file, a
    corrupted one, or one from another architecture (missing or unexpected keys,
    other shapes) raises an error that says which.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    with path.open("rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"  # torch.save writes a zip archive
    if not is_zip:
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupted or truncated)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path} holds objects other than tensors and was refused (weights_only=True)"
        ) from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as err:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupted or truncated)"
        ) from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state_dict (a dict of tensors)")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path} is from another architecture: missing keys {missing}, "
            f"unexpected keys {unexpected}"
        )
    wrong = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if state[k].shape != v.shape
    ]
    if wrong:
        raise CheckpointError(
            f"{path} is from another architecture: shapes differ ({'; '.join(wrong)})"
        )
    model.load_state_dict(state)
    return model
