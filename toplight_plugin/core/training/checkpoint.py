"""Checkpoints that survive a crash: written to a temporary file, flushed, then renamed over the target.

They hold tensors and plain Python types only, so ``torch.load(..., weights_only=True)`` reads them, and the model
card of the network they hold (``card``), so a reader knows which model and options they are for.
"""

from __future__ import annotations

import errno
import io
import os
import re
import tempfile
from pathlib import Path

import torch

from toplight_plugin.core.models.cards import CARD, ModelCard, card_of
from toplight_plugin.core.models.weights import non_finite, safe_load

LAST = "last.pth"
EPOCH = re.compile(r"epoch-(\d+)\.pth")


class DiskFullError(OSError):
    """No space left for a checkpoint; the previous one is intact."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_save(obj, path: str | Path) -> Path:
    """``torch.save`` to ``path`` such that a reader sees either the old file or the complete new one; the file
    gets the user's umask (a temporary file would be private to its owner)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    buffer = io.BytesIO()  # serialised first, so a full disk fails in a plain write with its own errno
    torch.save(obj, buffer)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            kept = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} was written"
            raise DiskFullError(error.errno, f"no space left on the device of {path.parent}; {kept}") from None
        raise
    return path


def remove_stale(folder: str | Path) -> list[Path]:
    """Delete the temporary files of saves that were killed midway (``.<name>.<random>.tmp``)."""
    stale = [p for p in Path(folder).glob(".*.pth.*.tmp") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _epochs(folder: str | Path) -> list[Path]:
    """The ``epoch-N.pth`` files in ``folder``, oldest first."""
    numbered = [(int(m.group(1)), p) for p in Path(folder).glob("epoch-*.pth") if (m := EPOCH.fullmatch(p.name))]
    return [p for _, p in sorted(numbered)]


def keep_last(folder: str | Path, count: int) -> list[Path]:
    """Delete all but the ``count`` newest ``epoch-N.pth`` in ``folder`` (0 keeps them all); ``last.pth`` stays."""
    epochs = _epochs(folder)
    old = epochs[: max(len(epochs) - count, 0)] if count else []
    for path in old:
        path.unlink(missing_ok=True)
    return old


def load(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return safe_load(path)


def newest(folder: str | Path) -> Path | None:
    """``last.pth`` in ``folder``, else its highest ``epoch-N.pth`` (a run killed between the two writes), else None."""
    folder = Path(folder)
    if (folder / LAST).is_file():
        return folder / LAST
    epochs = _epochs(folder)
    return epochs[-1] if epochs else None


def model_state(model: torch.nn.Module) -> dict:
    """A checkpoint's model entries: the state_dict and the card of the model it was built as."""
    return {"state_dict": model.state_dict(), CARD: card_of(model).to_dict()}


RESUMABLE = ("state_dict", "epoch", "optimizer", "scheduler")


def check_resumable(state, model: torch.nn.Module, path: str | Path) -> None:
    """What ``--weights`` checks, for ``--resume``: a training checkpoint of this very model (same tensors and
    shapes, so the same model options and number of identities) with finite weights; one line naming the file."""
    lacking = [k for k in RESUMABLE if not isinstance(state, dict) or k not in state]
    if lacking:
        raise ValueError(f"{path}: not a training checkpoint (no {lacking[0]!r}); --resume continues from the "
                         "last.pth / epoch-N.pth of a training, --weights starts a fresh run from other weights")
    if CARD in state:
        written, this = ModelCard.from_dict(state[CARD], str(path)).name, card_of(model).name
        if written != this:
            raise ValueError(f"{path}: written for {written} (its model card), not {this}; resume with the config it "
                             "was trained with (config.yaml beside it)")  # fmt: skip
    weights, own = state["state_dict"], model.state_dict()
    missing, unknown = [k for k in own if k not in weights], [k for k in weights if k not in own]
    if missing or unknown:
        example = (missing or unknown)[0]
        raise ValueError(f"{path}: written for another model ({len(missing)} of this model's tensors missing, "
                         f"{len(unknown)} unknown, e.g. {example}); resume with the config it was trained with "
                         "(config.yaml beside it)")  # fmt: skip
    shape = [k for k in own if weights[k].shape != own[k].shape]
    if shape:
        key = shape[0]
        raise ValueError(f"{path}: {key} has shape {tuple(weights[key].shape)}, the model {tuple(own[key].shape)} "
                         "(another number of identities or other model options); resume with the data and config "
                         "it was trained with")  # fmt: skip
    broken = non_finite(weights)
    if broken:
        raise ValueError(f"{path}: {len(broken)} tensors hold NaN or inf values (e.g. {broken[0]}): the run that "
                         "wrote it diverged; continue from an earlier epoch-N.pth with model.resume PATH")  # fmt: skip


def stop_if_diverged(
    loss: torch.Tensor, run: str, epoch: int, batch: int, folder: Path, advice: str, finite: bool | None = None,
    loaded: Path | None = None,
) -> None:  # fmt: skip
    """Raise on a non-finite loss; called before the optimizer step, so no NaN weight reaches a checkpoint.
    ``finite``: the verdict of every process of a distributed run, so that all of them stop, not only the one whose
    loss broke while the others wait for its gradients. ``loaded``: the checkpoint the run resumed from, while it
    has written none since: continuing from it again would replay the same batches."""
    if finite is None:
        finite = bool(torch.isfinite(loss))
    if not finite:
        found = f"loss {loss.item()}" if not torch.isfinite(loss) else "a non-finite loss in another process"
        good = newest(folder)
        if loaded is not None:
            kept = f"no checkpoint was written since resuming from {loaded}, and resuming again replays its batches"
        elif good is not None:
            kept = f"the last good checkpoint is {good}"
        else:
            kept = "no checkpoint was written yet"
        raise FloatingPointError(
            f"{run} diverged: {found} at epoch {epoch}, batch {batch}; stopped before updating the weights, {kept} "
            f"({advice})"
        )


def run_facts(world_size: int, batch_size: int, amp: torch.dtype | None) -> dict:
    """How a training checkpoint's run was laid out, so that a resume can say what changed."""
    precision = str(amp).removeprefix("torch.") if amp else "off"
    return {"world_size": world_size, "batch_size": batch_size, "amp": precision}


def resumed_batch(state: dict, world_size: int, batch_size: int, path: str | Path) -> tuple[int, list[str]]:
    """The per-process batch a resume on ``world_size`` processes uses, with a line for each change: another number of
    processes keeps the saved global batch (and so the steps per epoch at the saved learning rate) or stops; another
    batch on as many processes stops, as a resume keeps the recipe. Checkpoints without the facts pass as they are."""
    saved = state.get("run")
    if not saved:
        return batch_size, []
    total, lines = saved["world_size"] * saved["batch_size"], []
    if saved["world_size"] != world_size:
        if total % world_size:
            raise ValueError(f"{path}: trained on {saved['world_size']} processes x train.batch_size "
                             f"{saved['batch_size']} = {total} images per step, which {world_size} processes cannot "
                             f"share; resume on a number of processes that divides {total}")  # fmt: skip
        lines.append(f"resuming on {world_size} processes where {saved['world_size']} trained: train.batch_size "
                     f"{batch_size} -> {total // world_size} per process keeps the global batch {total}")  # fmt: skip
        return total // world_size, lines
    if saved["batch_size"] != batch_size:
        raise ValueError(f"{path}: trained with train.batch_size {saved['batch_size']} per process, this run asks "
                         f"for {batch_size}: a resume keeps the recipe; drop the override, or start a new run from "
                         "these weights with --weights")  # fmt: skip
    return batch_size, lines


def restore_scaler(scaler: torch.amp.GradScaler, state: dict, path: str | Path) -> list[str]:
    """fp16's loss scale from ``state`` when the checkpoint has one and this run scales; a line otherwise."""
    saved = state.get("scaler") or {}
    if scaler.is_enabled() and saved:
        scaler.load_state_dict(saved)
        return []
    if scaler.is_enabled():
        return [f"{path}: saved without an fp16 loss scale; the scaler starts from its initial scale"]
    return [f"{path}: its fp16 loss scale is unused, this run is not fp16"] if saved else []
