"""torchreid's own engines, loaders and tools on the plugin's datasets and models, built as torchreid's
``scripts/main.py`` builds them: the published protocol, modality routing, partial-load reports, visrank, ranks."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import toplight_plugin
from toplight_plugin.cli import test as test_tool
from toplight_plugin.hosts.torchreid import compat

REID = compat.torchreid()
NAME = "toplight_shufflenetv2_x1_0"  # BatchNorm momentum 0.1: features of an untrained net still differ
SIZE = dict(height=64, width=32)


@pytest.fixture(scope="module")
def stock(sysu_root):
    """torchreid's data manager, build_model, optimizer and ImageTripletEngine, as scripts/main.py makes them."""
    datamanager = REID.data.ImageDataManager(
        root=str(sysu_root.parent), sources="sysumm01", **SIZE, batch_size_train=16, batch_size_test=32, workers=0,
        num_instances=2, train_sampler="CrossModalityPKSampler", use_gpu=False,
    )  # fmt: skip
    model = REID.models.build_model(NAME, datamanager.num_train_pids, loss="triplet", pretrained=False)
    optimizer = REID.optim.build_optimizer(model, optim="adam", lr=3e-4)
    engine = REID.engine.ImageTripletEngine(datamanager, model, optimizer=optimizer, use_gpu=False)
    return datamanager, model, engine


def test_each_training_image_reaches_its_modalitys_stem(stock):
    datamanager, model, engine = stock
    seen = {0: [], 1: []}
    hooks = [
        model.backbone.stems[m].register_forward_hook(lambda _, args, __, m=m: seen[m].append(args[0].clone()))
        for m in (0, 1)
    ]
    data = next(iter(datamanager.train_loader))
    try:
        engine.forward_backward(data)
    finally:
        for hook in hooks:
            hook.remove()
    modality = data["modality"]
    assert 0 < int(modality.sum()) < len(modality)  # the sampler mixes both modalities in a batch
    for m in (0, 1):
        assert len(seen[m]) == 1
        torch.testing.assert_close(seen[m][0], data["img"][modality == m], rtol=0, atol=0)
    assert model.backbone.routed is None  # used once, not carried into the next call


def test_stock_test_gives_the_published_protocol_and_the_numbers_of_toplight_test(stock, sysu_root, tmp_path, capsys):
    _, model, engine = stock
    weights = tmp_path / "weights.pth"
    torch.save({"state_dict": model.state_dict()}, weights)
    engine.test(save_dir=str(tmp_path / "stock"), ranks=[1, 5, 10, 20])
    printed = capsys.readouterr().out
    assert "Computing CMC" not in printed  # torchreid's Market-rule path never ran
    mine = test_tool.main([
        "--weights", str(weights), "model.name", NAME, "data.root", str(sysu_root.parent), "data.height", "64",
        "data.width", "32", "data.workers", "0", "test.batch_size", "32", "data.save_dir", str(tmp_path / "tool"),
    ])  # fmt: skip
    stock_results = engine.last_results
    assert set(stock_results) == set(mine) == {"sysu_all", "sysu_indoor"}
    for protocol, summary in mine.items():
        assert len(stock_results[protocol]["trials"]) == len(summary["trials"]) == 10
        for key in ("rank1", "rank10", "rank20", "mAP", "mINP"):
            assert stock_results[protocol][key] == pytest.approx(summary[key], abs=1e-6)
    # torchreid's tools/parse_test_res.py reads these lines from the log
    rank1 = re.findall(r"Rank-1  : ([\.\deE+-]+)%", printed)
    mean_ap = re.findall(r"mAP: ([\.\deE+-]+)%", printed)
    assert float(rank1[-1]) == pytest.approx(mine["sysu_all"]["rank1"], abs=0.05 + 1e-6)  # printed to one decimal
    assert float(mean_ap[-1]) == pytest.approx(mine["sysu_all"]["mAP"], abs=0.05 + 1e-6)  # printed to one decimal


def _stock_test(root: Path, source: str, save_dir: Path) -> tuple[dict, Path]:
    """torchreid's data manager and ImageSoftmaxEngine on ``source``, tested untrained; its results and weights."""
    datamanager = REID.data.ImageDataManager(
        root=str(root), sources=source, **SIZE, batch_size_train=4, num_instances=1, batch_size_test=32, workers=0,
        train_sampler="CrossModalityPKSampler", use_gpu=False,
    )  # fmt: skip
    model = REID.models.build_model(NAME, datamanager.num_train_pids, loss="softmax", pretrained=False)
    engine = REID.engine.ImageSoftmaxEngine(datamanager, model, optimizer=None, use_gpu=False)
    engine.test(save_dir=str(save_dir / "stock"), ranks=[1, 5, 10, 20])
    torch.save({"state_dict": model.state_dict()}, save_dir / "weights.pth")
    return engine.last_results, save_dir / "weights.pth"


PROTOCOLS = {  # source -> (its protocols, the figures each reports)
    "regdb": ({"regdb_v2i", "regdb_i2v"}, ("rank1", "rank10", "rank20", "mAP", "mINP")),
    "oulu_nirvis": ({"oulunirvis"}, ("rank1", "vr@far0.01", "vr@far0.001")),
}


@pytest.mark.parametrize("source", sorted(PROTOCOLS))
def test_stock_test_on_regdb_and_a_face_set_gives_the_numbers_of_toplight_test(source, regdb_root, tmp_path):
    from test_data_regdb_faces import _faces

    root = regdb_root.parent if source == "regdb" else _faces(tmp_path / "data" / "Oulu-CASIA-NIR-VIS", 40).parent
    stock, weights = _stock_test(root, source, tmp_path)
    mine = test_tool.main([
        "--weights", str(weights), "model.name", NAME, "data.root", str(root), "data.sources", f"['{source}']",
        "data.targets", f"['{source}']", "data.height", "64", "data.width", "32", "data.workers", "0",
        "data.save_dir", str(tmp_path / "tool"),
    ])  # fmt: skip
    protocols, figures = PROTOCOLS[source]
    assert set(stock) == set(mine) == protocols
    for protocol, summary in mine.items():
        for key in figures:
            assert stock[protocol][key] == pytest.approx(summary[key], abs=1e-6)


def test_ranks_beyond_the_gallery_read_the_last_cmc_value(stock, tmp_path):
    _, _, engine = stock
    engine.test(save_dir=str(tmp_path), ranks=[1, 500])
    for summary in engine.last_results.values():
        assert summary["rank500"] == pytest.approx(summary["rank20"])  # the gallery has 6 identities


def test_visrank_keeps_one_picture_per_query(stock, tmp_path):
    datamanager, _, engine = stock
    engine.test(save_dir=str(tmp_path), visrank=True, visrank_topk=3)
    pictures = sorted((tmp_path / "visrank_sysumm01").glob("*.jpg"))
    queries = datamanager.fetch_test_loaders("sysumm01")[0]
    assert len(pictures) == len(queries)
    assert len({Path(q[0]).name for q in queries}) < len(queries)  # torchreid's names would overwrite each other
    assert pictures[0].name.startswith("cam3_")


def test_torchreids_own_evaluation_still_runs_on_its_own_datasets(stock, capsys):
    """A dataset that is not the plugin's keeps torchreid's Market-rule evaluation."""
    _, _, engine = stock
    items = [{"img": torch.rand(3, 64, 32), "pid": i % 2, "camid": i % 3} for i in range(6)]
    loader = torch.utils.data.DataLoader(items, batch_size=3)
    rank1, _ = engine._evaluate("market", loader, loader, ranks=[1])
    assert "Computing CMC and mAP" in capsys.readouterr().out
    assert 0 <= rank1 <= 1  # torchreid's fraction, not the plugin's percent


def test_a_partial_load_through_torchreids_loader_is_reported(tmp_path):
    baseline = toplight_plugin.build(NAME, 10, fdr=None, **SIZE)
    path = tmp_path / "baseline.pth"
    torch.save({"state_dict": baseline.state_dict()}, path)
    with_fdr = REID.models.build_model(NAME, 10, loss="triplet", pretrained=False)
    with pytest.warns(UserWarning, match=r"does not cover \d+ tensors of the model.*backbone\.neck\."):
        REID.utils.load_pretrained_weights(with_fdr, str(path))
    torch.save({"state_dict": with_fdr.state_dict()}, path)
    with_fdr.load_state_dict(torch.load(path, weights_only=True)["state_dict"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        REID.utils.load_pretrained_weights(with_fdr, str(path))  # a complete file: nothing to report


@pytest.mark.parametrize("name", sorted(n for n in toplight_plugin.MODELS if not n.endswith("_nofdr")))
def test_return_featuremaps_gives_the_maps_before_pooling(name):
    """torchreid's tools/visualize_actmap.py calls ``model(images, return_featuremaps=True)``."""
    height, width = (128, 128) if name.startswith("lightcnn") else (64, 32)
    model = toplight_plugin.build(name, 5, height=height, width=width).eval()
    with torch.no_grad():
        maps = model(torch.rand(2, 3 if not name.startswith("lightcnn") else 1, height, width), return_featuremaps=True)
    assert maps.dim() == 4 and maps.shape[0] == 2 and np.prod(maps.shape[-2:]) > 1
