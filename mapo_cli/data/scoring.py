"""Answer scoring as the official WikiTableQuestions evaluator does it.

Answers become values in `answer_values`; here they are compared as
evaluator.py compares them (`check_denotation`), turned into the rewards that
search and training ask for many times over (hence the caches), and prediction
files are read, written and scored for `mapo score`.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mapo_cli.core.errors import MapoError
from mapo_cli.data.answer_values import Value, target_value, to_value, to_value_list

# ---------------------------------------------------------------- comparison


def check_denotation(targets: Collection[Value], predicted: Collection[Value]) -> bool:
    """Same number of items, and every target matched by some predicted item."""
    if len(targets) != len(predicted):
        return False
    return all(any(target.match(pred) for pred in predicted) for target in targets)


# ---------------------------------------------------------------- rewards

_CACHE_SIZE = 200_000
_predicted_cache: dict[str, Value] = {}
_target_cache: dict[tuple[str, ...], list[Value]] = {}


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_SIZE:
        del cache[next(iter(cache))]  # oldest first
    cache[key] = value


def predicted_value(text: str) -> Value:
    """`to_value(text)`, cached: the same strings come back for every explored program."""
    value = _predicted_cache.get(text)
    if value is None:
        value = to_value(text)
        _remember(_predicted_cache, text, value)
    return value


def target_values(answer: list[str]) -> list[Value]:
    """The target Values of an answer list (cached per answer)."""
    key = tuple(answer)
    values = _target_cache.get(key)
    if values is None:
        values = to_value_list(answer, [target_value(a) for a in answer])
        _remember(_target_cache, key, values)
    return values


class TargetScorer:
    """Scores predicted answers against one example's target, as the official evaluator."""

    __slots__ = ("targets",)

    def __init__(self, answer: list[str]) -> None:
        self.targets = target_values(answer)

    def matches(self, predicted: list[str]) -> bool:
        if len(predicted) < len(self.targets):
            return False
        return check_denotation(self.targets, {predicted_value(p) for p in predicted})

    def reward(self, predicted: list[str]) -> float:
        """1.0 when the predicted list denotes the target set, else 0.0."""
        return 1.0 if self.matches(predicted) else 0.0


def answer_matches(predicted: list[str], target: list[str]) -> bool:
    """Whether a predicted answer list is correct for a target answer list."""
    return TargetScorer(target).matches(predicted)


# ---------------------------------------------------------------- prediction files

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "|": "\\p", "\t": "\\t", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "n": "\n", "p": "|", "t": "\t", "r": "\r"}
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def escape(text: str) -> str:
    """WTQ TSV escaping (`\\n`, `\\\\`, `\\p`), plus `\\t` and `\\r` so any string survives."""
    return "".join(_ESCAPES.get(c, c) for c in text)


def unescape(text: str) -> str:
    """Inverse of `escape`; an unknown escape such as `\\x` is kept as it is."""
    return _ESCAPED.sub(lambda m: _UNESCAPES.get(m.group(1), m.group(0)), text)


def read_predictions(path: Path) -> dict[str, list[str]]:
    """An official prediction file: `id<TAB>answer<TAB>answer...` per line (answers may be none)."""
    path = Path(path)
    if not path.is_file():
        raise MapoError(f"{path}: no such file")
    predictions: dict[str, list[str]] = {}
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise MapoError(f"{path}:{number}: not UTF-8 text") from None
            if number == 1:
                line = line.removeprefix("\ufeff")
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            fields = line.split("\t")
            example_id = unescape(fields[0]).strip()
            if not example_id:
                raise MapoError(f"{path}:{number}: malformed prediction line (no example id; "
                                f"expected id<TAB>answer<TAB>...)")
            if example_id in predictions:
                raise MapoError(f"{path}:{number}: second prediction for {example_id!r}")
            predictions[example_id] = [unescape(field) for field in fields[1:]]
    return predictions


def write_predictions(path: Path, predictions: dict[str, list[str]]) -> None:
    """Write predictions in the official format, atomically."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as handle:
        for example_id, answer in predictions.items():
            handle.write("\t".join([escape(example_id), *map(escape, answer)]) + "\n")
    tmp.replace(path)


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


def score_predictions(predictions: dict[str, list[str]], examples: list[dict]) -> ScoreReport:
    """Score predictions against examples (each with `id` and `answer`)."""
    per_example: dict[str, bool] = {}
    correct = missing = 0
    for example in examples:
        predicted = predictions.get(example["id"])
        if predicted is None:
            missing += 1
            ok = False
        else:
            ok = answer_matches(predicted, example["answer"])
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
