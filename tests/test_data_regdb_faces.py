"""RegDB and NIR-VIS face parsers: split files, directions, protocol defaults and their errors."""

import shutil

import numpy as np
import pytest
from PIL import Image

from toplight_plugin.core.data import faces, regdb
from toplight_plugin.core.data.records import INFRARED, VISIBLE, LayoutError


def test_regdb_trial_lists_and_directions(regdb_root):
    train = regdb.train_records(regdb_root, trial=3)
    assert {r.modality for r in train} == {VISIBLE, INFRARED}
    assert sorted({r.pid for r in train}) == list(range(4))
    query, gallery = regdb.eval_records(regdb_root, trial=3, direction="v2i")
    assert {r.modality for r in query} == {VISIBLE} and {r.modality for r in gallery} == {INFRARED}
    back_query, back_gallery = regdb.eval_records(regdb_root, trial=3, direction="i2v")
    assert back_query == gallery and back_gallery == query
    # Train and test identities of a trial are disjoint (compare by folder, labels restart at 0 in each list).
    folder = lambda records: {r.path.split("/")[-2] for r in records}  # noqa: E731
    assert not folder(train) & folder(query)
    assert regdb.train_records(regdb_root, trial=1) != train


def test_regdb_bad_lines_are_reported_with_numbers(regdb_root, tmp_path):
    broken = tmp_path / "regdb"
    shutil.copytree(regdb_root, broken)
    listing = broken / "idx" / "train_thermal_2.txt"
    lines = listing.read_text().splitlines()
    lines[1], lines[4] = "Thermal/1/only_a_path.bmp", "Thermal/1/x.bmp label"
    listing.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as info:
        regdb.train_records(broken, trial=2)
    message = str(info.value)
    assert "2 malformed or repeated line(s)" in message and "line 2:" in message and "line 5:" in message


def test_regdb_repeated_lines_and_train_test_overlap_are_errors(regdb_root, tmp_path):
    broken = tmp_path / "regdb"
    shutil.copytree(regdb_root, broken)
    listing = broken / "idx" / "train_visible_2.txt"
    lines = listing.read_text().splitlines()
    listing.write_text("\n".join([*lines, lines[0]]) + "\n")
    with pytest.raises(ValueError, match=rf"train_visible_2.txt: 1 malformed or repeated(.|\n)*line {len(lines) + 1}: "
                       rf"{lines[0].split()[0]} again \(first on line 1\)"):  # fmt: skip
        regdb.train_records(broken, trial=2)
    listing.write_text("\n".join(lines) + "\n")
    test_list = broken / "idx" / "test_thermal_2.txt"
    train_thermal = (broken / "idx" / "train_thermal_2.txt").read_text().splitlines()
    test_list.write_text(test_list.read_text() + train_thermal[0] + "\n")
    with pytest.raises(ValueError, match="test_thermal_2.txt: 1 image.s. also in the training list of trial 2"):
        regdb.eval_records(broken, trial=2)


def test_regdb_missing_files(regdb_root, tmp_path):
    broken = tmp_path / "regdb"
    shutil.copytree(regdb_root, broken)
    (broken / "idx" / "test_visible_7.txt").unlink()
    with pytest.raises(LayoutError, match="test_visible_7.txt"):
        regdb.eval_records(broken, trial=7)
    listed = regdb.records(broken, "train", "visible", 1)[0].path
    (broken / "Visible" / listed.split("/")[-2] / listed.split("/")[-1]).unlink()
    with pytest.raises(FileNotFoundError, match="1 listed image"):
        regdb.train_records(broken, trial=1)
    with pytest.raises(ValueError, match="1..10"):
        regdb.train_records(broken, trial=0)


def _faces(root, subjects, vis=3, nir=2):
    rng = np.random.default_rng(0)
    for s in range(subjects):
        for folder, count in (("VIS", vis), ("NIR", nir)):
            (root / folder / f"S{s:03d}").mkdir(parents=True, exist_ok=True)
            for n in range(count):
                pixels = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / folder / f"S{s:03d}" / f"{n:02d}.png")
    return root


def test_buaa_default_protocol(tmp_path):
    root = _faces(tmp_path, 152)
    (root / "NIR" / "S151").rename(root / "NIR" / "unused")  # S151 lacks NIR: excluded from the protocol
    split = faces.load(root, faces.BUAA)
    assert len({r.pid for r in split["train"]}) == 50
    assert len(split["gallery"]) == 100 and len(split["probe"]) == 200  # one VIS per subject, every NIR
    assert {r.modality for r in split["gallery"]} == {VISIBLE} and {r.modality for r in split["probe"]} == {INFRARED}
    assert {r.pid for r in split["gallery"]} == {r.pid for r in split["probe"]}


def test_oulu_split_files_override_defaults(tmp_path):
    root = _faces(tmp_path, 6)
    (root / "protocols").mkdir()
    (root / "protocols" / "train_subjects.txt").write_text("S004\nS005\n")
    (root / "protocols" / "test_subjects.txt").write_text("# held out\nS000\nS002\n")
    split = faces.load(root, faces.OULU)
    assert len(split["train"]) == 2 * 5 and len(split["gallery"]) == 2 * 3 and len(split["probe"]) == 2 * 2
    (root / "protocols" / "gallery.txt").write_text("VIS/S000/01.png\nVIS/S002/00.png\n")
    assert [r.path.split("/")[-1] for r in faces.load(root, faces.OULU)["gallery"]] == ["01.png", "00.png"]
    (root / "protocols" / "gallery.txt").write_text("VIS/S004/01.png\n")
    with pytest.raises(ValueError, match=r"gallery.txt:1: subject 'S004' is not a test subject"):
        faces.load(root, faces.OULU)


def test_face_errors(tmp_path):
    with pytest.raises(LayoutError, match="VIS"):
        faces.load(tmp_path, faces.OULU)
    root = _faces(tmp_path, 5)
    with pytest.raises(LayoutError, match="needs 40 subjects"):
        faces.load(root, faces.OULU)
    (root / "protocols").mkdir()
    (root / "protocols" / "train_subjects.txt").write_text("S000\nS009\n")
    (root / "protocols" / "test_subjects.txt").write_text("S001\n")
    with pytest.raises(ValueError, match="without both VIS and NIR images: S009"):
        faces.load(root, faces.OULU)


def test_a_subject_listed_twice_is_named_with_its_line(tmp_path):
    from toplight_plugin.core.data.records import read_name_list

    listing = tmp_path / "train.txt"
    listing.write_text("s001\n# a comment\ns002\ns001\n")
    with pytest.raises(ValueError, match=r"train.txt:4: s001 is listed twice"):
        read_name_list(listing)
