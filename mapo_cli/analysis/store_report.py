"""What a store holds, as a user wants to see it (`mapo inspect store`).

Two views, both plain JSON-ready dicts (the CLI renders them):
`store_report` — the store's totals plus histograms of programs per example,
program lengths and function usage over all memory buffers; `example_report`
— one example's question, table and every memory program in the notation,
and, given a trained model, each program's probability and the one it
prefers. Everything is read in one read transaction, so a store that another
process is writing is seen as one consistent snapshot.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

from mapo_cli.core.errors import MapoError
from mapo_cli.language.context import ProgramContext
from mapo_cli.language.grammar import Grammar, load_grammar
from mapo_cli.language.interpreter import CLOSE_ID, FIRST_FUNCTION_ID
from mapo_cli.language.program import format_program
from mapo_cli.store.store import Store

Json = dict[str, Any]

# Upper bounds (inclusive) of the programs-per-example buckets; the last is open.
PROGRAM_BUCKETS = (0, 1, 2, 5, 10, 50, 100, 500, 1000)
SAMPLE_IDS = 10  # exhausted / uncovered example ids listed as examples


def bucket_label(low: int, high: int | None) -> str:
    if high is None:
        return f"{low}+"
    return str(low) if low == high else f"{low}-{high}"


def histogram(counts: list[int], bounds: tuple[int, ...] = PROGRAM_BUCKETS) -> list[Json]:
    """Counts grouped into buckets `0`, `1`, `2`, `3-5`, ... `1001+` (empty buckets kept)."""
    edges = [(low, high) for low, high in zip((0,) + tuple(b + 1 for b in bounds), bounds)]
    edges.append((bounds[-1] + 1, None))
    out = []
    for low, high in edges:
        n = sum(1 for c in counts if c >= low and (high is None or c <= high))
        out.append({"bucket": bucket_label(low, high), "low": low, "high": high, "examples": n})
    return out


def store_grammar(fingerprint: Json) -> tuple[Grammar | None, str | None]:
    """The grammar the store was explored with, or None and why function names are unknown."""
    try:
        grammar = load_grammar(str(fingerprint.get("grammar")))
    except MapoError as error:
        return None, str(error)
    if grammar.content_hash != fingerprint.get("grammar_hash"):
        return None, (f"grammar {grammar.name!r} changed since the store was explored: "
                      "function usage is not shown")
    return grammar, None


def store_report(path: Path) -> Json:
    """Totals (`Store.summary`), fingerprint and distributions over every memory buffer.

    Keys: everything of `StoreReader.summary`, plus `fingerprint`,
    `programs_per_example` (histogram over examples of their memory size),
    `reward_1_per_example` (likewise for reward-1 programs),
    `program_lengths` (expressions → programs), `program_tokens` (mean, max),
    `function_usage` (function → {programs, calls}), `exhausted_ids` and
    `uncovered_ids` (up to 10 each), `grammar_note` (why function usage is empty, else None).
    """
    with Store.open_readonly(path) as store, store.reader() as reader:
        fingerprint = store.fingerprint
        summary = reader.summary()
        grammar, note = store_grammar(fingerprint)
        n_builtins = len(grammar.builtin_tokens) if grammar else 0
        sizes, reward_1 = [], []
        lengths: Counter[int] = Counter()
        calls: Counter[str] = Counter()
        programs_with: Counter[str] = Counter()
        tokens_total = tokens_max = programs = 0
        exhausted, uncovered = [], []
        for example_id in reader.ids():
            memory = reader.read_memory(example_id)
            sizes.append(len(memory))
            good = sum(1 for _, reward in memory if reward >= 1.0)
            reward_1.append(good)
            if not good and len(uncovered) < SAMPLE_IDS:
                uncovered.append(example_id)
            status = reader.read_status(example_id) or {}
            if status.get("exhausted") and len(exhausted) < SAMPLE_IDS:
                exhausted.append(example_id)
            for tokens, _ in memory:
                programs += 1
                tokens_total += len(tokens)
                tokens_max = max(tokens_max, len(tokens))
                lengths[sum(1 for t in tokens if t == CLOSE_ID)] += 1
                if grammar is not None:
                    names = [grammar.functions[t - FIRST_FUNCTION_ID].name for t in tokens
                             if FIRST_FUNCTION_ID <= t < n_builtins]
                    calls.update(names)
                    programs_with.update(set(names))
    usage = {name: {"programs": programs_with[name], "calls": calls[name]}
             for name, _ in calls.most_common()}
    return {
        **summary,
        "fingerprint": fingerprint,
        "programs_per_example": histogram(sizes),
        "reward_1_per_example": histogram(reward_1),
        "program_lengths": [{"expressions": n, "programs": lengths[n]} for n in sorted(lengths)],
        "program_tokens": {"mean": tokens_total / programs if programs else None,
                           "max": tokens_max},
        "function_usage": usage,
        "exhausted_ids": exhausted,
        "uncovered_ids": uncovered,
        "grammar_note": note,
    }


def damage_report(path: Path) -> Json:
    """`damaged`: every value failing its checksum, as {id, record}; `examples`: how many.

    Reads every value of the store (`mapo inspect store --verify`).
    """
    with Store.open_readonly(path) as store, store.reader() as reader:
        return {"store": str(path), "examples": len(reader.ids()),
                "damaged": [{"id": i, "record": record} for i, record in reader.damaged()]}


# ---------------------------------------------------------------- one example


def read_stored_example(path: Path, example_id: str) -> tuple[Json, Json, list, Json, Json]:
    """(example, table, memory, status, fingerprint) of one stored example; MapoError if absent."""
    with Store.open_readonly(path) as store, store.reader() as reader:
        stored = reader.read_example(example_id)
        if stored is None:
            raise MapoError(f"example {example_id!r} is not in the store at {path}")
        example, table = stored
        return (example, table, reader.read_memory(example_id),
                reader.read_status(example_id) or {}, store.fingerprint)


def truncated_table(table: Json, rows: int, width: int = 40) -> Json:
    """The table's headers and first `rows` rows, long cells cut to `width` characters."""
    def cut(text: str) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    return {"id": table.get("id"), "headers": list(table["headers"]),
            "columns": list(table["columns"]), "n_rows": len(table["rows"]),
            "rows": [[cut(str(cell)) for cell in row] for row in table["rows"][:rows]]}


def example_report(path: Path, example_id: str, run: Path | None = None,
                   rows: int = 10) -> Json:
    """One example: question, answer, table (first `rows` rows), status and memory programs.

    Each program has `program` (notation), `reward` and, with `run` (a run
    directory or checkpoint), `log_probability`, `probability` and
    `share` (its part of the buffer's probability π(B)); `preferred` is then the
    index of the program the model finds most probable.
    """
    example, table, memory, status, fingerprint = read_stored_example(path, example_id)
    grammar = load_grammar(example["grammar"])
    max_expressions = fingerprint.get("max_expressions")
    ctx = ProgramContext(example, table, grammar, max_expressions)
    programs: list[Json] = [{"program": format_program(tokens, ctx.vocab), "reward": reward,
                             "expressions": sum(1 for t in tokens if t == CLOSE_ID)}
                            for tokens, reward in memory]
    report: Json = {
        "id": example_id, "question": example.get("question", ""),
        "answer": list(example.get("answer", [])),
        "entities": [entity_label(e) for e in example.get("entities", [])],
        "table": truncated_table(table, rows), "status": status,
        "programs": programs, "run": None, "preferred": None, "buffer_probability": None,
    }
    if run is not None:
        scorer = ModelScorer(run, grammar, max_expressions)
        report["run"] = str(scorer.path)
    if run is not None and memory:
        scores = scorer.log_probs(example, table, [t for t, _ in memory])
        total = sum(_exp(s) for s in scores)
        for program, score in zip(programs, scores):
            program["log_probability"] = score
            program["probability"] = _exp(score)
            program["share"] = _exp(score) / total if total > 0 else None
        report["preferred"] = max(range(len(scores)), key=lambda i: scores[i])
        report["buffer_probability"] = total
    return report


def entity_label(entity: Json) -> str:
    value = entity.get("value")
    return f"{entity.get('type')} {value!r}"


class ModelScorer:
    """A run's best checkpoint (or a checkpoint file), loaded once, scoring memory programs.

    torch is imported only here: `inspect store` without a model stays quick to start.
    """

    def __init__(self, run: Path, grammar: Grammar, max_expressions: int | None) -> None:
        import torch

        from mapo_cli.analysis.decode import Decoder
        from mapo_cli.learn.checkpoint import load_checkpoint
        from mapo_cli.learn.run_dir import resolve_checkpoint

        torch.set_num_threads(1)  # one example at a time: more threads only wait on each other
        self.path = resolve_checkpoint(Path(run))
        # prepares examples as decode does (with the encoder's vectors, if the model reads them)
        self.decoder = Decoder(load_checkpoint(self.path, grammar), max_expressions)

    def log_probs(self, example: Json, table: Json, programs: list) -> list[float]:
        """log π(program | question) of each program (token ids ending with <END>)."""
        from mapo_cli.learn.decoding import tree_log_probs

        item = self.decoder.prepare(example, table)
        return tree_log_probs(self.decoder.checkpoint.model, [item], [list(programs)])[0]


def _exp(value: float) -> float:
    """exp that gives 0 rather than an underflow warning for very improbable programs."""
    return math.exp(value) if value > -745 else 0.0
