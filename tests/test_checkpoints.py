"""Tests for nnbook.checkpoints."""

import pytest
import torch

from nnbook.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from nnbook.models import MLP


def test_round_trip_gives_identical_predictions(tmp_path):
    """A saved state_dict loaded into a fresh model predicts exactly as the original."""
    torch.manual_seed(0)
    model = MLP(2, 4, 1)
    path = save_checkpoint(model, tmp_path / "xor.pt")
    fresh = load_checkpoint(MLP(2, 4, 1), path)
    x = torch.randn(50, 2)
    assert torch.equal(model(x), fresh(x))
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_other_architecture_is_refused(tmp_path):
    """Loading 2-8-3 weights into a 2-4-1 model names the differing shapes."""
    path = save_checkpoint(MLP(2, 8, 3), tmp_path / "three.pt")
    with pytest.raises(CheckpointError, match="shapes differ"):
        load_checkpoint(MLP(2, 4, 1), path)
    with pytest.raises(CheckpointError, match="missing keys"):
        load_checkpoint(MLP(2, (4, 4), 1), path)


def test_corrupted_and_truncated_files(tmp_path):
    """A truncated or garbage file is refused as corrupted."""
    path = save_checkpoint(MLP(2, 4, 1), tmp_path / "m.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_checkpoint(MLP(2, 4, 1), path)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_checkpoint(MLP(2, 4, 1), path)


class _Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_code_in_a_checkpoint_is_not_run(tmp_path, capsys):
    """A pickle that would call a function on load is refused by weights_only=True."""
    path = tmp_path / "evil.pt"
    torch.save({"net.0.weight": _Exploit()}, path)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_checkpoint(MLP(2, 4, 1), path)
    assert "must never run" not in capsys.readouterr().out


def test_missing_file_and_folder(tmp_path):
    """A missing file or folder is named."""
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(MLP(2, 4, 1), tmp_path / "absent.pt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_checkpoint(MLP(2, 4, 1), tmp_path / "no" / "such" / "m.pt")


def test_interrupted_save_keeps_the_old_file(tmp_path, monkeypatch):
    """If writing fails half-way, the previous checkpoint is still there, intact."""
    model = MLP(2, 4, 1)
    path = save_checkpoint(model, tmp_path / "m.pt")
    before = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(MLP(2, 4, 1), path)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))
