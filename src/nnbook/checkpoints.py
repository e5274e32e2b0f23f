"""Saving and loading model weights safely: atomic writes, a checksum, and clear errors.

A checkpoint is one `torch.save` file holding a small dict: a format marker, the SHA-256
checksum of the weights, and the `state_dict` itself (CPU tensors). `load_checkpoint` reads it
with `weights_only=True`, recomputes the checksum, and refuses the file if a byte has changed.

Every way loading can fail raises a subclass of `CheckpointError` (a ValueError):

- `CorruptCheckpointError`: empty, truncated or damaged, or weights that fail the checksum;
- `PlainSaveError`: a bare state_dict of plain `torch.save` (or of nnbook before checksums),
  also in PyTorch's legacy format, refused unless `allow_unverified=True`;
- `NotAStateDictError`: the file holds something else (a tensor, a whole pickled model, a dict
  with an optimizer state in it ...);
- `ArchitectureError`: weights of another architecture (missing keys, other shapes);
- `DeviceUnavailableError`: `map_location` names a device this machine lacks or does not know.

Bad arguments (not a module, a folder for a file, a missing file) raise TypeError, ValueError or
the OSError subclass that names the problem.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeGuard

import torch
from torch import nn

from nnbook.devices import resolve_device

__all__ = [
    "ArchitectureError",
    "CheckpointError",
    "CorruptCheckpointError",
    "DeviceUnavailableError",
    "NotAStateDictError",
    "PlainSaveError",
    "load_checkpoint",
    "save_checkpoint",
]

_FORMAT = "nnbook_checkpoint"  # the key that marks nnbook's format; its value is the version
_VERSION = 1
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive since PyTorch 1.6
_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"  # the pickled magic number before


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded into the model it was meant for."""


class CorruptCheckpointError(CheckpointError):
    """The file is empty, truncated or damaged, or its weights fail the stored checksum."""


class PlainSaveError(CheckpointError):
    """A bare state_dict without a checksum: plain `torch.save`, or nnbook before checksums."""


class NotAStateDictError(CheckpointError):
    """The file holds something other than a state_dict (a dict of tensors)."""


class ArchitectureError(CheckpointError):
    """The weights belong to another architecture: missing or unexpected keys, other shapes."""


class DeviceUnavailableError(CheckpointError):
    """`map_location` names a device that this machine does not have or PyTorch does not know."""


def save_checkpoint(model: nn.Module, path: str | os.PathLike[str]) -> Path:
    """Save `model.state_dict()` with its SHA-256 checksum to `path` atomically; return `path`.

    The weights go to a temporary file in the target's folder, are flushed to disk and then
    renamed over the target, so a failed or interrupted save leaves the old file intact and no
    temporary file behind. Re-saving keeps the old file's permission bits (a new file gets the
    usual ones, set by the umask); a symlink is written through, to the file it points to. A
    read-only file (no write bit set) is refused rather than replaced.
    """
    state = _state_to_save(_module(model, "save_checkpoint(model, path)"))
    path = _path(path)
    target = _save_target(path)
    payload = {_FORMAT: _VERSION, "sha256": _checksum(state), "state_dict": state}
    _write_atomically(target, lambda f: torch.save(payload, f))
    return path


def load_checkpoint(
    model: nn.Module,
    path: str | os.PathLike[str],
    map_location: str | torch.device = "cpu",
    *,
    allow_unverified: bool = False,
) -> nn.Module:
    """Load weights saved by `save_checkpoint` into `model` and return it.

    Reads with `weights_only=True`, so a file cannot run code, and refuses weights whose
    checksum differs from the one saved with them. `map_location` is where the tensors are
    read to (checked to exist on this machine); the model keeps its own device.

    Files without a checksum, that is a bare state_dict written by `torch.save(
    model.state_dict(), path)` or by `save_checkpoint` before nnbook added checksums, raise
    `PlainSaveError`. If you trust such a file, pass `allow_unverified=True` to load it unchecked,
    then `save_checkpoint` it again to add the checksum. Files with a checksum are always checked.
    The other failures raise the subclasses of `CheckpointError` listed in the module docstring.
    """
    _module(model, "load_checkpoint(model, path)")
    path = _path(path)
    device = _device(map_location)
    if not isinstance(allow_unverified, bool):
        raise TypeError(f"allow_unverified must be True or False, got {allow_unverified!r}")
    obj, legacy = _read(path, device)
    state = _unwrap(path, obj, legacy, allow_unverified)
    _check_architecture(path, model, state)
    model.load_state_dict(state)
    return model


def _module(model: object, call: str) -> nn.Module:
    if isinstance(model, nn.Module):
        return model
    hint = " (pass the model itself, not its state_dict())" if isinstance(model, dict) else ""
    raise TypeError(
        f"model must be an nn.Module, got {type(model).__name__}{hint}; the call is {call}"
    )


def _path(path: object) -> Path:
    if not isinstance(path, str | os.PathLike) or isinstance(path, bytes):
        raise TypeError(f"path must be a str or pathlib.Path, got {type(path).__name__}")
    if os.fspath(path) == "":
        raise ValueError("path is empty; give a file name such as 'model.pt'")
    return Path(path)


def _device(map_location: object) -> torch.device:
    if not isinstance(map_location, str | torch.device):
        raise TypeError(
            f"map_location must be a device name or torch.device, got {type(map_location).__name__}"
        )
    try:
        return resolve_device(map_location)
    except ValueError as err:
        raise DeviceUnavailableError(
            f"cannot load onto map_location={map_location!r}: {err}; use map_location='cpu'"
        ) from err


def _state_to_save(model: nn.Module) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    if not state:
        raise ValueError(f"{type(model).__name__} has no parameters or buffers: nothing to save")
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"state_dict entry {name!r} is a {type(value).__name__}, not a tensor; "
                "save_checkpoint saves tensors only"
            )
        if value.is_meta or value.layout != torch.strided:
            raise ValueError(
                f"state_dict entry {name!r} is a {value.layout} tensor on {value.device}; "
                "save_checkpoint saves dense tensors that hold data"
            )
    return {k: v.detach().to("cpu") for k, v in state.items()}


def _checksum(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over each entry's name, dtype, shape and bytes, in the dict's order."""
    digest = hashlib.sha256()
    for name, value in state.items():
        flat = value.cpu().reshape(-1)  # a view when dense, else a copy
        if flat.stride(0) != 1:  # one or no element, with any stride
            flat = flat.clone(memory_format=torch.contiguous_format)
        digest.update(f"{name}\0{value.dtype}\0{tuple(value.shape)}\0".encode())
        digest.update(flat.view(torch.uint8).numpy().data)
    return digest.hexdigest()


def _save_target(path: Path) -> Path:
    target = Path(os.path.realpath(path))  # through symlinks, to the file they point to
    if target.is_dir():
        raise IsADirectoryError(
            f"cannot save to {path}: it is a folder; give a file name such as {path / 'model.pt'}"
        )
    if not target.parent.exists():
        raise FileNotFoundError(f"cannot save to {path}: folder {target.parent} does not exist")
    if not target.parent.is_dir():
        raise NotADirectoryError(f"cannot save to {path}: {target.parent} is a file, not a folder")
    if target.exists() and not (target.stat().st_mode & 0o222 and os.access(target, os.W_OK)):
        raise PermissionError(f"cannot save to {path}: the existing file is read-only")
    return target


def _write_atomically(target: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write to a temporary file beside `target`, flush it to disk, then rename it over."""
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else None
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)  # like open(): the umask decides a new file's bits
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read(path: Path, device: torch.device) -> tuple[Any, bool]:
    """The object in the file and whether it is in PyTorch's legacy format."""
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a checkpoint file")
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    with path.open("rb") as f:
        head = f.read(len(_LEGACY_MAGIC))
    if not head:
        raise CorruptCheckpointError(f"{path} is empty (0 bytes): corrupted or truncated")
    legacy = head == _LEGACY_MAGIC
    if not legacy and not head.startswith(_ZIP_MAGIC):
        raise CorruptCheckpointError(
            f"{path} is not a PyTorch file: corrupted or truncated, or another kind of file"
        )
    try:
        return torch.load(path, map_location=device, weights_only=True), legacy
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL (\S+)", str(err))
        if found is None:
            reason = str(err).rpartition("WeightsUnpickler error: ")[2].strip().split("\n")[0]
            raise CorruptCheckpointError(f"{path} is corrupted or truncated ({reason})") from err
        raise NotAStateDictError(
            f"{path} holds Python objects other than tensors ({found[1]}): a whole model "
            "saved with torch.save(model), another object, or damage; refused, as loading "
            "them could run code (weights_only=True). Save weights with save_checkpoint"
        ) from err
    except Exception as err:  # any failure of torch.load past the magic bytes is damage
        raise CorruptCheckpointError(
            f"{path} is corrupted or truncated: torch.load failed with {type(err).__name__}"
        ) from err


def _unwrap(path: Path, obj: Any, legacy: bool, allow_unverified: bool) -> dict[str, torch.Tensor]:
    """The state_dict in `obj`, checked against its checksum, or a clear refusal."""
    if isinstance(obj, dict) and (_FORMAT in obj or "sha256" in obj):
        return _verified(path, obj)
    if not _is_state_dict(obj):
        raise NotAStateDictError(f"{path} holds {_describe(obj)}, not a state_dict")
    if allow_unverified:
        return obj
    saved_by = (
        "in PyTorch's legacy (pre-1.6) format"
        if legacy
        else "by plain torch.save (or by nnbook before checksums)"
    )
    raise PlainSaveError(
        f"{path} was saved {saved_by}: a bare state_dict with "
        "no checksum, so damaged weights would go unnoticed. If you trust the file, load it "
        "with load_checkpoint(model, path, allow_unverified=True), then save_checkpoint(model, "
        "path) to add the checksum"
    )


def _verified(path: Path, obj: dict[Any, Any]) -> dict[str, torch.Tensor]:
    if obj.keys() != {_FORMAT, "sha256", "state_dict"}:
        raise CorruptCheckpointError(
            f"{path} has some of the entries of nnbook's format but not all: corrupted"
        )
    if obj[_FORMAT] != _VERSION:
        raise CheckpointError(
            f"{path} is in nnbook checkpoint format {obj[_FORMAT]!r}, and this nnbook reads "
            f"format {_VERSION}: it was written by a newer nnbook (upgrade), or it is corrupted"
        )
    state, digest = obj["state_dict"], obj["sha256"]
    if not _is_state_dict(state) or not isinstance(digest, str):
        raise CorruptCheckpointError(f"{path} holds no valid state_dict or checksum: corrupted")
    if _checksum(state) != digest:
        raise CorruptCheckpointError(
            f"{path} is corrupted: its weights do not match the SHA-256 checksum saved with "
            "them (a changed byte on disk or in transfer); use an intact copy or save again"
        )
    return state


def _is_state_dict(obj: object) -> TypeGuard[dict[str, torch.Tensor]]:
    return isinstance(obj, dict) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    )


def _describe(obj: object) -> str:
    """What a file holds instead of a state_dict, with a hint where the weights may be."""
    if isinstance(obj, torch.Tensor):
        return f"a single tensor of shape {tuple(obj.shape)}"
    if not isinstance(obj, dict):
        return f"a {type(obj).__name__}"
    other = [k for k, v in obj.items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))]
    nested = [k for k in other if _is_state_dict(obj[k])]
    hint = (
        f"; if the weights are under {nested[0]!r}, load them with model.load_state_dict("
        f"torch.load(path, weights_only=True)[{nested[0]!r}])"
        if nested
        else ""
    )
    return f"a dict whose entries {other[:5]} are not named tensors{hint}"


def _check_architecture(path: Path, model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ArchitectureError(
            f"{path} is from another architecture: missing keys {missing}, "
            f"unexpected keys {unexpected}"
        )
    wrong = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if state[k].shape != v.shape
    ]
    if wrong:
        raise ArchitectureError(
            f"{path} is from another architecture: shapes differ ({'; '.join(wrong)})"
        )
