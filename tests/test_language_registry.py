"""Each built-in declared once: grammars select from the registry, the version is derived.

What a user relies on: a grammar file that names a built-in mapo does not have
is one line naming the file and the function; stores and checkpoints made
before the registry existed still open while the built-ins mean what they
meant, and a store of another program language is refused by name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
from pathlib import Path

import pytest
from conftest import demo_subsets
from tables import example, medals_table

from mapo_cli.analysis.execution import execute
from mapo_cli.core.errors import InvalidProgram, MapoError
from mapo_cli.language import version
from mapo_cli.language.context import ProgramContext
from mapo_cli.language.grammar import grammars_dir, load_grammar
from mapo_cli.language.interpreter import Interpreter
from mapo_cli.language.registry import Registry, always_offered
from mapo_cli.language.semantics import BUILTINS
from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.training_data import load_training_data
from mapo_cli.search.driver import explore_data
from mapo_cli.search.explore import ExploreSettings
from mapo_cli.store.store import Store
from mapo_cli.store.values import make_fingerprint

CHANGED_SINCE_3: set[str] = set()
"""Built-ins whose meaning changed since semantics 3 (their stores of version 3 are refused)."""


# --- the registry and the grammars that select from it ----------------------------------


def test_grammars_select_declared_builtins_and_take_their_code_from_them() -> None:
    for name in ("wtq", "wikisql"):
        grammar = load_grammar(name)
        interpreter = Interpreter(ProgramContext(example("q", [], []), medals_table(), grammar))
        for index, function in enumerate(grammar.functions):
            builtin = BUILTINS[function.semantics]
            assert all(builtin.takes(sig) for sig in function.signatures)
            assert function.returns == builtin.returns
            assert interpreter.assistant.semantics[index] is builtin.compute
            assert interpreter.assistant.rules[index] is builtin.prune


def test_a_call_of_the_wrong_shape_shows_the_usage_from_the_declaration() -> None:
    question = example("how many?", [], ["4"])
    with pytest.raises(InvalidProgram) as error:
        execute(question, medals_table(), "(count all_rows all_rows)")
    assert str(error.value) == ("(count ...) takes 1 argument(s); expected ')' not 'all_rows'. "
                                "Usage: (count rows) gives number: the number of rows")
    with pytest.raises(InvalidProgram, match=r"Usage: \(argmax rows num_column\) or \(argmax "
                                             r"rows date_column\) gives rows \(op max\): the rows"):
        execute(question, medals_table(), "(argmax (count")


def grammar_file(tmp_path: Path, functions: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(f'name = "mine"\n{functions}')
    return path


def test_a_grammar_naming_an_unknown_builtin_is_one_line_naming_file_and_function(
        tmp_path: Path) -> None:
    path = grammar_file(tmp_path, '[[functions]]\nname = "shuffle"\nsemantics = "frobnicate"\n')
    with pytest.raises(MapoError) as error:
        load_grammar(str(path))
    message = str(error.value)
    assert message.startswith(f"{path}: ")
    assert "function shuffle: unknown semantics 'frobnicate'; the built-ins are hop, " in message
    assert "\n" not in message


def test_a_grammar_may_leave_types_and_op_to_the_declaration_or_narrow_them(
        tmp_path: Path) -> None:
    path = grammar_file(tmp_path, '[[functions]]\nname = "how_many"\nsemantics = "count"\n'
                                  '[[functions]]\nname = "delta"\nsemantics = "diff"\n'
                                  '[[functions]]\nname = "name_of"\nsemantics = "hop"\n'
                                  'signatures = [["row", "str_column"]]\n')
    how_many, delta, name_of = load_grammar(str(path)).functions
    assert (how_many.signatures, how_many.returns, how_many.op) == ((("rows",),), "number", None)
    assert delta.op == "absolute"  # diff's default op
    assert name_of.signatures == (("row", "str_column"),)


@pytest.mark.parametrize(("entry", "problem"), [
    ('semantics = "count"\nreturns = "rows"', "function f: count returns number, not rows"),
    ('semantics = "count"\nsignatures = [["cells"]]',
     "function f: count does not take (cells); it takes (rows)"),
    ('semantics = "aggregate"',
     "function f: aggregate needs an op, one of max, min, average, sum; it has none"),
    ('semantics = "aggregate"\nop = "median"', "one of max, min, average, sum; got 'median'"),
    ('semantics = "hop"\nop = "max"', "function f: hop takes no op, got 'max'"),
])
def test_a_grammar_contradicting_a_declaration_is_refused(tmp_path: Path, entry: str,
                                                          problem: str) -> None:
    path = grammar_file(tmp_path, f'[[functions]]\nname = "f"\n{entry}\n')
    with pytest.raises(MapoError, match=r"not a valid grammar file") as error:
        load_grammar(str(path))
    assert problem in str(error.value)


@pytest.mark.parametrize(("declaration", "problem"), [
    ({"signatures": [("rows", "num_column")]}, "takes 1 argument(s) after (ctx, op)"),
    ({"signatures": [("rows",), ("rows", "column")]}, "share one arity"),
    ({"signatures": [("table",)]}, "unknown type 'table'"),
    ({"ops": ("a",), "default_op": "b"}, "default op 'b' is not one of its ops"),
    ({"help": "two\nlines"}, "needs a one-line help"),
    ({}, "declared twice"),
])
def test_a_declaration_that_contradicts_itself_fails_at_import(declaration: dict,
                                                               problem: str) -> None:
    registry = Registry()
    if not declaration:
        registry.declare(signatures=[("rows",)], returns="number", help="rows")(_size)
    with pytest.raises(TypeError) as error:
        registry.declare(**{"signatures": [("rows",)], "returns": "number", "help": "rows",
                            **declaration})(_size)
    assert str(error.value) == f"built-in _size: {problem}" or problem in str(error.value)
    assert "_size" not in registry.names() or not declaration


def _size(ctx: object, op: str | None, rows: int) -> tuple[str, float]:
    return ("number", float(rows.bit_count()))


# --- the derived semantics version ----------------------------------------------------------


def test_the_bundled_grammars_are_still_semantics_3() -> None:
    assert version.semantics_version(load_grammar("wtq")) == 3
    assert version.semantics_version(load_grammar("wikisql")) == 3
    assert ExploreSettings().fingerprint()["semantics"] == 3


def test_named_version_3_is_the_code_of_todays_builtins() -> None:
    """Fails when a built-in's code (or code it reaches) changes. If its meaning is the same
    (a refactor), put its new digest in version.NAMED[3]: stores of 3 stay readable. If its
    meaning changed, add it to CHANGED_SINCE_3 (or name a version 4): stores of 3 that use it
    are refused."""
    now = version.registry_digests()
    changed = {name for name, digest in version.NAMED[3].items() if now.get(name) != digest}
    assert changed == CHANGED_SINCE_3, (
        f"the code of {sorted(changed - CHANGED_SINCE_3)} changed since semantics 3; new "
        f"digests: { {name: now.get(name) for name in sorted(changed)} }")


SIZE = {
    "plain": "def size(ctx, op, rows):\n    return ('number', float(rows.bit_count()))\n",
    "documented": ('def size(ctx, op,\n         rows):\n    """The number of rows."""\n'
                   "    # a comment\n    return ('number',\n            float(rows.bit_count()))\n"),
    "changed": "def size(ctx, op, rows):\n    return ('number', float(rows.bit_length()))\n",
}


def test_docstrings_comments_and_layout_leave_a_digest_statements_change_it(
        tmp_path: Path) -> None:
    digests = {}
    for name, source in SIZE.items():
        (tmp_path / f"size_{name}.py").write_text(source)
        spec = importlib.util.spec_from_file_location(f"size_{name}", tmp_path / f"size_{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        digests[name] = version.code_digest(module.size)
    assert digests["plain"] == digests["documented"] != digests["changed"]


def test_a_builtin_reaches_the_code_it_computes_with() -> None:
    parts = version.builtin_parts(BUILTINS["compare"])
    for code in ("semantics.compare", "semantics._compare_rule", "pruning.filter_rule",
                 "context.ProgramContext", "context.date_holds"):
        assert f"mapo_cli.language.{code}" in parts
    assert "mapo_cli.core.text.contains" in parts  # via ProgramContext.contains_mask
    # how a cell's text is matched, behind normalize_text's memo: a memoised function counts
    for code in ("normalize_text", "text_tokens", "ascii_fold"):
        assert f"mapo_cli.core.text.{code}" in parts


def test_changing_a_builtin_changes_the_version_of_the_grammars_using_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pruned_never = dataclasses.replace(BUILTINS["mode"], prune=always_offered)
    monkeypatch.setitem(BUILTINS._builtins, "mode", pruned_never)
    changed = version.semantics_version(load_grammar("wtq"))
    assert isinstance(changed, str) and len(changed) == 16
    assert version.semantics_version(load_grammar("wikisql")) == 3  # it has no mode


# --- stores and checkpoints from before the registry ----------------------------------------

# What search/explore.py records, semantics apart.
def old_fingerprint(semantics: int | str = 3) -> dict:
    return {"grammar": "wtq", "grammar_hash": load_grammar("wtq").content_hash,
            "live_programs": True, "semantics": semantics, "max_expressions": 3,
            "triggers": True, "filter_mode": "bloom", "error_rate": 0.01}


@pytest.fixture
def small(prepared_demo: Path, tmp_path: Path) -> dict[str, Path]:
    paths = demo_subsets(prepared_demo, tmp_path, {"train": ("random-split-1-train", 6),
                                                   "dev": ("random-split-1-dev", 2)})
    paths["store"] = tmp_path / "store"
    return paths


def test_a_store_explored_with_semantics_3_opens_for_explore_and_training(
        small: dict[str, Path]) -> None:
    assert old_fingerprint() == make_fingerprint(
        grammar="wtq", grammar_hash=load_grammar("wtq").content_hash, max_expressions=3,
        triggers=True, filter_mode="bloom", error_rate=0.01, live_programs=True, semantics=3)
    Store.create_or_open(small["store"], old_fingerprint()).close()
    summary = explore_data(small["train"], small["store"], ExploreSettings(), workers=1,
                           samples_per_example=30)
    assert summary["examples"] == 6
    data = load_training_data(TrainConfig(train=str(small["train"]), dev=str(small["dev"]),
                                          store=str(small["store"])))
    assert data.store_settings == old_fingerprint()
    assert sum(len(programs) for programs in data.memory.values()) > 0


@pytest.mark.parametrize("recorded", [2, 3, "0123456789abcdef"])
def test_a_store_of_another_program_language_is_refused_by_name(
        small: dict[str, Path], monkeypatch: pytest.MonkeyPatch, recorded: int | str) -> None:
    """2 matched a cell's "3–2" as "32"; 3 stands for other code once a built-in changes."""
    if recorded == 3:  # today's built-ins are no longer what 3 meant
        monkeypatch.setattr(version, "NAMED", {3: {**version.NAMED[3], "hop": "0" * 16}})
    Store.create_or_open(small["store"], old_fingerprint(recorded)).close()
    now = ExploreSettings().fingerprint()["semantics"]
    assert now != recorded
    with pytest.raises(MapoError) as refused:
        explore_data(small["train"], small["store"], ExploreSettings(), workers=1,
                     samples_per_example=1)
    message = str(refused.value)
    assert (f"store was explored with another program language (semantics {recorded}, but "
            f"this mapo's built-in functions are version {now}") in message
    assert message.endswith("explore into a new store (mapo explore DATA --store NEW_DIR)")
    assert "\n" not in message
    # a store of 2 was explored on data folded the old way: that data is stale too
    assert ("prepare the data again (mapo prepare) first" in message) == (recorded == 2)


def test_a_grammar_keeps_its_content_hash_the_checkpoints_record() -> None:
    """Checkpoints and stores record a grammar by the SHA-256 of its file's bytes."""
    for name in ("wtq", "wikisql"):
        raw = (grammars_dir() / f"{name}.toml").read_bytes()
        assert load_grammar(name).content_hash == hashlib.sha256(raw).hexdigest()[:16]


def test_training_refuses_a_store_of_another_program_language_too(
        small: dict[str, Path]) -> None:
    Store.create_or_open(small["store"], old_fingerprint("0123456789abcdef")).close()
    explore = ExploreSettings()
    with pytest.raises(MapoError, match=r"explored with another program language \(semantics "
                       r"'0123456789abcdef', this mapo's 3: .* re-explore with mapo explore"):
        load_training_data(TrainConfig(train=str(small["train"]), dev=str(small["dev"]),
                                       store=str(small["store"])))
    assert explore.fingerprint()["semantics"] == 3
