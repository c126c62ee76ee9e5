"""Writes tables and questions in the WikiTableQuestions release layout.

`csv/200-csv/<k>.csv` (every field quoted, backslash escapes),
`tagged/200-tagged/<k>.tagged` (CoreNLP-style cell annotation),
`data/*.tsv` (questions and answers, and the 80/20 split by table) and our
`programs.tsv` (a reference program per question).
"""

from __future__ import annotations

import random
import re
import shutil
from collections import Counter
from pathlib import Path

from .table import Table
from .text import NON_ALNUM, ascii_fold

DEV_FRACTION = 0.2
TAGGED_FIELDS = ["row", "col", "id", "content", "tokens", "lemmaTokens", "posTags", "nerTags",
                 "nerValues", "number", "date", "num2", "list", "listId"]
BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-"}


def tsv_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("|", "\\p")


def csv_field(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cell_tokens(text: str) -> list[str]:
    """A CoreNLP-like tokenization: "1,115" stays one token; brackets become -lrb- etc."""
    return [BRACKETS.get(token, token)
            for token in re.findall(r"\d+(?:,\d{3})*(?:\.\d+)?|\w+|[^\w\s]", text)]


def fb_id(text: str) -> str:
    return NON_ALNUM.sub("_", ascii_fold(text).lower()).strip("_") or "null"


def header_line(table: Table, c: int) -> str:
    header = table.headers[c]
    tokens = [tsv_escape(tok) for tok in cell_tokens(header.lower())]
    return "\t".join([
        "-1", str(c), f"fb:row.row.{table.names[c]}", tsv_escape(header), "|".join(tokens),
        "|".join(tokens), "|".join("NN" for _ in tokens), "|".join("O" for _ in tokens),
        "|".join("" for _ in tokens), "", "", "", "", ""])


def cell_tags(cell: str, date: str | None) -> tuple[list[str], list[str], list[str], list[str]]:
    """The cell's tokens, POS tags, NER tags and NER values."""
    tokens = cell_tokens(cell)
    pos = ["CD" if re.fullmatch(r"\d[\d,]*(?:\.\d+)?", tok) else
           tok.upper() if tok.startswith("-") and tok.endswith("-") else
           "NNP" if tok[0].isalnum() else tok for tok in tokens]
    if date is not None and "x" not in date:
        return tokens, pos, ["DATE"] * len(tokens), [date] * len(tokens)
    ner = ["NUMBER" if p == "CD" else "O" for p in pos]
    values = [format(float(tok.replace(",", "")), "") if n == "NUMBER" else ""
              for tok, n in zip(tokens, ner)]
    if date is not None:
        ner, values = ["DATE"] * len(tokens), [date[:4]] * len(tokens)
    return tokens, pos, ner, values


def tagged_lines(table: Table) -> list[str]:
    lines = ["\t".join(TAGGED_FIELDS)] + [header_line(table, c) for c in range(len(table.headers))]
    ids: dict[str, str] = {}
    used: Counter = Counter()
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row):
            if cell not in ids:
                base = "fb:cell." + fb_id(cell)
                used[base] += 1
                ids[cell] = base if used[base] == 1 else f"{base}_{used[base]}"
            number, date = table.numbers[c][r], table.dates[c][r]
            tokens, pos, ner, values = cell_tags(cell, date)
            lower = [tok.lower() for tok in tokens]
            lines.append("\t".join([
                str(r), str(c), ids[cell], tsv_escape(cell), "|".join(map(tsv_escape, lower)),
                "|".join(map(tsv_escape, tokens)), "|".join(pos), "|".join(ner), "|".join(values),
                "" if number is None else repr(float(number)), date or "", "", "", ""]))
    return lines


def write_tables(out: Path, tables: list[Table]) -> None:
    """The csv and tagged files; replaces what an earlier run wrote, and nothing else."""
    for sub in ("csv/200-csv", "tagged/200-tagged"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
        (out / sub).mkdir(parents=True)
    for table in tables:
        k = table.id.rsplit("/", 1)[1][: -len(".csv")]
        lines = [",".join(csv_field(h) for h in table.headers)]
        lines += [",".join(csv_field(cell) for cell in row) for row in table.rows]
        (out / "csv" / "200-csv" / f"{k}.csv").write_text("\n".join(lines) + "\n", "utf-8")
        (out / "tagged" / "200-tagged" / f"{k}.tagged").write_text(
            "\n".join(tagged_lines(table)) + "\n", "utf-8")


def dev_tables(tables: list[Table], kinds: list[str], seed: int) -> set[str]:
    """An 80/20 split by table, stratified: every kind of table has one in five in dev."""
    rng = random.Random(seed + 1)
    dev = set()
    for kind in kinds:
        ids = [t.id for t in tables if t.kind == kind]
        dev.update(rng.sample(ids, round(len(ids) * DEV_FRACTION)))
    return dev


def data_tsv(questions: list[dict]) -> str:
    lines = ["id\tutterance\tcontext\ttargetValue"]
    lines += [f"{q['id']}\t{q['question']}\t{q['table']}\t"
              + "|".join(tsv_escape(a) for a in q["answer"]) for q in questions]
    return "\n".join(lines) + "\n"


def write(out: Path, tables: list[Table], questions: list[dict], kinds: list[str],
          seed: int) -> dict:
    """Writes the release under `out`; returns counts for the summary."""
    write_tables(out, tables)
    (out / "data").mkdir(parents=True, exist_ok=True)
    dev_ids = dev_tables(tables, kinds, seed)
    train = [q for q in questions if q["table"] not in dev_ids]
    dev = [q for q in questions if q["table"] in dev_ids]
    (out / "data" / "training.tsv").write_text(data_tsv(questions), "utf-8")
    (out / "data" / "random-split-1-train.tsv").write_text(data_tsv(train), "utf-8")
    (out / "data" / "random-split-1-dev.tsv").write_text(data_tsv(dev), "utf-8")
    programs = ["id\tprogram"] + [f"{q['id']}\t{q['program']}" for q in questions]
    (out / "programs.tsv").write_text("\n".join(programs) + "\n", "utf-8")
    return {"tables": len(tables), "questions": len(questions), "train": len(train),
            "dev": len(dev), "types": Counter(q["type"] for q in questions)}
