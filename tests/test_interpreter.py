"""The interpreter: function semantics, code assistance, and exhaustive checks."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tables import example, medals_table, small_table

from mapo_cli.core.errors import InvalidProgram
from mapo_cli.language.context import ProgramContext
from mapo_cli.language.grammar import load_grammar
from mapo_cli.language.interpreter import END_ID, Interpreter, answer_strings
from mapo_cli.language.program import format_program, split_program, to_ids
from mapo_cli.language.semantics import BUILTINS

ENTITIES = [
    {"type": "string", "value": "peru", "span": [4, 5]},
    {"type": "number", "value": 3, "span": [6, 7]},
    {"type": "date", "value": "1996-xx-xx", "span": [8, 9]},
]


def make(max_expressions: int | None = None, table: dict | None = None) -> Interpreter:
    ex = example("which nation is before peru 3 1996?", ENTITIES, ["Brazil"])
    ctx = ProgramContext(ex, table or medals_table(), load_grammar("wtq"), max_expressions)
    return Interpreter(ctx)


def run(program: str, interpreter: Interpreter | None = None) -> list[str]:
    interpreter = interpreter or make()
    state = interpreter.run(to_ids(split_program(program), interpreter.ctx))
    assert state.done
    return interpreter.answer(state)


@pytest.mark.parametrize(
    ("program", "answer"),
    [
        ("(hop all_rows r.nation-str)", ["Brazil", "Peru", "Chile", "Peru B"]),
        ("(argmax all_rows r.gold-num) (hop v0 r.nation-str)", ["Brazil"]),
        ("(argmin all_rows r.silver-num) (hop v0 r.nation-str)", ["Chile", "Peru B"]),
        ("(argmax all_rows r.year-date) (hop v0 r.nation-str)", ["Peru B"]),
        ("(filter> all_rows 3 r.gold-num) (hop v0 r.nation-str)", ["Brazil"]),
        ("(filter>= all_rows 3 r.gold-num) (count v0)", ["3"]),
        ("(filter< all_rows 3 r.gold-num) (hop v0 r.nation-str)", ["Peru B"]),
        ("(filter<= all_rows 3 r.silver-num) (count v0)", ["3"]),
        ("(filter= all_rows 3 r.gold-num) (hop v0 r.nation-str)", ["Peru", "Chile"]),
        ("(filter!= all_rows 3 r.gold-num) (hop v0 r.nation-str)", ["Brazil", "Peru B"]),
        ("(filter> all_rows 1996-xx-xx r.year-date) (hop v0 r.nation-str)", ["Peru", "Peru B"]),
        ('(filter_in all_rows "peru" r.nation-str) (count v0)', ["2"]),
        ('(filter!in all_rows "peru" r.nation-str) (hop v0 r.nation-str)', ["Brazil", "Chile"]),
        ('(filter_in all_rows "peru" r.nation-str) (first v0) (hop v1 r.gold-num)', ["3"]),
        ('(filter_in all_rows "peru" r.nation-str) (last v0) (hop v1 r.rank-num)', ["4"]),
        ('(filter_in all_rows "peru" r.nation-str) (first v0) (previous v1)', None),
        ("(count all_rows)", ["4"]),
        ("(filter= all_rows 3 r.year-num) (count v0)", ["0"]),
        ("(max all_rows r.gold-num)", ["5"]),
        ("(min all_rows r.silver-num)", ["1"]),
        ("(average all_rows r.gold-num)", ["3"]),
        ("(sum all_rows r.silver-num)", ["8"]),
        ("(mode all_rows r.gold-num)", ["3"]),
        ("(mode all_rows r.year-str)", ["1995"]),
        ("(first all_rows) (same_as v0 r.year-num) (hop v1 r.nation-str)", ["Chile"]),
        ("(first all_rows) (last all_rows) (diff v0 v1 r.gold-num)", ["4"]),
        ("(argmax all_rows r.gold-num) (next v0) (hop v1 r.nation-str)", ["Peru"]),
    ],
)
def test_function_semantics(program: str, answer: list[str] | None) -> None:
    if answer is None:  # a row is not an answer: the program cannot end there
        with pytest.raises(InvalidProgram, match="returns row"):
            run(program, make(max_expressions=3))
        return
    assert run(program) == answer


@pytest.mark.parametrize(
    ("program", "reason"),
    [
        ("(argmax all_rows r.nation-str)",
         r"argument 2 of argmax must be a date_column or a num_column, got str_column \(r.nation-str\)"),
        ("(filter> all_rows all_rows", r"argument 2 of filter> must be a date or a number, got rows \(all_rows\)"),
        ("(hop all_rows r.nope-str)", "unknown column"),
        ("(frobnicate all_rows)", "unknown function"),
        ("(hop v1 r.nation-str)", "v1 is not defined yet"),
        ("(filter!= all_rows 3 r.year-num) (count v0)", "is pruned from search: the filter keeps every row"),
        ("(filter!= all_rows 1996-xx-xx r.year-date) (count v0)", "is pruned from search"),
        ("(previous", "has no valid arguments"),
        ("(count all_rows) (count all_rows)", "complete program that uses v0"),
        ("(argmax all_rows r.gold-num)", "cannot end on a rows value"),
        ('(filter_in all_rows "peru" r.nation-str) (first v0) (hop v1 r.nation-str) (count all_rows)',
         "maximum of 3"),
        ("(hop all_rows r.nation-str", "expected '\\)'"),
        ("hop all_rows", "a function call starts with"),
    ],
)
def test_invalid_programs_name_the_reason(program: str, reason: str) -> None:
    with pytest.raises(InvalidProgram, match=reason):
        run(program)


def offered_after(prefix: str, interpreter: Interpreter) -> set[str]:
    """Names of the tokens offered after a prefix written in the notation."""
    ids = to_ids(split_program(prefix)[:-1], interpreter.ctx)
    state = interpreter.run(ids)
    return {interpreter.ctx.vocab[t] for t in interpreter.valid_tokens(state)}


def test_code_assistance_offers_only_sensible_arguments() -> None:
    interpreter = make()
    # v0 holds a single row: hop may use it, a superlative over it may not; and
    # (hop all_rows ...) would leave v0 unused for good, so it is not offered
    assert offered_after("(argmax all_rows r.gold-num) (hop", interpreter) == {"v0"}
    assert offered_after("(argmax all_rows r.gold-num) (argmax", interpreter) == {"all_rows"}
    # previous/next/same_as take a single row only
    assert offered_after("(argmax all_rows r.gold-num) (next", interpreter) == {"v0"}
    # filter_in offers only columns where the string occurs
    assert offered_after('(filter_in all_rows "peru"', interpreter) == {"r.nation-str"}
    # a comparison that keeps no rows is offered, for count to answer 0: no year is 3
    assert "r.year-num" in offered_after("(filter= all_rows 3", interpreter)
    assert offered_after("(filter= all_rows 3 r.year-num)", interpreter) == {"(count"}
    # a comparison whose result equals its input is not offered: every year is > 1990
    assert "r.year-date" in offered_after("(filter> all_rows 1996-xx-xx", interpreter)
    assert offered_after("(filter> all_rows 3", interpreter) == {"r.gold-num", "r.silver-num",
                                                                 "r.rank-num"}


def test_token_order_is_fixed_by_grammar_and_table() -> None:
    a, b = make().ctx.vocab, make().ctx.vocab
    assert a == b
    assert a[:4] == [")", "<END>", "(hop", "(argmax"]
    assert a[-3:] == ["v0", "v1", "v2"]


def test_format_round_trips() -> None:
    interpreter = make()
    text = '(filter_in all_rows "peru" r.nation-str) (first v0) (hop v1 r.gold-num)'
    ids = to_ids(split_program(text), interpreter.ctx)
    assert format_program(ids, interpreter.ctx.vocab) == text


def test_a_string_literal_with_quotes_and_backslashes_round_trips() -> None:
    quoted = {"type": "string", "value": 'the "boss" \\ song', "span": [0, 1]}
    ex = example('who sang the "boss" \\ song?', [quoted], ["x"])
    ctx = ProgramContext(ex, medals_table(), load_grammar("wtq"))
    literal = next(t for t in ctx.vocab if t.startswith('"'))
    assert literal == '"the \\" boss \\" \\\\ song"'
    text = f"(filter_in all_rows {literal} r.nation-str)"
    ids = to_ids(split_program(text), ctx)
    assert format_program(ids, ctx.vocab) == text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=20, max_size=20))
def test_random_walks_over_valid_tokens_always_finish(choices: list[int]) -> None:
    interpreter = make()
    state = interpreter.start()
    for choice in choices:
        valid = interpreter.valid_tokens(state)
        assert valid, "a prefix built from valid tokens must never be a dead end"
        state = interpreter.step(state, valid[choice % len(valid)])
        if state.done:
            break
    while not state.done:  # finish with the first valid token each time
        state = interpreter.step(state, interpreter.valid_tokens(state)[0])
    assert interpreter.answer(state)


def brute_force_programs(interpreter: Interpreter) -> set[tuple[int, ...]]:
    """Every program search may write, found without the code assistance.

    Each expression is tried with every variable token in every argument slot;
    a program is kept when it is well-typed, no call breaks a pruning rule,
    it ends on an answer and (in a live grammar) every result but the last is read.
    """
    ctx = interpreter.ctx
    functions = ctx.grammar.functions
    n_vars = len(ctx.fixed) + ctx.max_expressions
    found = set()

    def value_of(env: tuple, token: int):
        offset = token - ctx.n_builtins
        if offset < len(ctx.fixed):
            return ctx.fixed[offset]
        index = token - ctx.first_var
        return env[index] if index < len(env) else None

    def type_ok(arg_type: str, value) -> bool:
        vt, v = value
        return (arg_type == vt or (arg_type == "row" and vt == "rows" and v and v & (v - 1) == 0)
                or (arg_type == "column" and vt.endswith("_column")))

    def live(tokens: tuple[int, ...], n: int) -> bool:
        read = {t - ctx.first_var for t in tokens if t >= ctx.first_var}
        return not ctx.grammar.live_programs or read >= set(range(n - 1))

    def extend(tokens: tuple[int, ...], env: tuple) -> None:
        if env and env[-1][0] in ctx.grammar.answer_types and live(tokens, len(env)):
            found.add(tokens + (END_ID,))
        if len(env) == ctx.max_expressions:
            return
        for index, function in enumerate(functions):
            for args in itertools.product(range(ctx.n_builtins, ctx.n_builtins + n_vars),
                                          repeat=function.arity):
                values = [value_of(env, t) for t in args]
                if any(v is None for v in values):
                    continue
                if not any(all(type_ok(t, v) for t, v in zip(sig, values))
                           for sig in function.signatures):
                    continue
                payloads = [v for _, v in values]
                builtin = BUILTINS[function.semantics]
                result = builtin.compute(ctx, function.op, *payloads)
                literal = all(t < ctx.first_var or v[0] not in ("number", "date", "string")
                              for t, v in zip(args, values))
                if builtin.prune(ctx, function.op, tuple(payloads), result[1],
                                 literal) is None:
                    extend(tokens + (2 + index, *args, 0), env + (result,))

    extend((), ())
    return found


def enumerate_programs(interpreter: Interpreter) -> set[tuple[int, ...]]:
    found = set()

    def walk(state) -> None:
        for token in interpreter.valid_tokens(state):
            child = interpreter.step(state, token)
            if child.done:
                found.add(child.tokens)
            else:
                walk(child)

    walk(interpreter.start())
    return found


@pytest.mark.parametrize("max_expressions", [1, 2])
def test_reachable_programs_equal_brute_force(max_expressions: int) -> None:
    interpreter = make(max_expressions, small_table())
    reachable = enumerate_programs(interpreter)
    assert reachable == brute_force_programs(interpreter)
    assert len(reachable) > 20


def test_every_reachable_program_executes_with_checks() -> None:
    interpreter = make(2, small_table())
    checked = Interpreter(interpreter.ctx)
    for program in enumerate_programs(interpreter):
        state = checked.run(program)
        assert state.done and answer_strings(state.env[-1])


def tiny(live: bool = True, grammar_name: str = "wtq") -> Interpreter:
    """Three expressions over two columns and two rows: small enough to enumerate."""
    table = small_table(2)
    keep = [1, 2]  # Nation, Gold
    table["headers"] = [table["headers"][c] for c in keep]
    table["columns"] = [table["columns"][c] for c in keep]
    table["rows"] = [[row[c] for c in keep] for row in table["rows"]]
    table["numbers"] = [table["numbers"][c] for c in keep]
    table["dates"] = [table["dates"][c] for c in keep]
    ex = example("how many more gold than 3?", [ENTITIES[1]], ["2"])
    grammar = load_grammar(grammar_name)
    if not live:
        grammar = dataclasses.replace(grammar, live_programs=False)
    return Interpreter(ProgramContext(ex, table, grammar, 3))


def test_three_expression_programs_equal_brute_force() -> None:
    interpreter = tiny()
    reachable = enumerate_programs(interpreter)
    assert reachable == brute_force_programs(interpreter)
    assert reachable < enumerate_programs(tiny(live=False))


def test_wikisql_programs_equal_brute_force() -> None:
    """The wikisql grammar has values no call reads (cells): the lookahead's cut for them
    loses no program."""
    interpreter = tiny(grammar_name="wikisql")
    reachable = enumerate_programs(interpreter)
    assert reachable == brute_force_programs(interpreter)
    assert len(reachable) > 10


def test_an_unreadable_variable_ends_the_lookahead_at_once() -> None:
    """After a hop the wikisql grammar can only end: no function takes cells, so nothing is
    searched to prove it."""
    ex = example("which nation is before peru 3 1996?", ENTITIES, ["Brazil"], "wikisql")
    interpreter = Interpreter(ProgramContext(ex, medals_table(), load_grammar("wikisql")))
    state = interpreter.start()
    for token in to_ids(split_program("(hop all_rows r.nation-str)"), interpreter.ctx):
        if token != END_ID:
            state = interpreter.step(state, token)  # unchecked: nothing looked ahead
    assert interpreter.valid_tokens(state) == (END_ID,)
    assert not interpreter.assistant._partial and not interpreter.assistant._finish


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=15), st.sampled_from(ENTITIES[:2]),
       st.sampled_from(["filter>", "filter<", "filter=", "filter!=", "filter_in", "filter!in"]))
def test_a_filter_rejected_on_all_rows_is_rejected_on_each_subset(
        rows: int, entity: dict, name: str) -> None:
    """What `Assistant._read_by` relies on to try a computed value against all rows only."""
    interpreter = make()
    ctx, functions = interpreter.ctx, interpreter.functions
    index = next(i for i, f in enumerate(functions) if f.name == name)
    function = functions[index]
    value = ("string", "peru") if entity["type"] == "string" else ("number", 3.0)
    for sig in function.signatures:
        if sig[1] != value[0]:
            continue
        for token, column in interpreter.assistant.fixed_by_type.get(sig[2], ()):
            on_all = interpreter.assistant.evaluate(index, (ctx.all_rows, value[1], column),
                                                    False)
            on_subset = interpreter.assistant.evaluate(index, (rows, value[1], column), False)
            if on_all[1] is not None:
                assert on_subset[1] is not None


def test_liveness_loses_no_answer() -> None:
    """Every answer a program with dead code computes, a live program computes too."""
    def answers(interpreter: Interpreter) -> set[tuple[str, ...]]:
        return {tuple(interpreter.answer(interpreter.run(p)))
                for p in enumerate_programs(interpreter)}

    assert answers(tiny()) == answers(tiny(live=False))


def test_small_memo_tables_give_the_same_offers_and_stay_within_their_bound() -> None:
    ex = example("which nation is before peru 3 1996?", ENTITIES, ["Brazil"])
    ctx = ProgramContext(ex, medals_table(), load_grammar("wtq"))
    roomy, tight = Interpreter(ctx), Interpreter(ctx, cache_limit=20)
    for interpreter in (roomy, tight):
        state, offers = interpreter.start(), []
        while not state.done:
            valid = interpreter.valid_tokens(state)
            offers.append(valid)
            state = interpreter.step(state, valid[len(valid) // 2])
        interpreter.offers = offers
    assert roomy.offers == tight.offers
    memo = tight.assistant
    assert len(roomy.assistant._partial) > 20  # the walk needs more than the bound
    assert len(memo._partial) <= 20 and len(memo._finish) <= 20


def test_forgetting_the_lookahead_keeps_the_offers_and_frees_its_memos() -> None:
    ex = example("which nation is before peru 3 1996?", ENTITIES, ["Brazil"])
    interpreter = Interpreter(ProgramContext(ex, medals_table(), load_grammar("wtq")))
    states, state = [], interpreter.start()
    while not state.done:
        states.append(state)
        valid = interpreter.valid_tokens(state)
        state = interpreter.step(state, valid[len(valid) // 2])
    offers = [interpreter.valid_tokens(s) for s in states]
    size = interpreter.assistant.lookahead_size()
    assert size > 0

    interpreter.assistant.forget_lookahead(keep=size)  # within the bound: kept
    assert interpreter.assistant.lookahead_size() == size
    interpreter.assistant.forget_lookahead(keep=0)
    assert interpreter.assistant.lookahead_size() == 0
    assert [interpreter.valid_tokens(s) for s in states] == offers
    assert interpreter.assistant.lookahead_size() == 0  # the offers made are remembered
    interpreter.assistant._valid.clear()  # ... and computed again, the same, without them
    assert [interpreter.valid_tokens(s) for s in states] == offers
