"""Answer scoring as the official WikiTableQuestions evaluator does it.

Answers become values in `answer_values`; here they are compared as
evaluator.py compares them (`check_denotation`), turned into the rewards that
search and training ask for many times over (hence the caches), and prediction
files are read, written and scored for `mapo score`.

Targets are an example's `answer` strings with their canonical values
(`answer_canonical`, written by `mapo prepare`; computed by
`target_canon.target_value` for data prepared without it). A program's answer
is scored as the cells `write_predictions` writes for it, so that a reward, a
`decode` figure and the evaluator on the written file always agree.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mapo_cli.core.atomic import atomic_file
from mapo_cli.core.errors import MapoError
from mapo_cli.data.answer_values import Value, to_value, to_value_list
from mapo_cli.data.target_canon import target_value

# ---------------------------------------------------------------- comparison


def check_denotation(targets: Collection[Value], predicted: Collection[Value]) -> bool:
    """Same number of items, and every target matched by some predicted item."""
    if len(targets) != len(predicted):
        return False
    return all(any(target.match(pred) for pred in predicted) for target in targets)


# ---------------------------------------------------------------- rewards

_CACHE_SIZE = 200_000
_predicted_cache: dict[str, Value] = {}
_target_cache: dict[tuple[tuple[str, ...], tuple[str | None, ...] | None], list[Value]] = {}


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_SIZE:
        del cache[next(iter(cache))]  # oldest first
    cache[key] = value


def predicted_value(cell: str) -> Value:
    """`to_value(cell)`, cached: the same strings come back for every explored program."""
    value = _predicted_cache.get(cell)
    if value is None:
        value = to_value(cell)
        _remember(_predicted_cache, cell, value)
    return value


def target_values(answer: Sequence[str], canonical: Sequence[str | None] | None = None
                  ) -> list[Value]:
    """The target Values of an answer list (cached); `canonical` defaults to `target_value`'s."""
    key = (tuple(answer), None if canonical is None else tuple(canonical))
    values = _target_cache.get(key)
    if values is None:
        canons = map(target_value, answer) if canonical is None else canonical
        values = to_value_list(answer, canons)
        _remember(_target_cache, key, values)
    return values


def prediction_cell(text: str) -> str:
    """An answer string as a prediction file holds it: whitespace runs (tabs and line
    breaks included, which would end the cell or the line) as one space, trimmed.

    evaluator.py reads a cell as it stands, so nothing else needs escaping: a
    backslash or a `|` is written as it is.
    """
    return " ".join(text.split())


class TargetScorer:
    """Scores predicted answers against one example's target, as the official evaluator."""

    __slots__ = ("targets",)

    def __init__(self, answer: Sequence[str], canonical: Sequence[str | None] | None = None
                 ) -> None:
        self.targets = target_values(answer, canonical)

    @classmethod
    def for_example(cls, example: Mapping[str, Any]) -> TargetScorer:
        """The scorer of a prepared example: its `answer`, with `answer_canonical` if it has one."""
        return cls(example["answer"], example.get("answer_canonical"))

    def matches(self, cells: Sequence[str]) -> bool:
        """Whether a prediction file's cells for this example are right (evaluator.py's verdict)."""
        if len(cells) < len(self.targets):
            return False
        return check_denotation(self.targets, {predicted_value(c) for c in cells})

    def reward(self, answer: Sequence[str]) -> float:
        """1.0 when a program's answer, written as a prediction, denotes the target set."""
        return 1.0 if self.matches([prediction_cell(a) for a in answer]) else 0.0


def answer_matches(predicted: list[str], target: list[str]) -> bool:
    """Whether a program's answer list is correct for a target answer list."""
    return TargetScorer(target).reward(predicted) == 1.0


# ---------------------------------------------------------------- prediction files


def read_predictions(path: Path) -> dict[str, list[str]]:
    """A prediction file as evaluator.py reads it: `id<TAB>cell<TAB>cell...` per line.

    Cells and ids are kept as they stand, without TSV unescaping (`\\n` is a
    backslash and an n). Lines end where Python 2's `codecs` reader that
    evaluator.py uses ends them: at `\\n`, `\\r` and the Unicode line
    separators (U+2028, U+0085, ...), i.e. `str.splitlines`. Unlike the
    evaluator we skip a leading BOM and blank lines, and refuse a line without
    an id and a second prediction for an id.
    """
    path = Path(path)
    if not path.is_file():
        raise MapoError(f"{path}: no such file")
    predictions: dict[str, list[str]] = {}
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        number = raw.count(b"\n", 0, error.start) + 1
        raise MapoError(f"{path}:{number}: not UTF-8 text") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        example_id, *cells = line.split("\t")
        if not example_id:
            raise MapoError(f"{path}:{number}: malformed prediction line (no example id; "
                            f"expected id<TAB>answer<TAB>...)")
        if example_id in predictions:
            raise MapoError(f"{path}:{number}: second prediction for {example_id!r}")
        predictions[example_id] = cells
    return predictions


def write_predictions(path: Path, predictions: Mapping[str, Sequence[str]]) -> None:
    """Write predictions in the official format, each answer as its `prediction_cell`, atomically."""
    with atomic_file(path, "w", encoding="utf-8", newline="\n") as handle:
        for example_id, answer in predictions.items():
            handle.write("\t".join([example_id, *map(prediction_cell, answer)]) + "\n")


# ---------------------------------------------------------------- accuracy


@dataclass
class ScoreReport:
    """Accuracy over all examples of a data file; a missing prediction counts as wrong."""

    accuracy: float
    correct: int
    total: int
    missing: int
    per_example: dict[str, bool]
    # ids that have a prediction but are not in the data (they do not count)
    unknown: list[str] = field(default_factory=list)


def score_predictions(predictions: Mapping[str, Sequence[str]], examples: list[dict]
                      ) -> ScoreReport:
    """Score a prediction file's cells against examples, as evaluator.py scores each line."""
    per_example: dict[str, bool] = {}
    correct = missing = 0
    for example in examples:
        cells = predictions.get(example["id"])
        if cells is None:
            missing += 1
            ok = False
        else:
            ok = TargetScorer.for_example(example).matches(cells)
        per_example[example["id"]] = ok
        correct += ok
    total = len(examples)
    known = {example["id"] for example in examples}
    return ScoreReport(
        accuracy=correct / total if total else 0.0,
        correct=correct,
        total=total,
        missing=missing,
        per_example=per_example,
        unknown=[example_id for example_id in predictions if example_id not in known],
    )


def score_answers(answers: Mapping[str, Sequence[str]], examples: list[dict]) -> ScoreReport:
    """Score programs' answers as `write_predictions` writes them (what `decode` reports)."""
    cells = {example_id: [prediction_cell(a) for a in answer]
             for example_id, answer in answers.items()}
    return score_predictions(cells, examples)
