"""Which memory programs are right for the wrong reason? (`mapo inspect spurious`)

A spurious program gets the right answer by luck (the paper, section 4.1):
`(first all_rows) (hop v0 r.nation-str)` answers "which nation won the most
gold?" when the winner happens to be listed first. On the example's own
table every reward-1 program agrees, so we run them on *fictitious tables*
as Pasupat & Liang (2016) did: the same columns, rows shuffled, and cells
replaced by other values of the same column (hence of the same type), while
the cells that hold the question's entities are kept, so the question still
makes sense. Programs that give the same answers on every fictitious table
form a *behaviour class*: they mean the same thing as far as this table
family can tell.

Without annotations we cannot know the true answers on fictitious tables, so
which class is the correct one is an estimate. The rule (each step only
breaks the ties of the one before):

1. entities: more of the question's entity mentions used by the expressions
   the answer depends on (a program that ignores "peru" cannot be about peru);
2. mentioned columns: more distinct columns that the question mentions, by a
   word of their name ("gold", "nation") or by an entity found in them
   ("canada" is a nation), again counting only what the answer depends on;
3. unmentioned columns: fewer columns the question does not mention;
4. support: more programs in the class (the majority behaviour).

A class's grounding is that of its best program. The classes that rank top
are *likely correct* (several tied classes: `ambiguous`); the programs of
every other class are *likely spurious*. An example whose programs form one
class has nothing spurious as far as this test can see (they may still all be
spurious together). A program that is not valid on a fictitious table (a
filter that keeps every row, `previous` of the first row, ...) has the answer
`<invalid>` there, which is an answer like any other.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mapo_cli.core.errors import MapoError
from mapo_cli.core.text import contains, normalize_text
from mapo_cli.data.scoring import predicted_value
from mapo_cli.language.context import ProgramContext, literal_value, parse_date
from mapo_cli.language.grammar import Grammar, load_grammar
from mapo_cli.language.interpreter import CLOSE_ID, END_ID, Interpreter, State
from mapo_cli.language.program import format_program
from mapo_cli.learn.features import column_words
from mapo_cli.store.store import Store

Program = tuple[int, ...]
Json = dict[str, Any]
INVALID = "<invalid>"
DEFAULT_TABLES = 10
REPLACE = 0.5  # chance that a cell not holding an entity takes another value of its column


# ---------------------------------------------------------------- fictitious tables


def _date_matches(cell: str | None, entity: str) -> bool:
    wanted, found = parse_date(entity), parse_date(cell) if cell else None
    if wanted is None or found is None:
        return False
    return all(w < 0 or w == f for w, f in zip(wanted, found))


def _holds(entity: Json, table: Json, r: int, c: int) -> bool:
    """Whether cell (r, c) holds the entity: contains its string, equals its number or date."""
    kind, value = entity.get("type"), entity.get("value")
    if kind == "string":
        return contains(normalize_text(table["rows"][r][c]), normalize_text(str(value)))
    numbers, dates = table["numbers"][c], table["dates"][c]
    if kind == "number":
        return numbers is not None and numbers[r] is not None and float(numbers[r]) == float(value)
    return kind == "date" and dates is not None and _date_matches(dates[r], str(value))


def entity_cells(table: Json, example: Json, kinds: tuple[str, ...] = ("string", "number", "date")
                 ) -> set[tuple[int, int]]:
    """(row, column) of every cell that holds one of the question's entities (of `kinds`)."""
    return {(r, c) for entity in example.get("entities", []) if entity.get("type") in kinds
            for r, row in enumerate(table["rows"]) for c in range(len(row))
            if _holds(entity, table, r, c)}


def fictitious_table(table: Json, anchored: set[tuple[int, int]], rng: random.Random,
                     replace: float = REPLACE) -> Json:
    """Rows shuffled; each free cell replaced (with chance `replace`) by a free cell of its column.

    A cell moves with its number and date, so every column keeps its views
    and types; only free cells (not holding an entity) are drawn from, so no
    other row comes to mention the question's entities.
    """
    rows, numbers, dates = table["rows"], table["numbers"], table["dates"]
    n_columns = len(table["columns"])

    def cell(r: int, c: int) -> tuple[str, Any, Any]:
        return (rows[r][c], None if numbers[c] is None else numbers[c][r],
                None if dates[c] is None else dates[c][r])

    free = [[cell(r, c) for r in range(len(rows)) if (r, c) not in anchored]
            for c in range(n_columns)]
    order = list(range(len(rows)))
    rng.shuffle(order)
    new_rows: list[list[str]] = []
    new_numbers = [None if col is None else [] for col in numbers]
    new_dates = [None if col is None else [] for col in dates]
    for r in order:
        new_row = []
        for c in range(n_columns):
            value = cell(r, c)
            if (r, c) not in anchored and free[c] and rng.random() < replace:
                value = rng.choice(free[c])
            new_row.append(value[0])
            if new_numbers[c] is not None:
                new_numbers[c].append(value[1])
            if new_dates[c] is not None:
                new_dates[c].append(value[2])
        new_rows.append(new_row)
    return {**table, "rows": new_rows, "numbers": new_numbers, "dates": new_dates}


def fictitious_tables(table: Json, example: Json, n: int, seed: int) -> list[Json]:
    """`n` fictitious tables for an example, the same for the same (seed, example id)."""
    rng = random.Random(f"{seed}:{example.get('id')}")
    anchored = entity_cells(table, example)
    return [fictitious_table(table, anchored, rng) for _ in range(n)]


# ---------------------------------------------------------------- what a program uses


@dataclass(frozen=True)
class Grounding:
    """What of the question a program's answer depends on (rule steps 1-3)."""

    entities: int
    mentioned_columns: int
    unmentioned_columns: int

    def key(self) -> tuple[int, int, int]:
        return (self.entities, self.mentioned_columns, -self.unmentioned_columns)


def live_expressions(tokens: Program, first_var: int) -> list[list[int]]:
    """The argument tokens of the expressions that the last one depends on (a backward slice)."""
    expressions: list[list[int]] = []
    inside = False
    for token in tokens:
        if not inside:
            if token == END_ID:
                break
            expressions.append([])  # `token` is the function of a new expression
            inside = True
        elif token == CLOSE_ID:
            inside = False
        else:
            expressions[-1].append(token)
    live: set[int] = set()
    stack = [len(expressions) - 1] if expressions else []
    while stack:
        index = stack.pop()
        if index not in live:
            live.add(index)
            stack += [t - first_var for t in expressions[index] if t >= first_var]
    return [expressions[i] for i in sorted(live)]


def mentioned_columns(example: Json, table: Json) -> set[str]:
    """Columns the question mentions: by a word of their name, or by a string entity in a cell
    ("canada" mentions the nation column)."""
    words = {w for token in example.get("tokens", []) for w in normalize_text(token).split()}
    named = {name for name in table["columns"] if any(w in words for w in column_words(name))}
    return named | {table["columns"][c] for _, c in entity_cells(table, example, ("string",))}


def literal_mentions(example: Json, ctx: ProgramContext) -> list[Any]:
    """Per literal of the context, the question mention it comes from (its span, else itself).

    A year is often both a number and a date entity of one span: one mention.
    """
    span_of: dict[tuple[str, Any], Any] = {}
    for entity in example.get("entities", []):
        try:
            kind, value, _ = literal_value(entity)
        except (ValueError, KeyError):
            continue
        span = entity.get("span")
        span_of.setdefault((kind, value), tuple(span) if span else (kind, value))
    return [span_of.get((kind, value), (kind, value)) for kind, value, _ in ctx.literals]


def grounding(tokens: Program, ctx: ProgramContext, mentioned_names: set[str],
              mentions: list[Any]) -> Grounding:
    """Entities and columns used by the expressions that the program's answer depends on."""
    first_column = ctx.n_builtins + 1  # after the built-ins and all_rows
    first_literal = first_column + len(ctx.views)
    entities, mentioned, unmentioned = set(), set(), set()
    for arguments in live_expressions(tokens, ctx.first_var):
        for token in arguments:
            if first_column <= token < first_literal:
                name = ctx.views[token - first_column].name
                (mentioned if name in mentioned_names else unmentioned).add(name)
            elif first_literal <= token < ctx.first_var:
                entities.add(mentions[token - first_literal])
    return Grounding(len(entities), len(mentioned), len(unmentioned))


# ---------------------------------------------------------------- behaviour on fictitious tables


def run_program(interpreter: Interpreter, tokens: Program) -> State | None:
    """Execute a program that is valid on the example's own table; None where it is not here.

    The same verdict as `Interpreter.run` (tested), without computing code
    assistance's offers at every step (that is most of its cost): on another
    table with the same columns and literals only two things can change,
    whether each expression gives a sensible result, and whether a `row`
    argument still holds exactly one row.
    """
    ctx = interpreter.ctx
    state = interpreter.start()
    for token in tokens:
        partial = state.partial
        if partial is not None and token != CLOSE_ID:
            position = len(partial) - 1
            signatures = interpreter.functions[partial[0]].signatures
            if all(sig[position] == "row" for sig in signatures):
                if token >= ctx.first_var + len(state.env):
                    return None
                value_type, value = (ctx.fixed[token - ctx.n_builtins] if token < ctx.first_var
                                     else state.env[token - ctx.first_var])
                if value_type != "rows" or value & (value - 1):
                    return None
        state = interpreter.step(state, token)
        partial = state.partial
        if partial is not None and len(partial) - 1 == interpreter.functions[partial[0]].arity \
                and state.result is None:
            return None
    return state if state.done else None


def answer_on(interpreter: Interpreter, tokens: Program) -> tuple[frozenset | str, list[str]]:
    """A program's answer on a table: (evaluator values to compare, strings to show).

    A program that cannot run there, or answers nothing, gives INVALID.
    """
    state = run_program(interpreter, tokens)
    answer = interpreter.answer(state) if state is not None else []
    if not answer:
        return INVALID, [INVALID]
    return frozenset(predicted_value(a) for a in answer), answer


def behaviours(example: Json, tables: list[Json], grammar: Grammar, max_expressions: int | None,
               programs: Sequence[Program], vocab: list[str]) -> list[tuple[tuple, list]]:
    """Per program: its answers on every table (compared) and as strings (shown).

    A table whose token vocabulary differs from `vocab` is skipped (token ids
    would mean other things there; fictitious_table never makes one).
    """
    per_table = []
    for table in tables:
        ctx = ProgramContext(example, table, grammar, max_expressions)
        if ctx.vocab != vocab:
            continue
        interpreter = Interpreter(ctx)
        per_table.append([answer_on(interpreter, p) for p in programs])
    return [(tuple(answers[k][0] for answers in per_table),
             [answers[k][1] for answers in per_table]) for k in range(len(programs))]


# ---------------------------------------------------------------- one example


@dataclass
class BehaviourClass:
    """Programs with identical answers on every fictitious table."""

    members: list[int]
    answers: list[list[str]]  # per fictitious table, as its first program answers
    grounding: Grounding
    likely_correct: bool = False

    def rank_key(self) -> tuple:
        return (*self.grounding.key(), len(self.members))


@dataclass
class ExampleAnalysis:
    """The verdict for one example's reward-1 programs."""

    id: str
    question: str
    answer: list[str]
    programs: list[str]
    groundings: list[Grounding]
    classes: list[BehaviourClass]
    log_probs: list[float] | None = None
    class_of: list[int] = field(default_factory=list)

    @property
    def ambiguous(self) -> bool:
        return sum(c.likely_correct for c in self.classes) > 1

    @property
    def spurious(self) -> list[int]:
        """Indices of the likely spurious programs."""
        return sorted(m for c in self.classes if not c.likely_correct for m in c.members)

    @property
    def preferred(self) -> int | None:
        """The program the model finds most probable (with a run)."""
        if not self.log_probs:
            return None
        return max(range(len(self.log_probs)), key=lambda i: self.log_probs[i])

    @property
    def preferred_likely_correct(self) -> bool | None:
        preferred = self.preferred
        if preferred is None:
            return None
        return self.classes[self.class_of[preferred]].likely_correct

    def to_json(self) -> Json:
        """The `--out` record of this example."""
        spurious = set(self.spurious)
        programs = []
        for k, program in enumerate(self.programs):
            g = self.groundings[k]
            record = {"program": program, "class": self.class_of[k],
                      "likely_spurious": k in spurious, "entities": g.entities,
                      "mentioned_columns": g.mentioned_columns,
                      "unmentioned_columns": g.unmentioned_columns}
            if self.log_probs is not None:
                record["log_probability"] = self.log_probs[k]
            programs.append(record)
        classes = [{"class": i, "programs": len(c.members), "likely_correct": c.likely_correct,
                    "entities": c.grounding.entities,
                    "mentioned_columns": c.grounding.mentioned_columns,
                    "unmentioned_columns": c.grounding.unmentioned_columns,
                    "answers": c.answers}
                   for i, c in enumerate(self.classes)]
        return {"id": self.id, "question": self.question, "answer": self.answer,
                "n_programs": len(self.programs), "n_classes": len(self.classes),
                "ambiguous": self.ambiguous, "spurious_programs": len(spurious),
                "preferred": self.preferred,
                "preferred_likely_correct": self.preferred_likely_correct,
                "programs": programs, "classes": classes}


def analyse_example(example: Json, table: Json, programs: Sequence[Program], grammar: Grammar,
                    max_expressions: int | None = None, tables: int = DEFAULT_TABLES,
                    seed: int = 0, log_probs: list[float] | None = None) -> ExampleAnalysis:
    """Group an example's reward-1 programs by behaviour and estimate which are spurious."""
    ctx = ProgramContext(example, table, grammar, max_expressions)
    named, mentions = mentioned_columns(example, table), literal_mentions(example, ctx)
    groundings = [grounding(p, ctx, named, mentions) for p in programs]
    fictitious = fictitious_tables(table, example, tables, seed)
    classes: dict[tuple, BehaviourClass] = {}
    index: dict[tuple, int] = {}
    class_of = []
    for k, (answers, shown) in enumerate(behaviours(example, fictitious, grammar,
                                                    max_expressions, programs, ctx.vocab)):
        found = classes.get(answers)
        if found is None:
            found = classes[answers] = BehaviourClass([], shown, groundings[k])
        elif groundings[k].key() > found.grounding.key():
            found.grounding = groundings[k]
        found.members.append(k)
        class_of.append(index.setdefault(answers, len(index)))
    ordered = list(classes.values())
    best = max(c.rank_key() for c in ordered) if ordered else None
    for c in ordered:
        c.likely_correct = c.rank_key() == best
    return ExampleAnalysis(example["id"], example.get("question", ""),
                           list(example.get("answer", [])),
                           [format_program(p, ctx.vocab) for p in programs], groundings,
                           ordered, log_probs, class_of)


# ---------------------------------------------------------------- a whole store


@dataclass
class SpuriousReport:
    """Per-example analyses and the totals over the store."""

    examples: int  # in the store
    analysed: list[ExampleAnalysis]
    tables: int
    seed: int
    run: str | None = None
    skipped: int = 0  # examples with fewer than two reward-1 programs

    def summary(self) -> Json:
        """Keys: examples, analysed, single_program, one_class, several_classes, ambiguous,
        programs, spurious_programs, spurious_share, tables, seed, run, preferred_decided,
        preferred_likely_correct, preferred_likely_correct_share."""
        several = [a for a in self.analysed if len(a.classes) > 1]
        programs = sum(len(a.programs) for a in self.analysed)
        spurious = sum(len(a.spurious) for a in self.analysed)
        decided = [a for a in several if a.preferred is not None]
        right = sum(bool(a.preferred_likely_correct) for a in decided)
        return {
            "examples": self.examples, "analysed": len(self.analysed),
            "single_program": self.skipped,
            "one_class": len(self.analysed) - len(several), "several_classes": len(several),
            "ambiguous": sum(a.ambiguous for a in self.analysed),
            "programs": programs, "spurious_programs": spurious,
            "spurious_share": spurious / programs if programs else None,
            "tables": self.tables, "seed": self.seed, "run": self.run,
            "preferred_decided": len(decided) if self.run else None,
            "preferred_likely_correct": right if self.run else None,
            "preferred_likely_correct_share": right / len(decided) if decided else None,
        }


def analyse_store(path: Path, tables: int = DEFAULT_TABLES, seed: int = 0,
                  run: Path | None = None, limit: int | None = None,
                  on_progress: Callable[[int, int], None] | None = None) -> SpuriousReport:
    """Analyse every example of a store whose memory holds at least two reward-1 programs.

    `limit` stops after that many analysed examples; `run` adds the model's
    preferred program per example. Reads one snapshot, so a store being
    written by another process is fine.
    """
    if tables < 1:
        raise MapoError(f"--tables must be at least 1, not {tables}")
    if limit is not None and limit < 1:
        raise MapoError(f"--limit must be at least 1, not {limit}")
    with Store.open_readonly(path) as store:
        fingerprint = store.fingerprint
        max_expressions = fingerprint.get("max_expressions")
        candidates, total = _candidates(store)
        scorer = None
        if run is not None:
            from mapo_cli.analysis.store_report import ModelScorer  # imports torch: only when asked

            scorer = ModelScorer(run, load_grammar(str(fingerprint.get("grammar"))))
        report = SpuriousReport(total, [], tables, seed, str(scorer.path) if scorer else None)
        report.skipped = total - len(candidates)
        wanted = candidates[:limit] if limit else candidates
        for done, (example, table, programs) in enumerate(_read(store, wanted), start=1):
            grammar = load_grammar(example["grammar"])
            log_probs = (scorer.log_probs(example, table, max_expressions, programs)
                         if scorer else None)
            report.analysed.append(analyse_example(example, table, programs, grammar,
                                                   max_expressions, tables, seed, log_probs))
            if on_progress:
                on_progress(done, len(wanted))
    return report


def _candidates(store: Store) -> tuple[list[str], int]:
    """Ids of the examples with at least two reward-1 programs, and the store's example count."""
    with store.reader() as reader:
        ids = reader.ids()
        return [i for i in ids if sum(r >= 1.0 for _, r in reader.read_memory(i)) >= 2], len(ids)


def _read(store: Store, ids: list[str]) -> Iterator[tuple[Json, Json, list[Program]]]:
    with store.reader() as reader:
        for example_id in ids:
            stored = reader.read_example(example_id)
            if stored is None:
                continue
            programs = [p for p, r in reader.read_memory(example_id) if r >= 1.0]
            yield stored[0], stored[1], programs
