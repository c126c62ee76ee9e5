"""A WikiTableQuestions release (`data/*.tsv`, `csv/`, `tagged/`) into prepared data.

Target values: the official evaluator reads every `tagged/data/*.tagged` file
of the release and compares predictions with each example's `targetCanon`
(CoreNLP's numbers and dates). When the release has those files, each
example's `answer_canonical` is copied from them, so that rewards and
`mapo score` agree with the evaluator; otherwise (or for an example they
lack) mapo's canonicaliser (`target_canon`) makes them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from mapo_cli.core.errors import MapoError
from mapo_cli.core.paths import inside
from mapo_cli.data.answer_values import tsv_unescape_list
from mapo_cli.data.prepare import PrepareReport, ProgressFn, run_prepare
from mapo_cli.data.tables import load_wtq_table, wtq_table_files


@dataclass(frozen=True)
class TaggedTarget:
    """An example's target as a `.tagged` file gives it: original strings and CoreNLP values."""

    original: list[str]
    canonical: list[str]


def read_tagged_targets(path: Path) -> dict[str, TaggedTarget]:
    """`targetValue` and `targetCanon` by example id, read as evaluator.py reads them."""
    lines = path.read_bytes().decode("utf-8", errors="replace").removeprefix("\ufeff").split("\n")
    header = lines[0].rstrip("\r").split("\t")
    if not {"id", "targetValue", "targetCanon"} <= set(header):
        raise MapoError(f"{path}: not a tagged question file (its header lacks id, "
                        "targetValue or targetCanon)")
    targets: dict[str, TaggedTarget] = {}
    for line in lines[1:]:
        fields = dict(zip(header, line.rstrip("\r").split("\t")))
        if "targetCanon" in fields:  # else a short line: the example gets our values
            targets[fields["id"]] = TaggedTarget(tsv_unescape_list(fields["targetValue"]),
                                                 tsv_unescape_list(fields["targetCanon"]))
    return targets


class ReleaseTargets:
    """The canonical values of the release's `tagged/data/*.tagged`, for `run_prepare`."""

    def __init__(self, source: Path) -> None:
        self.targets: dict[str, TaggedTarget] = {}
        for path in sorted((source / "tagged" / "data").glob("*.tagged")):
            self.targets.update(read_tagged_targets(path))

    def __call__(self, example_id: str, answer: list[str]) -> list[str] | None:
        """The example's `targetCanon`, when the tagged file has it for the same answer strings."""
        target = self.targets.get(example_id)
        if target is None or len(target.canonical) != len(answer):
            return None
        if [" ".join(a.split()) for a in target.original] != [" ".join(a.split()) for a in answer]:
            return None
        return target.canonical


def prepare_wtq(
    source: Path,
    out: Path,
    grammar: str = "wtq",
    strict: bool = False,
    progress: ProgressFn | None = None,
) -> PrepareReport:
    """Prepare every `SOURCE/data/*.tsv` of a WikiTableQuestions release into OUT."""
    source, out = Path(source), Path(out)
    if not source.is_dir():
        raise MapoError(f"{source}: no such directory (expected a WikiTableQuestions release)")
    files = sorted((source / "data").glob("*.tsv"))
    if not files:
        raise MapoError(
            f"{source}: no data/*.tsv question files (is it a WikiTableQuestions release?)"
        )
    for path in files:  # a question file linked out of the release is not the release's
        inside(source, Path("data") / path.name)
    if any(path.stem == "tables" for path in files):
        raise MapoError(f"{source}/data/tables.tsv: its output would overwrite tables.jsonl")
    loader = functools.partial(load_wtq_table, source)
    locate = functools.partial(wtq_table_files, source)
    return run_prepare(files, out, loader, grammar, strict, progress, ReleaseTargets(source),
                       locate)
