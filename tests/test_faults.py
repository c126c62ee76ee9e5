"""Faults a user does not cause: a full disk, a write cut short, a stop while workers run."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mapo_cli.core.atomic import atomic_file, write_text
from mapo_cli.core.errors import MapoError
from mapo_cli.core.processes import end_with_parent, stop_pool
from mapo_cli.main import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_a_write_cut_short_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "predictions.tsv"
    write_text(target, "old\n")
    with pytest.raises(KeyboardInterrupt), atomic_file(target) as handle:
        handle.write("half of the new")
        raise KeyboardInterrupt
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.tsv"]


def test_a_full_disk_while_writing_names_the_target_not_the_temporary_file(
        tmp_path: Path) -> None:
    target = tmp_path / "beams.jsonl"
    with pytest.raises(MapoError, match=rf"^cannot write {target}: no space left on device$"), \
            atomic_file(target):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / ".beams.x.tmp"))
    assert list(tmp_path.iterdir()) == []


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (root only), unmounted afterwards."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             check=False, capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert "Traceback" not in result.output and lines[-1].startswith("error:"), result.output
    return lines[-1]


def test_a_full_disk_is_one_line_naming_the_path_with_nothing_half_written(
        tmp_path: Path, prepared_demo: Path) -> None:
    with small_disk(tmp_path / "disk", "100k") as disk:
        result = runner.invoke(app, ["prepare", "wtq", str(ROOT / "datasets" / "demo"),
                                     str(disk / "data")])
        line = one_line_error(result)
        assert line.startswith(f"error: cannot write {disk / 'data'}/")
        assert line.endswith(": no space left on device")
        assert not [p for p in disk.rglob("*") if p.name.endswith(".tmp")]
        for leftover in disk.rglob("*"):
            leftover.unlink() if leftover.is_file() else None
        result = runner.invoke(app, ["explore", str(prepared_demo / "random-split-1-train.jsonl"),
                                     "--store", str(disk / "store"), "--workers", "1",
                                     "--samples-per-example", "300"])
        assert one_line_error(result) == (
            f"error: no space left on the disk holding the store at {disk / 'store'}")


def test_a_stopped_pool_leaves_no_thread_for_the_exit_to_trip_on() -> None:
    pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=end_with_parent,
                               initargs=(os.getpid(),))
    running = pool.submit(time.sleep, 60)
    while not running.running():
        time.sleep(0.05)
    manager = pool._executor_manager_thread
    stop_pool(pool)
    assert manager is not None and not manager.is_alive()


def test_a_store_on_a_disk_full_to_the_last_byte_is_an_error_not_a_crash(
        tmp_path: Path, prepared_demo: Path) -> None:
    """LMDB maps its lock file into memory: unbacked pages would kill explore with SIGBUS."""
    with small_disk(tmp_path / "disk", "256k") as disk:
        with (disk / "fill").open("wb", buffering=0) as fill, contextlib.suppress(OSError):
            while True:
                fill.write(b"\0" * 4096)
        result = runner.invoke(app, ["explore", str(prepared_demo / "random-split-1-train.jsonl"),
                                     "--store", str(disk / "store"), "--workers", "1",
                                     "--samples-per-example", "50"])
        assert one_line_error(result) == (
            f"error: no space left on the disk holding the store at {disk / 'store'}")
