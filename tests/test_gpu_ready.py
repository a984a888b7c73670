"""What keeps a GPU busy, exercised on the CPU: a training step reads the host once, precision choices and the
FP32 distances, fp16-safe products, resume facts."""

import contextlib

import numpy as np
import pytest
import torch
from test_engine import tiny

import toplight_plugin
from toplight_plugin.core.models.agw import NonLocal
from toplight_plugin.core.models.configured import build_model
from toplight_plugin.core.models.ddag import IWPA
from toplight_plugin.core.training import checkpoint, precision
from toplight_plugin.core.training.config import load_config
from toplight_plugin.hosts.torchreid.build import build_datamanager, build_engine

READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__", "__index__")
SYNCING = ("nonzero", "unique", "masked_select")  # a device-sized result: the host waits for the device


@contextlib.contextmanager
def counting_host_reads(host_copy: torch.Tensor):
    """Every call that, on a GPU, waits for the device: a value read (``item``, ``bool(t)``, ...), an op whose output
    size depends on the values, a boolean-mask index. ``host_copy.numpy()`` (the loader's CPU tensor) is free."""
    reads = []

    def wrap(owner, name):
        original = getattr(owner, name)

        def counted(*args, **kwargs):
            target = args[0] if args else None
            if not (name == "numpy" and target is host_copy):
                reads.append(name)
            return original(*args, **kwargs)

        return original, counted

    def getitem(original):
        def counted(self, index):
            if isinstance(index, torch.Tensor) and index.dtype == torch.bool:
                reads.append("mask index")
            return original(self, index)

        return counted

    patched = [(torch.Tensor, name, *wrap(torch.Tensor, name)) for name in READS + SYNCING]
    patched += [(torch, name, *wrap(torch, name)) for name in SYNCING]
    patched.append((torch.Tensor, "__getitem__", torch.Tensor.__getitem__, getitem(torch.Tensor.__getitem__)))
    for owner, name, _, counted in patched:
        setattr(owner, name, counted)
    try:
        yield reads
    finally:
        for owner, name, original, _ in patched:
            setattr(owner, name, original)


@pytest.mark.parametrize("name, amp", [("toplight_mobilenetv3_small", "off"), ("toplight_mobilenetv3_small", "bf16"),
                                       ("ddag_resnet50", "off")])  # fmt: skip
def test_a_training_step_reads_the_host_once(sysu_root, tmp_path, name, amp):
    """Routing on the loader's host copy of the modality codes, losses + accuracy + finite flag in one read; the
    fused optimizer (what build_optimizer gives on CUDA) steps without reading."""
    opts = tiny(sysu_root.parent, tmp_path, "toplight.amp", amp)
    opts[opts.index("model.name") + 1] = name
    cfg = load_config(None, opts)
    datamanager = build_datamanager(cfg, use_gpu=False)
    engine = build_engine(cfg, datamanager, build_model(cfg, datamanager.num_train_pids), use_gpu=False)
    engine.optimizer = torch.optim.AdamW(engine.net.parameters(), lr=1e-4, fused=True)
    engine.epoch, engine.batch_idx = 0, 0
    batch = next(iter(engine.train_loader.loader))
    assert set(batch["modality"].tolist()) == {0, 1}  # a mixed batch: both stems run
    engine.model.train()
    before = [p.detach().clone() for p in engine.net.parameters()]
    with counting_host_reads(batch["modality"]) as reads:
        summary = engine.forward_backward(batch)
    assert reads == ["tolist"], reads
    assert {"loss", "acc"} <= set(summary) and all(isinstance(v, float) for v in summary.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, engine.net.parameters(), strict=True))


def test_routing_on_host_codes_matches_a_single_modality_run():
    net = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=3, height=64, width=32).backbone.eval()
    x, codes = torch.randn(6, 3, 64, 32), np.array([1, 0, 0, 1, 1, 0])
    with torch.no_grad():
        mixed = net(x, codes)
        assert torch.equal(mixed, net(x, torch.from_numpy(codes)))
        for m in (0, 1):
            torch.testing.assert_close(mixed[codes == m], net(x[codes == m], m))
    with pytest.raises(ValueError, match="modality codes must be 0 .visible. or 1 .infrared., got \\[0, 2\\]"):
        net(x, [0, 2, 0, 0, 0, 0])


def test_precision_choices():
    cpu = torch.device("cpu")
    assert precision.amp_dtype("auto", cpu) is None and precision.amp_dtype("off", cpu) is None
    assert precision.amp_dtype("bf16", cpu) is torch.bfloat16
    with pytest.raises(ValueError, match="top.amp fp16 needs CUDA"):
        precision.amp_dtype("fp16", cpu, "top.amp")
    assert not precision.grad_scaler(cpu, torch.bfloat16).is_enabled()


def test_distances_stay_fp32_under_autocast_and_tf32():
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16), precision.fp32_distances("cpu"):
            assert not torch.is_autocast_enabled("cpu") and not torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32


def _scale(factor: float, *layers: torch.nn.Module) -> None:
    with torch.no_grad():
        for layer in layers:
            layer.weight.mul_(factor)


def test_fp16_products_do_not_overflow():
    """DDAG's q k^T over 2,048 channels and AGW's θᵀφ reach 1e5 here, past fp16's 65,504, while the outputs fit."""
    torch.manual_seed(0)
    iwpa, block = IWPA(2048, 3).eval(), NonLocal(256).eval()
    _scale(50, iwpa.query, iwpa.key, block.theta, block.phi)
    _scale(0.01, block.g)
    maps, glob = torch.randn(2, 2048, 6, 3) * 3, torch.zeros(2, 2048)
    with torch.no_grad():
        block.W[1].weight.fill_(1.0)
        x = torch.randn(2, 256, 6, 3) * 3
        for module, inputs in ((iwpa, (maps, glob)), (block, (x,))):
            full = module(*inputs)
            half = module.half()(*(t.half() for t in inputs)).float()
            assert torch.isfinite(half).all()
            torch.testing.assert_close(half, full, atol=0.05 * full.abs().max().item(), rtol=0)


def test_resume_keeps_the_global_batch_or_stops(tmp_path):
    state = {"run": checkpoint.run_facts(2, 48, torch.bfloat16)}
    assert checkpoint.resumed_batch(state, 2, 48, "last.pth") == (48, [])
    batch, lines = checkpoint.resumed_batch(state, 4, 48, "last.pth")
    assert batch == 24 and lines == ["resuming on 4 processes where 2 trained: train.batch_size 48 -> 24 per process "
                                     "keeps the global batch 96"]  # fmt: skip
    with pytest.raises(ValueError, match="which 5 processes cannot share"):
        checkpoint.resumed_batch(state, 5, 48, "last.pth")
    with pytest.raises(ValueError, match="trained with train.batch_size 48 per process, this run asks for 32"):
        checkpoint.resumed_batch(state, 2, 32, "last.pth")
    assert checkpoint.resumed_batch({}, 3, 32, "old.pth") == (32, [])


class FP16Scaler:
    """What restore_scaler uses of an enabled GradScaler (one needs CUDA)."""

    def __init__(self):
        self.state = None

    def is_enabled(self):
        return True

    def load_state_dict(self, state):
        self.state = state


def test_scaler_state_is_restored_only_when_there_is_one():
    scaler = FP16Scaler()
    assert checkpoint.restore_scaler(scaler, {"scaler": {"scale": 8.0}}, "a.pth") == []
    assert scaler.state == {"scale": 8.0}
    assert checkpoint.restore_scaler(FP16Scaler(), {"scaler": {}}, "a.pth") == [
        "a.pth: saved without an fp16 loss scale; the scaler starts from its initial scale"]  # fmt: skip
    disabled = torch.amp.GradScaler("cuda", enabled=False)
    assert checkpoint.restore_scaler(disabled, {"scaler": {"scale": 8.0}}, "a.pth") == [
        "a.pth: its fp16 loss scale is unused, this run is not fp16"]  # fmt: skip
    assert checkpoint.restore_scaler(disabled, {}, "a.pth") == []


def test_loader_benchmark_times_both_pipelines(capsys):
    from toplight_plugin.cli import bench_loader

    rates = bench_loader.main(["--workers", "1", "--batches", "1", "--batch-size", "4", "--height", "64",
                               "--width", "32"])  # fmt: skip
    assert set(rates) == {f"{p}/{w}/1" for p in ("vi", "top") for w in ("worker", "device")}
    assert min(rates.values()) > 0
    out = capsys.readouterr().out
    assert "| vi | float32, normalised in the workers | 1 |" in out
    assert "| top | uint8, normalised on the device | 1 |" in out
    with pytest.raises(ValueError, match="--workers, --batches and --batch-size must be at least 1"):
        bench_loader.main(["--workers", "0"])


class Noise(torch.utils.data.Dataset):
    """Items drawn from torch's generator where they are made (in a loader worker: the worker's seed)."""

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return torch.rand(2)


def test_persistent_workers_draw_what_fresh_workers_draw_every_epoch():
    """Each epoch's workers seeded as a new DataLoader iterator seeds them, so a run (and a resume, which starts
    fresh workers) is the same with persistent workers as without."""
    from toplight_plugin.core.data.loading import PersistentLoader
    from toplight_plugin.core.training.seeding import seed_epoch

    fresh = torch.utils.data.DataLoader(Noise(), batch_size=4, num_workers=1)
    persistent = PersistentLoader(fresh)
    assert persistent.loader.persistent_workers and len(persistent) == 2
    epochs = {}
    for name, loader in (("fresh", fresh), ("persistent", persistent)):
        for epoch in range(2):
            seed_epoch(1, epoch)
            epochs.setdefault(name, []).append(torch.cat(list(loader)))
            epochs[name].append(torch.rand(1))  # torch's generator in the main process after the epoch's draw
    for a, b in zip(epochs["fresh"], epochs["persistent"], strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(epochs["persistent"][0], epochs["persistent"][2])


class OpenCVThreads(torch.utils.data.Dataset):
    """Each item: the OpenCV thread count where it is made, after a resize large enough to use OpenCV's pool."""

    def __len__(self):
        return 4

    def __getitem__(self, index):
        import cv2

        cv2.resize(np.zeros((960, 1280, 3), np.uint8), (640, 480))
        return cv2.getNumThreads()


def test_training_loader_workers_run_opencv_on_one_thread():
    from toplight_plugin.core.data.loading import PersistentLoader

    loader = PersistentLoader(torch.utils.data.DataLoader(OpenCVThreads(), batch_size=2, num_workers=2))
    for _ in range(2):  # two epochs of the same workers
        assert torch.cat(list(loader)).tolist() == [1, 1, 1, 1]


def test_sync_batchnorm_is_refused_outside_several_gpu_processes(sysu_root, tmp_path):
    cfg = load_config(None, tiny(sysu_root.parent, tmp_path, "toplight.sync_bn", "True"))
    datamanager = build_datamanager(cfg, use_gpu=False)
    with pytest.raises(ValueError, match="toplight.sync_bn True needs several GPU processes"):
        build_engine(cfg, datamanager, build_model(cfg, datamanager.num_train_pids), use_gpu=False)
