"""`mapo inspect spurious` over a whole store: which examples to analyse, and the totals.

Kept apart from the per-example verdict (`spurious`) because this is the part
that reads a store and, with `--run`, asks a trained model which program it
prefers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mapo_cli.analysis.spurious import DEFAULT_TABLES, ExampleAnalysis, analyse_example
from mapo_cli.core.errors import MapoError
from mapo_cli.core.ranges import check_range
from mapo_cli.core.stop import StopRequest
from mapo_cli.language.grammar import load_grammar
from mapo_cli.store.store import Store

Program = tuple[int, ...]
Json = dict[str, Any]


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
        preferred_likely_correct, preferred_likely_correct_share; with gold sql (WikiSQL) also
        those of `gold_summary`."""
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
            **self.gold_summary(),
        }

    def gold_summary(self) -> Json:
        """Keys (only when an analysed example has gold sql): gold_sql (examples checked),
        gold_sql_unchecked (its answer on its own table not reproduced), gold_in_likely_correct
        and gold_in_memory (examples where a likely-correct class / any program is
        gold-equivalent) and their shares of gold_sql."""
        with_sql = [a for a in self.analysed if a.has_gold_sql]
        if not with_sql:
            return {}
        checked = [a for a in with_sql if a.gold_equivalent is not None]
        in_class = sum(bool(a.gold_in_likely_correct) for a in checked)
        in_memory = sum(bool(a.gold_in_memory) for a in checked)
        return {
            "gold_sql": len(checked), "gold_sql_unchecked": len(with_sql) - len(checked),
            "gold_in_likely_correct": in_class,
            "gold_in_likely_correct_share": in_class / len(checked) if checked else None,
            "gold_in_memory": in_memory,
            "gold_in_memory_share": in_memory / len(checked) if checked else None,
        }


def analyse_store(path: Path, tables: int = DEFAULT_TABLES, seed: int = 0,
                  run: Path | None = None, limit: int | None = None,
                  on_progress: Callable[[int, int], None] | None = None) -> SpuriousReport:
    """Analyse every example of a store whose memory holds at least two reward-1 programs.

    `limit` stops after that many analysed examples; `run` adds the model's
    preferred program per example. Reads one snapshot, so a store being
    written by another process is fine. Ctrl-C or SIGTERM raises `Stopped`.
    """
    check_range("tables", tables)
    if limit is not None and limit < 1:
        raise MapoError(f"--limit must be at least 1, not {limit}")
    with Store.open_readonly(path) as store:
        fingerprint = store.fingerprint
        max_expressions = fingerprint.get("max_expressions")
        explored_in = fingerprint.get("grammar")  # token ids mean something only in this grammar
        candidates, total = _candidates(store)
        scorer = None
        if run is not None:
            from mapo_cli.analysis.store_report import ModelScorer  # imports torch: only when asked

            scorer = ModelScorer(run, load_grammar(str(fingerprint.get("grammar"))),
                                 max_expressions)
        report = SpuriousReport(total, [], tables, seed, str(scorer.path) if scorer else None)
        report.skipped = total - len(candidates)
        wanted = candidates[:limit] if limit else candidates
        with StopRequest() as stop:
            for done, (example, table, programs) in enumerate(_read(store, wanted), start=1):
                grammar = load_grammar(str(explored_in or example["grammar"]))
                log_probs = scorer.log_probs(example, table, programs) if scorer else None
                report.analysed.append(analyse_example(example, table, programs, grammar,
                                                       max_expressions, tables, seed, log_probs))
                if on_progress:
                    on_progress(done, len(wanted))
                stop.check(done, len(wanted), "examples")
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
