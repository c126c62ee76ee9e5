"""Reading prepared data: `<name>.jsonl` examples and the `tables.jsonl` beside them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mapo_cli.core.atomic import atomic_file
from mapo_cli.core.errors import MapoError

Example = dict[str, Any]
TableData = dict[str, Any]

EXAMPLE_KEYS = ("id", "question", "tokens", "entities", "answer", "table", "grammar")
TABLE_KEYS = ("id", "headers", "columns", "rows", "numbers", "dates")
ENTITY_VALUES = {"string": str, "number": (int, float), "date": str}
"""The entity types (docs/formats.md) and the JSON type of their values."""

Check = Callable[[dict[str, Any]], str | None]
"""What makes a parsed record unusable (a short phrase), or None when it is fine."""


def read_jsonl(path: Path, required: tuple[str, ...], what: str,
               check: Check | None = None, unique_ids: bool = False) -> list[dict[str, Any]]:
    """Parse a JSONL file, naming the file and line of the first bad record.

    A record is bad when it is not JSON, lacks a `required` key, or `check` finds
    fault; with `unique_ids`, also when an earlier record has its `id`.
    """
    if not path.is_file():
        raise MapoError(f"{path}: no such file")
    records = []
    seen: dict[Any, int] = {}
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise MapoError(f"{path}:{number}: not a JSON {what} ({error})") from None
            if not isinstance(record, dict) or any(key not in record for key in required):
                missing = [k for k in required if not isinstance(record, dict) or k not in record]
                raise MapoError(f"{path}:{number}: not a prepared {what} (missing {missing})")
            problem = check(record) if check else None
            if problem:
                raise MapoError(f"{path}:{number}: {what} {_shown(record['id'])}: {problem}")
            if unique_ids:
                if record["id"] in seen:
                    raise MapoError(f"{path}:{number}: duplicate id {record['id']!r} "
                                    f"(first on line {seen[record['id']]})")
                seen[record["id"]] = number
            records.append(record)
    return records


def _shown(value: Any) -> str:
    """A value as JSON, cut short: what a message shows of a wrong field."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _wrong(key: str, value: Any, expected: str) -> str:
    return f"{key} must be {expected}, not {_shown(value)}"


def check_example(example: dict[str, Any]) -> str | None:
    """Types and shapes of an example's fields (docs/formats.md), so a bad file fails here.

    Cheap on purpose (it runs on every example at every start): no table lookups.
    """
    for key in ("id", "table", "grammar"):
        if not isinstance(example[key], str) or not example[key]:
            return _wrong(key, example[key], "a non-empty string")
    if not isinstance(example["question"], str):
        return _wrong("question", example["question"], "a string")
    tokens, answer = example["tokens"], example["answer"]
    if not _strings(tokens):
        return _wrong("tokens", tokens, "a list of strings")
    if not _strings(answer):
        return _wrong("answer", answer, "a list of strings")
    canonical = example.get("answer_canonical")
    if canonical is not None and not (
            isinstance(canonical, list) and len(canonical) == len(answer)
            and all(item is None or isinstance(item, str) for item in canonical)):
        return _wrong("answer_canonical", canonical,
                      f"a list of {len(answer)} strings or nulls (one per answer)")
    entities = example["entities"]
    if not isinstance(entities, list):
        return _wrong("entities", entities, "a list")
    for entity in entities:
        problem = _entity_problem(entity, len(tokens))
        if problem:
            return f"entity {_shown(entity)}: {problem}"
    return None


def _entity_problem(entity: Any, n_tokens: int) -> str | None:
    if not isinstance(entity, dict) or not {"type", "value", "span"} <= entity.keys():
        return "not an object with type, value and span"
    kind = ENTITY_VALUES.get(entity["type"])
    if kind is None:
        return f"type must be one of {', '.join(ENTITY_VALUES)}"
    if not isinstance(entity["value"], kind) or isinstance(entity["value"], bool):
        return f"a {entity['type']} value must be a {'number' if kind is not str else 'string'}"
    span = entity["span"]
    if not (isinstance(span, list) and len(span) == 2 and all(type(i) is int for i in span)
            and 0 <= span[0] < span[1] <= n_tokens):
        return f"span must be [start, end) within the {n_tokens} tokens"
    return None


def check_table(table: dict[str, Any]) -> str | None:
    """Types and shapes of a table's fields (docs/formats.md): every row and view as wide
    as the headers, every view as long as the rows."""
    if not isinstance(table["id"], str) or not table["id"]:
        return _wrong("id", table["id"], "a non-empty string")
    headers, rows = table["headers"], table["rows"]
    if not _strings(headers):
        return _wrong("headers", headers, "a list of strings")
    if not _strings(table["columns"]) or len(table["columns"]) != len(headers):
        return _wrong("columns", table["columns"], f"a list of {len(headers)} strings")
    if not isinstance(rows, list):
        return _wrong("rows", rows, "a list")
    for index, row in enumerate(rows):
        if not _strings(row) or len(row) != len(headers):
            return _wrong(f"row {index}", row, f"a list of {len(headers)} strings")
    for key, cell_ok, kind in (("numbers", _number, "numbers"),
                               ("dates", lambda v: isinstance(v, str), "strings")):
        views = table[key]
        if not isinstance(views, list) or len(views) != len(headers):
            return _wrong(key, views, f"a list of {len(headers)} columns")
        for column, view in enumerate(views):
            if view is not None and not (isinstance(view, list) and len(view) == len(rows) and all(
                    value is None or cell_ok(value) for value in view)):
                return _wrong(f"{key}[{column}]", view,
                              f"null or a list of {len(rows)} {kind} or nulls (one per row)")
    return None


def load_examples(path: Path | str) -> list[Example]:
    """All examples of a prepared data file, in file order; a bad one is a `FILE:LINE` error.

    Two examples under one id are an error too: stores, scores and `exec` find examples by id.
    """
    return read_jsonl(Path(path), EXAMPLE_KEYS, "example", check_example, unique_ids=True)


def tables_path(data_path: Path | str) -> Path:
    """Where the tables of a prepared data file live: `tables.jsonl` beside it."""
    return Path(data_path).parent / "tables.jsonl"


def _wanted_table(ids: set[str] | None) -> Check:
    """`check_table` for the tables that will be used; the others are not checked."""

    def check(table: dict[str, Any]) -> str | None:
        wanted = ids is None or not isinstance(table["id"], str) or table["id"] in ids
        return check_table(table) if wanted else None

    return check


def load_tables(data_path: Path | str, ids: set[str] | None = None) -> dict[str, TableData]:
    """The tables beside a data file, by id (only `ids` when given, and only those checked)."""
    path = tables_path(data_path)
    if not path.is_file():
        raise MapoError(f"{path}: no tables file beside {Path(data_path).name} (run `mapo prepare`)")
    tables = {}
    for table in read_jsonl(path, TABLE_KEYS, "table", _wanted_table(ids)):
        if ids is None or table["id"] in ids:
            tables[table["id"]] = table
    return tables


def load_dataset(data_path: Path | str) -> tuple[list[Example], dict[str, TableData]]:
    """Examples and the tables they use; a missing table is an error that names it."""
    examples = load_examples(data_path)
    wanted = {example["table"] for example in examples}
    tables = load_tables(data_path, wanted)
    missing = sorted(wanted - tables.keys())
    if missing:
        raise MapoError(
            f"{tables_path(data_path)}: {len(missing)} table(s) used by {Path(data_path).name} "
            f"are missing, e.g. {missing[0]}"
        )
    return examples, tables


def tables_of(examples: list[Example], tables: dict[str, TableData]) -> dict[str, TableData]:
    """The tables these examples ask about: what travels with them to a worker."""
    return {example["table"]: tables[example["table"]] for example in examples}


def find_example(examples: list[Example], example_id: str) -> Example:
    """The example with this id, or a clear error."""
    for example in examples:
        if example["id"] == example_id:
            return example
    raise MapoError(f"unknown example id {example_id!r}")


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """Write records one per line, atomically (a partial file never replaces a good one)."""
    with atomic_file(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
