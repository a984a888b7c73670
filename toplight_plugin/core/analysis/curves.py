"""Learning curves from a training run's TensorBoard log: the per-epoch training means (``Epoch/*``: loss, its
terms, accuracy, learning rate) and the test metrics of each evaluation (``Test/<protocol>/<metric>``)."""

from __future__ import annotations

from pathlib import Path


def read_curves(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(epoch, value), ...]}``, epochs counted from 1, for every Epoch/* and Test/*/* scalar."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = Path(run_dir)
    if not any(run_dir.glob("events.out.tfevents.*")):
        raise FileNotFoundError(f"{run_dir}: no TensorBoard event file (a training run's data.save_dir)")
    log = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    log.Reload()
    curves = {}
    for tag in log.Tags()["scalars"]:
        if tag.startswith("Epoch/"):
            curves[tag] = [(event.step, event.value) for event in log.Scalars(tag)]
        elif tag.startswith("Test/") and tag.count("/") == 2:  # logged at the 0-based epoch of the evaluation
            curves[tag] = [(event.step + 1, event.value) for event in log.Scalars(tag)]
    return {tag: sorted(dict(points).items()) for tag, points in curves.items()}
