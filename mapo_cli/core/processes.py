"""Worker processes that never outlive the command's process, and pools that stop at once.

Stopped (SIGINT, SIGTERM), the command ends its workers itself (`stop_pool`);
killed (SIGKILL, the OOM killer), it cannot, so each worker asks the kernel
to end it with its parent (`end_with_parent`): no orphan goes on computing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any, TypeVar

from mapo_cli.core.errors import MapoError
from mapo_cli.core.stop import StopRequest

Item = TypeVar("Item")
Result = TypeVar("Result")

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def end_with_parent(parent: int) -> None:
    """Call first in a worker process (e.g. as a pool's initializer) that `parent` started.

    Ctrl-C reaches the whole process group but is the parent's to handle, so
    the worker ignores SIGINT; SIGTERM, how the parent ends it, ends it at
    once. The worker must be a direct child (start method fork or spawn).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if not _killed_with_parent():
        threading.Thread(target=_watch, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the kernel was asked
        os._exit(1)


def _killed_with_parent() -> bool:
    """Linux: the kernel sends this process SIGKILL when its parent dies."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    """Elsewhere: a thread that ends the process once it has been re-parented."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """End a pool's workers now, dropping their tasks (`shutdown` waits for running ones);
    on return none of them is alive, nor the pool's manager thread.

    (Left running, the manager thread closes its wake-up pipe while the
    interpreter's exit may be writing to it: an `OSError: Bad file descriptor`
    after the command's last line, Python 3.11's concurrent.futures race.)
    """
    processes = list((pool._processes or {}).values())  # no public way before Python 3.14
    manager = pool._executor_manager_thread
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=5)
    for process in processes:  # still starting up on a busy machine, or stuck: no more waiting
        if process.is_alive():
            process.kill()
            process.join(timeout=5)
    if manager is not None:
        manager.join(timeout=10)


def as_they_finish(items: list[Item], submit: Callable[[Item], Future], workers: int,
                   stop: StopRequest, drop: Callable[[set[Future]], None],
                   lost: type[Exception], died: str) -> Iterator[Result]:
    """`submit` the items, two per worker in flight, and yield results as they finish.

    Once `stop` has a signal, none more is yielded, even of those already
    finished, and the running ones are dropped (`drop(in_flight)`); a
    worker `lost` (the pool broke) is a MapoError saying `died`.
    """
    pending = list(reversed(items))
    in_flight: set[Future] = set()
    try:
        while (pending or in_flight) and stop.signal is None:
            while pending and len(in_flight) < 2 * workers:
                in_flight.add(submit(pending.pop()))
            finished, in_flight = wait(in_flight, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                if stop.signal is not None:  # came while an earlier one was taken in
                    break
                try:
                    result = future.result()
                except lost:
                    raise MapoError(died) from None
                yield result
    finally:
        drop(in_flight)


def worker_pool(workers: int, initializer: Callable[..., None] = end_with_parent,
                initargs: tuple[Any, ...] = ()) -> ProcessPoolExecutor:
    """The one way mapo starts worker processes (prepare, explore, decode, ensembles):
    `workers` spawned processes, each started by `initializer(parent, *initargs)`, which must
    call `end_with_parent`. End it with `stop_pool` when stopped, else `shutdown`.

    Spawn, not fork: forking a process with live threads (torch's OpenMP pool, the
    progress bar's) can hang or deadlock the child.
    """
    return ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=initializer,
                               initargs=(os.getpid(), *initargs))


def in_worker_pool(items: list[Item], call: Callable[[Item], tuple[Callable[..., Result], ...]],
                   workers: int, stop: StopRequest, died: str,
                   initializer: Callable[..., None] = end_with_parent,
                   initargs: tuple[Any, ...] = ()) -> Iterator[Result]:
    """`as_they_finish` over a `worker_pool`: `call(item)` gives the function and arguments
    to run for an item. A stop ends the workers at once."""
    with worker_pool(workers, initializer, initargs) as pool:
        yield from as_they_finish(
            items, lambda item: pool.submit(*call(item)), workers, stop,
            drop=lambda in_flight: stop_pool(pool) if in_flight else None,
            lost=BrokenProcessPool, died=died)
