"""A training run's directory: config, checkpoints, metrics, TensorBoard events.

    RUN/config.toml           the effective configuration
    RUN/metrics.jsonl         one object per log/evaluation step
    RUN/checkpoints/step-<n>.pt (+ .json sidecar, + .state.pt optimizer and RNG state)
    RUN/best.pt               the checkpoint with the best dev accuracy (+ .json)
    RUN/tensorboard/          TensorBoard scalars

Starting over an existing run is an explicit choice (`--resume` or
`--overwrite`), never a silent delete; `--overwrite` deletes only a directory
that holds a config.toml and nothing but what a run writes (`is_run_entry`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from mapo_cli.core.atomic import write_error, write_text
from mapo_cli.core.errors import MapoError
from mapo_cli.core.json_fields import field_problem
from mapo_cli.learn.bundled import find_run

CONFIG = "config.toml"
METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
BEST = "best.pt"
TENSORBOARD = "tensorboard"


def prepare_run_dir(run: Path, resume: bool, overwrite: bool) -> bool:
    """Make RUN ready; True when an earlier run is there to resume."""
    if resume and overwrite:
        raise MapoError("--resume and --overwrite exclude each other")
    exists = run.exists() and any(run.iterdir()) if run.is_dir() else run.exists()
    if run.exists() and not run.is_dir():
        raise MapoError(f"{run} exists and is not a directory")
    if not exists:
        if resume:
            raise MapoError(f"{run}: nothing to resume (no run there)")
        run.mkdir(parents=True, exist_ok=True)
        return False
    if not (run / CONFIG).is_file():
        raise MapoError(f"{run} is not empty and is not a run directory; choose another --run")
    if overwrite:
        foreign = sorted(entry.name for entry in run.iterdir() if not is_run_entry(entry.name))
        if foreign:
            raise MapoError(f"{run} holds files that are not a run's ({', '.join(foreign[:3])}"
                            f"{', ...' if len(foreign) > 3 else ''}): --overwrite deletes only "
                            "a run directory; move them, or choose another --run")
        shutil.rmtree(run)
        run.mkdir(parents=True)
        return False
    if not resume:
        raise MapoError(f"{run} holds a run already: add --resume to continue it or "
                        "--overwrite to start it again")
    return True


RUN_ENTRIES = (CONFIG, METRICS, CHECKPOINTS, TENSORBOARD)


def is_run_entry(name: str) -> bool:
    """What `mapo train` writes at the top of a run directory: its files, folders and
    `best.*` (the best checkpoint, its sidecar and state). `--overwrite` deletes a
    directory only if it holds nothing else."""
    return name in RUN_ENTRIES or name.startswith("best.")


def latest_checkpoint(run: Path, to_resume: bool = False) -> Path | None:
    """The newest complete `checkpoints/step-<n>.pt` (by step), or None.

    Complete: its sidecar written, and `to_resume`, its training state too. A run killed
    between those files leaves a checkpoint that is not; the one before it is.
    """
    found = sorted((run / CHECKPOINTS).glob("step-*.pt"), key=_step_of)
    found = [p for p in found if not p.name.endswith(".state.pt")
             and p.with_suffix(".json").is_file()
             and (not to_resume or (state_path(p).is_file()
                                    and state_path(p).with_suffix(".sha256").is_file()))]
    return found[-1] if found else None


def checkpoint_path(run: Path, step: int) -> Path:
    return run / CHECKPOINTS / f"step-{step:07d}.pt"


def state_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.stem + ".state.pt")


def prune_checkpoints(run: Path, keep: int) -> None:
    """Keep the newest `keep` checkpoints (with their sidecars and states)."""
    found = [p for p in sorted((run / CHECKPOINTS).glob("step-*.pt"), key=_step_of)
             if not p.name.endswith(".state.pt")]
    for old in found[:-keep]:
        state = state_path(old)
        for path in (old, old.with_suffix(".json"), state, state.with_suffix(".sha256")):
            path.unlink(missing_ok=True)


def resolve_checkpoint(path: Path) -> Path:
    """A run directory means its best checkpoint (else its latest); a file is itself; a
    bundled model's name (`bundled.py`) is its directory."""
    path = find_run(path)
    if path.is_dir():
        if (path / BEST).is_file():
            return path / BEST
        latest = latest_checkpoint(path)
        if latest is None:
            raise MapoError(f"{path}: no checkpoint in this run directory")
        return latest
    if not path.is_file():
        raise MapoError(f"{path}: no such checkpoint or run directory")
    return path


def append_metrics(run: Path, record: dict[str, Any]) -> None:
    try:
        with (run / METRICS).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
    except OSError as error:
        raise write_error(run / METRICS, error) from None


METRIC_FIELDS = {"step": "an integer", **{key: "a number or null" for key in (
    "seconds", "dev_accuracy", "train_return", "clipped_fraction", "memory_probability",
    "memory_coverage", "samples_per_second", "steps_per_second", "loss")}}
"""What `MetricsLog.record` writes; only `step` is required (other fields came and may go)."""


def read_metrics(run: Path) -> list[dict[str, Any]]:
    """The records of RUN/metrics.jsonl; a line that is not one is a MapoError naming it."""
    path = run / METRICS
    if not path.is_file():
        raise MapoError(f"{run}: no {METRICS} (is it a run directory?)")
    records = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise MapoError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise MapoError(f"{path}:{number}: not JSON") from None
            problem = field_problem(record, METRIC_FIELDS,
                                    optional=[k for k in METRIC_FIELDS if k != "step"])
            if problem:
                raise MapoError(f"{path}:{number}: not a metrics record ({problem})")
            records.append(record)
    return records


def truncate_metrics(run: Path, step: int) -> None:
    """On resume, drop records written after the checkpoint we continue from."""
    path = run / METRICS
    if path.is_file():
        kept = [r for r in read_metrics(run) if r.get("step", 0) <= step]
        write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))


def _step_of(path: Path) -> int:
    try:
        return int(path.name.split("-")[1].split(".")[0])
    except (IndexError, ValueError):
        return -1
