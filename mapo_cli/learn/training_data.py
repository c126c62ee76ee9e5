"""What a run trains on: the examples, and what `mapo explore` left in the store for them.

Loaded once, before the run directory is touched, so data that does not
match its store is an error rather than a half-made run; every runner hands
the same `TrainingData` to its actors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mapo_cli.core.errors import MapoError
from mapo_cli.data.dataset import load_dataset
from mapo_cli.language.grammar import Grammar, load_grammar
from mapo_cli.language.version import semantics_version
from mapo_cli.learn.config import TrainConfig
from mapo_cli.store.files import check_no_writer
from mapo_cli.store.store import Store
from mapo_cli.store.values import example_key, retired_note

Program = tuple[int, ...]


@dataclass
class TrainingData:
    train: list[dict]
    dev: list[dict]
    tables: dict[str, dict]
    grammar: Grammar
    store_settings: dict
    memory: dict[str, list[Program]]
    filters: dict[str, bytes | None]
    exhausted: set[str]
    relaxed: set[str]  # explored past their trigger words (`mapo explore --relax-triggers`)


def load_training_data(config: TrainConfig) -> TrainingData:
    """Examples, tables, and the store's buffers and filters for the training examples."""
    train, train_tables = load_dataset(config.train)
    dev, dev_tables = load_dataset(config.dev)
    for name, examples in (("train", train), ("dev", dev)):
        if not examples:
            raise MapoError(f"{getattr(config, name)}: no examples to "
                            f"{'train on' if name == 'train' else 'evaluate (and choose best.pt) on'}")
    if not config.read_only_store:
        check_no_writer(Path(config.store))
    grammars = {e["grammar"] for e in train + dev}
    if len(grammars) != 1:
        raise MapoError(f"train and dev data use different grammars: {sorted(grammars)}")
    grammar = load_grammar(grammars.pop())
    with Store.open_readonly(Path(config.store)) as store:
        settings = dict(store.fingerprint)
        if grammar.live_programs and not settings.get("live_programs"):
            raise MapoError(f"store {config.store} holds programs with dead code (explored before "
                            f"the liveness rule): re-explore with mapo explore {config.train} "
                            "--store NEW_DIR")
        if grammar.live_programs and not config.live_memory:
            raise MapoError(f"--keep-dead-code: grammar {grammar.name!r} writes only live programs "
                            "(live_programs = true); the flag is for grammars without the rule")
        if settings.get("grammar") != grammar.name:
            raise MapoError(f"store {config.store} was explored with grammar "
                            f"{settings.get('grammar')!r}, the data with {grammar.name!r}")
        if settings.get("semantics") != semantics_version(grammar):
            raise MapoError(f"store {config.store} was explored with another program language "
                            f"(semantics {settings.get('semantics')!r}, this mapo's "
                            f"{semantics_version(grammar)!r}: its functions compute or prune "
                            f"differently{retired_note(settings.get('semantics'))}): re-explore "
                            f"with mapo explore {config.train} --store NEW_DIR")
        if settings.get("grammar_hash") != grammar.content_hash:
            raise MapoError(f"store {config.store} was explored with another version of grammar "
                            f"{grammar.name!r} than the data's (its functions or settings differ)")
        memory, filters, exhausted, relaxed = {}, {}, set(), set()
        for example in train:
            stored = store.read_example(example["id"])
            if stored is None:
                raise MapoError(f"store {config.store} was made for other data: it has no example "
                                f"{example['id']!r} (explore {config.train} into it first)")
            if example_key(*stored) != example_key(example, train_tables[example["table"]]):
                raise MapoError(f"store {config.store}: example {example['id']!r} differs from "
                                f"the one in {config.train}")
            if config.explore:
                memory[example["id"]] = [p for p, r in store.read_memory(example["id"]) if r > 0]
                filters[example["id"]] = store.read_filter(example["id"])
                status = store.read_status(example["id"]) or {}
                if status.get("exhausted"):
                    exhausted.add(example["id"])
                if status.get("relaxed"):
                    relaxed.add(example["id"])
    return TrainingData(train, dev, {**dev_tables, **train_tables}, grammar, settings, memory,
                        filters, exhausted, relaxed)
