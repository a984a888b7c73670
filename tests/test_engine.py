"""The VI engine inside torchreid: losses, one epoch, checkpoints, the test tool, configs."""

import json
import re
from pathlib import Path

import pytest
import torch

import toplight_plugin
from toplight_plugin.cli import curves as curves_tool
from toplight_plugin.cli import test as test_tool
from toplight_plugin.cli import train as train_tool
from toplight_plugin.core.analysis.curves import read_curves
from toplight_plugin.core.models.configured import build_model
from toplight_plugin.core.training.config import load_config
from toplight_plugin.core.training.losses import IdentityTripletLoss, batch_hard_triplet
from toplight_plugin.core.training.pretrain import get_default_config as pretrain_defaults
from toplight_plugin.hosts.torchreid import compat

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in ROOT.glob("configs/**/*.yaml") if p.parent.name != "fastreid")  # tests/test_fastreid*.py


def tiny(root, save_dir, *extra):
    """Overrides for a seconds-long run on the synthetic SYSU-MM01 tree."""
    return [
        "model.name", "toplight_mobilenetv3_small", "model.pretrained", "False",
        "data.root", str(root), "data.height", "64", "data.width", "32", "data.workers", "0",
        "data.save_dir", str(save_dir), "train.batch_size", "16", "sampler.num_instances", "2",
        "train.print_freq", "1000", "test.eval_freq", "-1", "toplight.trials", "2", *extra,
    ]  # fmt: skip


def test_batch_hard_triplet_against_a_direct_formula():
    torch.manual_seed(0)
    f, pids = torch.randn(8, 5), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    d = torch.cdist(f, f)
    expected = []
    for i in range(8):
        pos = max(d[i, j] for j in range(8) if pids[j] == pids[i])
        neg = min(d[i, j] for j in range(8) if pids[j] != pids[i])
        expected.append(torch.relu(pos - neg + 0.3))
    torch.testing.assert_close(batch_hard_triplet(f, pids, 0.3), torch.stack(expected).mean())


def test_losses_are_finite_and_decrease_on_a_fixed_batch():
    model = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=4, loss="triplet", height=64, width=32)
    criterion = IdentityTripletLoss(gamma=0.5)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    imgs, pids = torch.randn(16, 3, 64, 32), torch.arange(4).repeat_interleave(4)
    modality = torch.tensor([0, 0, 1, 1] * 4)
    model.train()
    history = []
    for _ in range(8):
        losses = criterion(*model(imgs, modality), pids)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        assert all(torch.isfinite(v) for v in losses.values())
        history.append(losses["loss"].item())
    assert history[-1] < history[0]
    assert losses["loss"].item() == pytest.approx(losses["loss_id"].item() + 0.5 * losses["loss_tri"].item())


def test_one_epoch_then_the_test_tool(sysu_root, tmp_path, capsys):
    save = tmp_path / "run"
    # channels_last here; the resume and DDP tests cover the default layout.
    engine = train_tool.main(tiny(sysu_root.parent, save, "train.max_epoch", "1", "toplight.channels_last", "True"))
    assert isinstance(engine, compat.torchreid().engine.Engine)
    state = torch.load(save / "last.pth", weights_only=True)  # tensors and plain types only
    assert state["epoch"] == 1 and isinstance(state["rank1"], float)
    assert (save / "epoch-1.pth").is_file() and list(save.glob("events.out.tfevents*"))
    results = test_tool.main(["--weights", str(save / "last.pth"), *tiny(sysu_root.parent, save)])
    assert set(results) == {"sysu_all", "sysu_indoor"}
    for summary in results.values():
        assert set(summary) == {"rank1", "rank5", "rank10", "rank20", "mAP", "mINP", "trials"}
        assert len(summary["trials"]) == 2
        assert 0 <= summary["rank1"] <= 100 and isinstance(summary["mAP"], float)
    assert json.loads((save / "results.json").read_text()) == results
    out = capsys.readouterr().out
    assert "| sysu_all | mean |" in out and re.search(r"epoch 1/1  loss \d+\.\d{4}  acc \d+\.\d %  lr ", out)
    curves = read_curves(save)
    assert [epoch for epoch, _ in curves["Epoch/loss"]] == [1] and curves["Epoch/acc"][0][1] >= 0
    assert [epoch for epoch, _ in curves["Test/sysu_all/rank1"]] == [1]
    picture = curves_tool.main([str(save), "--output", str(tmp_path / "curves.png")])
    assert picture.stat().st_size > 0


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(p.parents[2])))
def test_every_config_loads_and_names_registered_things(config):
    if config.parent.name == "pretrain":
        cfg = load_config(config, defaults=pretrain_defaults)
        assert cfg.data.save_dir.startswith("output/pretrain/")
    else:
        cfg = load_config(config)
        datasets = vars(compat.data().datasets)["__image_datasets"]
        assert all(name in datasets for name in cfg.data.sources)
        if cfg.model.load_weights.startswith("output/pretrain/"):  # a soup some pretraining config produces
            producer = Path(cfg.model.load_weights).parent.name
            assert (ROOT / "configs" / "pretrain" / f"{producer}.yaml").is_file()
    assert cfg.model.name in compat.model_factory()  # the plugin's models are registered there too


def test_config_count_covers_the_paper_tables():
    names = {str(p.relative_to(p.parents[1])) for p in CONFIGS if p.parent.name in ("sysu", "regdb")}
    # Table 4: six backbones x (baseline, +TOP & FDR) and four conventional networks; AGW, AGW + CA and DDAG;
    # two datasets
    assert len(names) == 2 * (6 * 2 + 4 + 3)
    assert len([p for p in CONFIGS if p.parent.name == "table3"]) == 18
    assert len([p for p in CONFIGS if p.parent.name == "faces"]) == 8


def test_amp_choice_is_checked(sysu_root, tmp_path):
    with pytest.raises(ValueError, match=r"toplight.amp must be one of \[.auto., .off., .bf16., .fp16.\], got .fp8."):
        train_tool.main(tiny(sysu_root.parent, tmp_path, "toplight.amp", "fp8"))


def test_bad_keys_name_their_source(tmp_path):
    with pytest.raises(KeyError, match=r"command line: unknown config key 'train.nope'"):
        load_config(None, ["train.nope", "1"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("toplight:\n  fdr_sigmaa: 2\n")
    with pytest.raises(KeyError, match=r"bad.yaml: unknown config key 'toplight.fdr_sigmaa'"):
        load_config(bad)
    with pytest.raises(ValueError, match="command line: Type mismatch"):
        load_config(None, ["train.max_epoch", "many"])
    with pytest.raises(ValueError, match="KEY VALUE pairs"):
        load_config(None, ["train.max_epoch"])


def test_regdb_run_reports_both_directions(regdb_root, tmp_path):
    args = tiny(regdb_root.parent, tmp_path, "train.max_epoch", "1", "data.sources", "['regdb']",
                "data.targets", "['regdb']", "data.split_id", "2")  # fmt: skip
    engine = train_tool.main(args)
    assert set(engine.last_results) == {"regdb_v2i", "regdb_i2v"}
    for summary in engine.last_results.values():
        assert len(summary["trials"]) == 1 and 0 <= summary["mINP"] <= 100
    assert engine.datamanager.train_loader.dataset.trial == 3  # split_id 2 -> RegDB trial 3


@pytest.mark.parametrize("config", [p for p in CONFIGS if p.parent.name == "faces"], ids=lambda p: p.stem)
def test_face_configs_build_the_fdr_they_name(config):
    cfg = load_config(config, ["model.pretrained", "False", "model.load_weights", ""])
    model = build_model(cfg, num_classes=3)
    has_fdr = not isinstance(getattr(model.backbone, "neck", torch.nn.Identity()), torch.nn.Identity)
    assert has_fdr == bool(cfg.toplight.fdr)
