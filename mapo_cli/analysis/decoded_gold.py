"""Is a decoded answer right for the right reason? The top program against WikiSQL's gold sql.

A dev answer can be right by accident: a spurious program that happens to
give the answer on this table. With the gold sql kept by `mapo prepare
wikisql`, the top program of each decoded example is run on the example's
table and on fictitious ones (fictitious.py); it is *gold-equivalent* when
it answers as the gold sql on every one of them (`spurious.gold_equivalence`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mapo_cli.analysis.fictitious import behaviours, fictitious_tables
from mapo_cli.analysis.spurious import DEFAULT_TABLES, gold_equivalence, sql_types
from mapo_cli.core.errors import InvalidProgram
from mapo_cli.core.json_fields import field_problem
from mapo_cli.language.context import ProgramContext
from mapo_cli.language.grammar import load_grammar
from mapo_cli.language.program import split_program, to_ids

Json = dict[str, Any]


@dataclass
class DecodedGold:
    """Counts over the decoded examples whose gold sql's answer could be reproduced."""

    decoded: int = 0  # records in the beams file
    checked: int = 0  # ... with a gold sql whose answer on its own table is reproduced
    correct: int = 0  # ... of which the prediction is right
    gold_equivalent: int = 0  # ... of which the top program is gold-equivalent
    right_by_accident: list[str] = field(default_factory=list)  # correct, not gold-equivalent

    def summary(self) -> Json:
        def share(n: int, of: int) -> float | None:
            return round(n / of, 4) if of else None

        return {"decoded": self.decoded, "gold_sql_checked": self.checked,
                "correct": self.correct, "correct_share": share(self.correct, self.checked),
                "gold_equivalent": self.gold_equivalent,
                "gold_equivalent_share": share(self.gold_equivalent, self.checked),
                "gold_equivalent_of_correct": share(self.gold_equivalent, self.correct),
                "right_by_accident": self.right_by_accident}


BEAM_FIELDS = {"id": "a string", "programs": "a list", "correct": "true or false"}
PROGRAM_FIELDS = {"program": "a string", "log_probability": "a number",
                  "probability": "a number", "reward": "a number", "answer": "a list"}
"""A `--programs` record and each of its programs (decode.py's `to_json`); a program
needs only its text."""


def beam_record_problem(record: Json) -> str | None:
    """What makes a `mapo decode --programs` record unusable here (for `read_jsonl`)."""
    problem = field_problem(record, BEAM_FIELDS, optional=("correct",))
    if problem:
        return problem
    for k, program in enumerate(record["programs"]):
        problem = field_problem(program, PROGRAM_FIELDS,
                                optional=[key for key in PROGRAM_FIELDS if key != "program"])
        if problem:
            return f"program {k + 1}: {problem}"
    return None


def decoded_gold(beams: Sequence[Json], examples: dict[str, Json], tables: dict[str, Json],
                 n_tables: int = DEFAULT_TABLES, seed: int = 0,
                 on_progress: Callable[[int, int], None] | None = None) -> DecodedGold:
    """Check each decoded example's top program (`mapo decode --programs`) against its gold sql."""
    report = DecodedGold()
    for done, record in enumerate(beams, start=1):
        report.decoded += 1
        example = examples.get(record["id"])
        if example is not None and example.get("sql") is not None:
            verdict = _top_is_gold(example, tables[example["table"]], record, n_tables, seed)
            if verdict is not None:
                report.checked += 1
                report.correct += bool(record.get("correct"))
                report.gold_equivalent += verdict
                if record.get("correct") and not verdict:
                    report.right_by_accident.append(record["id"])
        if on_progress:
            on_progress(done, len(beams))
    return report


def _top_is_gold(example: Json, table: Json, record: Json, n_tables: int,
                 seed: int) -> bool | None:
    """None where the gold sql cannot be checked on this table; False without a program."""
    grammar = load_grammar(example["grammar"])
    ctx = ProgramContext(example, table, grammar)
    programs = record.get("programs") or []
    if not programs:
        return None if sql_types(example, table) is None else False
    try:
        tokens = tuple(to_ids(split_program(programs[0]["program"]), ctx))
    except InvalidProgram:
        return False
    fictitious = fictitious_tables(table, example, n_tables, seed)
    shown = [s for _, s in behaviours(example, fictitious, grammar, None, [tokens], ctx.vocab)]
    verdicts = gold_equivalence(example, table, ctx, fictitious, [tokens], shown)
    return None if verdicts is None else verdicts[0]
