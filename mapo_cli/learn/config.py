"""Training settings: one dataclass, every field a `mapo train` flag and a config-file key."""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from mapo_cli.core.cluster import check_backend
from mapo_cli.core.errors import MapoError
from mapo_cli.core.ranges import RANGES, check_range
from mapo_cli.learn.contextual import check_encoder
from mapo_cli.learn.objectives import OBJECTIVES
from mapo_cli.learn.pretrained import SOURCES


@dataclass
class TrainConfig:
    """What a run was asked to do; saved as `config.toml` in the run directory."""

    train: str = ""  # prepared training data (TRAIN.jsonl)
    dev: str = ""  # prepared dev data, evaluated with greedy decoding
    store: str = ""  # explored store (memory buffers and explored-prefix filters)
    objective: str = "mapo"  # mapo | reinforce | mml | hard-em | iml
    alpha: float = 0.1  # clip π(B) from below at α (0: the "no marginal likelihood" ablation)
    memory_top_k: int = 0  # >0: enumerate the K most probable memory programs instead of sampling
    explore: bool = True  # keep exploring systematically during training; False with an empty
    # starting memory is the paper's "no systematic exploration" ablation
    read_only_store: bool = False  # do not write newly found programs back to the store
    steps: int = 2000  # learner updates
    seconds: float = 0.0  # stop after this wall time (0: no limit)
    batch_examples: int = 25  # examples per batch (the paper: 25)
    learning_rate: float = 1e-3  # Adam
    entropy: float = 0.01  # entropy regularisation
    dropout: float = 0.2
    hidden: int = 200  # LSTM size (encoder and decoder)
    embedding: int = 200  # word embedding size
    encoder: str = "lstm"  # lstm | minilm: also read a frozen pretrained encoder's vectors
    embeddings: str = ""  # start the word embeddings from pretrained vectors ("glove-6b-50d")
    freeze_embeddings: bool = False  # keep the pretrained vectors fixed (the paper's setting)
    match_plurals: bool = False  # the column feature counts `weapons` as the column word `weapon`
    used_tokens: bool = False  # the decoder sees which tokens its program already used
    min_count: int = 1  # rarer training words are <UNK> (or, with --embeddings, just their vector)
    grad_clip: float = 5.0  # gradient norm clipping
    average_decay: float = 0.0  # >0: evaluate (and keep as best) an exponential moving average
    # of the weights with this decay per learner step; actors still sample with the latest ones
    memory_limit: int = 1000  # at most this many programs per buffer are scored by the actor
    live_memory: bool = True  # reduce memory programs to their live expressions (liveness.py; grammars without the rule)
    seed: int = 0
    eval_every: int = 200  # steps between dev evaluations (and checkpoints)
    eval_examples: int = 0  # evaluate on the first N dev examples (0: all)
    save_every_seconds: float = 600.0  # also checkpoint when this much time has passed
    keep_checkpoints: int = 3  # latest checkpoints kept (the best one is kept apart)
    actors: int = 0  # actor processes (0: cores − 1, at least 1)
    sync_every: int = 4  # actors refresh their policy copy every M learner steps
    serial: bool = False  # everything in one process (debugging, deterministic tests)
    backend: str = "local"  # local: actor processes here | ray: Ray actors (core/cluster.py)
    ray_address: str = ""  # with backend ray: the cluster to join ("auto", HOST:PORT; "": start one)
    threads: int = 1  # torch threads per process

    def check(self) -> TrainConfig:
        """Raise MapoError for values that cannot work (ranges: core/ranges.py); return self."""
        if self.objective not in OBJECTIVES:
            raise MapoError(f"unknown objective {self.objective!r}; use one of {', '.join(OBJECTIVES)}")
        for field in fields(self):
            if field.name in RANGES:
                check_range(field.name, getattr(self, field.name))
        if self.hidden % 2:
            raise MapoError(f"hidden must be even (two LSTM directions), got {self.hidden}")
        check_encoder(self.encoder)
        check_backend(self.backend, self.ray_address)
        if self.serial and self.backend != "local":
            raise MapoError("--serial runs the actor in this process: it cannot use --backend "
                            f"{self.backend}")
        if self.embeddings and self.embeddings not in SOURCES:
            raise MapoError(f"unknown embeddings {self.embeddings!r}; use one of {', '.join(SOURCES)}")
        for name in ("train", "dev", "store"):
            if not getattr(self, name):
                raise MapoError(f"--{name} is required (on the command line or in --config)")
        return self

    def to_toml(self) -> str:
        lines = []
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, str):  # JSON's escapes are TOML's, but for DEL
                text = json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
            else:
                text = repr(value)
            lines.append(f"{field.name} = {text}")
        return "\n".join(lines) + "\n"


MODEL_SETTINGS = ("hidden", "embedding", "encoder", "embeddings", "match_plurals", "used_tokens",
                  "min_count")
"""What a run's weights and vocabulary were built with: resuming cannot change them."""


def changed_model_settings(trained: TrainConfig, asked: TrainConfig) -> list[str]:
    """`name = trained value (asked: new value)` for each model setting a resume would change."""
    return [f"{name} = {getattr(trained, name)!r} (asked: {getattr(asked, name)!r})"
            for name in MODEL_SETTINGS if getattr(trained, name) != getattr(asked, name)]


def read_config_file(path: Path) -> dict[str, Any]:
    """Settings from a TOML file; an unknown key, a wrong type or a value out of range is a
    MapoError naming the file and the key (TOML has nan and inf)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MapoError(f"{path}: no such config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise MapoError(f"{path}: not a valid TOML file ({error})") from None
    known = {field.name: field for field in fields(TrainConfig)}
    for key, value in data.items():
        if key not in known:
            raise MapoError(f"{path}: unknown setting {key!r}")
        expected = type(getattr(TrainConfig(), key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            data[key] = float(value)
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise MapoError(f"{path}: {key} must be {expected.__name__}, not {value!r}")
        if key in RANGES:
            check_range(key, data[key], label=f"{path}: {key}")
    return data


PATHS = ("train", "dev", "store")
"""The settings that name files: absolute in a run's config.toml, so that `--resume` works
from any directory (relative ones, on the command line or in --config, are from the
current directory)."""


def absolute_paths(config: TrainConfig) -> TrainConfig:
    return dataclasses.replace(config, **{name: os.path.abspath(getattr(config, name))
                                          for name in PATHS if getattr(config, name)})


def merge(file_values: dict[str, Any], flags: dict[str, Any]) -> TrainConfig:
    """Defaults, then the config file, then flags given on the command line."""
    config = dataclasses.replace(TrainConfig(), **file_values)
    return dataclasses.replace(config, **{k: v for k, v in flags.items() if v is not None})
