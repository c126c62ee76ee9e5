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
   the answer depends on (a program that ignores "peru" cannot be about peru;
   "#5", linked as the string "# 5" and the number 5, is one mention);
2. expressions: fewer expressions that the answer depends on (of two ways to
   the answer, the one with less machinery: `(min all_rows r.concerts-num)`
   rather than a count, a filter by it and then the minimum);
3. mentioned columns: more distinct columns that the question mentions, by a
   word of their name ("gold", "nation") or by a string entity that is a whole
   cell of theirs ("canada" is a nation; "river" does not make a column of
   municipalities mentioned for its "Big River"), again counting only what the
   answer depends on;
4. unmentioned columns: fewer columns the question does not mention;
5. support: more programs in the class (the majority behaviour).

Step 2 came second on evidence: against 99 WTQ training examples labelled by
hand (`benchmarks/data/spurious_labels.jsonl`, `benchmarks/spurious_labels.py`),
it raised the precision of "likely correct" from 53 % to 60 % and its recall
from 76 % to 83 %, and on the 42 of them labelled after the choice, without
seeing any verdict, from 54 % to 60 % and 78 % to 88 % (BENCHMARKS.md). One
mention per overlapping span and whole-cell mentions then took precision to
62 % and recall to 86 % (WikiSQL's gold sql in a likely-correct class: 91 %
to 92 %).

A class's grounding is that of its best program. The classes that rank top
are *likely correct* (several tied classes: `ambiguous`); the programs of
every other class are *likely spurious*. An example whose programs form one
class has nothing spurious as far as this test can see (they may still all be
spurious together). A program that is not valid on a fictitious table (a
filter that keeps every row, `previous` of the first row, ...) has the answer
`<invalid>` there, which is an answer like any other.

When the example carries its gold WikiSQL `sql` (`mapo prepare wikisql`), the
estimate can be checked: a program is *gold-equivalent* when, on the
example's table and on every fictitious one, its answer is correct for the
gold sql's answer there (`answer_matches`, the scorer that gave it reward 1;
no answer matches the empty answer). Exact string equality would count
"3.0" against "3", or a row order, as a different meaning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mapo_cli.analysis.fictitious import INVALID, answer_on, behaviours, fictitious_tables
from mapo_cli.analysis.grounding import Grounding, chosen_memory, groundings
from mapo_cli.core.errors import MapoError
from mapo_cli.data.scoring import answer_matches
from mapo_cli.data.wikisql_sql import check_table, execute_sql
from mapo_cli.language.context import ProgramContext
from mapo_cli.language.grammar import Grammar
from mapo_cli.language.interpreter import Interpreter
from mapo_cli.language.program import format_program

Program = tuple[int, ...]
Json = dict[str, Any]
DEFAULT_TABLES = 10


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
    has_gold_sql: bool = False
    # per program, with gold sql whose answer on its own table could be reproduced
    gold_equivalent: list[bool] | None = None

    @property
    def gold_in_likely_correct(self) -> bool | None:
        """Whether a likely-correct class (any of the tied ones) holds a gold-equivalent program."""
        if self.gold_equivalent is None:
            return None
        return any(self.gold_equivalent[m] for c in self.classes if c.likely_correct
                   for m in c.members)

    @property
    def gold_in_memory(self) -> bool | None:
        """Whether any of the programs is gold-equivalent (the ceiling of the one above)."""
        return None if self.gold_equivalent is None else any(self.gold_equivalent)

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
            if self.has_gold_sql:
                record["gold_equivalent"] = (None if self.gold_equivalent is None
                                             else self.gold_equivalent[k])
            programs.append(record)
        classes = [{"class": i, "programs": len(c.members), "likely_correct": c.likely_correct,
                    "entities": c.grounding.entities,
                    "mentioned_columns": c.grounding.mentioned_columns,
                    "unmentioned_columns": c.grounding.unmentioned_columns,
                    "answers": c.answers}
                   for i, c in enumerate(self.classes)]
        gold = ({"gold_in_likely_correct": self.gold_in_likely_correct,
                 "gold_in_memory": self.gold_in_memory} if self.has_gold_sql else {})
        return {"id": self.id, "question": self.question, "answer": self.answer,
                "n_programs": len(self.programs), "n_classes": len(self.classes),
                "ambiguous": self.ambiguous, "spurious_programs": len(spurious),
                "preferred": self.preferred,
                "preferred_likely_correct": self.preferred_likely_correct,
                **gold, "programs": programs, "classes": classes}


def analyse_example(example: Json, table: Json, programs: Sequence[Program], grammar: Grammar,
                    max_expressions: int | None = None, tables: int = DEFAULT_TABLES,
                    seed: int = 0, log_probs: list[float] | None = None,
                    against_gold: bool = True) -> ExampleAnalysis:
    """Group an example's reward-1 programs by behaviour and estimate which are spurious.

    `against_gold`: also run a WikiSQL example's gold sql on the fictitious tables (what
    `inspect spurious` reports; the verdicts do not read it)."""
    ctx = ProgramContext(example, table, grammar, max_expressions)
    grounded = groundings(example, table, ctx, programs)
    fictitious = fictitious_tables(table, example, tables, seed)
    classes: dict[tuple, BehaviourClass] = {}
    index: dict[tuple, int] = {}
    class_of, shown_answers = [], []
    for k, (answers, shown) in enumerate(behaviours(example, fictitious, grammar,
                                                    max_expressions, programs, ctx.vocab)):
        shown_answers.append(shown)
        found = classes.get(answers)
        if found is None:
            found = classes[answers] = BehaviourClass([], shown, grounded[k])
        elif grounded[k].key() > found.grounding.key():
            found.grounding = grounded[k]
        found.members.append(k)
        class_of.append(index.setdefault(answers, len(index)))
    ordered = list(classes.values())
    best = max(c.rank_key() for c in ordered) if ordered else None
    for c in ordered:
        c.likely_correct = c.rank_key() == best
    has_sql = against_gold and example.get("sql") is not None
    gold = (gold_equivalence(example, table, ctx, fictitious, programs, shown_answers)
            if has_sql else None)
    return ExampleAnalysis(example["id"], example.get("question", ""),
                           list(example.get("answer", [])),
                           [format_program(p, ctx.vocab) for p in programs], grounded,
                           ordered, log_probs, class_of, has_sql, gold)


def likely_correct_memory(memory: Mapping[str, list[Program]], examples: Sequence[Json],
                          tables: Mapping[str, Json], grammar: Grammar,
                          max_expressions: int | None = None,
                          progress: Callable[[int, int], None] | None = None
                          ) -> dict[str, list[Program]]:
    """Each example's memory without the programs of its likely-spurious classes (`mapo train
    --drop-spurious`); a buffer of one behaviour keeps every program. Seed 0, as `inspect
    spurious`: a resumed run gets the same buffers. `progress(done, total)` per example."""

    def likely_correct(example: Json, table: Json, programs: list[Program]) -> list[Program]:
        analysis = analyse_example(example, table, programs, grammar, max_expressions,
                                   against_gold=False)
        likely = {m for c in analysis.classes if c.likely_correct for m in c.members}
        return [p for k, p in enumerate(programs) if k in likely]

    return chosen_memory(memory, examples, tables, likely_correct, progress)


# ---------------------------------------------------------------- the gold sql (WikiSQL)


def run_gold_sql(table: Json, types: list[str], sql: Any) -> list[str] | None:
    """The gold sql's answer on a prepared (or fictitious) table; None where it cannot run.

    The executor reads only `header`, `types` and the text of `rows`; a
    fictitious table's cells moved with their text, so they are valid input.
    """
    view = {"header": table["headers"], "types": types, "rows": table["rows"]}
    try:
        check_table(view)
        return execute_sql(view, sql)
    except MapoError:
        return None


def sql_types(example: Json, table: Json) -> list[str] | None:
    """WikiSQL's column types for the gold sql (`mapo prepare wikisql` keeps them).

    None when the table lacks them (prepared before they were kept) or the
    gold sql does not give the example's answer with them.
    """
    types = table.get("types")
    if types is None:
        return None
    try:
        return list(types) if run_gold_sql(table, list(types), example["sql"]) == list(
            example.get("answer", [])) else None
    except (TypeError, KeyError, IndexError):
        return None  # a malformed sql: execute_sql would refuse it too


def _matches_gold(program: list[str], gold: list[str] | None) -> bool:
    if gold is None:
        return False
    if program == [INVALID]:  # cannot run, or answers nothing
        return not gold
    return answer_matches(program, gold)


def gold_equivalence(example: Json, table: Json, ctx: ProgramContext, fictitious: list[Json],
                     programs: Sequence[Program], shown: list[list[list[str]]]
                     ) -> list[bool] | None:
    """Per program, whether it answers as the gold sql on its table and every fictitious one.

    `ctx` is the example's on `table`; `shown`, each program's answers on the
    fictitious tables (`behaviours`). None when the gold sql's answer on the
    example's own table cannot be reproduced (`sql_types`), or a fictitious
    table was skipped.
    """
    types = sql_types(example, table)
    if types is None or any(len(s) != len(fictitious) for s in shown):
        return None
    gold = [run_gold_sql(t, types, example["sql"]) for t in [table, *fictitious]]
    interpreter = Interpreter(ctx)
    return [all(_matches_gold(answer, g)
                for answer, g in zip([answer_on(interpreter, p)[1], *shown[k]], gold))
            for k, p in enumerate(programs)]

