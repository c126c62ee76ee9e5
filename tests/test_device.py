"""`--device`: where the learner, `decode`, `ask` and `serve` compute (actors stay on the CPU).

No GPU is needed here: `auto` and `cuda` are checked against what torch says it
sees, and the code that would run on a GPU is checked for the one mistake a
CPU cannot show, a tensor made on the CPU for a model that is elsewhere.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import train_command
from torch.overrides import TorchFunctionMode
from typer.testing import CliRunner

from mapo_cli.analysis.decode import decode_file
from mapo_cli.learn.checkpoint import load_checkpoint
from mapo_cli.learn.device import resolve_device
from mapo_cli.main import app

runner = CliRunner()


def train_args(paths: dict, run: str, *extra: str) -> list[str]:
    """`mapo train` on the demo, serial and leaving the store as it is."""
    return train_command(paths, run, "--serial", "--read-only-store", *extra)


def test_auto_takes_a_gpu_only_where_torch_sees_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")


def test_a_gpu_that_is_not_there_is_a_clear_error_before_anything_is_written(
        demo_training: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = runner.invoke(app, train_args(demo_training, "gpu", "--device", "cuda",
                                           "--steps", "2"))
    assert result.exit_code != 0
    assert "--device cuda: torch sees no CUDA device" in result.output
    assert not (demo_training["tmp"] / "gpu").exists()
    result = runner.invoke(app, train_args(demo_training, "tpu", "--device", "tpu"))
    assert result.exit_code != 0 and "unknown device 'tpu'" in result.output

    trained = runner.invoke(app, train_args(demo_training, "run", "--steps", "2",
                                            "--eval-every", "2"))
    assert trained.exit_code == 0, trained.output
    run = str(demo_training["tmp"] / "run")
    decoded = runner.invoke(app, ["decode", run, str(demo_training["dev"]), "--device", "cuda"])
    assert decoded.exit_code != 0 and "torch sees no CUDA device" in decoded.output
    asked = runner.invoke(app, ["ask", run, "t.csv", "?", "--device", "cuda"])
    assert asked.exit_code != 0 and "torch sees no CUDA device" in asked.output
    served = runner.invoke(app, ["serve", run, "--device", "cuda"])
    assert served.exit_code != 0 and "torch sees no CUDA device" in served.output


def test_device_cpu_is_recorded_and_trains_exactly_as_without_it(demo_training: dict) -> None:
    for name, extra in (("default", ()), ("cpu", ("--device", "cpu"))):
        result = runner.invoke(app, train_args(demo_training, name, "--steps", "4",
                                               "--eval-every", "2", "--seed", "3", *extra))
        assert result.exit_code == 0, result.output
    assert 'device = "cpu"' in (demo_training["tmp"] / "cpu" / "config.toml").read_text()
    default, cpu = (load_checkpoint(demo_training["tmp"] / name / "best.pt").model.state_dict()
                    for name in ("default", "cpu"))
    assert all(torch.equal(default[key], cpu[key]) for key in default)


class MadeWithoutDevice(TorchFunctionMode):
    """Records every tensor that the model, decoding or learning code makes without saying
    on which device: on a GPU, such a tensor would be on the CPU and the next product fail."""

    FACTORIES = frozenset({torch.tensor, torch.as_tensor, torch.zeros, torch.ones, torch.full,
                           torch.empty, torch.arange, torch.randn, torch.rand})
    WATCHED = frozenset({"model.py", "decoding.py", "beam_search.py", "learner.py",
                         "evaluation.py"})

    def __init__(self) -> None:
        super().__init__()
        self.missing: set[str] = set()
        self.made = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self.FACTORIES:
            caller = sys._getframe(1).f_code
            path = Path(caller.co_filename)
            # A model is built on the CPU and moved whole: its __init__ may make tensors.
            if (path.parent.name == "learn" and path.name in self.WATCHED
                    and caller.co_name != "__init__"):
                self.made += 1
                if "device" not in kwargs:
                    self.missing.add(f"{path.name}:{sys._getframe(1).f_lineno}")
        return func(*args, **kwargs)


def test_every_tensor_training_and_decoding_make_is_made_on_the_models_device(
        demo_training: dict) -> None:
    with MadeWithoutDevice() as watch:
        trained = runner.invoke(app, train_args(demo_training, "watched", "--steps", "2",
                                                "--eval-every", "2", "--used-tokens", "--json"))
        report = decode_file(demo_training["tmp"] / "watched", demo_training["dev"],
                             beam_size=3, workers=1)
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.stdout)["steps"] == 2 and report.total > 0
    assert watch.made > 100  # the watch saw the model at work
    assert watch.missing == set()
