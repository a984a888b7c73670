"""The config speaks torchreid's language: its optimizers, schedulers, loss names, test.evaluate, model.resume and
test ranks mean what they mean in torchreid; a value that is not allowed is one line naming key, value and choices,
before any data is read."""

import math
from pathlib import Path

import pytest
import torch

from toplight_plugin.cli import train as train_tool
from toplight_plugin.core.training.config import load_config
from toplight_plugin.core.training.schedule import EpochSchedule
from toplight_plugin.hosts.torchreid.build import build_optimizer

OPTIMIZERS = {
    "adamw": (torch.optim.AdamW, {}),
    "adam": (torch.optim.Adam, {"amsgrad": False}),
    "amsgrad": (torch.optim.Adam, {"amsgrad": True}),
    "sgd": (torch.optim.SGD, {"dampening": 0.25}),
    "rmsprop": (torch.optim.RMSprop, {"alpha": 0.9}),
    "radam": (torch.optim.RAdam, {}),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_torchreids_optimizer_names_build_torchreids_optimizers(name):
    cfg = load_config(None, ["train.optim", name, "sgd.dampening", "0.25", "rmsprop.alpha", "0.9"])
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    model[1].bias.requires_grad_(False)
    optimizer = build_optimizer(cfg, model)
    kind, defaults = OPTIMIZERS[name]
    assert type(optimizer) is kind
    assert all(optimizer.defaults[key] == value for key, value in defaults.items())
    assert sum(len(g["params"]) for g in optimizer.param_groups) == 3  # the frozen shift stays out


@pytest.mark.parametrize(
    ("kind", "stepsize", "expected"),
    [
        ("warmup_multi_step", [4, 6], [1 / 3, 2 / 3, 1, 1, 0.1, 0.1, 0.01, 0.01]),
        ("multi_step", [4, 6], [1, 1, 1, 1, 0.1, 0.1, 0.01, 0.01]),
        ("single_step", [3], [1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01]),
        ("cosine", [4], [(1 + math.cos(math.pi * e / 8)) / 2 for e in range(8)]),
    ],
)
def test_schedules_are_torchreids_and_warm_up_only_where_named(kind, stepsize, expected):
    schedule = EpochSchedule(kind, warmup=3, milestones=stepsize, gamma=0.1, max_epoch=8)
    assert [schedule(e) for e in range(8)] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("train.optim", "adagrad", r"train.optim must be one of \['adamw', 'adam', 'amsgrad', 'sgd', 'rmsprop'"),
        ("train.lr_scheduler", "plateau", "train.lr_scheduler must be one of"),
        ("loss.name", "arcface", r"loss.name must be one of \['triplet', 'softmax'\], got 'arcface'"),
        ("data.type", "video", "data.type must be one of"),
        ("toplight.augment", "strong", "toplight.augment must be one of"),
        ("toplight.fdr", "hv", "toplight.fdr must be one of"),
        ("train.batch_size", "0", "train.batch_size must be at least 1, got 0"),
        ("train.lr", "0.0", "train.lr must be positive"),
        ("test.ranks", "[0, 5]", "test.ranks must be a non-empty list"),
        ("toplight.trials", "0", "toplight.trials must be at least 1"),
        ("data.workers", "-1", "data.workers must not be negative"),
    ],
)
def test_a_value_that_is_not_allowed_is_refused_when_loaded(key, value, message):
    with pytest.raises(ValueError, match=message):
        load_config(None, [key, value])


def test_a_torchreid_key_the_plugin_does_not_take_is_named():
    with pytest.raises(KeyError, match="command line: unknown config key 'test.visactmap'"):
        load_config(None, ["test.visactmap", "True"])


def _tiny(root, save_dir, *extra):
    return [
        "model.name", "toplight_mobilenetv3_small", "model.pretrained", "False", "data.root", str(root),
        "data.height", "64", "data.width", "32", "data.workers", "0", "data.save_dir", str(save_dir),
        "train.batch_size", "16", "sampler.num_instances", "2", "test.eval_freq", "-1", "toplight.trials", "1",
        "toplight.warmup_epochs", "0", "train.lr", "1e-4", *extra,
    ]  # fmt: skip


def test_resume_falls_back_to_the_newest_epoch_and_test_evaluate_only_evaluates(sysu_root, tmp_path, capsys):
    train_tool.main(_tiny(sysu_root.parent, tmp_path, "train.max_epoch", "1", "loss.name", "softmax"))
    (tmp_path / "last.pth").unlink()  # a run killed between writing epoch-1.pth and last.pth
    (tmp_path / ".last.pth.x1y2.tmp").write_bytes(b"half")  # a save killed midway
    engine = train_tool.main(["--resume", *_tiny(sysu_root.parent, tmp_path, "train.max_epoch", "2",
                                                 "toplight.keep_last", "1")])  # fmt: skip
    assert f"resumed from {tmp_path / 'epoch-1.pth'} at epoch 1" in capsys.readouterr().out
    assert engine.epoch == 1 and (tmp_path / "epoch-2.pth").is_file()
    assert not (tmp_path / "epoch-1.pth").exists() and not list(tmp_path.glob(".*.tmp"))
    train_logs = sorted(tmp_path.glob("train.log-*"))
    assert train_logs and "resumed from" in train_logs[-1].read_text()

    (tmp_path / "epoch-2.pth").rename(tmp_path / "weights.pth")
    evaluate = [*_tiny(sysu_root.parent, tmp_path, "train.max_epoch", "3"), "test.evaluate", "True"]
    train_tool.main(["--weights", str(tmp_path / "weights.pth"), *evaluate])
    assert not (tmp_path / "epoch-3.pth").exists() and not (tmp_path / "epoch-2.pth").exists()  # nothing trained
    (log,) = tmp_path.glob("test.log-*")
    assert "Rank-1  : " in log.read_text() and "mAP: " in log.read_text()  # what torchreid's parse_test_res reads
    with pytest.raises(ValueError, match="test.evaluate True needs the weights"):
        train_tool.main(evaluate)


def test_shipped_configs_are_found_by_name_from_anywhere(tmp_path, monkeypatch, capsys):
    from toplight_plugin.cli import config as config_tool
    from toplight_plugin.core.training import config_files

    monkeypatch.chdir(tmp_path)  # outside the checkout, as after pip install
    shipped = config_files.names()
    assert "sysu/mbv3l_top_fdr.yaml" in shipped and "torchreid/synthetic_mbv3s.yaml" in shipped
    for name in ("sysu/mbv3l_top_fdr.yaml", "sysu/mbv3l_top_fdr", "configs/sysu/mbv3l_top_fdr.yaml"):
        assert config_files.find(name) == config_files.root() / "sysu" / "mbv3l_top_fdr.yaml"
    assert load_config("regdb/mbv3s_baseline").model.name == "toplight_mobilenetv3_small_nofdr"
    assert config_tool.main(["sysu/mbv3l_top_fdr", "--print"]).startswith(
        (config_files.root() / "sysu" / "mbv3l_top_fdr.yaml").read_text()[:40]
    )
    assert config_tool.main([]).splitlines() == shipped
    with pytest.raises(FileNotFoundError, match="config file sysu/nope does not exist, here or among the shipped"):
        load_config("sysu/nope")


CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"
CONFIG_FILES = sorted(p for p in CONFIGS_DIR.rglob("*.yaml") if p.parent.name not in ("pretrain", "fastreid"))


@pytest.mark.parametrize("path", CONFIG_FILES, ids=[f"{p.parent.name}/{p.name}" for p in CONFIG_FILES])
def test_training_and_test_transforms_normalise_alike(path):
    """One pair of keys, data.norm_mean / data.norm_std, feeds the plugin's training augmentation and torchreid's
    test transform; the face configs use LightCNN's [0, 1] range."""
    from toplight_plugin.hosts.torchreid import compat
    from toplight_plugin.hosts.torchreid.build import build_augment

    cfg = load_config(path)
    _, test = compat.data().transforms.build_transforms(cfg.data.height, cfg.data.width, norm_mean=cfg.data.norm_mean,
                                                         norm_std=cfg.data.norm_std)  # fmt: skip
    (normalize,) = [t for t in test.transforms if type(t).__name__ == "Normalize"]
    augment = build_augment(cfg, use_gpu=False)  # the workers normalise (toplight.normalize_on auto on a CPU)
    for pipeline in [] if augment is None else augment.pipelines.values():
        (train_normalize,) = [t for t in pipeline.transforms if type(t).__name__ == "Normalize"]
        assert tuple(train_normalize.mean) == tuple(normalize.mean)
        assert tuple(train_normalize.std) == tuple(normalize.std)
    faces = cfg.model.name.startswith("lightcnn")
    assert tuple(normalize.mean) == ((0.0, 0.0, 0.0) if faces else (0.485, 0.456, 0.406))
    if cfg.model.load_weights.startswith("output/pretrain/"):  # the soup was pretrained with the same input range
        from toplight_plugin.core.training.pretrain import get_default_config as pretrain_defaults

        producer = Path(cfg.model.load_weights).parent.name
        top = load_config(CONFIGS_DIR / "pretrain" / f"{producer}.yaml", defaults=pretrain_defaults)
        assert list(top.data.norm_mean) == list(cfg.data.norm_mean)
        assert list(top.data.norm_std) == list(cfg.data.norm_std)
