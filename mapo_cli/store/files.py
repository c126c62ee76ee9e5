"""Files beside LMDB's: the writer lock, and a damage check that reads every page.

The lock is `writer.lock`, held with flock by the one writing process (the
kernel releases it if that process dies). The check runs in a child process
because a damaged file can crash LMDB (SIGBUS, abort).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mapo_cli.core.errors import MapoError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no writer lock, LMDB still serialises
    fcntl = None  # type: ignore[assignment]

WRITER_LOCK = "writer.lock"

_WALK_SCRIPT = """
import sys, lmdb
env = lmdb.open(sys.argv[1], readonly=True, lock=False, max_dbs=16, subdir=True)
info, stat = env.info(), env.stat()
size = __import__("os").path.getsize(sys.argv[1] + "/data.mdb")
if size < (info["last_pgno"] + 1) * stat["psize"]:
    sys.exit("data.mdb is shorter than its last page: truncated")
with env.begin() as txn:
    names = [bytes(k) for k, _ in txn.cursor()]
    for name in names:
        try:
            db = env.open_db(name, txn=txn, create=False)
        except lmdb.IncompatibleError:  # a plain key, not a sub-database
            continue
        for key, value in txn.cursor(db=db):
            len(value)
"""


def verify_by_reading(path: Path) -> list[str]:
    """Read every page in a child process: a damaged file can crash LMDB (SIGBUS, abort).

    We use a full read rather than lmdb.verify, which reported damage in
    healthy stores with large values.
    """
    done = subprocess.run([sys.executable, "-c", _WALK_SCRIPT, str(path)], capture_output=True,
                          text=True, check=False)
    if done.returncode == 0:
        return []
    if done.returncode < 0:
        return [f"reading it crashed (signal {-done.returncode})"]
    lines = done.stderr.strip().splitlines()
    return [lines[-1] if lines else f"reading it failed (exit {done.returncode})"]


# Writer-lock descriptors held by this process. A forked child (a worker pool)
# closes its copies, so the lock dies with the writer, not with its last worker.
_WRITER_FDS: set[int] = set()


def _forget_writer_locks() -> None:
    for fd in _WRITER_FDS:
        os.close(fd)
    _WRITER_FDS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_writer_locks)


def release_writer(fd: int) -> None:
    if fd in _WRITER_FDS:  # else a forked child: its copy is already closed
        _WRITER_FDS.discard(fd)
        os.close(fd)


def lock_writer(path: Path) -> int:
    """Take `writer.lock` (flock, released by the kernel if we die); MapoError if taken."""
    lock_path = path / WRITER_LOCK
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    if fcntl is None:  # pragma: no cover
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        raise _held(path, holder) from None
    except BaseException:
        os.close(fd)
        raise
    _WRITER_FDS.add(fd)
    try:  # the holder's pid, for the message another writer gets
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass
    return fd


def _held(path: Path, holder: str) -> MapoError:
    return MapoError(f"store at {path} is being written by process {holder or 'another process'}"
                     "; only one process writes a store (readers may use it meanwhile)")


LOCK_BYTES = 8192  # LMDB's lock.mdb for its default 126 readers


def reserve_lock_file(path: Path) -> None:
    """Allocate the bytes of LMDB's lock.mdb before LMDB maps it into memory: touching a
    mapped page that a full disk cannot back kills the process with SIGBUS, while an
    allocation that fails is an OSError (ENOSPC) and so a message."""
    fd = os.open(path / "lock.mdb", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, LOCK_BYTES)
    finally:
        os.close(fd)


def check_no_writer(path: Path) -> None:
    """MapoError now if another process writes the store: for work that will write it
    much later (training's first checkpoint), so that it does not run for nothing."""
    if writer_active(path):
        try:
            holder = (path / WRITER_LOCK).read_text("ascii", "replace").strip()
        except OSError:
            holder = ""
        raise _held(path, holder)


def writer_active(path: Path) -> bool:
    """Whether some process holds the store's writer lock right now."""
    if fcntl is None:  # pragma: no cover
        return False
    try:
        fd = os.open(path / WRITER_LOCK, os.O_RDONLY)
    except OSError:
        return False  # never written by this mapo, or unreadable: nobody can hold it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
