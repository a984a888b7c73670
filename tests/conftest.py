"""Shared fixtures: small inputs so the whole suite stays fast on two CPU cores."""

import os

import pytest
import torch

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))  # one per xdist worker under make test
torch.set_flush_denormal(True)  # randomly initialised nets produce denormals, which are slow on CPU

# (height, width) each model family is exercised at; LightCNN's fc fixes 128x128.
SMALL_SIZE = (64, 32)
FACE_SIZE = (128, 128)


def input_size(name: str) -> tuple[int, int]:
    return FACE_SIZE if name.startswith("lightcnn") else SMALL_SIZE


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def sysu_root(tmp_path_factory):
    """A small synthetic SYSU-MM01 tree, shared read-only by the data tests."""
    from toplight_plugin.core.data.synthetic import make_sysu

    return make_sysu(
        tmp_path_factory.mktemp("sysu") / "SYSU-MM01", num_ids=20, splits=(10, 4, 6), images_per_cam=3, size=(64, 32)
    )


@pytest.fixture(scope="session")
def regdb_root(tmp_path_factory):
    from toplight_plugin.core.data.synthetic import make_regdb

    return make_regdb(
        tmp_path_factory.mktemp("regdb") / "RegDB", num_ids=8, images_per_modality=3, size=(64, 32), trials=10
    )
