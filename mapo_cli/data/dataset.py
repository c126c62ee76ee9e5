"""Reading prepared data: `<name>.jsonl` examples and the `tables.jsonl` beside them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mapo_cli.core.errors import MapoError

Example = dict[str, Any]
TableData = dict[str, Any]

EXAMPLE_KEYS = ("id", "question", "tokens", "entities", "answer", "table", "grammar")
TABLE_KEYS = ("id", "headers", "columns", "rows", "numbers", "dates")


def read_jsonl(path: Path, required: tuple[str, ...], what: str) -> list[dict[str, Any]]:
    """Parse a JSONL file, naming the file and line of the first bad record."""
    if not path.is_file():
        raise MapoError(f"{path}: no such file")
    records = []
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
            records.append(record)
    return records


def load_examples(path: Path | str) -> list[Example]:
    """All examples of a prepared data file, in file order."""
    return read_jsonl(Path(path), EXAMPLE_KEYS, "example")


def tables_path(data_path: Path | str) -> Path:
    """Where the tables of a prepared data file live: `tables.jsonl` beside it."""
    return Path(data_path).parent / "tables.jsonl"


def load_tables(data_path: Path | str, ids: set[str] | None = None) -> dict[str, TableData]:
    """The tables beside a data file, by id (only `ids` when given)."""
    path = tables_path(data_path)
    if not path.is_file():
        raise MapoError(f"{path}: no tables file beside {Path(data_path).name} (run `mapo prepare`)")
    tables = {}
    for table in read_jsonl(path, TABLE_KEYS, "table"):
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


def find_example(examples: list[Example], example_id: str) -> Example:
    """The example with this id, or a clear error."""
    for example in examples:
        if example["id"] == example_id:
            return example
    raise MapoError(f"unknown example id {example_id!r}")


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """Write records one per line, atomically (a partial file never replaces a good one)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
    tmp.replace(path)
