"""The Ray backend (`--backend ray`): the same worker functions, run as Ray tasks and actors.

docs/contract.md's one-writer rule holds unchanged: Ray's workers compute, the command's own
process (the driver) writes. Everything a worker needs travels as arguments
through Ray's object store, never through the driver's disk, so the workers
may be on other machines. `RayCluster` is the one place that imports Ray;
it hands out plain `concurrent.futures.Future`s, so a command's scheduling
loop (`wait(..., FIRST_COMPLETED)`) is the same for both backends. A task
whose worker or node dies is run again by Ray (`TASK_RETRIES`): chunked
work with seeds of its own gives the same result on a retry.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Self

from mapo_cli.core.errors import MapoError, Stopped
from mapo_cli.core.stop import DeferredSignals

BACKENDS = ("local", "ray")
TASK_RETRIES = 5  # runs of a task lost with its worker or node, beyond the first
EXTRA = "pip install 'mapo[ray]'"
CONNECT_SECONDS = 10.0
AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"


def check_backend(backend: str, address: str = "") -> str:
    """The backend's name, or MapoError for an unknown one or an address without Ray."""
    if backend not in BACKENDS:
        raise MapoError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if address and backend != "ray":
        raise MapoError(f"--ray-address {address} needs --backend ray")
    return backend


def import_ray() -> Any:
    """The `ray` module, or a MapoError that names the extra to install."""
    try:
        import ray
    except ImportError:
        raise MapoError(f"--backend ray needs Ray, which is not installed: {EXTRA}") from None
    return ray


class RayCluster:
    """A command's connection to Ray: joins `address` ("auto": the cluster `ray start`
    made on this machine; "HOST:PORT") or starts a local instance, and ends what it started.

    A connection already open in this process (a test's, a notebook's) is used as it is.
    `min_cpus` sizes a local instance for that many one-CPU workers even on fewer cores,
    as local processes would oversubscribe them.
    """

    def __init__(self, address: str = "", min_cpus: int = 0) -> None:
        self.ray = ray = import_ray()
        self._reaper: subprocess.Popen | None = None
        start = time.perf_counter()
        self.owned = not ray.is_initialized()
        if self.owned:
            if not address:
                self._reaper = _start_reaper()
            with DeferredSignals() as deferred:
                self._init(address, min_cpus)
            if deferred.signal is not None:  # now that Ray is whole, it can be shut down
                self.close()
                name = signal.Signals(deferred.signal).name
                raise Stopped(deferred.signal, f"stopped by {name} while Ray started, nothing "
                              "lost: run the same command again")
        self.start_seconds = time.perf_counter() - start
        self.address = address or "local"
        self._remotes: dict[Callable, Any] = {}
        self._refs: dict[Future, Any] = {}

    def _init(self, address: str, min_cpus: int) -> None:
        options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False,
                                   "configure_logging": True}
        try:
            if address:
                _check_reachable(address)
                self.ray.init(address=address, **options)
            else:  # its notice that token authentication is on (the safe default) is noise
                logging.getLogger(AUTH_LOGGER).setLevel(logging.ERROR)
                self.ray.init(address="local", num_cpus=max(os.cpu_count() or 1, min_cpus),
                              include_dashboard=False, **options)
        except (ConnectionError, RuntimeError, ValueError) as error:
            self.close()
            if address == "auto":
                raise MapoError("--ray-address auto: no Ray cluster runs on this machine "
                                "(start one with `ray start --head`, or leave the option "
                                "out for a local Ray instance)") from None
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise MapoError(f"cannot connect to {where}: {_first_line(error)}") from None

    @property
    def cpus(self) -> int:
        """The CPUs of the whole cluster (at least 1)."""
        return max(int(self.ray.cluster_resources().get("CPU", 0)), 1)

    @property
    def nodes(self) -> int:
        return sum(1 for node in self.ray.nodes() if node.get("Alive"))

    def describe(self) -> str:
        """One line for the user: where the work runs."""
        if not self.owned:
            how = "Ray, as already connected in this process"
        elif self.address == "local":
            how = "started a local Ray instance"
        else:
            how = f"joined the Ray cluster at {self.address}"
        return (f"{how}: {self.nodes} node(s), {self.cpus} CPU(s) "
                f"({self.start_seconds:.1f} s)")

    def put(self, value: object) -> Any:
        """`value` in the object store once, for any number of tasks and actors to read."""
        return self.ray.put(value)

    def submit(self, function: Callable[..., Any], *args: Any) -> Future:
        """Run `function(*args)` as a one-CPU task anywhere in the cluster; its Future.

        An argument that is an object ref (`put`) reaches the task as its value.
        """
        remote = self._remotes.get(function)
        if remote is None:
            remote = self._remotes[function] = self.ray.remote(
                num_cpus=1, max_retries=TASK_RETRIES, retry_exceptions=False)(function)
        ref = remote.remote(*args)
        future = ref.future()
        self._refs[future] = ref
        future.add_done_callback(lambda done: self._refs.pop(done, None))
        return future

    def cancel(self, futures: object) -> None:
        """Stop these tasks now (their results are dropped)."""
        for future in list(futures):
            ref = self._refs.pop(future, None)
            if ref is not None:  # it may have finished meanwhile, or its node be gone
                with contextlib.suppress(Exception):
                    self.ray.cancel(ref, force=True)

    def close(self) -> None:
        if self.owned and self.ray.is_initialized():
            self.ray.shutdown()
        if self._reaper is not None:  # it ends what the shutdown left
            self._reaper.stdin.close()
            self._reaper.wait(timeout=30)
            self._reaper = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _start_reaper() -> subprocess.Popen:
    """The watcher that ends the local instance's processes when this one ends, even by
    SIGKILL (core/reaper.py): its standard input closes with us."""
    return subprocess.Popen([sys.executable, "-m", "mapo_cli.core.reaper", str(os.getpid())],
                            stdin=subprocess.PIPE, start_new_session=True)


def _check_reachable(address: str) -> None:
    """A HOST:PORT that nothing answers on fails here in seconds (Ray would retry for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", or a form Ray resolves itself
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as error:
        raise ConnectionError(f"nothing answers at {host}:{port} "
                              f"({error.strerror or type(error).__name__})") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
