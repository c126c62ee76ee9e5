"""Programs without dead code: every expression feeds the answer.

Without a rule against it, most programs that exploration samples compute
something they never use:

    (argmax all_rows r.year-num) (count all_rows) (hop v0 r.team-str)

answers exactly what `(argmax all_rows r.year-num) (hop v0 r.team-str)` does,
because a program's answer is its last expression and `v1` is never read. On
WTQ 95 % of the explored memory is such variants: 146 programs per covered
example, 7.7 once each is reduced to its live expressions. The variants add no
answer to a buffer, yet scoring them was most of an actor's time, and π(B)
rewarded the policy for writing them.

So a grammar with `live_programs = true` (wtq, wikisql) never offers them:
code assistance (assistance.py) completes a program only once every result
but the last is read. For grammars without the rule, training reduces each
buffer program to the expressions its answer depends on (with the variables
renumbered), and `mapo exec` uses the same reduction to name the live
program behind a hand-written one.
"""

from __future__ import annotations

from mapo_cli.language.assistance import CLOSE_ID, END_ID

Program = tuple[int, ...]


def without_dead_code(program: Program, first_variable: int) -> Program:
    """`program` with only the expressions its answer depends on; variables renumbered.

    Tokens from `first_variable` on are the variables `v0, v1, ...` (a
    ProgramContext's `first_var`); a program not ending with `<END>` is
    returned as it is.
    """
    if not program or program[-1] != END_ID:
        return program
    expressions = _expressions(program[:-1])
    live = {len(expressions) - 1}
    for index in range(len(expressions) - 1, -1, -1):
        if index in live:
            live.update(t - first_variable for t in expressions[index] if t >= first_variable)
    if len(live) == len(expressions):
        return program
    number = {old: new for new, old in enumerate(sorted(live))}
    kept: list[int] = []
    for index in sorted(live):
        kept += [first_variable + number[t - first_variable] if t >= first_variable else t
                 for t in expressions[index]]
    return (*kept, END_ID)


def unused_variables(unread: int, n_variables: int) -> list[str]:
    """`v<i>` of every variable no expression reads, except the last (the answer)."""
    return [f"v{i}" for i in range(n_variables - 1) if unread >> i & 1]


def _expressions(tokens: Program) -> list[Program]:
    """Split a finished program's tokens into its expressions, each ending with `)`."""
    expressions, start = [], 0
    for position, token in enumerate(tokens):
        if token == CLOSE_ID:
            expressions.append(tokens[start:position + 1])
            start = position + 1
    return expressions
