"""The pretrained encoder's outputs, computed once per example and kept on disk.

One `.npz` per example (two float16 arrays, read with `allow_pickle=False`)
under `$MAPO_CACHE/encodings/<encoder>/`, named by the content hash of what
the encoder reads (`EncoderInput.key`): a changed question or table is a
new file, so nothing stale is ever read. Files are written atomically, so
the learner, actors and `decode` workers may share a cache directory.
`fill` computes what is missing in batches, sorted by length, with all
cores' torch threads; `get` reads one example (computing it if it is new,
e.g. `mapo decode` of a table no run has seen).
"""

from __future__ import annotations

import os
import threading
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import torch

from mapo_cli.core.atomic import atomic_file
from mapo_cli.core.errors import MapoError
from mapo_cli.learn.contextual import (
    WIDTHS,
    ContextVectors,
    EncoderInput,
    PretrainedEncoder,
    check_encoder,
    encoder_input,
)

BATCH = 32  # examples per transformer call


def cache_root() -> Path:
    """`$MAPO_CACHE`, else `$XDG_CACHE_HOME/mapo`, else `~/.cache/mapo`."""
    if os.environ.get("MAPO_CACHE"):
        return Path(os.environ["MAPO_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mapo"


class ContextCache:
    """Cached `ContextVectors` of one encoder; the transformer loads only if something is missing."""

    def __init__(self, encoder: str, root: Path | None = None) -> None:
        self.encoder = check_encoder(encoder)
        self.directory = (root or cache_root()) / "encodings" / encoder
        _check_can_be_made(self.directory)
        self.computed = 0  # examples this object ran through the transformer
        self._model: PretrainedEncoder | None = None
        self._loading = threading.Lock()  # `mapo serve`'s threads load the transformer once

    def __getstate__(self) -> dict:  # actor processes get the directory, not the transformer
        return {key: value for key, value in self.__dict__.items()
                if key not in ("_model", "_loading")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _model=None, _loading=threading.Lock())

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npz"

    def get(self, example: Mapping, table: Mapping) -> ContextVectors:
        found = encoder_input(example, table, self.encoder)
        cached = self._read(found)
        if cached is None:
            cached = self._compute([found])[0]
        return cached

    def fill(self, pairs: Iterable[tuple[Mapping, Mapping]],
             on_progress: Callable[[int, int], None] | None = None) -> int:
        """Compute every (example, table) not cached yet; return how many were computed."""
        todo = {}
        for example, table in pairs:
            found = encoder_input(example, table, self.encoder)
            key = found.key(self.encoder)
            if key not in todo and not self.path(key).is_file():
                todo[key] = found
        ordered = sorted(todo.values(), key=lambda i: len(i.question) + sum(map(len, i.columns)))
        if not ordered:
            return 0
        if on_progress:
            on_progress(0, len(ordered))
        threads = torch.get_num_threads()
        torch.set_num_threads(max(1, os.cpu_count() or 1))
        try:
            for start in range(0, len(ordered), BATCH):
                self._compute(ordered[start:start + BATCH])
                if on_progress:
                    on_progress(min(start + BATCH, len(ordered)), len(ordered))
        finally:
            torch.set_num_threads(threads)
        return len(ordered)

    def _compute(self, inputs: list[EncoderInput]) -> list[ContextVectors]:
        with self._loading:
            if self._model is None:
                self._model = PretrainedEncoder(self.encoder)
        vectors = self._model.encode(inputs)
        for found, computed in zip(inputs, vectors, strict=True):
            self._write(self.path(found.key(self.encoder)), computed)
        self.computed += len(inputs)
        return vectors

    def _read(self, found: EncoderInput) -> ContextVectors | None:
        """The cached vectors, or None (then recomputed and written again) if absent or not
        what `_write` wrote for this input: a damaged file must never reach the model."""
        path = self.path(found.key(self.encoder))
        try:
            loaded = np.load(path, allow_pickle=False)
        except (OSError, EOFError, ValueError, zipfile.BadZipFile):
            return None
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # one array (.npy), not an archive
            return None
        try:
            with loaded as arrays:
                tokens, columns = arrays["tokens"], arrays["columns"]
        except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile):
            return None
        width = WIDTHS.get(self.encoder)
        if not (_usable(tokens, len(found.question), width)
                and _usable(columns, len(found.columns), width)):
            return None
        return ContextVectors(tokens, columns)

    @staticmethod
    def _write(path: Path, vectors: ContextVectors) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(path, "wb") as out:  # a stop mid-write leaves no partial file
                np.savez(out, tokens=vectors.tokens, columns=vectors.columns)
        except (OSError, MapoError) as error:
            reason = (error.strerror or "").lower() if isinstance(error, OSError) else error
            raise MapoError(f"cannot write the encoder cache in {path.parent}: {reason} "
                            "(set MAPO_CACHE to a writable directory)") from None


def _check_can_be_made(directory: Path) -> None:
    """A cache directory that cannot exist is an error before any encoding, not after it."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise MapoError(f"the encoder cache {directory} cannot be made: {existing} is not a "
                        "directory (set MAPO_CACHE to a writable directory)")


def _usable(array: np.ndarray, rows: int, width: int | None) -> bool:
    """float16, `rows` × the encoder's width (if known), every value finite."""
    return (array.dtype == np.float16 and array.ndim == 2 and array.shape[0] == rows
            and (width is None or array.shape[1] == width) and bool(np.isfinite(array).all()))


class PreloadedContexts:
    """The cached vectors of a known set of examples, in memory: what a Ray worker (maybe on
    another machine, without the cache directory) gets with its examples (`preload`)."""

    def __init__(self, encoder: str, vectors: dict[str, ContextVectors]) -> None:
        self.encoder = encoder
        self.vectors = vectors

    def get(self, example: Mapping, table: Mapping) -> ContextVectors:
        found = self.vectors.get(encoder_input(example, table, self.encoder).key(self.encoder))
        if found is None:
            raise MapoError(f"example {example.get('id')}: its encoder vectors were not sent "
                            "with it")
        return found


def preload(cache: ContextCache, examples: Iterable[Mapping],
            tables: Mapping[str, Mapping]) -> PreloadedContexts:
    """The vectors of `examples` (computed first if not cached), for workers to carry."""
    vectors = {}
    for example in examples:
        table = tables[example["table"]]
        key = encoder_input(example, table, cache.encoder).key(cache.encoder)
        vectors[key] = cache.get(example, table)
    return PreloadedContexts(cache.encoder, vectors)


def context_cache(encoder: str) -> ContextCache | None:
    """The cache a model with `encoder` reads from; None for the plain LSTM."""
    return None if check_encoder(encoder) == "lstm" else ContextCache(encoder)
