"""SYSU-MM01 parser: the public protocol's file lists, exactly, and clear errors on broken trees."""

import os
import random
import shutil

import numpy as np
import pytest
from scipy.io import savemat

from toplight_plugin.core.data.records import INFRARED, VISIBLE, LayoutError
from toplight_plugin.data.sysu_mm01 import gallery_records, query_files, sample_gallery, train_records


def _public_gallery(data_path, mode, trial):
    """Step-by-step rewrite of process_gallery_sysu (mangye16/Cross-Modal-Re-ID-baseline, data_manager.py)."""
    random.seed(trial)
    cameras = ["cam1", "cam2", "cam4", "cam5"] if mode == "all" else ["cam1", "cam2"]
    with open(os.path.join(data_path, "exp/test_id.txt")) as f:
        ids = [f"{int(y):04d}" for y in f.read().splitlines()[0].split(",")]
    files = []
    for pid in sorted(ids):
        for cam in cameras:
            img_dir = os.path.join(data_path, cam, pid)
            if os.path.isdir(img_dir):
                files.append(random.choice(sorted(img_dir + "/" + i for i in os.listdir(img_dir))))
    return files


def _public_query(data_path):
    with open(os.path.join(data_path, "exp/test_id.txt")) as f:
        ids = [f"{int(y):04d}" for y in f.read().splitlines()[0].split(",")]
    files = []
    for pid in sorted(ids):
        for cam in ["cam3", "cam6"]:
            img_dir = os.path.join(data_path, cam, pid)
            if os.path.isdir(img_dir):
                files.extend(sorted(img_dir + "/" + i for i in os.listdir(img_dir)))
    return files


@pytest.mark.parametrize("mode", ["all", "indoor"])
@pytest.mark.parametrize("trial", range(10))
def test_gallery_picks_equal_the_public_code(sysu_root, mode, trial):
    expected = [os.path.realpath(p) for p in _public_gallery(str(sysu_root), mode, trial)]
    state = random.getstate()
    assert sample_gallery(sysu_root, mode, trial) == expected
    assert random.getstate() == state  # the global generator is left alone


def test_query_equals_the_public_code_and_is_infrared(sysu_root):
    assert query_files(sysu_root) == [os.path.realpath(p) for p in _public_query(str(sysu_root))]
    cams = {int(p.split(os.sep)[-3][3:]) for p in query_files(sysu_root)}
    assert cams <= {3, 6}


def test_trials_differ_and_multi_shot_takes_up_to_ten(sysu_root):
    assert sample_gallery(sysu_root, trial=0) != sample_gallery(sysu_root, trial=1)
    multi = gallery_records(sysu_root, "all", 0, shots=10)
    per_folder = {}
    for r in multi:
        per_folder[(r.pid, r.camid)] = per_folder.get((r.pid, r.camid), 0) + 1
    assert set(per_folder.values()) == {3}  # every folder has 3 images, fewer than 10: all taken
    assert gallery_records(sysu_root, "all", 0, shots=10) == multi


def test_train_records_relabel_and_modalities(sysu_root):
    records = train_records(sysu_root)
    assert sorted({r.pid for r in records}) == list(range(14))  # 10 train + 4 val ids
    assert all((r.modality == INFRARED) == (r.camid in (3, 6)) for r in records)
    assert {r.modality for r in records} == {VISIBLE, INFRARED}
    test_ids = {int(p.split(os.sep)[-2]) for p in query_files(sysu_root)}
    assert not test_ids & {int(r.path.split(os.sep)[-2]) for r in records}


def test_official_permutation_file(sysu_root, tmp_path):
    # A rand_perm_cam.mat shaped like the kit's: per camera a cell of per-id (trials x images) 1-based numbers.
    num_ids, rng = 20, np.random.default_rng(0)
    perm = np.empty((6, 1), dtype=object)
    for cam in range(1, 7):
        cell = np.empty((num_ids, 1), dtype=object)
        for pid in range(1, num_ids + 1):
            folder = sysu_root / f"cam{cam}" / f"{pid:04d}"
            n = len(os.listdir(folder)) if folder.is_dir() else 0
            cell[pid - 1, 0] = np.stack([rng.permutation(n) + 1 for _ in range(10)]) if n else np.zeros((0, 0))
        perm[cam - 1, 0] = cell
    mat = tmp_path / "rand_perm_cam.mat"
    savemat(mat, {"rand_perm_cam": perm})
    picked = gallery_records(sysu_root, "indoor", trial=4, rand_perm=mat)
    assert [r.camid for r in picked] == sorted(r.camid for r in picked)  # camera by camera, as the kit lists them
    for r in picked:
        row = perm[r.camid - 1, 0][r.pid - 1, 0][4]
        assert int(os.path.basename(r.path)[:4]) == row[0]
    with pytest.raises(ValueError, match="not a SYSU-MM01 rand_perm_cam.mat"):
        bad = tmp_path / "bad.mat"
        savemat(bad, {"other": np.zeros(3)})
        gallery_records(sysu_root, rand_perm=bad)


def test_incomplete_tree_names_every_missing_path(sysu_root, tmp_path):
    broken = tmp_path / "sysu"
    shutil.copytree(sysu_root, broken)
    shutil.rmtree(broken / "cam6")
    (broken / "exp" / "val_id.txt").unlink()
    with pytest.raises(LayoutError) as info:
        train_records(broken)
    message = str(info.value)
    assert "2 expected path(s) missing" in message and "cam6" in message and "val_id.txt" in message
    assert "Expected layout" in message and "exp/test_id.txt" in message


def test_bad_id_file_names_file_and_line(sysu_root, tmp_path):
    broken = tmp_path / "sysu"
    shutil.copytree(sysu_root, broken)
    (broken / "exp" / "test_id.txt").write_text("\n3,4,x5\n")
    with pytest.raises(ValueError, match=r"test_id.txt:2: expected comma-separated integer ids, found 'x5'"):
        query_files(broken)


def test_repeated_ids_and_test_ids_seen_in_training_are_errors(sysu_root, tmp_path):
    broken = tmp_path / "sysu"
    shutil.copytree(sysu_root, broken)
    test_ids = (broken / "exp" / "test_id.txt").read_text().strip().split(",")
    (broken / "exp" / "test_id.txt").write_text(",".join([*test_ids, test_ids[1]]) + "\n")
    with pytest.raises(ValueError, match=rf"test_id.txt:1: id {int(test_ids[1])} is listed twice"):
        query_files(broken)
    train_ids = (broken / "exp" / "train_id.txt").read_text().strip()
    (broken / "exp" / "test_id.txt").write_text(",".join(test_ids) + "\n")
    (broken / "exp" / "train_id.txt").write_text(f"{train_ids},{test_ids[0]}\n")
    with pytest.raises(ValueError, match=r"test_id.txt: 1 test id\(s\) also in train_id.txt / val_id.txt"):
        train_records(broken)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"mode": "outdoor"}, "search mode"), ({"shots": 5}, "shots"), ({"trial": -1}, "trial")],
)
def test_bad_options(sysu_root, kwargs, message):
    with pytest.raises(ValueError, match=message):
        gallery_records(sysu_root, **kwargs)
