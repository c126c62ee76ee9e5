"""A trained parser put to work on any table: `mapo ask` and the Python API.

    from mapo_cli import Parser
    parser = Parser.load("runs/mapo")    # or Parser.load(): the bundled WTQ model
    reply = parser.ask("medals.csv", "which nation won the most gold?")
    reply.answer, reply.programs[0].program, reply.programs[0].probability

A table is a CSV file (TSV if its name ends in `.tsv`) with a header row, or
rows of cells, read and typed exactly as `mapo prepare csv` does; a question
is tokenised and linked against it as `prepare` does. Beam search with code
assistance writes the programs (as `mapo decode`), and each is run for its
answer and the value of every expression. Several runs answer as an
ensemble: their beams are pooled and ranked by the runs' mean probability,
or by a reranker `mapo rerank` fit for them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from mapo_cli.analysis.decode import Decoded, Decoder, load_decoder
from mapo_cli.analysis.ensemble import by_mean_probability, fill_missing
from mapo_cli.analysis.execution import steps_of, trace_of
from mapo_cli.analysis.rerank import Reranker, load_reranker
from mapo_cli.core.errors import MapoError
from mapo_cli.core.ranges import check_range
from mapo_cli.data.limits import DEFAULT_LIMITS, Limits
from mapo_cli.data.questions import analyse_question, cell_index
from mapo_cli.data.tables import Table, read_table_file, table_from_rows
from mapo_cli.language.interpreter import END_ID
from mapo_cli.language.program import format_program
from mapo_cli.learn.beam_search import beam_search
from mapo_cli.learn.bundled import default_model, find_run, ranking
from mapo_cli.learn.decoding import Prepared
from mapo_cli.learn.run_dir import resolve_checkpoint

Program = tuple[int, ...]


@dataclass(frozen=True)
class Written:
    """One program the parser wrote, with what it computes."""

    program: str
    probability: float
    answer: list[str]
    trace: list[tuple[str, str]] = field(default_factory=list)  # (v<i>, its value)
    steps: list[dict[str, Any]] = field(default_factory=list)  # execution.steps_of


@dataclass(frozen=True)
class Reply:
    """The parser's reading of one question: the programs, most probable first."""

    question: str
    tokens: list[str]
    entities: list[dict[str, Any]]
    programs: list[Written]

    @property
    def answer(self) -> list[str]:
        """The most probable program's answer; empty when no valid program exists."""
        return self.programs[0].answer if self.programs else []

    def to_json(self) -> dict[str, Any]:
        return {"question": self.question, "answer": self.answer, "tokens": self.tokens,
                "entities": self.entities,
                "programs": [{**asdict(p), "trace": dict(p.trace)} for p in self.programs]}


class Parser:
    """One trained run, or several as an ensemble, ready to answer questions about tables."""

    def __init__(self, decoders: Sequence[Decoder], reranker: Reranker | None = None,
                 limits: Limits = DEFAULT_LIMITS, sources: Sequence[str] = (),
                 reranker_source: str | None = None) -> None:
        if not decoders:
            raise MapoError("a parser needs at least one run")
        names = {d.checkpoint.grammar.content_hash for d in decoders}
        if len(names) != 1:
            raise MapoError("the runs of an ensemble must use the same grammar")
        self.decoders = list(decoders)
        self.grammar = decoders[0].checkpoint.grammar
        if reranker is not None:
            reranker.check_fits(self.grammar, len(self.decoders))
        self.reranker = reranker
        self.limits = limits
        self.sources = list(sources)  # where the runs came from, for a report
        self.reranker_source = reranker_source

    @classmethod
    def load(cls, *runs: Path | str, reranker: Path | str | None = None,
             limits: Limits = DEFAULT_LIMITS, beam_order: bool = False,
             device: str = "cpu") -> Parser:
        """Run directories (their best checkpoint), checkpoint files or bundled models'
        names (none: the bundled `wtq`), and the file of a reranker fit for them
        (`mapo rerank`) to rank their pooled programs with. A lone run directory that
        holds its own `reranker.json` (as a bundled model does) is ranked by it unless
        `beam_order`. The models compute on `device` (`learn/device.py`)."""
        paths = [find_run(run) for run in runs] or [default_model()]
        chosen = ranking(paths, Path(reranker) if reranker is not None else None, beam_order)
        return cls([load_decoder(resolve_checkpoint(path), device=device) for path in paths],
                   load_reranker(chosen) if chosen is not None else None, limits,
                   [str(path) for path in paths], str(chosen) if chosen is not None else None)

    def table(self, source: Path | str | Sequence[Sequence[str]]) -> Table:
        """A table from a CSV/TSV path, or from rows of cells with the header row first,
        within the parser's limits (checked before the table is typed)."""
        if isinstance(source, (str, Path)):
            path = Path(source)
            self.limits.check_file(path)
            grid, table_id, name = read_table_file(path), path.name, path
        else:
            grid, table_id, name = [[str(c) for c in row] for row in source], "table", None
        self.limits.check_grid(grid, str(name or "the table"))
        return table_from_rows(grid, table_id, name or Path("the table"))

    def ask(self, table: Table | Path | str | Sequence[Sequence[str]], question: str,
            beam: int = 5, top: int | None = None) -> Reply:
        """Answer `question` about `table` (a table from `Parser.table`, or what it reads)."""
        check_range("beam", beam, label="beam")
        if top is not None:
            check_range("top", top, label="top")
        question = self.limits.check_question(question)
        if not isinstance(table, dict):
            table = self.table(table)
        tokens, entities = analyse_question(question, cell_index(table))
        example = {"id": "question", "question": question, "tokens": tokens,
                   "entities": entities, "answer": [], "table": table["id"],
                   "grammar": self.grammar.source}
        with torch.no_grad():
            items = [d.prepare(example, table) for d in self.decoders]
            beams = [beam_search(d.checkpoint.model, [item], beam)[0]
                     for d, item in zip(self.decoders, items, strict=True)]
            ranked = _ensemble(self.decoders, items, beams)
        if self.reranker is None:
            written = [_written(items[0], program, p, table["columns"])
                       for program, p, _ in ranked[:top]]
        else:
            written = [_written(items[0], program, p, table["columns"]) for program, p, _ in ranked]
            pool = [Decoded(w.program, math.log(p) if p > 0 else -math.inf, w.answer, 0.0,
                            program, members)
                    for w, (program, p, members) in zip(written, ranked, strict=True)]
            written = [written[j] for j in self.reranker.order(pool)][:top]
        return Reply(example["question"], tokens, entities, written)


def _ensemble(decoders: list[Decoder], items: list[Prepared],
              beams: list[list[tuple[Program, float]]]
              ) -> list[tuple[Program, float, tuple[float, ...]]]:
    """The pooled beams, by mean probability over the members (one member: its beam), each
    with that probability and its log probability under every member."""
    pool: dict[Program, None] = {}
    for found in beams:
        pool.update((tuple(p), None) for p, _ in found if p and p[-1] == END_ID)
    programs = list(pool)
    log_probs = []
    for decoder, item, found in zip(decoders, items, beams, strict=True):
        known = {tuple(p): log_probability for p, log_probability in found}
        log_probs.append(fill_missing(decoder.checkpoint.model, [item], [programs],
                                      [[known.get(p) for p in programs]])[0])
    return [(programs[j], mean, tuple(member[j] for member in log_probs))
            for j, mean in by_mean_probability(log_probs)]


def _written(item: Prepared, program: Program, probability: float, columns: list[str]
             ) -> Written:
    state = item.interpreter.run(program)
    return Written(format_program(program, item.ctx.vocab), probability,
                   item.interpreter.answer(state), trace_of(state.env),
                   steps_of(program, item.interpreter, state.env, columns))
