"""Ends what a local Ray instance leaves running when the command that started it is killed.

A command stopped by a signal shuts Ray down itself; one killed (SIGKILL, the
OOM killer) cannot, and Ray's agents then live on for about a minute. So a
command that starts a local instance also starts this watcher
(`python -m mapo_cli.core.reaper PID`, a pipe from the command on its
standard input): it notes the command's descendants as they appear, and once
the pipe closes (the command ended, however) it kills those still alive.
Linux only (it reads /proc); elsewhere it exits at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

POLL_SECONDS = 0.5


def _processes() -> dict[int, tuple[int, str]]:
    """Every process's parent and start time (its identity, should its pid be reused)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # it ended meanwhile
        found[int(entry.name)] = (int(fields[1]), fields[19])
    return found


def _descendants(root: int, processes: dict[int, tuple[int, str]]) -> dict[int, str]:
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    found, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found[pid] = processes[pid][1]
        todo.extend(children.get(pid, []))
    return found


def _is_ray(pid: int) -> bool:
    """Ray's processes (raylet, gcs_server, ray::..., ray/... scripts), not the command's own
    other workers (a process pool of a test run in the same process, say)."""
    try:
        return b"ray" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def watch(command: int) -> None:
    """Note `command`'s descendants that are Ray's until standard input closes, then kill
    those still alive."""
    ended = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.buffer.read(), ended.set()), daemon=True).start()
    noted: dict[int, str] = {}
    while not ended.wait(POLL_SECONDS):
        for pid, started in _descendants(command, _processes()).items():
            if pid not in noted and pid != os.getpid() and _is_ray(pid):
                noted[pid] = started
    alive = _processes()
    for pid, started in noted.items():
        if pid in alive and alive[pid][1] == started:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the command's to handle
    if sys.platform.startswith("linux") and len(sys.argv) == 2:
        watch(int(sys.argv[1]))
