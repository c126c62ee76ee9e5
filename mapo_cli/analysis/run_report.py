"""A training run as a user wants to see it (`mapo inspect run`): config, metrics, learning curves.

Reads only what `mapo train` writes into RUN_DIR (config.toml, metrics.jsonl,
best.json) and never changes it, so it works on a run that is still going.
Several runs plot on one figure to compare objectives, as in the paper's
Figure 3.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mapo_cli.core.atomic import atomic_file
from mapo_cli.core.errors import MapoError
from mapo_cli.learn.bundled import named
from mapo_cli.learn.run_dir import BEST, CONFIG, read_metrics

Json = dict[str, Any]

# (metrics key, panel title, shown as a percentage) of the learning curves, one panel each.
CURVES = (
    ("dev_accuracy", "dev accuracy", True),
    ("train_return", "train return (mean on-policy reward)", False),
    ("memory_coverage", "memory coverage (train examples with a reward-1 program)", True),
    ("clipped_fraction", "clipped fraction (examples with π(B) < α)", True),
)


@dataclass
class RunInfo:
    """What a run directory holds."""

    path: Path
    config: Json
    metrics: list[Json]
    best: Json | None  # the best checkpoint's recorded extras (step, dev_accuracy), if any

    @property
    def label(self) -> str:
        objective = self.config.get("objective")
        return f"{self.path.name} ({objective})" if objective else self.path.name

    def summary(self) -> Json:
        """Keys: run, objective, steps, seconds, records, last_dev_accuracy, best_dev_accuracy,
        best_step, train_return, memory_coverage, clipped_fraction, samples_per_second, loss."""
        last = self.metrics[-1] if self.metrics else {}
        evaluated = [m for m in self.metrics if m.get("dev_accuracy") is not None]
        best = max(evaluated, key=lambda m: m["dev_accuracy"], default=None)
        return {
            "run": str(self.path),
            "objective": self.config.get("objective"),
            "steps": last.get("step"),
            "seconds": last.get("seconds"),
            "records": len(self.metrics),
            "last_dev_accuracy": evaluated[-1]["dev_accuracy"] if evaluated else None,
            "best_dev_accuracy": best["dev_accuracy"] if best else None,
            "best_step": best["step"] if best else None,
            "train_return": last.get("train_return"),
            "memory_coverage": last.get("memory_coverage"),
            "clipped_fraction": last.get("clipped_fraction"),
            "samples_per_second": last.get("samples_per_second"),
            "loss": last.get("loss"),
        }

    def to_json(self) -> Json:
        return {"run": str(self.path), "config": self.config, "summary": self.summary(),
                "best_checkpoint": self.best, "metrics": self.metrics}


def load_run(path: Path) -> RunInfo:
    """Read a run directory (or a bundled model's); MapoError if it is not one."""
    path = named(path)
    if not path.is_dir():
        raise MapoError(f"{path}: no such run directory")
    config_path = path / CONFIG
    if not config_path.is_file():
        raise MapoError(f"{path} is not a run directory (no {CONFIG})")
    try:
        config = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise MapoError(f"{config_path}: not a valid TOML file ({error})") from None
    metrics = read_metrics(path) if (path / "metrics.jsonl").is_file() else []
    best = None
    sidecar = (path / BEST).with_suffix(".json")
    if sidecar.is_file():
        try:
            best = json.loads(sidecar.read_text(encoding="utf-8")).get("extra") or None
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            best = None  # a damaged sidecar is `mapo decode`'s error to report, not ours
        if not isinstance(best, dict):
            best = None
    return RunInfo(path, config, metrics, best)


def differing_settings(runs: list[RunInfo]) -> list[str]:
    """Config keys whose values differ between runs (what a comparison is about)."""
    keys = sorted({k for run in runs for k in run.config})
    return [k for k in keys if len({json.dumps(run.config.get(k)) for run in runs}) > 1]


def run_labels(runs: list[RunInfo]) -> dict[int, str]:
    """Each run's label; runs whose directory names repeat (seed-1 of two settings) also
    show their parent directory."""
    names = [run.path.name for run in runs]
    return {id(run): (f"{run.path.parent.name}/{run.label}" if names.count(run.path.name) > 1
                      else run.label) for run in runs}


def plot_runs(runs: list[RunInfo], out: Path) -> Path:
    """Learning curves of every run on one 2×2 figure (PNG, or any format matplotlib knows)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    figure, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
    run_label = run_labels(runs)
    for axis, (key, label, percent) in zip(axes.flat, CURVES):
        for run in runs:
            points = [(m["step"], m[key]) for m in run.metrics
                      if m.get(key) is not None and m.get("step") is not None]
            if points:
                steps, values = zip(*points)
                axis.plot(steps, values, marker="." if len(points) < 30 else None,
                          label=run_label[id(run)])
        axis.set_title(label, fontsize=10)
        axis.grid(alpha=0.3)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        if percent:
            axis.yaxis.set_major_formatter(PercentFormatter(1.0))
    for axis in axes[1]:
        axis.set_xlabel("learner step")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if not handles:
        for axis in axes.flat:
            handles, labels = axis.get_legend_handles_labels()
            if handles:
                break
    if handles:
        figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4),
                      frameon=False)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    out = Path(out)
    try:
        with atomic_file(out, "wb") as handle:
            figure.savefig(handle, dpi=110, format=Path(out).suffix.lstrip(".") or "png")
    except ValueError as error:  # an unknown file extension
        raise MapoError(f"{out}: cannot write the plot ({error})") from None
    finally:
        plt.close(figure)
    return out
