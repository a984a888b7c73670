"""Shared fixtures: small inputs so the whole suite stays fast on two CPU cores."""

import pytest
import torch

torch.set_num_threads(2)
torch.set_flush_denormal(True)  # randomly initialised nets produce denormals, which are slow on CPU

# (height, width) each model family is exercised at; LightCNN's fc fixes 128x128.
SMALL_SIZE = (64, 32)
FACE_SIZE = (128, 128)


def input_size(name: str) -> tuple[int, int]:
    return FACE_SIZE if name.startswith("lightcnn") else SMALL_SIZE


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
