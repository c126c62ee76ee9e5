"""Questions for one table: fill its templates, run each reference program, keep the sound.

`propose` writes every candidate the templates allow, type by type (the
order matters: each candidate draws its phrasing from the seeded RNG);
`Candidates.add` keeps one only when its answer is unique and unambiguous;
`choose` picks a table's share of them.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Callable, Iterator

from .interpreter import Invalid, answer_strings, execute
from .linking import lit_ok
from .table import Table
from .text import format_number, normalize_text

MAX_LIST = 5
WEIGHTS = {"lookup": 3, "superlative": 2, "count": 2, "comparison": 2}
Check = Callable[[tuple, list], bool]


class Candidates:
    """Questions proposed for one table, by type; invalid ones are silently dropped."""

    def __init__(self, table: Table, rng: random.Random) -> None:
        self.table = table
        self.rng = rng
        self.by_type: dict[str, list[dict]] = {}
        self.programs: set[str] = set()
        self.entity = table.col(table.spec["entity"])
        self.ent_str = table.var(self.entity, "str")

    def named(self, x: str) -> str:
        """The expression that finds the row of entity `x`."""
        return f'(filter_in all_rows "{x}" {self.ent_str})'

    def add(self, qtype: str, templates: list, program: str, *, fill: dict,
            literals: list[tuple[str, int]] = (), numbers: list[float] = (),
            max_answers: int = 1, min_answers: int = 1, check: Check | None = None) -> None:
        if not templates or program in self.programs:
            return
        template = self.rng.choice(templates)
        question = template.format(**fill).lower()
        question = re.sub(r"\s+", " ", question).strip()
        try:
            value, env = execute(self.table, program)
        except Invalid:
            return
        answer = answer_strings(value)
        if not min_answers <= len(answer) <= max_answers:
            return
        if len({normalize_text(a) for a in answer}) != len(answer) or not all(answer):
            return
        if check is not None and not check(value, env):
            return
        if any(not lit_ok(self.table, question, lit, c) for lit, c in literals):
            return
        words = re.findall(r"\d+(?:\.\d+)?", question)
        if any(format_number(x) not in words for x in numbers):
            return
        self.programs.add(program)
        self.by_type.setdefault(qtype, []).append(
            {"type": qtype, "question": question, "program": program, "answer": answer})


def pick(table: Table, entries: list, default: int) -> dict[int, list[str]]:
    """Templates grouped by the column they ask for (`[question, column]`, or `default`)."""
    out: dict[int, list[str]] = {}
    for entry in entries:
        text, c = (entry, default) if isinstance(entry, str) else (entry[0], table.col(entry[1]))
        out.setdefault(c, []).append(text)
    return out


def single(*indices: int) -> Check:
    """A check: the expressions at `indices` each found exactly one row."""
    return lambda value, env: all(len(env[i][1]) == 1 for i in indices)


def numeric_measures(table: Table) -> Iterator[tuple[dict, int]]:
    """The measures whose column is all numbers (safe to compare and rank), with its index."""
    for m in table.spec["measures"]:
        c = table.col(m["column"])
        if table.full_num(c):
            yield m, c


def thresholds(numbers: list[float]) -> list[int]:
    """Positive whole numbers worth comparing a column with: its values and the gaps
    between them, or round numbers for large values (votes)."""
    values = sorted(set(numbers))
    if values[-1] >= 1000:
        step = 10 ** (len(str(int(values[-1]))) - 2)
        found = range(step * math.ceil(values[0] / step), int(values[-1]) + 1, step)
    elif all(v == int(v) for v in values):
        ints = [int(v) for v in values]
        found = ints + [(a + b) // 2 for a, b in itertools.pairwise(ints)]
    else:
        found = [math.floor(v) for v in values] + [math.ceil(v) for v in values]
    return sorted({n for n in found if n > 0})


def lookups(q: Candidates) -> None:
    """Entity -> attribute, and key number -> attribute."""
    t, spec, e = q.table, q.table.spec, q.entity
    attrs = list(spec.get("lookup", []))
    for header, group in spec["groups"].items():
        attrs += [(text, header) for text in group.get("lookup", [])]
    for c, texts in pick(t, attrs, e).items():
        for i in range(t.n):
            x = t.lits[e][i]
            if t.rows[i][c].strip() in ("", "—", "–"):
                continue
            q.add("lookup", texts, f"{q.named(x)} (hop v0 {t.var(c, 'str')})", fill={"x": x},
                  literals=[(x, e)], check=single(0))
    for m in spec["measures"]:
        c = t.col(m["column"])
        for i in range(t.n):
            x = t.lits[e][i]
            q.add("lookup", m.get("lookup", []), f"{q.named(x)} (hop v0 {t.var(c, 'str')})",
                  fill={"x": x}, literals=[(x, e)], check=single(0))
    for text, key, goal in spec.get("key_lookup", []):
        k, g = t.col(key), t.col(goal)
        for i in range(t.n):
            n = t.numbers[k][i]
            if n is None or not t.full_num(k):
                continue
            q.add("lookup", [text], f"(filter= all_rows {format_number(n)} {t.var(k, 'num')})"
                  f" (hop v0 {t.var(g, 'str')})", fill={"n": format_number(n)},
                  numbers=[n], check=single(0))


def superlatives(q: Candidates) -> None:
    t = q.table
    for m, c in numeric_measures(t):
        for fn in ("argmax", "argmin"):
            for g, texts in pick(t, m.get(fn, []), q.entity).items():
                q.add("superlative", texts, f"({fn} all_rows {t.var(c, 'num')}) (hop v0 "
                      f"{t.var(g, 'str')})", fill={}, check=single(0))
    for d in t.spec["dates"]:
        c = t.col(d["column"])
        if not t.full_date(c):
            continue
        for fn in ("argmax", "argmin"):
            q.add("superlative", d.get(fn, []), f"({fn} all_rows {t.var(c, 'date')}) "
                  f"(hop v0 {q.ent_str})", fill={}, check=single(0))


def comparisons(q: Candidates) -> None:
    """Lists and counts of the rows that pass a numeric filter; the number of rows."""
    t = q.table
    for m, c in numeric_measures(t):
        for op, forms in m.get("ops", {}).items():
            for n in thresholds(t.numbers[c]):
                filt = f"(filter{op} all_rows {format_number(n)} {t.var(c, 'num')})"
                q.add("count", forms.get("count", []), f"{filt} (count v0)",
                      fill={"n": format_number(n)}, numbers=[n])
                q.add("comparison", forms.get("list", []), f"{filt} (hop v0 {q.ent_str})",
                      fill={"n": format_number(n)}, numbers=[n], max_answers=MAX_LIST)
    for text in t.spec.get("count_all", []):
        q.add("count", [text], "(count all_rows)", fill={})


def groups(q: Candidates) -> None:
    """Per group value: counts, lists, group sums, exclusions, same_as; then the modes
    of the group columns and of the number columns."""
    t = q.table
    for header, group in t.spec["groups"].items():
        c = t.col(header)
        values = []
        for i in range(t.n):
            if t.lits[c][i] and t.lits[c][i] not in values:
                values.append(t.lits[c][i])
        for gv in values:
            members = [i for i in range(t.n) if t.lits[c][i] == gv]
            group_value(q, group, c, gv, members)
        q.add("mode", group.get("mode", []), f"(mode all_rows {t.var(c, 'str')})", fill={})
    for m, c in numeric_measures(t):
        q.add("mode", m.get("mode", []), f"(mode all_rows {t.var(c, 'str')})", fill={})


def group_value(q: Candidates, group: dict, c: int, gv: str, members: list[int]) -> None:
    t, e = q.table, q.entity
    gvar = t.var(c, "str")
    filt = f'(filter_in all_rows "{gv}" {gvar})'
    q.add("count", group.get("count", []), f"{filt} (count v0)", fill={"g": gv},
          literals=[(gv, c)])
    if len(members) >= 2:
        for goal, texts in pick(t, group.get("list", []), e).items():
            q.add("comparison", texts, f"{filt} (hop v0 {t.var(goal, 'str')})", fill={"g": gv},
                  literals=[(gv, c)], min_answers=2, max_answers=MAX_LIST)
        for text, measure in group.get("sum", []):
            q.add("aggregation", [text], f"{filt} (sum v0 {t.var(t.col(measure), 'num')})",
                  fill={"g": gv}, literals=[(gv, c)])
    if not 2 <= len(members) <= 4:
        return
    for i in members:
        x = t.lits[e][i]
        for goal, texts in pick(t, group.get("exclusion", []), e).items():
            q.add("exclusion", texts, f'{filt} (filter!in v0 "{x}" {q.ent_str}) '
                  f"(hop v1 {t.var(goal, 'str')})", fill={"g": gv, "x": x},
                  literals=[(gv, c), (x, e)], max_answers=3)
        for goal, texts in pick(t, group.get("same_as", []), e).items():
            q.add("same_as", texts, f"{q.named(x)} (same_as v0 {gvar}) "
                  f"(hop v1 {t.var(goal, 'str')})", fill={"x": x}, literals=[(x, e)],
                  max_answers=3)


def neighbours(q: Candidates) -> None:
    """previous / next (of an entity's row or a key number's row), then first / last."""
    t, e = q.table, q.entity
    for fn in ("previous", "next"):
        for g, texts in pick(t, t.spec.get(fn, []), e).items():
            for i in range(t.n):
                x = t.lits[e][i]
                q.add("previous_next", texts, f"{q.named(x)} ({fn} v0) (hop v1 "
                      f"{t.var(g, 'str')})", fill={"x": x}, literals=[(x, e)], check=single(0))
        for text, key, goal in t.spec.get(f"key_{fn}", []):
            k = t.col(key)
            for i in range(t.n):
                n = t.numbers[k][i]
                q.add("previous_next", [text], f"(filter= all_rows {format_number(n)} "
                      f"{t.var(k, 'num')}) ({fn} v0) (hop v1 {t.var(t.col(goal), 'str')})",
                      fill={"n": format_number(n)}, numbers=[n], check=single(0))
    for fn in ("first", "last"):
        for g, texts in pick(t, t.spec.get(fn, []), e).items():
            q.add("first_last", texts, f"({fn} all_rows) (hop v0 {t.var(g, 'str')})", fill={})


def differences_and_aggregates(q: Candidates) -> None:
    t, e = q.table, q.entity
    for m, c in numeric_measures(t):
        num = t.var(c, "num")
        pairs = [(a, b) for a in range(t.n) for b in range(t.n)
                 if t.numbers[c][a] > t.numbers[c][b]]
        q.rng.shuffle(pairs)
        for a, b in pairs[:12]:
            xa, xb = t.lits[e][a], t.lits[e][b]
            q.add("difference", m.get("difference", []),
                  f"{q.named(xa)} {q.named(xb)} (diff v0 v1 {num})", fill={"a": xa, "b": xb},
                  literals=[(xa, e), (xb, e)], check=single(0, 1))
        for fn in ("sum", "max", "min"):
            q.add("aggregation", m.get(fn, []), f"({fn} all_rows {num})", fill={})
        # averages only where they come out exactly to at most two decimals
        q.add("aggregation", m.get("average", []), f"(average all_rows {num})", fill={},
              check=lambda value, env: abs(value[1] * 100 - round(value[1] * 100)) < 1e-6)


def propose(table: Table, rng: random.Random) -> dict[str, list[dict]]:
    """Every sound question the table's templates give, by type."""
    q = Candidates(table, rng)
    for section in (lookups, superlatives, comparisons, groups, neighbours,
                    differences_and_aggregates):
        section(q)
    return q.by_type


def choose(by_type: dict[str, list[dict]], rng: random.Random, quota: int) -> list[dict]:
    """One question of every available type, then more by weight, up to the quota."""
    pools = {k: rng.sample(v, len(v)) for k, v in sorted(by_type.items()) if v}
    chosen = []
    kinds = list(pools)
    rng.shuffle(kinds)
    for kind in kinds:
        chosen.append(pools[kind].pop())
    while len(chosen) < quota:
        kinds = [k for k in sorted(pools) if pools[k]]
        if not kinds:
            break
        kind = rng.choices(kinds, weights=[WEIGHTS.get(k, 1) for k in kinds])[0]
        chosen.append(pools[kind].pop())
    return chosen
