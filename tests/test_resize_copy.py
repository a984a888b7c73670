"""toplight-resize-copy: the copy keeps every folder, file name and non-image file, holds every image at exactly the
requested size as the training transform resizes it (so that transform's resize is then an identity), upright as
its EXIF says; lossless formats give the very pixels the original pipeline gives, JPEG differs from them by no more
than its quantization at the written quality allows; mistakes are refused, and a copy cut short is neither read by
the dataset readers nor taken as finished by the tool, which finishes it when run again."""

import json
import warnings
from pathlib import Path

import albumentations as A
import numpy as np
import pytest
import torch
from PIL import Image, JpegImagePlugin

from toplight_plugin.cli import resize_copy
from toplight_plugin.cli.console import run
from toplight_plugin.core.data import regdb, sysu_mm01
from toplight_plugin.core.data.images import read_image
from toplight_plugin.core.data.records import LayoutError
from toplight_plugin.core.data.resized_copy import NOTE, check_copy
from toplight_plugin.core.data.synthetic import make_imagefolder, make_regdb, make_sysu
from toplight_plugin.core.data.top_augment import fit
from toplight_plugin.core.data.transforms import PAPER, train_transform

SIZE = (64, 32)  # the copy's height, width
SOURCE = (150, 90)  # the originals': larger, and neither a multiple of the copy's nor of JPEG's 8 x 8 blocks


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Originals in the three layouts, and their copy at SIZE (made once)."""
    base = tmp_path_factory.mktemp("resize")
    src = base / "datasets"
    make_sysu(src / "SYSU-MM01", num_ids=10, splits=(4, 2, 4), images_per_cam=2, size=SOURCE)
    make_regdb(src / "RegDB", num_ids=4, images_per_modality=2, size=SOURCE, trials=1)
    (src / "SYSU-MM01" / "exp" / "notes.txt").write_text("kept as is\n")
    (src / "SYSU-MM01" / "cam1" / "Thumbs.db").write_bytes(b"\x00\x01 not an image")
    dst = base / "copy"
    assert run("resize_copy", [str(src), str(dst), "--size", *map(str, SIZE), "--workers", "2"]) == 0
    return src, dst


def relative_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def pixels(path: Path) -> np.ndarray:
    return np.asarray(read_image(str(path)))


def test_every_folder_and_file_name_kept_and_other_files_unchanged(datasets):
    src, dst = datasets
    assert relative_files(dst) == relative_files(src) | {NOTE}
    assert {str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_dir()} == {
        str(p.relative_to(src)) for p in src.rglob("*") if p.is_dir()
    }
    others = [p for p in src.rglob("*") if p.is_file() and p.suffix not in (".jpg", ".bmp")]
    assert {p.name for p in others} >= {"notes.txt", "Thumbs.db", "train_id.txt", "train_visible_1.txt"}
    for path in others:
        assert (dst / path.relative_to(src)).read_bytes() == path.read_bytes(), path
    note = json.loads((dst / NOTE).read_text())
    assert note["source"] == str(src.resolve()) and (note["height"], note["width"]) == SIZE
    assert note["complete"] is True and note["mode"] == "resize" and note["images"] == len(list(src.rglob("*.jpg")))\
        + len(list(src.rglob("*.bmp")))  # fmt: skip


def test_readers_read_the_copy_as_the_original(datasets):
    src, dst = datasets
    for read in (sysu_mm01.train_records, sysu_mm01.query_records, lambda root: sysu_mm01.gallery_records(root)):
        original, copied = read(src / "SYSU-MM01"), read(dst / "SYSU-MM01")
        assert [Path(r.path).relative_to(src.resolve()) for r in original] == [
            Path(r.path).relative_to(dst.resolve()) for r in copied
        ]
        assert [r[1:] for r in original] == [r[1:] for r in copied]
    assert [r[1:] for r in regdb.train_records(src / "RegDB")] == [r[1:] for r in regdb.train_records(dst / "RegDB")]


def test_every_image_at_exactly_the_size(datasets):
    src, dst = datasets
    images = [p for p in dst.rglob("*") if p.suffix in (".jpg", ".bmp")]
    assert len(images) == len([p for p in src.rglob("*") if p.suffix in (".jpg", ".bmp")]) > 50
    for path in images:
        assert Image.open(path).size == (SIZE[1], SIZE[0]), path


def test_lossless_images_are_what_the_training_pipeline_makes_of_the_original(datasets):
    """RegDB's BMPs stay lossless: the copy's pixels are the training transform's resize of the original exactly,
    and the whole training pipeline (its resize now an identity) gives the same tensor from either."""
    src, dst = datasets
    bmps = sorted(src.rglob("*.bmp"))
    assert bmps
    resize = A.Resize(*SIZE)
    for path in bmps:
        original, copy = pixels(path), pixels(dst / path.relative_to(src))
        np.testing.assert_array_equal(copy, resize(image=original)["image"], err_msg=str(path))
    for path in bmps[:6]:
        pipeline = train_transform(PAPER, *SIZE)
        outputs = []
        for image in (pixels(path), pixels(dst / path.relative_to(src))):
            pipeline.set_random_seed(7)
            outputs.append(pipeline(image=image)["image"])
        assert torch.equal(*outputs), path


# The standard (ITU-T T.81 Annex K) quantization tables that libjpeg scales by the quality.
LUMINANCE = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
             14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
             49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]  # fmt: skip
CHROMINANCE = [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
               47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32  # fmt: skip


def quantization(table: list[int], quality: int) -> np.ndarray:
    """libjpeg's table at ``quality`` (``jpeg_quality_scaling`` and ``jpeg_add_quant_table``)."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((np.asarray(table) * scale + 50) / 100), 1, 255)


def rms_bound(table: list[int], quality: int) -> float:
    """The RMS error of one YCbCr plane that JPEG at ``quality`` can cause, every 8 x 8 block at its worst.

    The DCT of an 8 x 8 block is orthonormal, so the squared error summed over a block's 64 pixels equals the summed
    squared error of its 64 coefficients; each coefficient is rounded to a multiple of its step Q, an error of at
    most Q / 2. A block's RMS error is therefore at most sqrt(sum(Q^2 / 4) / 64) = sqrt(mean(Q^2) / 4), and so is
    the whole plane's. Added to it, each at its worst for every pixel: the encoder's rounding of RGB to integer
    YCbCr (0.5), the integer IDCT (1.0: IEEE 1180's peak error, which libjpeg's meets) and the decoder's rounding
    back to integer RGB (0.5 in every YCbCr plane, whose conversion weights sum to at most 1 in absolute value)."""
    return float(np.sqrt((quantization(table, quality) ** 2).mean() / 4)) + 0.5 + 1.0 + 0.5


def ycbcr(rgb: np.ndarray) -> np.ndarray:
    """JFIF's RGB to YCbCr, in floating point."""
    matrix = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
    return rgb.astype(np.float64) @ matrix.T


def test_jpeg_images_differ_from_the_original_pipeline_only_as_the_quality_allows(datasets):
    src, dst = datasets
    quality = 95  # the default
    bounds = [rms_bound(LUMINANCE, quality)] + [rms_bound(CHROMINANCE, quality)] * 2
    resize = A.Resize(*SIZE)
    worst = np.zeros(3)
    jpegs = sorted(src.rglob("*.jpg"))
    for path in jpegs:
        expected = resize(image=pixels(path))["image"]
        written = dst / path.relative_to(src)
        copy = pixels(written)
        assert np.array_equal(resize(image=copy)["image"], copy)  # the pipeline's resize is now an identity
        rms = np.sqrt(((ycbcr(copy) - ycbcr(expected)) ** 2).mean(axis=(0, 1)))
        worst = np.maximum(worst, rms)
        with Image.open(written) as stored:  # written at that quality, colour at full resolution
            assert sorted(stored.quantization[0]) == sorted(quantization(LUMINANCE, quality).astype(int))
            if stored.mode == "RGB":
                assert sorted(stored.quantization[1]) == sorted(quantization(CHROMINANCE, quality).astype(int))
                assert JpegImagePlugin.get_sampling(stored) == 0  # 4:4:4
            else:
                assert stored.mode == "L" and (expected == expected[..., :1]).all()  # grey only when it was grey
    assert (worst <= bounds).all(), (worst, bounds)
    reported = json.loads((dst / NOTE).read_text())["difference"]["train"]  # what the tool tells the user, in RGB:
    rgb_bound = bounds[0] + 1.772 * bounds[1]  # B = Y + 1.772 Cb, the largest row of the conversion back to RGB
    assert 0 < reported["rms"] <= rgb_bound and reported["images"] > 50
    assert worst.max() > 0  # JPEG did change something: the bound was exercised


def test_exif_orientation_applied_before_resizing(tmp_path):
    """A phone's picture stored sideways (EXIF orientation 6) is copied upright, as the loaders read it."""
    src = tmp_path / "faces"
    upright = np.random.default_rng(0).integers(0, 256, (120, 80, 3), dtype=np.uint8)
    for modality in ("VIS", "NIR"):
        (src / modality / "P001").mkdir(parents=True)
        stored = Image.fromarray(np.rot90(upright, 1).copy())  # as a camera held sideways stores it: 80 x 120
        exif = stored.getexif()
        exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
        stored.save(src / modality / "P001" / "side.png", exif=exif)
    dst = tmp_path / "copy"
    result = resize_copy.main([str(src), str(dst), "--size", "60", "40", "--workers", "1"])
    assert result["layout"] == "NIR-VIS faces"
    assert result["difference"]["train"] == {"images": 2, "rms": 0.0, "mean_abs": 0.0, "max_abs": 0}  # lossless
    assert result["difference"]["test"]["rms"] > 0  # the test transform resizes with PIL's antialiasing
    copy = pixels(dst / "VIS" / "P001" / "side.png")
    assert copy.shape == (60, 40, 3)
    np.testing.assert_array_equal(copy, A.Resize(60, 40)(image=upright)["image"])


def test_an_imagefolder_is_fitted_as_pretraining_fits(tmp_path):
    src = make_imagefolder(tmp_path / "if", num_classes=2, images_per_class=2, size=(100, 70))
    png = src / "class_000" / "extra.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (90, 130, 3), dtype=np.uint8)).save(png)
    dst = tmp_path / "copy"
    assert run("resize_copy", [str(src), str(dst), "--size", "48", "48"]) == 0
    assert json.loads((dst / NOTE).read_text())["mode"] == "fit"
    for path in src.rglob("*.*g"):
        assert Image.open(dst / path.relative_to(src)).size == (48, 48)
    fitted = A.Compose(fit(48, 48))(image=pixels(png))["image"]
    np.testing.assert_array_equal(pixels(dst / png.relative_to(src)), fitted)


def test_mistakes_are_refused_with_one_line(datasets, tmp_path, capsys):
    src, dst = datasets
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    cases = {
        str(occupied): "exists and is not empty",
        str(src): "must not be SRC",
        str(src / "SYSU-MM01" / "small"): "must not be SRC",
        str(dst): "already a finished resized copy",
    }
    for target, expected in cases.items():
        assert run("resize_copy", [str(src / "SYSU-MM01") if "SYSU" in target else str(src), target, "--size",
                                   "64", "32"]) == 2  # fmt: skip
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1 and "error:" in err, (target, err)
    assert (occupied / "keep.txt").read_text() == "mine" and not (src / "SYSU-MM01" / "small").exists()
    assert run("resize_copy", [str(dst), str(tmp_path / "again"), "--size", "32", "16"]) == 2
    assert "itself a resized copy" in capsys.readouterr().err
    assert run("resize_copy", [str(tmp_path / "missing"), str(tmp_path / "out"), "--size", "32", "16"]) == 2
    assert "no such dataset folder" in capsys.readouterr().err


def test_an_interrupted_copy_is_refused_by_the_readers_and_finished_by_a_rerun(datasets, tmp_path, monkeypatch):
    src, finished = datasets
    dst = tmp_path / "cut"
    args = [str(src), str(dst), "--size", *map(str, SIZE), "--workers", "1"]
    convert = resize_copy.Converter.__call__
    calls = []

    def cut_short(self, relative):
        if len(calls) == 40:
            (dst / Path(relative).parent / f".{Path(relative).name}.1{resize_copy.PARTIAL}").write_bytes(b"half")
            raise KeyboardInterrupt  # killed in the middle of a file
        calls.append(relative)
        return convert(self, relative)

    monkeypatch.setattr(resize_copy.Converter, "__call__", cut_short)
    with pytest.raises(KeyboardInterrupt):
        run("resize_copy", args)
    assert json.loads((dst / NOTE).read_text())["complete"] is False
    with pytest.raises(LayoutError, match="unfinished resized copy"):
        sysu_mm01.train_records(dst / "SYSU-MM01")
    with pytest.raises(LayoutError, match="unfinished resized copy"):
        regdb.train_records(dst / "RegDB")
    assert run("resize_copy", [str(src), str(dst), "--size", "32", "16", "--workers", "1"]) == 2  # other arguments
    monkeypatch.setattr(resize_copy.Converter, "__call__", convert)
    result = resize_copy.main(args)
    assert sum(result["written"].values()) == len(relative_files(src)) - 40  # the written files were kept
    assert relative_files(dst) == relative_files(finished)  # the stale partial file is gone
    for name in relative_files(src):
        assert (dst / name).read_bytes() == (finished / name).read_bytes(), name
    assert json.loads((dst / NOTE).read_text())["complete"] is True
    assert sysu_mm01.train_records(dst / "SYSU-MM01")


def test_the_readers_warn_when_the_copy_is_read_at_another_size(datasets, tmp_path):
    _, dst = datasets
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_copy(dst / "SYSU-MM01", *SIZE)["source"]
        assert check_copy(tmp_path) is None
    with pytest.warns(UserWarning, match="resized to 64 x 32, but the input size is 288 x 144"):
        check_copy(dst / "SYSU-MM01", 288, 144)


def test_an_unreadable_image_is_copied_unchanged(tmp_path):
    src = tmp_path / "faces"
    for modality in ("VIS", "NIR"):
        (src / modality / "P001").mkdir(parents=True)
        Image.new("RGB", (40, 60), (10, 200, 30)).save(src / modality / "P001" / "good.jpg")
    (src / "VIS" / "P001" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    dst = tmp_path / "copy"
    result = resize_copy.main([str(src), str(dst), "--size", "32", "16", "--workers", "1"])
    assert result["written"]["unreadable"] == 1
    assert (dst / "VIS" / "P001" / "broken.jpg").read_bytes() == b"\xff\xd8 truncated"


def test_bench_loader_reads_the_copy_and_warns_at_another_size(datasets):
    from toplight_plugin.cli import bench_loader

    _, dst = datasets
    small = ["--pipeline", "vi", "--vi-root", str(dst / "SYSU-MM01"), "--workers", "1", "--batches", "1",
             "--batch-size", "4"]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert bench_loader.main([*small, "--height", str(SIZE[0]), "--width", str(SIZE[1])])["vi/worker/1"] > 0
    with pytest.warns(UserWarning, match="resized a second time"):
        bench_loader.main([*small, "--height", "32", "--width", "16"])


def test_a_full_disk_is_one_line_and_leaves_a_copy_to_finish(datasets, tmp_path, monkeypatch, capsys):
    import errno

    src, _ = datasets
    dst = tmp_path / "full-disk"
    convert, calls = resize_copy.Converter.__call__, []

    def disk_full(self, relative):
        calls.append(relative)
        if len(calls) > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return convert(self, relative)

    monkeypatch.setattr(resize_copy.Converter, "__call__", disk_full)
    assert run("resize_copy", [str(src), str(dst), "--size", *map(str, SIZE), "--workers", "1"]) == 2
    err = capsys.readouterr().err  # the progress bar, then one line
    assert "Traceback" not in err and "error:" in err.splitlines()[-1]
    assert f"no space left on the device after 5 of {len(relative_files(src))} files" in err.splitlines()[-1]
    assert json.loads((dst / NOTE).read_text())["complete"] is False


def test_training_and_pretraining_warn_when_the_copy_is_read_at_another_size(datasets, tmp_path):
    """Each training pipeline checks the copy against the size it resizes to: torchreid's data manager, fast-reid's
    train loader and pretraining's ImageFolder."""
    from fastreid_runs import fastreid_args
    from test_engine import tiny

    from toplight_plugin.core.data.top_augment import TaskOrientedAugment
    from toplight_plugin.core.training.config import load_config
    from toplight_plugin.core.training.pretrain import PairedImageFolder
    from toplight_plugin.hosts.fastreid import train_net  # its compatibility shims first
    from toplight_plugin.hosts.fastreid.data import build_train_loader
    from toplight_plugin.hosts.torchreid.build import build_datamanager

    _, dst = datasets
    folder = make_imagefolder(tmp_path / "images", num_classes=2, images_per_class=2, size=SOURCE)
    assert run("resize_copy", [str(folder), str(tmp_path / "fitted"), "--size", "32", "32", "--workers", "1"]) == 0

    def fastreid_loader(height, width):
        size = f"[{height}, {width}]"
        args = fastreid_args(dst / "SYSU-MM01", tmp_path / f"fastreid-{height}", opts=["INPUT.SIZE_TRAIN", size])
        return build_train_loader(train_net.setup(train_net.default_argument_parser().parse_args(args)))

    def torchreid_manager(height, width):
        opts = tiny(dst, tmp_path / f"run-{height}", "data.height", str(height), "data.width", str(width))
        return build_datamanager(load_config(None, opts), use_gpu=False)

    builders = (torchreid_manager, fastreid_loader,
                lambda h, w: PairedImageFolder(tmp_path / "fitted", TaskOrientedAugment(h, w)))  # fmt: skip
    for build, size in zip(builders, (SIZE, SIZE, (32, 32)), strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            build(*size)
        with pytest.warns(UserWarning, match="resized a second time"):
            build(size[0] * 2, size[1] * 2)
