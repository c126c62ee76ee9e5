"""`mapo explore` and `mapo inspect store` as users run them, including bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mapo_cli.main import app

ROOT = Path(__file__).resolve().parents[1]
SUMMARY_KEYS = {"examples", "covered", "coverage", "programs", "programs_per_second", "seconds",
                "store_bytes", "bits_per_prefix"}
runner = CliRunner()


def dev_subset(tmp_path: Path, prepared_demo: Path, n: int) -> Path:
    lines = (prepared_demo / "random-split-1-dev.jsonl").read_text().splitlines()[:n]
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "tables.jsonl").write_text((prepared_demo / "tables.jsonl").read_text())
    path = tmp_path / "data" / "dev.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_explore_then_inspect_report_the_same_summary(tmp_path: Path, prepared_demo: Path) -> None:
    data = dev_subset(tmp_path, prepared_demo, 20)
    store = tmp_path / "store"
    result = runner.invoke(app, ["explore", str(data), "--store", str(store), "--workers", "2",
                                 "--samples-per-example", "500", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert SUMMARY_KEYS <= summary.keys()
    assert summary["examples"] == 20 and summary["covered"] >= 15
    assert summary["bits_per_prefix"] < 20
    shown = runner.invoke(app, ["inspect", "store", str(store), "--json"])
    assert shown.exit_code == 0, shown.output
    inspected = json.loads(shown.stdout)
    assert SUMMARY_KEYS - {"programs_per_second", "seconds"} <= inspected.keys()
    for key in ("examples", "covered", "programs", "bits_per_prefix"):
        assert inspected[key] == summary[key]
    table = runner.invoke(app, ["inspect", "store", str(store)])
    assert "coverage" in table.stdout


def test_killing_the_explorer_loses_nothing(tmp_path: Path, prepared_demo: Path) -> None:
    data = dev_subset(tmp_path, prepared_demo, 16)
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "crash_explore.py"), str(data),
                           str(tmp_path / "crash"), "--kills", "3"], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resumed store equals the uninterrupted run" in done.stdout


def one_line_error(result) -> str:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    return result.output


@pytest.mark.parametrize("setup", ["not_a_store", "corrupted", "read_only"])
def test_bad_store_locations_are_clear_errors(tmp_path: Path, prepared_demo: Path,
                                              setup: str) -> None:
    data = dev_subset(tmp_path, prepared_demo, 3)
    store = tmp_path / "store"
    args = ["explore", str(data), "--store", str(store), "--workers", "1",
            "--samples-per-example", "50"]
    if setup == "not_a_store":
        store.mkdir()
        (store / "notes.txt").write_text("my notes")
        assert "not a store" in one_line_error(runner.invoke(app, args))
        assert (store / "notes.txt").read_text() == "my notes"
        return
    assert runner.invoke(app, args).exit_code == 0
    if setup == "corrupted":
        data_file = store / "data.mdb"
        raw = bytearray(data_file.read_bytes())
        data_file.write_bytes(bytes(raw[: len(raw) // 3]))
        assert "damaged" in one_line_error(runner.invoke(app, args))
        assert "damaged" in one_line_error(runner.invoke(app, ["inspect", "store", str(store)]))
    else:
        if os.geteuid() == 0:
            pytest.skip("root ignores file permissions")
        store.chmod(0o500)
        try:
            assert "read-only" in one_line_error(runner.invoke(app, args))
        finally:
            store.chmod(0o700)


def test_unknown_grammar_and_missing_data_are_clear_errors(tmp_path: Path,
                                                           prepared_demo: Path) -> None:
    data = dev_subset(tmp_path, prepared_demo, 2)
    lines = [json.loads(line) for line in data.read_text().splitlines()]
    data.write_text("".join(json.dumps(dict(e, grammar="klingon")) + "\n" for e in lines))
    result = runner.invoke(app, ["explore", str(data), "--store", str(tmp_path / "s")])
    assert "unknown grammar" in one_line_error(result)
    result = runner.invoke(app, ["explore", str(tmp_path / "nope.jsonl"), "--store", "s"])
    assert "no such file" in one_line_error(result)
    result = runner.invoke(app, ["inspect", "store", str(tmp_path / "nowhere")])
    assert "no store" in one_line_error(result)
