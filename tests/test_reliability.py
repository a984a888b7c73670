"""Ordinary mistakes replayed on tiny synthetic data: each is refused with one line naming what was wrong, and the
files that were there before are byte-identical afterwards (no run, checkpoint or result is lost)."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_engine import tiny

from toplight_plugin.cli import export_onnx as export_tool
from toplight_plugin.cli import search as search_tool
from toplight_plugin.cli import soup as soup_tool
from toplight_plugin.cli import test as test_tool
from toplight_plugin.cli import train as train_tool
from toplight_plugin.cli.console import run
from toplight_plugin.core.data.images import read_image
from toplight_plugin.core.data.synthetic import make_sysu
from toplight_plugin.core.deploy.search import tie_warning
from toplight_plugin.core.training import checkpoint, run_folder


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def untouched(folder: Path, before: dict[str, bytes]) -> bool:
    """Every file of ``before`` still there with the same bytes; anything new is a failed attempt's text log."""
    after = snapshot(folder)
    new = after.keys() - before.keys()
    return {k: after.get(k) for k in before} == before and all(k.startswith(("train.log-", "test.log-")) for k in new)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A data root with a SYSU-MM01 layout of 6 training identities: an epoch of 6 batches."""
    root = tmp_path_factory.mktemp("data")
    make_sysu(root / "SYSU-MM01", num_ids=10, splits=(6, 2, 2), images_per_cam=2, size=(64, 32))
    return root


def short(root: Path, save_dir: Path, *extra: str) -> list[str]:
    return tiny(root, save_dir, "train.max_epoch", "1", "toplight.trials", "1", *extra)


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory) -> Path:
    """A finished one-epoch run (epoch-1.pth, last.pth, config.yaml, results.json, its log); tests copy it."""
    folder = tmp_path_factory.mktemp("finished") / "run"
    train_tool.main(short(data, folder))
    return folder


@pytest.fixture
def copy(finished, tmp_path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "run"))


def one_line(capsys, tool: str, argv: list[str]) -> str:
    """Run a tool as its console script does: exit status 2 and one line on stderr, ``<program>: error: ...``;
    returns the text after ``error: ``."""
    capsys.readouterr()
    assert run(tool, argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    prefix = f"{os.path.basename(sys.argv[0])}: error: "
    assert lines[0].startswith(prefix), lines[0]
    return lines[0].removeprefix(prefix)


# -- output folders ---------------------------------------------------------------------------------------------
def test_a_second_run_is_refused_naming_the_holder_and_a_killed_holder_does_not_block(data, tmp_path):
    folder = tmp_path / "run"
    code = ("import sys, time; from toplight_plugin.core.training.run_folder import locked; "
            "held = locked(sys.argv[1]); held.__enter__(); print('held', flush=True); time.sleep(120)")  # fmt: skip
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(folder)
        with pytest.raises(FileExistsError, match=rf"data.save_dir {folder} is in use by another run \(pid "
                                                  rf"{holder.pid} on \S+, started 20\d\d-"):  # fmt: skip
            train_tool.main(tiny(data, folder))
        assert snapshot(folder) == before  # no config.yaml, no log, the holder's record intact
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (folder / run_folder.LOCK).exists()  # left by the killed holder; the kernel released its lock
    with run_folder.locked(folder):
        assert str(os.getpid()) in (folder / run_folder.LOCK).read_text()
    assert not (folder / run_folder.LOCK).exists()


def test_a_fresh_run_does_not_replace_a_finished_one(copy, data, capsys):
    before = snapshot(copy)
    line = one_line(capsys, "train", tiny(data, copy, "train.max_epoch", "1"))
    assert line == (f"data.save_dir {copy} already holds a run (epoch-1.pth, last.pth, results.json): "
                    "continue it with --resume, start afresh over it with --overwrite, or choose another "
                    "data.save_dir")  # fmt: skip
    assert untouched(copy, before)
    (copy / "epoch-7.pth").write_bytes(before["last.pth"])  # an old run's later epoch must not survive --overwrite
    train_tool.main(["--overwrite", *tiny(data, copy, "train.max_epoch", "1", "toplight.trials", "1")])
    assert f"--overwrite: removed {copy / 'epoch-7.pth'}" in capsys.readouterr().out
    assert not (copy / "epoch-7.pth").exists() and (copy / "last.pth").is_file()


def test_config_yaml_is_written_only_once_loading_succeeded(copy, tmp_path):
    before = snapshot(copy)
    with pytest.raises(FileNotFoundError):
        train_tool.main(["--resume", *tiny(tmp_path / "missing", copy, "train.max_epoch", "2")])
    assert untouched(copy, before)
    with pytest.raises(FileNotFoundError):
        train_tool.main(tiny(tmp_path / "missing", tmp_path / "fresh"))
    assert not (tmp_path / "fresh" / "config.yaml").exists()


def test_an_evaluation_does_not_replace_another_runs_results(finished, copy, data, tmp_path):
    before = snapshot(copy)
    weights = tmp_path / "elsewhere.pth"
    shutil.copyfile(finished / "last.pth", weights)
    with pytest.raises(FileExistsError, match=rf"data.save_dir {copy} already holds results.json of another run "
                                              rf"\(--weights {weights} is not in that folder\)"):  # fmt: skip
        test_tool.main(["--weights", str(weights), *tiny(data, copy)])
    assert untouched(copy, before)


def test_tools_do_not_write_onto_their_inputs(copy, tmp_path, data):
    before = snapshot(copy)
    last = copy / "last.pth"
    link = tmp_path / "link.onnx"
    link.symlink_to(last)
    for output in (last, link):
        with pytest.raises(FileExistsError, match=f"--output {output} is the file --weights reads"):
            export_tool.main(["--model", "toplight_mobilenetv3_small", "--weights", str(last), "--output", str(output)])
    with pytest.raises(FileExistsError, match=f"--output {last} is the file --input reads"):
        soup_tool.main(["--input", str(last), "--output", str(last)])
    with pytest.raises(FileExistsError, match=f"--output {copy / 'epoch-1.pth'} is a run's checkpoint"):
        soup_tool.main(["--input", str(last), "--output", str(copy / "epoch-1.pth")])
    gallery = data / "SYSU-MM01" / "cam1"
    with pytest.raises(FileExistsError, match=rf"--output {copy} is the folder of a run \(config.yaml\); writing "
                                              "results.json and results.png there"):  # fmt: skip
        search_tool.main(["--gallery", str(gallery), "--query", str(gallery), "--output", str(copy)])
    assert untouched(copy, before)


# -- honest inputs ----------------------------------------------------------------------------------------------
def test_exif_orientation_is_applied(tmp_path):
    upright = np.zeros((40, 20, 3), np.uint8)
    upright[:10] = 255  # a white head
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # sideways, as a phone stores it
    exif = stored.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    stored.save(tmp_path / "side.jpg", exif=exif, quality=95)
    image = np.asarray(read_image(str(tmp_path / "side.jpg")))
    assert image.shape == (40, 20, 3)
    assert image[:10].mean() > 240 and image[-10:].mean() < 15


def test_resume_with_weights_is_refused(copy, data):
    before = snapshot(copy)
    with pytest.raises(ValueError, match=r"--resume restores the weights saved in the checkpoint it continues from, "
                                         rf"so --weights {copy / 'last.pth'} would not be loaded"):  # fmt: skip
        train_tool.main(["--resume", "--weights", str(copy / "last.pth"), *tiny(data, copy)])
    assert untouched(copy, before)


def _edit_last(folder: Path, edit) -> dict[str, bytes]:
    state = torch.load(folder / "last.pth", weights_only=True)
    edit(state)
    torch.save(state, folder / "last.pth")
    return snapshot(folder)


def _nan(state):
    state["state_dict"]["head.bn.weight"][0] = float("nan")


def _classes(state):
    weight = state["state_dict"]["head.classifier.weight"]
    state["state_dict"]["head.classifier.weight"] = torch.cat([weight, weight[:1]])


def _not_training(state):
    for key in ("optimizer", "scheduler", "epoch"):
        del state[key]


@pytest.mark.parametrize(
    ("edit", "extra", "message"),
    [
        (_nan, [], r"last.pth: 1 tensors hold NaN or inf values \(e.g. head.bn.weight\): the run that wrote it "
                   "diverged"),
        (_classes, [], r"last.pth: head.classifier.weight has shape \(\d+, \d+\), the model \(\d+, \d+\) \(another "
                       "number of identities"),
        (None, ["toplight.fdr", ""], r"last.pth: written for another model \(0 of this model's tensors missing, "
                                    r"\d+ unknown, e.g. backbone.neck"),
        (_not_training, [], r"last.pth: not a training checkpoint \(no 'epoch'\)"),
    ],
    ids=["nan", "class-count", "model", "not-a-training-checkpoint"],
)
def test_resume_checks_the_checkpoint_as_weights_are_checked(copy, data, edit, extra, message):
    before = _edit_last(copy, edit) if edit else snapshot(copy)
    with pytest.raises(ValueError, match=message):
        train_tool.main(["--resume", *tiny(data, copy, "train.max_epoch", "2", *extra)])
    assert untouched(copy, before)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a PyTorch weights file: it is empty"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 9\n", "it is a git-LFS pointer"),
        (b"<!DOCTYPE html>\n<html><body>Sign in</body></html>", "it is an HTML page"),
        (b"epoch,loss\n1,0.5\n", "it is a text file starting 'epoch,loss'"),
        (b"\x80\x04\x95\x0a\x00\x00", "neither the zip format of torch.save nor a readable pickle"),
    ],
    ids=["empty", "lfs-pointer", "html", "text", "broken-pickle"],
)
def test_files_that_are_not_pytorch_files_are_told_apart(tmp_path, capsys, content, message):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    line = one_line(capsys, "export_onnx", ["--model", "toplight_mobilenetv3_small", "--weights", str(path),
                                            "--output", str(tmp_path / "m.onnx")])  # fmt: skip
    assert line.startswith(f"{path}: ") and message in line
    assert "pickled objects" not in line and path.read_bytes() == content
    torch.save({"state_dict": {}, "module": torch.nn.Linear(2, 2)}, path)
    with pytest.raises(ValueError, match=r"holds pickled objects other than tensors and plain types \(torch.nn"):
        checkpoint.load(path)


@pytest.mark.parametrize("content", [b"version https://git-lfs.github.com/spec/v1\n", b"PK\x03\x04 not a graph"])
def test_onnx_files_are_checked_before_onnxruntime(tmp_path, data, capsys, content):
    graph = tmp_path / "model.onnx"
    graph.write_bytes(content)
    gallery = str(data / "SYSU-MM01" / "cam1")
    line = one_line(capsys, "search", ["--gallery", gallery, "--query", gallery, "--onnx", str(graph),
                                       "--output", str(tmp_path / "out")])  # fmt: skip
    assert line.startswith(f"{graph}: not a") and "ONNX model" in line


def test_a_batch_of_one_identity_is_refused_before_training(data, tmp_path):
    with pytest.raises(ValueError, match=r"train.batch_size 4 holds fewer than two identities of 2 x "
                                         r"sampler.num_instances \(4\) images, so the triplet loss has no negatives: "
                                         r"use train.batch_size 8 or more"):
        train_tool.main(tiny(data, tmp_path / "run", "train.batch_size", "4"))
    assert not (tmp_path / "run").exists()  # refused when the config is read, before the folder is made


def test_a_divergence_names_only_a_checkpoint_that_helps(copy, data, tmp_path, monkeypatch):
    from toplight_plugin.core.training.losses import IdentityTripletLoss

    forward = IdentityTripletLoss.forward

    def nan_loss(self, *args):
        losses = forward(self, *args)
        return {**losses, "loss": losses["loss"] * float("nan")}

    monkeypatch.setattr(IdentityTripletLoss, "forward", nan_loss)
    with pytest.raises(FloatingPointError, match=r"stopped before updating the weights, no checkpoint was written "
                                                 r"yet \(lower train.lr"):  # fmt: skip
        train_tool.main(tiny(data, tmp_path / "fresh", "train.max_epoch", "1"))
    assert not list((tmp_path / "fresh").glob("*.pth"))
    with pytest.raises(FloatingPointError, match=rf"no checkpoint was written since resuming from {copy / 'last.pth'}"
                                                 ", and resuming again replays its batches"):  # fmt: skip
        train_tool.main(["--resume", *tiny(data, copy, "train.max_epoch", "2")])


# -- one line, exit 2 -------------------------------------------------------------------------------------------
def test_make_synthetic_names_the_smallest_size(tmp_path, capsys):
    line = one_line(capsys, "make_synthetic", ["--size", "2", "2", "--root", str(tmp_path / "data")])
    assert line == "--size 2 2: the renderer needs images of at least 18 x 12 (height x width)"
    assert not (tmp_path / "data").exists()


def test_test_tool_missing_weights_is_a_user_error(tmp_path, capsys):
    missing = tmp_path / "missing.pth"
    assert one_line(capsys, "test", ["--weights", str(missing)]) == f"--weights {missing}: no such file"


def test_an_unreadable_image_in_a_dataloader_worker_is_one_line(tmp_path, capsys):
    root = make_sysu(tmp_path / "SYSU-MM01", num_ids=10, splits=(6, 2, 2), images_per_cam=2, size=(64, 32))
    for image in (root / "cam1").rglob("*.jpg"):
        image.write_bytes(b"\xff\xd8 truncated")
    capsys.readouterr()
    assert run("train", tiny(tmp_path, tmp_path / "run", "data.workers", "1", "train.max_epoch", "1")) == 2
    err = capsys.readouterr().err  # the progress bar of the batches before, then the error
    assert "Traceback" not in err and "DataLoader worker" not in err
    prefix = f"{os.path.basename(sys.argv[0])}: error: cannot read image {root / 'cam1'}/"
    assert err.strip().splitlines()[-1].startswith(prefix)
    assert not list((tmp_path / "run").glob("*.pth"))


def test_a_closed_pipe_ends_the_tool_quietly():
    code = "import sys; from toplight_plugin.cli.console import run; sys.exit(run('config'))"
    tool = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tool.stdout.close()  # the reader is gone before the tool prints (toplight-config | head -0)
    assert tool.wait(timeout=120) == 141
    assert tool.stderr.read() == b""


# -- search as careful as evaluation ----------------------------------------------------------------------------
def test_search_warns_on_random_weights_and_coloured_infrared_images(data, tmp_path, capsys):
    gallery, query = data / "SYSU-MM01" / "cam1", data / "SYSU-MM01" / "cam2"  # visible images searched as infrared
    with pytest.warns(UserWarning) as caught:
        search_tool.main(["--gallery", str(gallery), "--query", str(query), "--output", str(tmp_path / "out"),
                          "--model", "toplight_mobilenetv3_small", "data.height", "64", "data.width", "32"])
    messages = [str(w.message) for w in caught]
    assert any(m.startswith("no --weights: the model has random weights") for m in messages)
    queries = len(list(query.rglob("*.jpg")))
    assert any(m.startswith(f"{queries} image(s) searched as infrared have colour") for m in messages)
    assert "** no --weights" in capsys.readouterr().out


def test_search_warns_on_tied_distances():
    features = torch.nn.functional.normalize(torch.randn(5, 8), dim=1).numpy()
    assert "at the same distance from every gallery image" in tie_warning(features[:2] * 0 + features[0],
                                                                          np.repeat(features[1:2], 3, axis=0))
    nearly = np.array([[1.0, 0.0], [1.0, 6e-4], [1.0, 9e-4]], np.float32)
    assert "differ by less than 1e-06" in tie_warning(nearly[:1], nearly)
    assert tie_warning(features[:2], features[2:]) is None
