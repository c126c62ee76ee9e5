"""The actor turns examples into weighted samples, from live memory buffers."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from mapo_cli.core.errors import MapoError
from mapo_cli.language.liveness import without_dead_code
from mapo_cli.learn.actor import Actor
from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.features import build_vocabulary
from mapo_cli.learn.model import ModelConfig, Programmer
from mapo_cli.learn.runner_parallel import check_actors
from mapo_cli.learn.training_data import load_training_data


def make_actor(prepared_demo: Path, demo_store: Path, **settings) -> tuple[Actor, dict]:
    config = TrainConfig(train=str(prepared_demo / "random-split-1-train.jsonl"),
                         dev=str(prepared_demo / "random-split-1-dev.jsonl"),
                         store=str(demo_store), **settings)
    data = load_training_data(config)
    vocabulary = build_vocabulary(data.train, data.tables)
    model = Programmer(ModelConfig(embedding_size=16, hidden_size=16), len(vocabulary),
                       len(data.grammar.builtin_tokens))
    stored = {k: list(v) for k, v in data.memory.items()}
    actor = Actor(config, data.train, data.tables, data.grammar, vocabulary, model, data.memory,
                  data.filters, data.store_settings, seed=0, exhausted=data.exhausted)
    return actor, stored


@pytest.mark.usefixtures("one_torch_thread")
def test_buffers_are_live_and_every_program_still_answers(prepared_demo: Path,
                                                          demo_store: Path) -> None:
    actor, stored = make_actor(prepared_demo, demo_store)
    ids = [i for i, programs in stored.items() if programs][:12]
    batch = actor.make_batch(ids)
    for example_id in ids:
        first_var = actor.item(example_id).ctx.first_var
        buffer = actor.buffer(example_id)
        assert buffer and len(set(buffer)) == len(buffer)
        assert all(without_dead_code(p, first_var) == p for p in buffer)
        assert all(actor.reward(example_id, p) == 1.0 for p in buffer)
        # the store is explored under the liveness rule: its memory is live already
        assert buffer[: len(stored[example_id])] == stored[example_id]
    for example_id, program, _, _ in batch.samples:  # the learner gets every walk it needs
        assert batch.walked[example_id].walk(program)


@pytest.mark.usefixtures("one_torch_thread")
def test_an_actor_drops_the_lookahead_of_its_prepared_examples_after_a_batch(
        prepared_demo: Path, demo_store: Path) -> None:
    actor, stored = make_actor(prepared_demo, demo_store)
    ids = [i for i, programs in stored.items() if programs][:12]
    actor.lookahead_keep = 10**9
    actor.make_batch(ids)
    sizes = [actor.item(i).interpreter.assistant.lookahead_size() for i in ids]
    assert max(sizes) > 0, "sampling a batch should leave lookahead work behind"

    actor.lookahead_keep = 0
    actor.make_batch(ids)
    assert all(actor.item(i).interpreter.assistant.lookahead_size() == 0 for i in ids)


@pytest.mark.usefixtures("one_torch_thread")
def test_warm_and_trimmed_examples_offer_what_a_cold_one_offers(
        prepared_demo: Path, demo_store: Path) -> None:
    """An actor keeps its examples prepared across batches and trims their lookahead memos;
    neither may change an offer: every prefix of every buffer program and sample gets the
    tokens a freshly prepared example gives it."""
    actor, stored = make_actor(prepared_demo, demo_store)
    ids = [i for i, programs in stored.items() if programs][:12]
    batch = actor.make_batch(ids)  # warm: sampled, explored and scored
    actor.lookahead_keep = 0
    actor.make_batch(ids)  # ... and trimmed after it
    programs = {(i, p) for i in ids for p in actor.buffer(i)}
    programs |= {(i, p) for i, p, _, _ in batch.samples}
    assert len(programs) > len(ids)
    for example_id, program in sorted(programs):
        warm = actor.item(example_id).interpreter
        cold = actor._prepare(example_id).interpreter
        assert warm is not cold
        warm_state, cold_state = warm.start(), cold.start()
        for token in program:
            assert warm.valid_tokens(warm_state) == cold.valid_tokens(cold_state)
            warm_state, cold_state = warm.step(warm_state, token), cold.step(cold_state, token)


def test_keep_dead_code_is_refused_for_a_live_grammar(prepared_demo: Path,
                                                     demo_store: Path) -> None:
    with pytest.raises(MapoError, match="--keep-dead-code: grammar 'wtq' writes only live"):
        make_actor(prepared_demo, demo_store, live_memory=False)


def test_a_relaxed_example_is_explored_with_every_function(prepared_demo: Path,
                                                           demo_store: Path) -> None:
    actor, _ = make_actor(prepared_demo, demo_store)
    every = len(actor.grammar.functions)
    narrowed = [i for i in actor.examples
                if len(actor.explorer(i).interpreter.allowed) < every]
    assert narrowed, "the demo's questions should leave some function untriggered"
    actor.relaxed = {narrowed[0]}  # as `mapo explore --relax-triggers` marks it in the store
    assert len(actor.explorer(narrowed[0]).interpreter.allowed) == every


def test_training_reads_which_examples_were_relaxed(tmp_path: Path) -> None:
    from tables import small_table
    from test_explore import RELAX, UNTRIGGERED, write_data

    from mapo_cli.search.driver import explore_data

    data = write_data(tmp_path / "d", [UNTRIGGERED], [small_table()])
    explore_data(data, tmp_path / "s", RELAX, workers=1, samples_per_example=1000)
    config = TrainConfig(train=str(data), dev=str(data), store=str(tmp_path / "s"))
    assert load_training_data(config).relaxed == {UNTRIGGERED["id"]}


def _die(signal_number: int) -> None:
    os.kill(os.getpid(), signal_number)


def test_an_actor_process_that_dies_stops_training_with_a_clear_error() -> None:
    context = multiprocessing.get_context("spawn")
    alive = context.Process(target=time.sleep, args=(30,), daemon=True)
    killed = context.Process(target=_die, args=(signal.SIGKILL,), daemon=True)
    for process in (alive, killed):
        process.start()
    killed.join(timeout=30)
    try:
        with pytest.raises(MapoError, match=r"actor 1 of 2 died \(killed: .*out of memory.*--resume"):
            check_actors([alive, killed])
        check_actors([alive])  # every actor alive: training goes on
    finally:
        alive.terminate()
