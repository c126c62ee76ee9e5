"""`mapo inspect`: look inside stores (`store`, `spurious`), decoded programs (`decoded`) and
training runs (`run`, its own module: inspect_run.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from mapo_cli.commands.common import (
    JsonOption,
    MapoCommand,
    MapoGroup,
    console,
    count_progress,
    print_json,
    reports_errors,
)
from mapo_cli.commands.inspect_run import inspect_run
from mapo_cli.commands.paths import check_outputs, check_writable, run_inputs
from mapo_cli.core.ranges import check_options
from mapo_cli.learn.bundled import named

app = typer.Typer(cls=MapoGroup, no_args_is_help=True, help="Analyse stores and runs: memory "
                  "buffers, spurious programs, learning curves.")

StoreArg = Annotated[Path, typer.Argument(help="Store directory written by `mapo explore`.")]
RunOption = Annotated[Optional[Path], typer.Option(  # noqa: UP045
    "--run", help="Run directory (its best checkpoint), checkpoint file or bundled model's "
    "name: adds the model's view.")]


@app.command("store", cls=MapoCommand)
@reports_errors
def inspect_store(
    store: StoreArg,
    example: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--example", help="Show one example: question, table and every memory program.")] = None,
    run: RunOption = None,
    rows: Annotated[int, typer.Option(help="Table rows shown with --example.")] = 10,
    verify: Annotated[bool, typer.Option(
        "--verify", help="Check every value's checksum: list the damaged ones, exit 1 if any.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Summarise a store: coverage, programs per example, lengths, functions, filter bits.

    Also the exhausted examples and those without a reward-1 program.

    With --example ID: that example's question, table (truncated) and memory
    programs with their rewards; add --run to see each program's probability
    under the model and the one it prefers. Safe while another process writes
    the store: it reads one consistent snapshot. With --verify: every damaged value, by
    example and record, and how to repair them.
    """
    from mapo_cli.analysis.store_report import example_report, store_report
    from mapo_cli.core.errors import MapoError

    check_options(rows=rows)
    if verify:
        if example is not None or run is not None:
            raise MapoError("--verify checks the whole store: it takes no --example or --run")
        _verify_store(store, json_output)
        return
    if example is None:
        if run is not None:
            raise MapoError("--run needs --example ID (the model scores one example's programs)")
        report = store_report(store)
        if json_output:
            print_json(report)
            return
        _show_store(report, store)
        return
    report = example_report(store, example, run, rows)
    if json_output:
        print_json(report)
        return
    _show_example(report)


def _verify_store(store: Path, json_output: bool) -> None:
    from mapo_cli.analysis.store_report import damage_report
    from mapo_cli.core.errors import MapoError

    report = damage_report(store)
    damaged = report["damaged"]
    if json_output:
        print_json(report)
    elif damaged:
        console.print(f"damaged values in the store at {store}:", highlight=False)
        table = Table()
        table.add_column("example")
        table.add_column("record")
        for value in damaged:
            table.add_row(escape(value["id"]), value["record"])
        console.print(table)
    else:
        console.print(f"store {store}: the values of all {report['examples']:,} examples are "
                      "intact", highlight=False)
    if damaged:
        examples = len({value["id"] for value in damaged})
        raise MapoError(f"{len(damaged)} damaged values of {examples} examples in the store at "
                        f"{store}: drop and explore them again with `mapo explore DATA --store "
                        f"{store} --repair`")


def _show_store(report: dict, store: Path) -> None:
    from mapo_cli.commands.explore import summary_table

    console.print(f"store {store}", highlight=False, soft_wrap=True)  # a path, never folded
    console.print(summary_table(report, "summary"))
    total = max(report["examples"], 1)
    sizes = Table(title="memory programs per example")
    for column in ("programs", "examples (all rewards)", "examples (reward-1 programs)", ""):
        sizes.add_column(column, justify="right" if column else "left")
    for bucket, good in zip(report["programs_per_example"], report["reward_1_per_example"]):
        sizes.add_row(bucket["bucket"], f"{bucket['examples']:,}", f"{good['examples']:,}",
                      "█" * round(30 * bucket["examples"] / total))
    lengths = Table(title="program lengths")
    lengths.add_column("expressions", justify="right")
    lengths.add_column("programs", justify="right")
    for row in report["program_lengths"]:
        lengths.add_row(str(row["expressions"]), f"{row['programs']:,}")
    tokens = report["program_tokens"]
    if tokens["mean"] is not None:
        lengths.caption = f"tokens: mean {tokens['mean']:.1f}, max {tokens['max']}"
    usage = Table(title="function usage in memory")
    for column in ("function", "programs", "calls"):
        usage.add_column(column, justify="left" if column == "function" else "right")
    for name, counts in report["function_usage"].items():
        usage.add_row(name, f"{counts['programs']:,}", f"{counts['calls']:,}")
    console.print(sizes, lengths, usage)
    if report["grammar_note"]:
        console.print(f"[yellow]note:[/] {report['grammar_note']}", highlight=False)
    if report["exhausted_ids"]:
        console.print("exhausted (every program explored), e.g.: "
                      + ", ".join(report["exhausted_ids"]), highlight=False)
    if report["uncovered_ids"]:
        console.print("without a reward-1 program, e.g.: " + ", ".join(report["uncovered_ids"]),
                      highlight=False)


def _show_example(report: dict) -> None:
    table = report["table"]
    shown = Table(title=f"{table['id']} — {len(table['rows'])} of {table['n_rows']} rows",
                  title_justify="left")
    for header in table["headers"]:
        shown.add_column(header or "·", overflow="fold")
    for row in table["rows"]:
        shown.add_row(*row)
    lines = [f"[bold]{report['id']}[/]: {report['question']}",
             f"answer: {' | '.join(report['answer'])}",
             f"entities: {', '.join(report['entities']) or '-'}",
             f"status: {_status_line(report['status'])}"]
    console.print(Panel(Group(*lines), expand=False))
    console.print(shown)
    if not report["programs"]:
        console.print("memory: empty (no program with reward > 0 found yet)")
        return
    programs = Table(title=f"memory: {len(report['programs'])} programs", title_justify="left")
    programs.add_column("#", justify="right")
    programs.add_column("reward", justify="right")
    with_model = report["run"] is not None and report["preferred"] is not None
    if with_model:
        programs.add_column("π(program)", justify="right")
        programs.add_column("share of π(B)", justify="right")
    programs.add_column("program")
    for k, program in enumerate(report["programs"]):
        mark = " ★" if k == report["preferred"] else ""
        cells = [f"{k}{mark}", f"{program['reward']:g}"]
        if with_model:
            share = program["share"]
            cells += [f"{program['probability']:.2e}", "-" if share is None else f"{share:.1%}"]
        programs.add_row(*cells, program["program"])
    console.print(programs)
    if with_model:
        console.print(f"★ the model's preferred program (model {report['run']}); "
                      f"π(B) = {report['buffer_probability']:.2e}", highlight=False,
                      soft_wrap=True)


def _status_line(status: dict) -> str:
    if not status:
        return "not explored yet"
    parts = [f"{status.get('samples', 0):,} samples"]
    if status.get("exhausted"):
        parts.append("exhausted")
    if status.get("dead_ends"):
        parts.append(f"{status['dead_ends']:,} dead ends")
    return ", ".join(parts)


# ---------------------------------------------------------------- spurious


@app.command("spurious", cls=MapoCommand)
@reports_errors
def inspect_spurious(
    store: StoreArg,
    run: RunOption = None,
    out: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--out", help="Write one JSON object per analysed example (JSONL).")] = None,
    tables: Annotated[int, typer.Option(
        "--tables", help="Fictitious tables per example.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the table perturbations.")] = 0,
    limit: Annotated[int, typer.Option(
        help="Analyse at most this many examples (0: all with several reward-1 programs).")] = 0,
    show: Annotated[int, typer.Option(
        help="Examples with several behaviour classes listed in the report.")] = 5,
    json_output: JsonOption = False,
) -> None:
    """Estimate which memory programs are spurious (right answer for the wrong reason).

    For each example with several reward-1 programs, runs them on fictitious
    tables (rows shuffled, cells replaced by other values of their column,
    cells holding the question's entities kept) and groups them into classes
    with identical answers on all of them. The likely-correct class uses the
    most question entities, then the fewest expressions, then the most columns
    the question mentions, then the fewest it does not, then has the most
    programs; the others are likely
    spurious (see mapo_cli/analysis/spurious.py). With --run, also whether the model's
    preferred program is in the likely-correct class. With WikiSQL's gold sql in the
    examples (`mapo prepare wikisql`), also how often a likely-correct class, and any
    program, answers as the gold sql on the example's table and every fictitious one.
    """
    from mapo_cli.analysis.spurious_report import analyse_store
    from mapo_cli.data.dataset import write_jsonl

    check_options(tables=tables, seed=seed, limit=limit, show=show)
    if out is not None:
        check_writable(out)
    if run is not None:
        run = named(run)
    check_outputs({"--out": out}, [store, *(run_inputs(run) if run is not None else [])])
    with count_progress("spurious", disable=json_output) as report_progress:
        report = analyse_store(store, tables=tables, seed=seed, run=run, limit=limit or None,
                               on_progress=report_progress)
    if out is not None:
        write_jsonl(out, [a.to_json() for a in report.analysed])
    summary = report.summary()
    if json_output:
        print_json(summary)
        return
    _show_spurious(summary, report, show)
    if out is not None:
        console.print(f"per-example analyses written to {out}", highlight=False, soft_wrap=True)


def _show_spurious(summary: dict, report: Any, show: int) -> None:
    table = Table(title="spurious programs (estimated)", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    table.add_row("examples in the store", f"{summary['examples']:,}")
    table.add_row("with fewer than 2 reward-1 programs (skipped)", f"{summary['single_program']:,}")
    table.add_row("analysed", f"{summary['analysed']:,}")
    table.add_row("  one behaviour class", f"{summary['one_class']:,}")
    table.add_row("  several classes", f"{summary['several_classes']:,}")
    table.add_row("  top classes tied (ambiguous)", f"{summary['ambiguous']:,}")
    table.add_row("reward-1 programs analysed", f"{summary['programs']:,}")
    share = summary["spurious_share"]
    table.add_row("likely spurious", f"{summary['spurious_programs']:,}"
                  + ("" if share is None else f" ({share:.1%})"))
    table.add_row("fictitious tables per example", str(summary["tables"]))
    if summary["run"]:
        decided, right = summary["preferred_decided"], summary["preferred_likely_correct"]
        table.add_row("model prefers a likely-correct program",
                      f"{right:,} / {decided:,}" if decided else "-")
    if "gold_sql" in summary:
        for label, key in (("gold sql in a likely-correct class", "gold_in_likely_correct"),
                           ("gold sql among the reward-1 programs", "gold_in_memory")):
            share = summary[f"{key}_share"]
            table.add_row(label, f"{summary[key]:,} / {summary['gold_sql']:,}"
                          + ("" if share is None else f" ({share:.1%})"))
        if summary["gold_sql_unchecked"]:
            table.caption = (f"{summary['gold_sql_unchecked']:,} analysed examples not checked "
                             "against their gold sql (its answer not reproduced)")
    console.print(table)
    several = [a for a in report.analysed if len(a.classes) > 1][:show]
    for analysis in several:
        listing = Table(title=f"{analysis.id}: {analysis.question}", title_justify="left",
                        show_header=True)
        listing.add_column("class", justify="right")
        listing.add_column("verdict")
        listing.add_column("program")
        preferred = analysis.preferred
        for k, program in enumerate(analysis.programs):
            cls = analysis.classes[analysis.class_of[k]]
            verdict = "likely correct" if cls.likely_correct else "[red]likely spurious[/]"
            mark = " ★" if k == preferred else ""
            listing.add_row(str(analysis.class_of[k]), verdict + mark, program)
        console.print(listing)


# ---------------------------------------------------------------- decoded (gold sql)


@app.command("decoded", cls=MapoCommand)
@reports_errors
def inspect_decoded(
    beams: Annotated[Path, typer.Argument(help="BEAMS.jsonl from `mapo decode --programs`.")],
    data: Annotated[Path, typer.Argument(help="The DATA.jsonl it decoded (with gold sql).")],
    tables: Annotated[int, typer.Option(
        "--tables", help="Fictitious tables per example.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the table perturbations.")] = 0,
    json_output: JsonOption = False,
) -> None:
    """Whether each decoded top program is the gold sql's equivalent (WikiSQL).

    Runs the top program of every decoded example on its table and on
    fictitious ones, as `inspect spurious` does, and counts it gold-equivalent
    when it answers as the example's gold sql on all of them: the share of
    answers that are right for the right reason.
    """
    from mapo_cli.analysis.decoded_gold import beam_record_problem, decoded_gold
    from mapo_cli.core.errors import MapoError
    from mapo_cli.data.dataset import load_dataset, read_jsonl

    check_options(tables=tables, seed=seed)
    records = read_jsonl(beams, ("id", "programs"), "decoded example (mapo decode --programs)",
                         beam_record_problem)
    examples, table_data = load_dataset(data)
    by_id = {e["id"]: e for e in examples}
    if not any(e.get("sql") is not None for e in examples):
        raise MapoError(f"{data}: no example carries a gold sql (prepare WikiSQL with "
                        "`mapo prepare wikisql`)")
    with count_progress("decoded", disable=json_output) as report_progress:
        report = decoded_gold(records, by_id, table_data, tables, seed, report_progress)
    summary = report.summary()
    if json_output:
        print_json(summary)
        return
    console.print(f"decoded {beams}", highlight=False, soft_wrap=True)  # a path, never folded
    table = Table(title="top programs against the gold sql", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    table.add_row("decoded examples", f"{summary['decoded']:,}")
    table.add_row("gold sql checked", f"{summary['gold_sql_checked']:,}")
    for label, key in (("answer correct", "correct"),
                       ("top program gold-equivalent", "gold_equivalent")):
        share = summary[f"{key}_share"]
        table.add_row(label, f"{summary[key]:,}" + ("" if share is None else f" ({share:.1%})"))
    accidental = summary["right_by_accident"]
    table.add_row("correct, not gold-equivalent", f"{len(accidental):,}")
    if accidental:
        table.caption = "e.g. " + ", ".join(accidental[:8])
    console.print(table)


app.command("run", cls=MapoCommand)(inspect_run)
