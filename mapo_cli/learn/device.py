"""Where a model computes: `--device auto|cpu|cuda` of `mapo train`, `decode`, `ask`, `serve`.

Only the model's own arithmetic moves. Actors always sample on the CPU (they
are many, and their steps are small); what a model is given is built on the
CPU and moved by `Programmer.encode`; every tensor the model and the decoding
functions make is made on the model's device; checkpoints load onto the CPU
first, so a run trained on a GPU decodes on a machine without one.
"""

from __future__ import annotations

import torch

from mapo_cli.core.errors import MapoError

DEVICES = ("auto", "cpu", "cuda")


def check_device(name: str) -> None:
    if name not in DEVICES:
        raise MapoError(f"unknown device {name!r}; use one of {', '.join(DEVICES)}")


def resolve_device(name: str) -> torch.device:
    """The device `name` stands for here: auto is cuda where torch sees a GPU, else cpu;
    cuda where it sees none is a MapoError, not torch's traceback at the first tensor."""
    check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        why = ("this torch build has no CUDA" if torch.version.cuda is None
               else "it finds no GPU")
        raise MapoError(f"--device cuda: torch sees no CUDA device ({why}); use --device "
                        "cpu, or auto to take a GPU only where there is one")
    return torch.device(name)
