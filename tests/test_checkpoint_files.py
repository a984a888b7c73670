"""Checkpoint files on a shared machine: the user's umask, no stale temporaries, bounded retention, a full disk
reported in one line with the previous checkpoint intact."""

import errno
import os

import pytest
import torch

from toplight_plugin.core.training import checkpoint


def test_checkpoints_get_the_users_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = checkpoint.atomic_save({"x": torch.zeros(2)}, tmp_path / "last.pth")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640


def test_a_full_disk_is_one_clear_error_and_keeps_the_previous_file(tmp_path, monkeypatch):
    path = checkpoint.atomic_save({"x": torch.ones(3)}, tmp_path / "last.pth")

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: _Writer(fd, full))
    with pytest.raises(checkpoint.DiskFullError, match="no space left on the device of .*; the previous last.pth is"):
        checkpoint.atomic_save({"x": torch.zeros(3)}, path)
    monkeypatch.undo()
    torch.testing.assert_close(checkpoint.load(path)["x"], torch.ones(3))
    assert not list(tmp_path.glob(".*.tmp"))


class _Writer:
    def __init__(self, fd, write):
        self.fd, self.write = fd, lambda data: write(fd, data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def test_stale_temporaries_are_removed_and_retention_is_bounded(tmp_path):
    for n in (1, 2, 3, 4):
        checkpoint.atomic_save({"epoch": n}, tmp_path / f"epoch-{n}.pth")
    checkpoint.atomic_save({"epoch": 4}, tmp_path / checkpoint.LAST)
    (tmp_path / ".epoch-5.pth.abc123.tmp").write_bytes(b"half a checkpoint")
    assert [p.name for p in checkpoint.remove_stale(tmp_path)] == [".epoch-5.pth.abc123.tmp"]
    removed = checkpoint.keep_last(tmp_path, 2)
    assert sorted(p.name for p in removed) == ["epoch-1.pth", "epoch-2.pth"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-3.pth", "epoch-4.pth", "last.pth"]
    assert checkpoint.keep_last(tmp_path, 0) == []  # 0 keeps everything
    (tmp_path / checkpoint.LAST).unlink()
    assert checkpoint.newest(tmp_path) == tmp_path / "epoch-4.pth"


class _Payload:
    """Any pickled object: loading it would run code of the file's choosing."""


def test_a_checkpoint_with_pickled_objects_is_refused_without_advice_to_unpickle(tmp_path):
    path = tmp_path / "last.pth"
    torch.save({"state_dict": {}, "extra": _Payload()}, path)
    with pytest.raises(ValueError, match="refused to load: it holds pickled objects") as info:
        checkpoint.load(path)
    assert "weights_only=False" not in str(info.value)
    path.write_bytes(b"PK\x03\x04 half a zip")
    with pytest.raises(ValueError, match=f"{path}: not a readable PyTorch weights file"):
        checkpoint.load(path)
