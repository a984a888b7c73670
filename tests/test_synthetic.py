"""The synthetic data: real layouts, modality properties, determinism, replacing a previous set (tests/test_matchers.py
and tests/test_learning.py: what it gives away and that it can be learned)."""

import numpy as np
import pytest
from PIL import Image

from toplight_plugin.cli.make_synthetic import main
from toplight_plugin.core.data.synthetic import make_imagefolder, make_regdb, make_sysu

SMALL = dict(num_ids=12, splits=(6, 2, 4), images_per_cam=2, size=(64, 32))


def _ids(root, split):
    return [int(v) for v in (root / "exp" / f"{split}_id.txt").read_text().strip().split(",")]


def test_sysu_layout(tmp_path):
    root = make_sysu(tmp_path, **SMALL)
    splits = [_ids(root, s) for s in ("train", "val", "test")]
    assert [len(s) for s in splits] == [6, 2, 4]
    assert sorted(sum(splits, [])) == list(range(1, 13))
    for pid in range(1, 13):
        present = {c for c in range(1, 7) if (root / f"cam{c}" / f"{pid:04d}").is_dir()}
        assert present & {1, 2, 4, 5} and present & {3, 6}
        for cam in present:
            assert sorted(p.name for p in (root / f"cam{cam}" / f"{pid:04d}").iterdir()) == ["0001.jpg", "0002.jpg"]


def test_infrared_has_equal_channels_and_visible_has_colour(tmp_path):
    root = make_sysu(tmp_path, **SMALL)
    ir = np.asarray(Image.open(next(root.glob("cam[36]/*/*.jpg"))), dtype=int)
    vis = np.asarray(Image.open(next(root.glob("cam[1245]/*/*.jpg"))), dtype=int)
    assert (
        ir.shape == (64, 32, 3)
        and np.abs(ir[..., 0] - ir[..., 1]).max() <= 2
        and np.abs(ir[..., 0] - ir[..., 2]).max() <= 2
    )
    assert np.abs(vis[..., 0] - vis[..., 1]).mean() > 10


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a, b, c = (make_sysu(tmp_path / n, seed=s, **SMALL) for n, s in (("a", 0), ("b", 0), ("c", 1)))
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert any(not (c / f).exists() or (a / f).read_bytes() != (c / f).read_bytes() for f in files)


def test_regdb_layout(tmp_path):
    root = make_regdb(tmp_path, num_ids=6, images_per_modality=3, size=(64, 32), trials=2)
    for t in (1, 2):
        for split in ("train", "test"):
            vis = (root / "idx" / f"{split}_visible_{t}.txt").read_text().split("\n")[:-1]
            thermal = (root / "idx" / f"{split}_thermal_{t}.txt").read_text().split("\n")[:-1]
            assert len(vis) == len(thermal) == 9
            for line in vis + thermal:
                rel, label = line.split(" ")
                assert (root / rel).is_file() and 0 <= int(label) < 3
            assert {int(line.split(" ")[1]) for line in vis} == {0, 1, 2}
    assert (root / "idx" / "train_visible_1.txt").read_text() != (root / "idx" / "train_visible_2.txt").read_text()


def test_imagefolder_and_cli(tmp_path):
    root = make_imagefolder(tmp_path / "if", num_classes=3, images_per_class=2, size=(48, 48))
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["class_000", "class_001", "class_002"]
    written = main(["--root", str(tmp_path / "cli"), "--dataset", "regdb", "--regdb-ids", "4", "--size", "64", "32",
                    "--preview", str(tmp_path / "people.png")])  # fmt: skip
    assert (written["regdb"] / "idx" / "test_thermal_10.txt").is_file() and written["regdb"].name == "RegDB"
    assert Image.open(tmp_path / "people.png").size == (8 * 32, 8 * 64)
    written = main(["--root", str(tmp_path / "f"), "--dataset", "imagefolder", "--classes", "2", "--size", "64", "32"])
    assert Image.open(written["imagefolder"] / "class_001" / "000.jpg").size == (32, 64)


def test_a_new_set_replaces_an_old_one_and_nothing_else(tmp_path):
    make_sysu(tmp_path / "s", **SMALL)
    (tmp_path / "s" / "cam1" / "stale.jpg").write_bytes(b"")
    make_sysu(tmp_path / "s", **{**SMALL, "seed": 1})
    assert not (tmp_path / "s" / "cam1" / "stale.jpg").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="not empty and holds no SYNTHETIC.txt"):
        make_sysu(tmp_path / "mine", **SMALL)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"splits \(3, 3, 3\) must sum to num_ids=10"):
        make_sysu("unused", num_ids=10, splits=(3, 3, 3))
    with pytest.raises(ValueError, match="num_ids must be even, got 5"):
        make_regdb("unused", num_ids=5)
