"""Batches normalised on the device equal the worker pipeline's, and every random step of a pipeline draws from a
stream of its own."""

import numpy as np
import pytest
import torch
from test_engine import tiny

from toplight_plugin.core.data.device_normalize import on_device
from toplight_plugin.core.data.top_augment import TaskOrientedAugment
from toplight_plugin.core.data.transforms import (
    FIXED_STEPS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    PRESETS,
    ModalityAugment,
    device_normalize,
    reseed,
)
from toplight_plugin.core.models.configured import build_model
from toplight_plugin.core.training.config import load_config
from toplight_plugin.hosts.torchreid.build import build_datamanager, build_engine

IMAGES = [np.random.default_rng(i).integers(0, 256, (96, 48, 3), dtype=np.uint8) for i in range(48)]
# float32 rounding of (x - 255 m) / (255 s) computed in another order: a few ulps of values below 3
FLOAT_BOUND = 1e-5
# random-value erasing on the pixel scale: each value rounded to a whole level, half a level at most
LEVEL_BOUND = 0.5 / 255 / min(IMAGENET_STD) + FLOAT_BOUND


def _both(name):
    """The worker's float batch and the device-normalised one, same seed, same images."""
    batches = []
    for device_mode in (False, True):
        torch.manual_seed(11)
        augment = ModalityAugment.preset(name, 64, 32, on_device=device_mode)
        batches.append([augment(image, i % 2) for i, image in enumerate(IMAGES)])
    worker, device = batches
    images, ops = torch.stack([item[0] for item in device]), torch.stack([item[1] for item in device])
    assert images.dtype == torch.uint8 and ops.shape == (len(IMAGES), 6)
    normalise = device_normalize(IMAGENET_MEAN, IMAGENET_STD)
    return torch.stack(worker), normalise(images, ops), ops


@pytest.mark.parametrize("name", sorted(set(PRESETS) - {"paper"}))
def test_device_normalisation_gives_the_worker_batch(name):
    worker, device, ops = _both(name)
    torch.testing.assert_close(device, worker, atol=FLOAT_BOUND, rtol=0)
    if name in ("basic", "caj"):  # the recorded steps were exercised
        assert (ops[:, 2] > 0).any()
    if name == "caj":
        assert (ops[:, 4] >= 0).any() and (ops[:, 5] == 3).any() and ((ops[:, 5] >= 0) & (ops[:, 5] < 3)).any()


def test_random_value_erasing_on_the_pixel_scale_differs_by_half_a_level_at_most():
    worker, device, _ = _both("paper")
    difference = (device - worker).abs()
    assert difference.max() <= LEVEL_BOUND
    assert difference.max() > FLOAT_BOUND  # random-value erasing happened, and was rounded


def test_the_two_erasings_of_the_paper_preset_fire_independently():
    torch.manual_seed(3)
    augment = ModalityAugment.preset("paper", 64, 32, on_device=True)
    plain = np.full((64, 32, 3), 7, dtype=np.uint8)  # random-value erasing changes pixels of a flat image
    fired = [((image != 7).any().item(), bool(ops[2] > 0)) for image, ops in (augment(plain, 0) for _ in range(400))]
    both = sum(a and b for a, b in fired) / len(fired)
    assert 0.15 < both < 0.35, both  # p = 0.5 each: a quarter together, not a half


def _pipelines():
    yield from ModalityAugment.preset("caj", 64, 32).pipelines.values()
    yield from ModalityAugment.preset("paper", 64, 32).pipelines.values()
    yield from TaskOrientedAugment(64, 32).paths


def test_every_random_step_draws_from_a_stream_of_its_own():
    torch.manual_seed(5)
    pipelines = list(_pipelines())
    reseed(pipelines, None)
    firsts = [step.py_random.random() for p in pipelines for step in p.transforms if not isinstance(step, FIXED_STEPS)]
    assert len(firsts) > 10 and len(set(firsts)) == len(firsts)


def test_auto_normalises_on_cuda_only_and_a_wrong_choice_names_the_key():
    assert on_device("auto", torch.device("cuda", 0), "k") and not on_device("auto", torch.device("cpu"), "k")
    assert on_device("device", torch.device("cpu"), "k") and not on_device("worker", torch.device("cuda", 0), "k")
    with pytest.raises(ValueError, match="toplight.normalize_on must be one of"):
        on_device("gpu", torch.device("cpu"), "toplight.normalize_on")


def test_device_normalisation_refuses_float_input():
    with pytest.raises(TypeError, match="uint8"):
        device_normalize()(torch.zeros(1, 3, 4, 4))


def _first_batch(sysu_root, tmp_path, where):
    opts = tiny(sysu_root.parent, tmp_path / where, "toplight.augment", "caj", "toplight.normalize_on", where)
    cfg = load_config(None, opts)
    datamanager = build_datamanager(cfg, use_gpu=False)
    engine = build_engine(cfg, datamanager, build_model(cfg, datamanager.num_train_pids), use_gpu=False)
    torch.manual_seed(0)
    return engine, next(iter(engine.train_loader.loader))


def test_torchreid_engine_trains_on_uint8_batches_as_on_normalised_ones(sysu_root, tmp_path):
    """``toplight.normalize_on device``: the loader gives uint8 images and their post-normalisation steps; the
    engine's step normalises them into the batch the workers give with ``worker``."""
    _, worker = _first_batch(sysu_root, tmp_path, "worker")
    engine, batch = _first_batch(sysu_root, tmp_path, "device")
    assert batch["img"].dtype == torch.uint8 and worker["img"].dtype == torch.float32 and "post_ops" not in worker
    torch.testing.assert_close(engine.normalize(batch["img"], batch["post_ops"]), worker["img"], atol=FLOAT_BOUND,
                               rtol=0)  # fmt: skip
    engine.epoch = engine.batch_idx = 0
    engine.model.train()
    summary = engine.forward_backward(batch)
    assert np.isfinite(summary["loss"])
