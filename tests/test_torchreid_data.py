"""The plugin's datasets and sampler inside torchreid's own data manager."""

import shutil

import pytest

import toplight_plugin
from toplight_plugin.core.data.images import BadImageError
from toplight_plugin.core.data.transforms import ModalityAugment
from toplight_plugin.hosts.torchreid import compat
from toplight_plugin.hosts.torchreid.datasets import SYSUMM01, RegDB


def _manager(root, source, **kwargs):
    options = dict(height=64, width=32, batch_size_train=24, num_instances=3, workers=0, use_gpu=False)
    return compat.data().ImageDataManager(root=str(root), sources=source, **{**options, **kwargs})


def test_registration_is_idempotent():
    toplight_plugin.register_all()
    toplight_plugin.register_all()
    table = vars(compat.data().datasets)["__image_datasets"]
    assert table["sysumm01"] is SYSUMM01 and table["regdb"] is RegDB
    assert "CrossModalityPKSampler" in compat.data().sampler.AVAI_SAMPLERS
    assert compat.data().datamanager.build_train_sampler is compat.data().sampler.build_train_sampler


def test_sysu_through_the_data_manager(sysu_root):
    manager = _manager(sysu_root, "sysumm01", train_sampler="CrossModalityPKSampler")
    train = manager.train_loader.dataset.train
    largest = max(train.modalities.count(0), train.modalities.count(1))
    assert len(manager.train_loader) == largest // (4 * 3)  # P = 24 / (2 x 3) = 4, K = 3
    batch = next(iter(manager.train_loader))
    assert batch["img"].shape == (24, 3, 64, 32)
    assert batch["modality"].tolist() == [0, 0, 0, 1, 1, 1] * 4
    assert len(set(batch["pid"].tolist())) == 4
    query = manager.test_loader["sysumm01"]["query"].dataset
    assert set(query.data.modalities) == {1} and {item[2] for item in query.data} <= {3, 6}


def test_regdb_trial_from_split_id_and_other_samplers_untouched(regdb_root):
    manager = _manager(
        regdb_root, "regdb", split_id=4, train_sampler="RandomIdentitySampler", batch_size_train=8, num_instances=2
    )
    train = manager.train_loader.dataset
    assert train.train[0][0].endswith(open(regdb_root / "idx" / "train_visible_5.txt").read().split()[0])
    assert len(next(iter(manager.train_loader))["img"]) == 8


def test_sampler_errors():
    build = compat.data().sampler.build_train_sampler
    with pytest.raises(ValueError, match="needs the per-image modality"):
        build([("a.jpg", 0, 1, 0)], "CrossModalityPKSampler", batch_size=12, num_instances=3)


def test_batch_size_must_match_k(sysu_root):
    with pytest.raises(ValueError, match=r"must be a multiple of 2 x sampler.num_instances \(8\)"):
        _manager(sysu_root, "sysumm01", train_sampler="CrossModalityPKSampler", batch_size_train=20, num_instances=4)


def test_per_modality_augment_and_bad_images(sysu_root, tmp_path):
    root = tmp_path / "sysu"
    shutil.copytree(sysu_root, root)
    dataset = SYSUMM01(root=str(root), augment=ModalityAugment.preset("caj", 64, 32), verbose=False)
    item = dataset[0]
    assert item["img"].shape == (3, 64, 32) and item["modality"] in (0, 1)
    bad = dataset.train[5][0]
    with open(bad, "wb") as f:
        f.write(b"not a jpeg")
    with pytest.raises(BadImageError, match=bad):
        SYSUMM01(root=str(root), verbose=False)[5]
    with pytest.raises(BadImageError, match=rf"SYSUMM01: 1 unreadable image\(s\)(.|\n)*{bad}"):
        SYSUMM01(root=str(root), bad_images="check", verbose=False)  # before anything is trained
    with pytest.warns(UserWarning, match="skipped 1 unreadable image"):
        kept = SYSUMM01(root=str(root), bad_images="skip", verbose=False)
    assert len(kept.train) == len(dataset.train) - 1 and bad not in [item[0] for item in kept.train]
    assert len(kept.train.modalities) == len(kept.train)


def test_layout_error_through_torchreid(tmp_path):
    with pytest.raises(FileNotFoundError, match="SYSU-MM01: 9 expected path"):
        SYSUMM01(root=str(tmp_path))


def test_an_empty_query_set_is_named_with_the_folder(sysu_root, tmp_path):
    root = tmp_path / "SYSU-MM01"
    shutil.copytree(sysu_root, root)
    for cam in ("cam3", "cam6"):
        for folder in (root / cam).iterdir():
            shutil.rmtree(folder)
    with pytest.raises(FileNotFoundError, match=rf"SYSUMM01: no query images under {root}(.|\n)*Expected layout:"):
        SYSUMM01(root=str(root), verbose=False)


def test_a_batch_torchreid_cannot_draw_names_the_nearest_that_fit(sysu_root):
    """torchreid's own scripts fix the loader's batch, so the sampler refuses instead of fitting it, and says what
    fits: the multiples of 2 x K around it and the K values that divide it."""
    with pytest.raises(ValueError, match=r"use train.batch_size 60 or 72, or sampler.num_instances 4 or 8$"):
        _manager(sysu_root, "sysumm01", train_sampler="CrossModalityPKSampler", batch_size_train=64, num_instances=6)
    with pytest.raises(ValueError, match=r"no negatives: use train.batch_size 16 or more, or sampler.num_instances 2$"):
        _manager(sysu_root, "sysumm01", train_sampler="CrossModalityPKSampler", batch_size_train=8, num_instances=4)
