"""`mapo score` gives the official evaluator.py's verdict on every case of issue 18.

The verdicts below are written down from evaluator.py's rules (WTQ 1.0.2),
each case naming the function it follows; the release is hand-made, with a
`tagged/data/<name>.tagged` beside `data/<name>.tsv` as the real one has.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mapo_cli.data.answer_values import tsv_unescape_list
from mapo_cli.data.dataset import load_examples
from mapo_cli.data.prepare_wtq import prepare_wtq
from mapo_cli.data.scoring import (
    TargetScorer,
    read_predictions,
    score_predictions,
    write_predictions,
)
from mapo_cli.main import app

HEADER_LINE = "id\tutterance\tcontext\ttargetValue\n"
runner = CliRunner()

# One example per case of issue 18: the target as data/<name>.tsv writes it, its targetCanon
# as the release's tagged/data/<name>.tagged writes it (Java's Double.toString for numbers,
# None: the example is not in the tagged file), the prediction file's cells, and the verdict
# of the official evaluator.py, by its rules:
# - targets: `tsv_unescape_list` on targetValue and targetCanon, then `to_value_list(original,
#   canon)`: `to_value` parses the CoreNLP value first (`NumberValue.parse`, then
#   `DateValue.parse`; a year alone is a number), else a `StringValue` of the original;
# - predictions: `line.rstrip('\n').split('\t')`, `to_value_list(line[1:])`: each cell
#   as it stands, no unescaping;
# - `check_denotation`: as many distinct values as targets, each target matched by a
#   prediction (`Value.match`: equal `normalize`d strings, or numbers within 1e-6, or
#   equal dates).
AGREEMENT_CASES = [
    ("nu-0", "7km", "7.0", ["7"], True),                       # to_value: NumberValue(7)
    ("nu-1", "$50", "50.0", ["50"], True),
    ("nu-2", "858 209", "858209.0", ["858209"], True),
    ("nu-3", "Season 7", "7.0", ["7"], True),
    ("nu-4", "11.63 million", "1.163E7", ["11.63"], False),    # NumberValue(11630000)
    ("nu-5", "11.63 million", "1.163E7", ["11630000"], True),
    ("nu-6", "Jamestown Harbour", "Jamestown Harbour", ["Jamestown\\nHarbour"], False),
    ("nu-7", "Jamestown Harbour", "Jamestown Harbour", ["Jamestown Harbour"], True),
    ("nu-8", "AC\\\\DC", "AC\\\\DC", ["AC\\DC"], True),          # tsv_unescape: one backslash
    ("nu-9", "AC\\\\DC", "AC\\\\DC", ["AC\\\\DC"], False),     # the cell keeps two
    ("nu-10", "a\\pb", "a\\pb", ["a|b"], True),                   # tsv_unescape: a pipe
    ("nu-11", "a\\pb", "a\\pb", ["a\\pb"], False),
    ("nu-12", "Chile|Ecuador", "Chile|Ecuador", ["Ecuador", "Chile"], True),   # sets
    ("nu-13", "Chile|Ecuador", "Chile|Ecuador", ["Chile"], False),             # sizes differ
    ("nu-14", "January 26, 1995", "1995-01-26", ["1995-01-26"], True),         # DateValue
    ("nu-15", "3rd", "3rd", ["3"], False),                     # StringValue('3rd')
    ("nu-16", "1995", "1995.0", ["1995-xx-xx"], True),         # a year-only date is a number
    ("nu-17", "7km", None, ["7"], True),                       # mapo's canonicaliser: 7.0
]
TAGGED_HEADER = ("id\tutterance\tcontext\ttargetValue\ttokens\tlemmaTokens\tposTags\tnerTags"
                 "\tnerValues\ttargetCanon\ttargetCanonType\n")


def write_release(root: Path) -> Path:
    """A WTQ release with data/, csv/ and tagged/data/ for AGREEMENT_CASES."""
    (root / "data").mkdir(parents=True)
    (root / "tagged" / "data").mkdir(parents=True)
    (root / "csv" / "200-csv").mkdir(parents=True)
    (root / "csv" / "200-csv" / "0.csv").write_text('"Town","Km"\n"Jamestown","7"\n')
    questions, tagged = [], []
    for example_id, target, canon, _cells, _verdict in AGREEMENT_CASES:
        line = f"{example_id}\twhich one?\tcsv/200-csv/0.csv\t{target}"
        questions.append(line + "\n")
        if canon is not None:
            tagged.append(f"{line}\twhich|one|?\twhich|one|?\tWDT|CD|.\tO|O|O\t||\t{canon}"
                          "\tstring\n")
    name = "pristine-unseen-tables"
    (root / "data" / f"{name}.tsv").write_text(HEADER_LINE + "".join(questions))
    (root / "tagged" / "data" / f"{name}.tagged").write_text(TAGGED_HEADER + "".join(tagged))
    return root


def test_mapo_score_gives_the_official_evaluators_verdicts(tmp_path: Path) -> None:
    report = prepare_wtq(write_release(tmp_path / "wtq"), tmp_path / "out")
    assert report.figures["answer_canonical"] == {"targetCanon": 17, "canonicaliser": 1}
    data = tmp_path / "out" / "pristine-unseen-tables.jsonl"
    examples = {e["id"]: e for e in load_examples(data)}
    assert examples["nu-4"]["answer"] == ["11.63 million"]        # both are recorded
    assert examples["nu-4"]["answer_canonical"] == ["1.163E7"]
    assert examples["nu-17"]["answer_canonical"] == ["7.0"]
    assert examples["nu-8"]["answer"] == ["AC\\DC"]
    predictions = tmp_path / "pred.tsv"
    predictions.write_text("".join("\t".join([i, *cells]) + "\n"
                                   for i, _t, _c, cells, _v in AGREEMENT_CASES))
    expected = {example_id: verdict for example_id, *_, verdict in AGREEMENT_CASES}
    scored = score_predictions(read_predictions(predictions), list(examples.values()))
    assert scored.per_example == expected
    result = runner.invoke(app, ["score", str(predictions), str(data), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["correct"] == sum(expected.values())


def test_targets_are_read_as_the_evaluator_unescapes_them() -> None:
    """`tsv_unescape` replaces \\n, \\p and \\\\ one after the other, not in one pass."""
    assert tsv_unescape_list("a\\pb|c\\nd|e\\\\f") == ["a|b", "c\nd", "e\\f"]
    assert tsv_unescape_list("x\\\\n") == ["x\\\n"]


def test_decode_writes_answers_the_evaluator_reads_right(tmp_path: Path) -> None:
    """A program's answer with a line break, a tab, a backslash or a pipe: its reward, and
    the evaluator's verdict on the line `write_predictions` wrote for it, agree."""
    answers = {"nu-7": ["Jamestown\nHarbour"], "nu-8": ["AC\\DC"], "nu-10": ["a|b"],
               "nu-12": ["Ecuador\t", "\u2028Chile"], "nu-3": ["7\r\n"]}
    report = prepare_wtq(write_release(tmp_path / "wtq"), tmp_path / "out")
    assert not report.problems
    examples = load_examples(tmp_path / "out" / "pristine-unseen-tables.jsonl")
    path = tmp_path / "pred.tsv"
    write_predictions(path, answers)
    assert path.read_text().splitlines() == [
        "nu-7\tJamestown Harbour", "nu-8\tAC\\DC", "nu-10\ta|b", "nu-12\tEcuador\tChile",
        "nu-3\t7"]
    verdicts = score_predictions(read_predictions(path), examples).per_example
    for example in examples:
        if example["id"] in answers:
            assert verdicts[example["id"]]
            assert TargetScorer.for_example(example).reward(answers[example["id"]]) == 1.0
