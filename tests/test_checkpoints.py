"""Tests for nnbook.checkpoints."""

from __future__ import annotations

import os
import stat
import zipfile

import pytest
import torch
from torch import nn

from nnbook import checkpoints
from nnbook.checkpoints import (
    ArchitectureError,
    CheckpointError,
    CorruptCheckpointError,
    DeviceUnavailableError,
    NotAStateDictError,
    PlainSaveError,
    load_checkpoint,
    save_checkpoint,
)
from nnbook.models import MLP


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _no_temporary_files(folder) -> bool:
    return not list(folder.glob(".*.tmp"))


def test_round_trip_gives_identical_predictions(tmp_path):
    """A saved state_dict loaded into a fresh model predicts exactly as the original."""
    torch.manual_seed(0)
    model = MLP(2, 4, 1)
    path = save_checkpoint(model, tmp_path / "xor.pt")
    fresh = load_checkpoint(MLP(2, 4, 1), path)
    x = torch.randn(50, 2)
    assert torch.equal(model(x), fresh(x))
    assert _no_temporary_files(tmp_path)


def test_round_trip_accepts_str_paths_and_devices(tmp_path):
    """A str path and a torch.device map_location work as a Path and 'cpu' do."""
    model = MLP(2, 8, 3)
    path = save_checkpoint(model, str(tmp_path / "m.pt"))
    fresh = load_checkpoint(MLP(2, 8, 3), str(path), map_location=torch.device("cpu"))
    assert _same_weights(model, fresh)


def test_error_classes_are_checkpoint_errors():
    """Every loading failure can be caught as CheckpointError (and as ValueError)."""
    for cls in (CorruptCheckpointError, PlainSaveError, NotAStateDictError, ArchitectureError):
        assert issubclass(cls, CheckpointError) and issubclass(cls, ValueError)
    assert issubclass(DeviceUnavailableError, CheckpointError)


# ---- a flipped byte ------------------------------------------------------------------------


def _flip_weight_byte(model: nn.Module, path) -> None:
    """Change one byte inside the stored bytes of the first weight matrix."""
    data = bytearray(path.read_bytes())
    at = bytes(data).find(model.state_dict()["net.0.weight"].numpy().tobytes())
    assert at > 0, "the weight bytes are stored verbatim in the zip archive"
    data[at + 1] ^= 0x10
    path.write_bytes(bytes(data))


def test_flipped_weight_byte_is_refused(tmp_path):
    """torch.load returns the changed weights silently; load_checkpoint refuses them."""
    torch.manual_seed(0)
    model = MLP(2, 4, 1)
    path = save_checkpoint(model, tmp_path / "m.pt")
    _flip_weight_byte(model, path)
    raw = torch.load(path, weights_only=True)["state_dict"]
    assert not torch.equal(raw["net.0.weight"], model.state_dict()["net.0.weight"])
    fresh = MLP(2, 4, 1)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    with pytest.raises(CorruptCheckpointError, match="do not match the SHA-256 checksum"):
        load_checkpoint(fresh, path)
    assert all(torch.equal(before[k], v) for k, v in fresh.state_dict().items())


@pytest.mark.slow
def test_every_single_byte_flip_is_refused_or_harmless(tmp_path):
    """Flipping a bit anywhere in a file raises CheckpointError or leaves the weights equal.

    Every third byte (about 840 of 2,500), a different bit each time, keeps the test short;
    every region of the archive (headers, pickle, tensor data, checksum) is hit many times.
    """
    torch.manual_seed(0)
    model = MLP(2, 4, 1)
    data = save_checkpoint(model, tmp_path / "m.pt").read_bytes()
    damaged = tmp_path / "damaged.pt"
    silent = []
    for i in range(0, len(data), 3):
        flipped = bytearray(data)
        flipped[i] ^= 1 << (i // 3 % 8)
        damaged.write_bytes(bytes(flipped))
        fresh = MLP(2, 4, 1)
        try:
            load_checkpoint(fresh, damaged)
        except CheckpointError:
            continue
        if not _same_weights(model, fresh):
            silent.append(i)
    assert not silent, f"bytes {silent} changed the weights without an error"


# ---- files without a checksum --------------------------------------------------------------


@pytest.mark.parametrize(
    ("legacy", "named"), [(False, r"plain torch\.save"), (True, "legacy")], ids=["zip", "legacy"]
)
def test_bare_state_dict_loads_only_when_allowed_and_resaves_with_checksum(tmp_path, legacy, named):
    """A bare state_dict (plain torch.save, or nnbook 0.1) needs allow_unverified=True."""
    model = MLP(2, 8, 3)
    path = tmp_path / "old.pt"
    torch.save(model.state_dict(), path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(PlainSaveError, match=f"{named}.*allow_unverified=True"):
        load_checkpoint(MLP(2, 8, 3), path)
    fresh = load_checkpoint(MLP(2, 8, 3), path, allow_unverified=True)
    assert _same_weights(model, fresh)
    save_checkpoint(fresh, path)  # the fix the message names: re-save with a checksum
    assert _same_weights(model, load_checkpoint(MLP(2, 8, 3), path))


def test_allow_unverified_still_checks_files_with_a_checksum(tmp_path):
    """allow_unverified=True does not switch off the checksum of a file that has one."""
    model = MLP(2, 4, 1)
    path = save_checkpoint(model, tmp_path / "m.pt")
    _flip_weight_byte(model, path)
    with pytest.raises(CorruptCheckpointError, match="checksum"):
        load_checkpoint(MLP(2, 4, 1), path, allow_unverified=True)


class _Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_code_in_a_checkpoint_is_not_run(tmp_path, capsys):
    """A pickle that would call a function on load is refused by weights_only=True."""
    path = tmp_path / "evil.pt"
    torch.save({"net.0.weight": _Exploit()}, path)
    with pytest.raises(NotAStateDictError, match="weights_only=True"):
        load_checkpoint(MLP(2, 4, 1), path)
    assert "must never run" not in capsys.readouterr().out


# ---- saving: permissions, symlinks, failures -----------------------------------------------


def test_new_file_gets_the_bits_open_would_give(tmp_path):
    """A new checkpoint has the permission bits of a file created with open() (the umask)."""
    (tmp_path / "plain").write_bytes(b"")
    path = save_checkpoint(MLP(2, 4, 1), tmp_path / "m.pt")
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE((tmp_path / "plain").stat().st_mode)


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664, 0o755], ids=oct)
def test_resaving_keeps_permission_bits(tmp_path, mode):
    """Re-saving over a file keeps its permission bits."""
    path = save_checkpoint(MLP(2, 4, 1), tmp_path / "m.pt")
    path.chmod(mode)
    save_checkpoint(MLP(2, 4, 1), path)
    assert stat.S_IMODE(path.stat().st_mode) == mode


@pytest.mark.parametrize("relative", [True, False], ids=["relative", "absolute"])
def test_saving_writes_through_a_symlink(tmp_path, relative):
    """Saving to a symlink updates the file it points to and keeps the link."""
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "weights.pt"
    save_checkpoint(MLP(2, 4, 1), target)
    link = tmp_path / "latest.pt"
    link.symlink_to(os.path.relpath(target, tmp_path) if relative else target)
    model = MLP(2, 4, 1)
    assert save_checkpoint(model, link) == link
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert _same_weights(model, load_checkpoint(MLP(2, 4, 1), target))
    assert _no_temporary_files(tmp_path) and _no_temporary_files(tmp_path / "store")


def test_saving_through_a_dangling_symlink_creates_its_target(tmp_path):
    """A link to a file that does not exist yet gets that file."""
    link = tmp_path / "latest.pt"
    link.symlink_to(tmp_path / "first.pt")
    save_checkpoint(MLP(2, 4, 1), link)
    assert link.is_symlink() and (tmp_path / "first.pt").is_file()


def _raise_in_torch_save(monkeypatch):
    def broken_save(obj, f):
        f.write(b"partial")
        raise RuntimeError("disk trouble")

    monkeypatch.setattr(torch, "save", broken_save)


def _raise_interrupt_in_torch_save(monkeypatch):
    def interrupted_save(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted_save)


def _raise_in(name: str, err: BaseException):
    def patch(monkeypatch):
        def broken(*args, **kwargs):
            raise err

        monkeypatch.setattr(checkpoints.os, name, broken)

    return patch


@pytest.mark.parametrize(
    ("break_it", "exc"),
    [
        (_raise_in_torch_save, RuntimeError),
        (_raise_interrupt_in_torch_save, KeyboardInterrupt),
        (_raise_in("fsync", OSError(28, "No space left on device")), OSError),
        (_raise_in("chmod", PermissionError(1, "Operation not permitted")), PermissionError),
        (_raise_in("replace", OSError(18, "Invalid cross-device link")), OSError),
    ],
    ids=["torch.save", "interrupt", "fsync", "chmod", "replace"],
)
def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch, break_it, exc):
    """If any step of a save fails, the old file is intact, keeps its bits, no temp file stays."""
    path = save_checkpoint(MLP(2, 4, 1), tmp_path / "m.pt")
    path.chmod(0o640)
    before = path.read_bytes()
    break_it(monkeypatch)
    with pytest.raises(exc):
        save_checkpoint(MLP(2, 4, 1), path)
    assert path.read_bytes() == before
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert _no_temporary_files(tmp_path)


# ---- bad inputs to save_checkpoint ---------------------------------------------------------


class _ExtraState(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def get_extra_state(self) -> dict:
        return {"note": "not a tensor"}

    def set_extra_state(self, state: dict) -> None:
        pass


def _mkdir(path):
    path.mkdir()
    return path


def _file_as_folder(path):
    path.write_text("a file")
    return path / "m.pt"


def _link_to_folder(path):
    (path.parent / "folder").mkdir()
    path.symlink_to(path.parent / "folder")
    return path


def _read_only(path):
    save_checkpoint(MLP(2, 4, 1), path)
    path.chmod(0o444)
    return path


_SAVE_CASES = {
    "path-then-model": ("m.pt", None, TypeError, r"model must be an nn\.Module, got str"),
    "state-dict-not-model": (
        MLP(2, 4, 1).state_dict(),
        None,
        TypeError,
        r"not its state_dict\(\)",
    ),
    "model-none": (None, None, TypeError, "model must be an nn.Module, got NoneType"),
    "no-parameters": (nn.ReLU(), None, ValueError, "ReLU has no parameters or buffers"),
    "meta-model": (MLP(2, 4, 1).to("meta"), None, ValueError, "on meta"),
    "non-tensor-state": (_ExtraState(), None, TypeError, "'_extra_state' is a dict, not a tensor"),
    "path-none": (MLP(2, 4, 1), lambda p: None, TypeError, "path must be a str .*NoneType"),
    "path-bytes": (MLP(2, 4, 1), lambda p: b"m.pt", TypeError, "path must be a str .*bytes"),
    "path-empty": (MLP(2, 4, 1), lambda p: "", ValueError, "path is empty"),
    "path-folder": (MLP(2, 4, 1), _mkdir, IsADirectoryError, "it is a folder"),
    "link-to-folder": (MLP(2, 4, 1), _link_to_folder, IsADirectoryError, "it is a folder"),
    "missing-folder": (
        MLP(2, 4, 1),
        lambda p: p.parent / "no" / "m.pt",
        FileNotFoundError,
        "folder .* does not exist",
    ),
    "file-as-folder": (MLP(2, 4, 1), _file_as_folder, NotADirectoryError, "is a file, not a"),
    "read-only-file": (MLP(2, 4, 1), _read_only, PermissionError, "read-only"),
}


@pytest.mark.parametrize(
    ("model", "make_path", "exc", "match"), _SAVE_CASES.values(), ids=list(_SAVE_CASES)
)
def test_save_checkpoint_refuses_bad_input(tmp_path, model, make_path, exc, match):
    """Each bad argument to save_checkpoint gets an error that names it; nothing is written."""
    target = tmp_path / "m.pt"
    path = make_path(target) if make_path else target
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(exc, match=match):
        save_checkpoint(model, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# ---- bad inputs and bad files to load_checkpoint -------------------------------------------


def _saved(path):
    return save_checkpoint(MLP(2, 4, 1), path)


def _written(data: bytes):
    def make(path):
        path.write_bytes(data)
        return path

    return make


def _truncated(path):
    data = _saved(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _torch_saved(obj):
    def make(path):
        torch.save(obj, path)
        return path

    return make


def _zip_of_text(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "not weights")
    return path


def _nnbook_format(**changes):
    """A file in nnbook's format with some entries changed (None removes one)."""

    def make(path):
        payload = torch.load(_saved(path), weights_only=True)
        payload.update(changes)
        torch.save({k: v for k, v in payload.items() if v is not None}, path)
        return path

    return make


_sd = MLP(2, 4, 1).state_dict()
_LOAD_CASES = {
    "model-str": ("m.pt", _saved, {}, TypeError, r"model must be an nn\.Module, got str"),
    "path-int": (MLP(2, 4, 1), lambda p: 3, {}, TypeError, "path must be a str .*int"),
    "missing-file": (MLP(2, 4, 1), lambda p: p, {}, FileNotFoundError, "no checkpoint at"),
    "folder": (MLP(2, 4, 1), _mkdir, {}, IsADirectoryError, "is a folder, not a checkpoint"),
    "empty-file": (MLP(2, 4, 1), _written(b""), {}, CorruptCheckpointError, r"empty \(0 bytes\)"),
    "text-file": (
        MLP(2, 4, 1),
        _written(b"weights: 1, 2, 3"),
        {},
        CorruptCheckpointError,
        "not a PyTorch file",
    ),
    "truncated": (MLP(2, 4, 1), _truncated, {}, CorruptCheckpointError, "corrupted or truncated"),
    "zip-of-text": (MLP(2, 4, 1), _zip_of_text, {}, CorruptCheckpointError, "corrupted"),
    "bare-state-dict": (
        MLP(2, 4, 1),
        _torch_saved(_sd),
        {},
        PlainSaveError,
        r"saved by plain torch\.save.*allow_unverified=True",
    ),
    "whole-model": (
        MLP(2, 4, 1),
        _torch_saved(MLP(2, 4, 1)),
        {},
        NotAStateDictError,
        r"objects other than tensors \(nnbook\.models\.MLP\)",
    ),
    "one-tensor": (
        MLP(2, 4, 1),
        _torch_saved(torch.zeros(3)),
        {},
        NotAStateDictError,
        r"a single tensor of shape \(3,\)",
    ),
    "list": (MLP(2, 4, 1), _torch_saved([torch.zeros(3)]), {}, NotAStateDictError, "a list"),
    "training-checkpoint": (
        MLP(2, 4, 1),
        _torch_saved({"epoch": 3, "model_state_dict": _sd}),
        {},
        NotAStateDictError,
        r"\['epoch', 'model_state_dict'\] are not named tensors.*under 'model_state_dict'",
    ),
    "checksum-edited": (
        MLP(2, 4, 1),
        _nnbook_format(sha256="0" * 64),
        {},
        CorruptCheckpointError,
        "checksum",
    ),
    "checksum-removed": (
        MLP(2, 4, 1),
        _nnbook_format(sha256=None),
        {},
        CorruptCheckpointError,
        "some of the entries of nnbook's format",
    ),
    "newer-format": (
        MLP(2, 4, 1),
        _nnbook_format(nnbook_checkpoint=2),
        {},
        CheckpointError,
        "format 2.*newer nnbook",
    ),
    "other-shapes": (
        MLP(2, 8, 3),
        _saved,
        {},
        ArchitectureError,
        r"shapes differ \(net\.0\.weight",
    ),
    "other-layers": (MLP(2, (4, 4), 1), _saved, {}, ArchitectureError, "missing keys"),
    "unknown-device": (
        MLP(2, 4, 1),
        _saved,
        {"map_location": "gpu"},
        DeviceUnavailableError,
        "map_location='gpu'.*not a device PyTorch knows",
    ),
    "meta-device": (
        MLP(2, 4, 1),
        _saved,
        {"map_location": "meta"},
        DeviceUnavailableError,
        "map_location='meta'",
    ),
    "device-int": (MLP(2, 4, 1), _saved, {"map_location": 0}, TypeError, "map_location must be"),
    "allow-unverified-str": (
        MLP(2, 4, 1),
        _saved,
        {"allow_unverified": "yes"},
        TypeError,
        "allow_unverified must be True or False",
    ),
}


@pytest.mark.parametrize(
    ("model", "make_file", "kwargs", "exc", "match"), _LOAD_CASES.values(), ids=list(_LOAD_CASES)
)
def test_load_checkpoint_refuses_bad_input(tmp_path, model, make_file, kwargs, exc, match):
    """Each bad argument or file gets its own error class and a message that names it."""
    path = make_file(tmp_path / "m.pt")
    before = (
        {k: v.clone() for k, v in model.state_dict().items()}
        if isinstance(model, nn.Module)
        else {}
    )
    with pytest.raises(exc, match=match):
        load_checkpoint(model, path, **kwargs)
    if isinstance(model, nn.Module):
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1", torch.device("cuda", 0)])
def test_missing_cuda_is_named_not_called_corruption(tmp_path, device):
    """map_location='cuda' on a machine without CUDA says so, instead of 'corrupted'."""
    path = save_checkpoint(MLP(2, 4, 1), tmp_path / "m.pt")
    with pytest.raises(DeviceUnavailableError, match="CUDA is not available"):
        load_checkpoint(MLP(2, 4, 1), path, map_location=device)
